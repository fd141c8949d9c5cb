//! `keel hwtest`: probe --json, a tiny run writing report.json and report.html, the HTML
//! rendered by headless chromium with its plots, and compare's exit codes (0, 1, 2) and
//! per-metric thresholds.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::path::Path;
use std::process::Command;

use common::{keel, ok};

#[test]
fn probe_json_describes_this_machine_and_its_choices() {
    let out = ok(&keel(&["hwtest", "probe", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["cpu"]["logical"].as_u64().unwrap() >= 1);
    assert!(v["live"]["io_uring"].is_object());
    let paths: Vec<&str> = v["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    for p in ["bls", "ebpf", "vm", "transport", "kernel-programs"] {
        assert!(paths.contains(&p), "no choice for {p}");
    }
}

fn tiny_run(dir: &Path) {
    let key = dir.join("hwtest.key");
    let out = keel(&[
        "hwtest",
        "run",
        "--tiny",
        "--paths",
        "bls,ebpf,vm",
        "--plugin",
        "bundled",
        "--out",
        dir.join("r").to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    ok(&out);
}

/// Chromium's rendered DOM of `html`, or `None` (with a SKIPPED line) when it is not installed.
fn render(html: &Path) -> Option<String> {
    let bin = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok());
    let Some(bin) = bin else {
        eprintln!(
            "SKIPPED[tool]: headless rendering of the hwtest report because chromium is not installed"
        );
        return None;
    };
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_run_writes_a_signed_report_that_a_browser_renders_with_its_plots() {
    let dir = tempfile::tempdir().unwrap();
    tiny_run(dir.path());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r/report.json")).unwrap()).unwrap();
    assert_eq!(json["schema"], "keel-hwtest-report/1");
    assert_eq!(json["passed"], true);
    // The reference plug-in went through `keel hwtest plugin-host` and qualified.
    let subjects: Vec<&str> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("plugin:") && s.contains("blst-cpu")),
        "{subjects:?}"
    );
    assert!(json["signature"]["signature"].is_string());
    let Some(dom) = render(&dir.path().join("r/report.html")) else {
        return;
    };
    // Chromium parsed the inline SVG into elements: one per curve, each with drawn lines.
    let svgs = dom.matches("<svg").count();
    let curves: usize = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["curves"].as_array().unwrap().len())
        .sum();
    assert!(curves >= 3, "expected BLS, eBPF and VM plots");
    assert_eq!(svgs, curves, "every plot is rendered as an SVG element");
    assert!(
        dom.contains("<polyline") || dom.contains("<path"),
        "plots have lines"
    );
    assert!(dom.contains("BLS throughput vs batch size"));
}

#[test]
fn compare_exits_0_unchanged_1_on_regression_and_2_on_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    tiny_run(dir.path());
    let base = dir.path().join("r/report.json");
    let b = base.to_str().unwrap();
    assert_eq!(keel(&["hwtest", "compare", b, b]).status.code(), Some(0));

    // A regression, re-signed with the same appliance key so only the numbers differ.
    let mut rep = keel_hwtest::report::Report::read(&base).unwrap();
    for m in rep.results.iter_mut().flat_map(|r| r.metrics.iter_mut()) {
        if m.name.ends_with("sigs_per_s") {
            m.value /= 2.0;
        }
    }
    let key = std::fs::read_to_string(dir.path().join("hwtest.key")).unwrap();
    let key = keel_crypto::SecretKey::from_bytes(&hex::decode(key.trim()).unwrap()).unwrap();
    keel_hwtest::report::sign_report(&mut rep, &key);
    let worse = dir.path().join("worse");
    rep.write(&worse).unwrap();
    let out = keel(&[
        "hwtest",
        "compare",
        b,
        worse.join("report.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("REGRESSION"));
    per_metric_thresholds(dir.path(), b, worse.join("report.json").to_str().unwrap());

    // Tampered without re-signing: refused as bad input.
    let text = std::fs::read_to_string(worse.join("report.json"))
        .unwrap()
        .replacen("\"passed\": true", "\"passed\": false", 1);
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, text).unwrap();
    assert_eq!(
        keel(&["hwtest", "compare", b, tampered.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{").unwrap();
    assert_eq!(
        keel(&["hwtest", "compare", b, garbage.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        keel(&["hwtest", "compare", b, "/nonexistent.json"])
            .status
            .code(),
        Some(2)
    );
}

/// `worse` has every `sigs_per_s` halved (-50%) against `base`.
fn per_metric_thresholds(dir: &Path, base: &str, worse: &str) {
    let compare = |extra: &[&str]| {
        let mut args = vec!["hwtest", "compare", base, worse];
        args.extend_from_slice(extra);
        keel(&args)
    };
    // A wide band for throughput lets the regression pass; the text says which rule applied.
    let out = compare(&["--threshold-for", "bls.*sigs_per_s=60"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("threshold 60% --threshold-for bls.*sigs_per_s"),
        "{text}"
    );
    // Most specific wins: `bls.*sigs_per_s` (14 literal characters) over `bls.*` (4).
    let out = compare(&[
        "--threshold-for",
        "bls.*sigs_per_s=20",
        "--threshold-for",
        "bls.*=90",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let regressed: Vec<&serde_json::Value> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["regressed"] == true)
        .collect();
    assert!(!regressed.is_empty());
    for r in regressed {
        assert!(r["key"].as_str().unwrap().ends_with("sigs_per_s"), "{r}");
        assert_eq!(r["threshold"]["pattern"], "bls.*sigs_per_s");
        assert_eq!(r["threshold"]["pct"], 20.0);
    }
    // The same band from a thresholds file.
    let file = dir.join("thresholds.toml");
    std::fs::write(&file, "default = 5\n[metrics]\n\"*sigs_per_s\" = 55\n").unwrap();
    let out = compare(&["--thresholds", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("threshold 55% file *sigs_per_s"));
    // Malformed specifications are usage errors (exit 2) with a reason, never a panic.
    for bad in ["nonsense", "=5", "bls.*=-3", "bls.*=wide"] {
        let out = compare(&["--threshold-for", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--threshold-for") && !err.contains("panicked"),
            "{err}"
        );
    }
    std::fs::write(&file, "[metrics]\n\"x\" = \"wide\"\n").unwrap();
    let out = compare(&["--thresholds", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("thresholds file"));
}
