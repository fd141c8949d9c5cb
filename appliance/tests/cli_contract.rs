//! `keel contract …` as a developer uses it, starting with the README walkthrough itself.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::keel;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `$ ` lines between the walkthrough markers of devtools/README.md.
fn walkthrough() -> Vec<String> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../devtools/README.md");
    let text = std::fs::read_to_string(readme).unwrap();
    let start = text.find("<!-- walkthrough -->").unwrap();
    let end = text.find("<!-- /walkthrough -->").unwrap();
    text[start..end]
        .lines()
        .filter_map(|l| l.strip_prefix("$ "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_walkthrough_goes_from_nothing_to_a_replayed_contract_in_under_ten_commands() {
    let steps = walkthrough();
    assert!(!steps.is_empty() && steps.len() < 10, "{steps:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut cwd: PathBuf = dir.path().to_owned();
    let mut outputs = Vec::new();
    for step in &steps {
        let words: Vec<&str> = step.split_whitespace().collect();
        match words.as_slice() {
            ["cd", to] => cwd = cwd.join(to),
            ["keel", args @ ..] => {
                let out = Command::new(env!("CARGO_BIN_EXE_keel"))
                    .args(args)
                    .current_dir(&cwd)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "`{step}` failed: {out:?}");
                outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
            }
            _ => panic!("the walkthrough may only use keel and cd: `{step}`"),
        }
    }
    let all = outputs.join("\n");
    assert!(all.contains("3 passed, 0 failed"), "{all}");
    assert!(all.contains("return=0x0100000000000000"), "{all}");
    assert!(all.contains("reproduces the recorded receipt"), "{all}");
    assert!(all.contains("storage_write"), "{all}");
    assert!(all.contains("src/counter.c:"), "{all}");
    assert!(outputs.last().unwrap().contains("identical"), "{all}");
    // The debugger's JSON trace of the same call: byte-identical across runs, and the
    // debugged run reproduces the recorded receipt.
    let json = || {
        let args = [
            "debug", "replay", "--data", "chain", "--block", "2", "--tx", "0", "--json",
        ];
        let out = Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(args)
            .current_dir(&cwd)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        out.stdout
    };
    let (a, b) = (json(), json());
    assert_eq!(a, b, "the trace differs between runs");
    let doc: serde_json::Value = serde_json::from_slice(&a).unwrap();
    assert_eq!(doc["matches_record"], true, "{doc}");
    let events = doc["trace"]["events"].as_array().unwrap();
    assert_eq!(events[0]["event"], "frame");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "block" && e["charge"].as_u64() > Some(0))
    );
    assert!(
        events
            .iter()
            .any(|e| e["func"] == "storage_write" && e["storage"]["write"].is_object())
    );
}

fn fixture_project(file: &str, manifest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../devtools/tests/fixtures");
    std::fs::copy(fixtures.join(file), dir.path().join("src").join(file)).unwrap();
    std::fs::write(
        dir.path().join("keel.toml"),
        format!("[contract]\nname = \"fx\"\nsources = [\"src/{file}\"]\n{manifest}"),
    )
    .unwrap();
    dir
}

fn line_of(file: &str, marker: &str) -> usize {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../devtools/tests/fixtures");
    let text = std::fs::read_to_string(fixtures.join(file)).unwrap();
    text.lines().position(|l| l.contains(marker)).unwrap() + 1
}

#[test]
fn build_fails_with_exit_2_and_names_the_line_of_an_ungranted_capability() {
    let file = "undeclared_capability.c";
    let dir = fixture_project(file, "[manifest]\nstorage = true\n");
    let p = dir.path().to_str().unwrap();
    let out = keel(&["contract", "build", "--project", p]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want = format!("src/{file}:{}: error[effects]", line_of(file, "@emit"));
    assert!(stdout.contains(&want), "{stdout}");
    assert!(!dir.path().join("target/fx.wasm").exists());
}

#[test]
fn check_reads_the_side_file_and_reports_json_with_source_lines() {
    let file = "unbounded_loop.c";
    let dir = fixture_project(file, "");
    let p = dir.path().to_str().unwrap();
    let out = keel(&["contract", "build", "--project", p, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let wasm = dir.path().join("target/fx.wasm");
    let out = keel(&["contract", "check", wasm.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{out:?}");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["has_source_lines"], true);
    assert_eq!(r["manifest_source"], "module");
    let loops: Vec<_> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["pass"] == "loops")
        .collect();
    assert_eq!(loops.len(), 1, "{r}");
    assert_eq!(loops[0]["location"]["file"], format!("src/{file}"));
    assert_eq!(loops[0]["location"]["line"], line_of(file, "@spin"));
    assert_eq!(r["gas_bounds"]["spin"]["verdict"], "unbounded");
    assert_eq!(r["gas_bounds"]["hash64"]["verdict"], "bounded");
    // Without the side file the same finding has only its offset.
    std::fs::remove_file(dir.path().join("target/fx.debug.wasm")).unwrap();
    let out = keel(&["contract", "check", wasm.to_str().unwrap(), "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["has_source_lines"], false);
}

#[test]
fn test_json_reports_a_counterexample_and_the_seed_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tests")).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../devtools/tests/fixtures");
    std::fs::copy(
        fixtures.join("failing_prop.c"),
        dir.path().join("tests/f.c"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("keel.toml"),
        "[contract]\nname = \"f\"\nsources = [\"tests/f.c\"]\n",
    )
    .unwrap();
    let p = dir.path().to_str().unwrap();
    let out = keel(&[
        "contract",
        "test",
        "--project",
        p,
        "--json",
        "--seed",
        "3",
        "--cases",
        "32",
        "--filter",
        "prop_",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["failed"], 1);
    assert_eq!(r["tests"][0]["counterexample_hex"], "00c8");
    assert_eq!(r["tests"][0]["seed"], 3);
    assert!(r["tests"][0]["gas"]["compute"].as_u64().unwrap() > 0);
}
