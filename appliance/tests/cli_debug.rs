//! `keel debug replay` as a developer drives it: a breakpoint answered from stdin, and a new
//! transaction from a file run against the head.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs `keel args` in `cwd` with `stdin` as its input.
fn keel_in(cwd: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(cwd: &Path, args: &[&str]) -> String {
    let out = keel_in(cwd, args, "");
    assert!(out.status.success(), "keel {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The scaffolded counter, built, deployed (block 1) and incremented once (block 2); returns
/// the temporary directory, the project directory and the contract's address.
fn deployed_counter() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["contract", "new", "counter"]);
    let project = dir.path().join("counter");
    ok(&project, &["contract", "build"]);
    ok(&project, &["chain", "init", "--data", "chain"]);
    let deployed = ok(
        &project,
        &["contract", "deploy", "--data", "chain", "--json"],
    );
    let doc: serde_json::Value = serde_json::from_str(deployed.trim()).unwrap();
    let address = doc["address"].as_str().unwrap().to_owned();
    ok(
        &project,
        &["contract", "call", "increment", "--data", "chain"],
    );
    (dir, project, address)
}

#[test]
fn a_breakpoint_stops_the_replay_and_answers_commands_read_from_stdin() {
    let (_dir, project, _) = deployed_counter();
    let args = [
        "debug",
        "replay",
        "--data",
        "chain",
        "--block",
        "2",
        "--tx",
        "0",
        "--side",
        "target/counter.debug.wasm",
        "--break",
        "counter_add",
    ];
    let out = keel_in(&project, &args, "locals\nbt\nx 0 8\nc\n");
    assert!(out.status.success(), "{out:?}");
    let console = String::from_utf8(out.stderr).unwrap();
    let first = console.lines().next().unwrap();
    assert!(
        first.starts_with("stopped (Breakpoint) at src/counter.c:")
            && first.contains("counter_add"),
        "{console}"
    );
    assert!(console.contains("arg0 : i64 = "), "{console}");
    assert!(console.contains("#1 increment at"), "{console}");
    assert!(console.contains("  0x0: "), "{console}");
    assert!(console.contains("run finished"), "{console}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("reproduces the recorded receipt"),
        "{stdout}"
    );
}

#[test]
fn a_transaction_file_replays_against_the_head_without_committing() {
    let (dir, project, address) = deployed_counter();
    let signed = ok(
        &project,
        &[
            "tx",
            "sign",
            "--data",
            "chain",
            "--from",
            "0",
            "--call",
            &address,
            "--entry",
            "increment",
        ],
    );
    let file = dir.path().join("tx.hex");
    std::fs::write(&file, signed.trim()).unwrap();
    let file = file.to_str().unwrap();
    let args = [
        "debug",
        "replay",
        "--data",
        "chain",
        "--tx-file",
        file,
        "--json",
    ];
    let (a, b) = (ok(&project, &args), ok(&project, &args));
    // Not committed: the second run sees the same head and gives the same bytes.
    assert_eq!(a, b);
    let doc: serde_json::Value = serde_json::from_str(a.trim()).unwrap();
    assert_eq!(doc["block"], 3, "{doc}");
    assert!(doc["matches_record"].is_null(), "{doc}");
    let events = doc["trace"]["events"].as_array().unwrap();
    let end = events.last().unwrap();
    assert_eq!(end["event"], "end", "{doc}");
    // The head's counter is 1: this increment returns 2.
    assert_eq!(end["returned"], hex::encode(2u64.to_le_bytes()), "{doc}");
}

#[test]
fn replay_without_a_transaction_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = keel_in(dir.path(), &["debug", "replay", "--data", "chain"], "");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// One Content-Length framed DAP message.
fn dap_write(to: &mut impl Write, seq: u64, command: &str, arguments: serde_json::Value) {
    let body = serde_json::json!({"seq": seq, "type": "request", "command": command, "arguments": arguments})
        .to_string();
    write!(to, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    to.flush().unwrap();
}

fn dap_read(from: &mut impl std::io::BufRead) -> serde_json::Value {
    let mut len = 0;
    loop {
        let mut line = String::new();
        assert!(from.read_line(&mut line).unwrap() > 0, "the server closed");
        match line.trim_end() {
            "" => break,
            l => {
                if let Some(n) = l.strip_prefix("Content-Length: ") {
                    len = n.parse().unwrap();
                }
            }
        }
    }
    let mut body = vec![0; len];
    std::io::Read::read_exact(from, &mut body).unwrap();
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn keel_debug_dap_serves_a_launched_replay_over_stdio_to_its_end() {
    let (_dir, project, _) = deployed_counter();
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["debug", "dap"])
        .current_dir(&project)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to = child.stdin.take().unwrap();
    let mut from = std::io::BufReader::new(child.stdout.take().unwrap());
    let data = project.join("chain");
    let side = project.join("target/counter.debug.wasm");
    let script = [
        ("initialize", serde_json::json!({"adapterID": "keel"})),
        (
            "launch",
            serde_json::json!({"data": data, "block": 2, "tx": 0, "sideFiles": [side]}),
        ),
        ("configurationDone", serde_json::json!({})),
    ];
    let mut seen = Vec::new();
    for (seq, (command, args)) in (1..).zip(script) {
        dap_write(&mut to, seq, command, args);
        loop {
            let m = dap_read(&mut from);
            let answered = m["type"] == "response" && m["request_seq"] == seq;
            if answered {
                assert_eq!(m["success"], true, "{command}: {m}");
            }
            seen.push(m);
            if answered {
                break;
            }
        }
    }
    // No breakpoint: the run goes to its end and says how it ended.
    while !seen.iter().any(|m| m["event"] == "terminated") {
        seen.push(dap_read(&mut from));
    }
    let output = seen.iter().find(|m| m["event"] == "output").unwrap();
    assert!(
        output["body"]["output"]
            .as_str()
            .unwrap()
            .contains("Success"),
        "{seen:?}"
    );
    assert!(seen.iter().any(|m| m["event"] == "initialized"), "{seen:?}");
    dap_write(&mut to, 4, "disconnect", serde_json::json!({}));
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
