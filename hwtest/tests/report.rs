//! Reports: JSON round trip, signature check (and tampering detected), HTML with plots, and
//! `compare` flagging an injected regression.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use keel_crypto::SecretKey;
use keel_hwtest::compare::{Rule, RuleSource, Thresholds, compare};
use keel_hwtest::paths::{Better, Curve, Metric, PathResult, Series};
use keel_hwtest::probe::{Probe, SysRoot};
use keel_hwtest::report::{Report, SignatureCheck, render_html, sign_report, verify_report};
use keel_hwtest::run::{Mode, PathKind, RunConfig};

fn sample() -> Report {
    let mut r = PathResult::new("bls", "cpu-pool");
    r.conformance.check(Ok(()));
    r.metrics.push(Metric::new(
        "cpu-pool.b64.sigs_per_s",
        5000.0,
        "sig/s",
        Better::Higher,
    ));
    r.metrics.push(Metric::new(
        "cpu-pool.b64.p99_us",
        900.0,
        "µs",
        Better::Lower,
    ));
    r.curves.push(Curve {
        title: "throughput".into(),
        x_label: "batch".into(),
        y_label: "sig/s".into(),
        log_x: true,
        series: vec![Series {
            label: "cpu-pool".into(),
            points: vec![(1.0, 800.0), (64.0, 5000.0)],
        }],
    });
    let config = RunConfig {
        paths: vec![PathKind::Bls],
        mode: Mode::Tiny,
        soak_secs: None,
        seed: 1,
        plugins: Vec::new(),
        plugin_timeout_ms: 1000,
    };
    let dir = tempfile::tempdir().unwrap();
    let probe = Probe::collect(&SysRoot::new(dir.path()), false);
    Report::new("0.1.0", config, probe, vec![r])
}

fn key() -> SecretKey {
    SecretKey::from_seed(&[9u8; 32]).unwrap()
}

#[test]
fn a_signed_report_round_trips_through_its_files_and_its_signature_checks() {
    let mut rep = sample();
    sign_report(&mut rep, &key());
    let dir = tempfile::tempdir().unwrap();
    rep.write(dir.path()).unwrap();
    let back = Report::read(&dir.path().join("report.json")).unwrap();
    assert_eq!(back, rep);
    let pk = hex::encode(key().public_key().to_bytes());
    assert_eq!(verify_report(&back), SignatureCheck::Valid(pk));
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("(valid)"));
}

#[test]
fn a_changed_number_breaks_the_signature() {
    let mut rep = sample();
    sign_report(&mut rep, &key());
    rep.results[0].metrics[0].value *= 2.0;
    assert!(matches!(verify_report(&rep), SignatureCheck::Invalid(_)));
    rep.signature = None;
    assert_eq!(verify_report(&rep), SignatureCheck::Unsigned);
    assert!(render_html(&rep).unwrap().contains("unsigned"));
}

#[test]
fn a_file_of_another_schema_or_garbage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.json");
    std::fs::write(&p, br#"{"schema":"keel-hwtest-report/999"}"#).unwrap();
    assert!(
        Report::read(&p)
            .unwrap_err()
            .to_string()
            .contains("keel-hwtest-report/999")
    );
    std::fs::write(&p, b"not json").unwrap();
    assert!(Report::read(&p).is_err());
}

#[test]
fn compare_flags_an_injected_regression_and_nothing_else() {
    let base = sample();
    let ten = Thresholds::uniform(10.0);
    let same = compare(&base, &base, &ten);
    assert!(!same.regressed());
    assert_eq!(same.rows.len(), 2);

    let mut slower = base.clone();
    slower.results[0].metrics[0].value = 4000.0; // throughput -20%
    let c = compare(&base, &slower, &ten);
    assert!(c.regressed());
    assert!(
        c.rows
            .iter()
            .any(|r| r.regressed && r.key.ends_with("sigs_per_s"))
    );
    assert!(
        !compare(&base, &slower, &Thresholds::uniform(25.0)).regressed(),
        "within a 25% threshold"
    );

    let mut laggier = base.clone();
    laggier.results[0].metrics[1].value = 1200.0; // p99 +33%: lower is better
    assert!(compare(&base, &laggier, &ten).regressed());

    let mut broken = base.clone();
    broken.results[0].conformance.fail("wrong verdict");
    let c = compare(&base, &broken, &ten);
    assert_eq!(c.verdict_regressions.len(), 1);
    assert!(c.to_string().contains("REGRESSION"));
}

#[test]
fn a_regression_within_its_per_metric_threshold_passes_and_fails_under_the_default() {
    let base = sample();
    let mut laggier = base.clone();
    laggier.results[0].metrics[1].value = 1300.0; // p99 +44%
    let plain = compare(&base, &laggier, &Thresholds::uniform(10.0));
    assert!(plain.regressed(), "beyond the default 10%");
    let row = plain
        .rows
        .iter()
        .find(|r| r.key.ends_with("p99_us"))
        .unwrap();
    assert!(row.regressed && row.threshold.pattern.is_none());
    assert!(
        plain.to_string().contains("threshold 10% default"),
        "{plain}"
    );

    let wide: Rule = "bls.*p99*=50".parse().unwrap();
    let c = compare(
        &base,
        &laggier,
        &Thresholds::build(Some(10.0), None, &[wide], true).unwrap(),
    );
    assert!(!c.regressed(), "{c}");
    let row = c.rows.iter().find(|r| r.key.ends_with("p99_us")).unwrap();
    assert_eq!(row.threshold.pct, 50.0);
    assert_eq!(row.threshold.source, Some(RuleSource::Cli));
    // The built-in tail band (3 x 10% = 30%) alone does not cover +44%.
    let built_in = compare(&base, &laggier, &Thresholds::with_built_ins(10.0));
    assert!(built_in.regressed());
    assert!(
        built_in
            .to_string()
            .contains("threshold 30% built-in *p99*")
    );
    // JSON carries the applied threshold of every row.
    let json = serde_json::to_value(&built_in).unwrap();
    let rows = json["rows"].as_array().unwrap();
    let p99 = rows
        .iter()
        .find(|r| r["key"].as_str().unwrap().ends_with("p99_us"))
        .unwrap();
    assert_eq!(p99["threshold"]["pattern"], "*p99*");
    assert_eq!(p99["threshold"]["source"], "built_in");
    assert_eq!(p99["regressed"], true);
}
