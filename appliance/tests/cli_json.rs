//! `--json` on every command that prints data. The command tree is walked through `--help`
//! and every leaf must be classified in [`SHAPES`] (a new command cannot slip through); each
//! command classified as taking `--json` must list it, and the data commands that run in
//! seconds on a fresh chain are run with `--json` and their stdout parsed as JSON.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::keel;

/// How a leaf command prints its data.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// Text by default, JSON with `--json` (on the command or, for `gov propose`, its parent).
    Flag,
    /// Always prints JSON (the daemon's block result / governance answer).
    AlwaysJson,
    /// Prints no data a machine reads: why.
    NoData(&'static str),
}

use Shape::*;

const SHAPES: &[(&str, Shape)] = &[
    (
        "serve",
        NoData("runs the daemon; logs go to stderr, data to /metrics and the socket"),
    ),
    ("client status", Flag),
    ("client account", Flag),
    ("client call", Flag),
    ("client submit", AlwaysJson),
    ("client gov", AlwaysJson),
    ("client gov-status", Flag),
    ("client query", Flag),
    ("vm exec", Flag),
    ("vm inspect", Flag),
    ("bench vm", Flag),
    ("bench state", Flag),
    ("bench bridge", Flag),
    ("bench serve", Flag),
    ("bench pcc", Flag),
    ("bench kernel", Flag),
    ("bench bls", Flag),
    ("bench crypto", Flag),
    ("bench exec", Flag),
    ("bench pipeline", Flag),
    ("client submit-tx", Flag),
    ("client build-block", Flag),
    ("vm cache stats", Flag),
    (
        "vm cache clear",
        NoData("an action; `vm cache stats --json` shows the result"),
    ),
    (
        "demo",
        NoData("a narrated walkthrough for people; `vm exec --json` gives the same facts"),
    ),
    ("chain init", Flag),
    ("chain status", Flag),
    ("chain exec-block", Flag),
    (
        "chain generate",
        NoData("`committed <height> <root>` progress lines for the crash test"),
    ),
    ("chain beacon", Flag),
    ("chain genesis-check", Flag),
    (
        "chain genesis-pin",
        NoData("writes the pinned files; maintainers only"),
    ),
    ("state get", Flag),
    ("state proof", Flag),
    ("state check", Flag),
    ("state verify", Flag),
    ("tx keys", Flag),
    ("tx sign", Flag),
    ("tx send", Flag),
    ("bridge list", Flag),
    ("bridge run", Flag),
    (
        "audit tail",
        NoData("the audit entries are JSON lines already, printed as stored"),
    ),
    ("module certify", Flag),
    ("module check", Flag),
    ("kernel status", Flag),
    (
        "kernel detach",
        NoData("an action; `kernel status --json` shows the result"),
    ),
    ("gov propose activate-routine", Flag),
    ("gov propose activate-builtin", Flag),
    ("gov propose deactivate-routine", Flag),
    ("gov propose revive", Flag),
    ("gov propose set-feature", Flag),
    ("gov propose set-fees", Flag),
    ("gov propose set-gas-schedule", Flag),
    ("gov propose upgrade-contract", Flag),
    ("gov vote", Flag),
    ("gov kill", Flag),
    ("gov status", Flag),
    ("offload topology", Flag),
    ("offload verify", Flag),
    (
        "contract new",
        NoData("creates a project directory and names it"),
    ),
    ("contract build", Flag),
    ("contract check", Flag),
    ("contract test", Flag),
    ("contract deploy", Flag),
    ("contract call", Flag),
    ("replay", Flag),
    ("hwtest probe", Flag),
    (
        "hwtest run",
        NoData("writes signed report.json and report.html; `hwtest compare --json` reads them"),
    ),
    ("hwtest compare", Flag),
    ("bench suite", Flag),
    ("bench peers", Flag),
    ("gas calibrate", Flag),
    ("prove", Flag),
    ("analyze concolic", Flag),
    ("debug replay", Flag),
    (
        "debug dap",
        NoData("speaks the Debug Adapter Protocol on stdin/stdout"),
    ),
];

fn help(path: &[&str]) -> String {
    let mut args = path.to_vec();
    args.push("--help");
    let out = keel(&args);
    assert!(out.status.success(), "{path:?} --help: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The subcommands a help text lists (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// The options section of a help text.
fn options(help: &str) -> &str {
    help.find("\nOptions:").map_or("", |i| &help[i..])
}

/// Every leaf command, with the help texts from the root down to it.
fn leaves(path: Vec<String>, helps: Vec<String>, out: &mut Vec<(String, Vec<String>)>) {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    let text = help(&p);
    let subs = subcommands(&text);
    let mut helps = helps;
    helps.push(text);
    if subs.is_empty() {
        out.push((path.join(" "), helps));
        return;
    }
    for s in subs {
        let mut next = path.clone();
        next.push(s);
        leaves(next, helps.clone(), out);
    }
}

#[test]
fn every_command_is_classified_and_every_data_command_offers_json() {
    let mut found = Vec::new();
    leaves(Vec::new(), Vec::new(), &mut found);
    let names: BTreeSet<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    let classified: BTreeSet<&str> = SHAPES.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, classified, "classify new commands in SHAPES");
    for (name, helps) in &found {
        let shape = SHAPES.iter().find(|(n, _)| n == name).unwrap().1;
        // The leaf's own options, or a parent's (`gov propose --json`).
        let offers = helps.iter().skip(1).any(|h| options(h).contains("--json"));
        assert_eq!(
            offers,
            shape == Flag,
            "{name}: --json offered: {offers}, shape {shape:?}"
        );
    }
}

/// Runs `args` and parses its stdout as JSON, whatever the exit code (`absent` is 3).
fn json_of(args: &[&str]) -> serde_json::Value {
    let out = keel(args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {stdout}\n{out:?}"))
}

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn data_commands_print_json_that_parses() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("c");
    let d = data.to_str().unwrap();
    let init = json_of(&["chain", "init", "--data", d, "--accounts", "2", "--json"]);
    assert_eq!(init["height"], 0);
    assert!(json_of(&["chain", "status", "--data", d, "--json"]).is_object());
    let keys = json_of(&["tx", "keys", "--data", d, "--json"]);
    let to = keys[1]["address"].as_str().unwrap();
    let signed = json_of(&[
        "tx", "sign", "--data", d, "--from", "0", "--to", to, "--amount", "5", "--json",
    ]);
    assert_eq!(signed["nonce"], 0);
    let sent = json_of(&[
        "tx",
        "send",
        "--data",
        d,
        "--json",
        signed["signed"].as_str().unwrap(),
    ]);
    assert_eq!(sent["receipts"][0]["status"]["status"], "success");
    let key = format!("account:{to}");
    let got = json_of(&["state", "get", &key, "--data", d, "--json"]);
    assert_eq!(
        (got["present"].clone(), got["value"]["balance"].is_string()),
        (true.into(), true)
    );
    let absent = json_of(&[
        "state",
        "get",
        &format!("account:{}", "ab".repeat(32)),
        "--data",
        d,
        "--json",
    ]);
    assert_eq!(absent["present"], false);
    let proof = json_of(&["state", "proof", &key, "--data", d, "--json"]);
    let verify = |value: &str| {
        json_of(&[
            "state",
            "verify",
            "--root",
            proof["root"].as_str().unwrap(),
            "--key",
            &key,
            "--value",
            value,
            "--proof",
            proof["proof"].as_str().unwrap(),
            "--json",
        ])
    };
    assert_eq!(verify(proof["value"].as_str().unwrap())["verified"], true);
    assert_eq!(verify("00")["verified"], false);
    assert!(json_of(&["state", "check", "--data", d, "--json"]).is_object());
    assert!(json_of(&["gov", "status", "--data", d, "--json"]).is_object());
    assert!(
        json_of(&["bridge", "list", "--json"]).is_array()
            || json_of(&["bridge", "list", "--json"]).is_object()
    );
    let run = json_of(&["bridge", "run", "sha256", "--input-hex", "616263", "--json"]);
    assert_eq!(run["ok"], true);
    let cert = repo("vm/chain/genesis/sha256.cert");
    let check = json_of(&["module", "check", "--builtin", "sha256", &cert, "--json"]);
    assert_eq!(check["holds"], true);
    let wrong = json_of(&["module", "check", "--builtin", "keccak256", &cert, "--json"]);
    assert_eq!(wrong["holds"], false);
    let counter = repo("contracts/wat/counter.wat");
    assert!(json_of(&["vm", "inspect", &counter, "--json"]).is_object());
    assert!(json_of(&["offload", "topology", "--json"]).is_object());
    assert!(json_of(&["replay", "--data", d, "--json"]).is_object());
}
