//! `keel hwtest compare BASE OTHER`: regressions of OTHER against BASE beyond thresholds.
//!
//! A metric regresses when it is worse (lower for throughput, higher for latency) by more than
//! its threshold in percent ([`Thresholds::for_metric`]: per-metric rules, built-in bands by
//! metric kind, a default); a phase regresses when it passed in BASE and fails in OTHER.
//! Metrics are matched by path, subject and name; ones missing on either side are listed, not
//! counted as regressions (different machines run different variants).

pub mod glob;
pub mod thresholds;

use std::fmt;

use serde::Serialize;

pub use thresholds::{Applied, Rule, RuleSource, ThresholdError, Thresholds};

use crate::paths::{Better, Verdict};
use crate::report::Report;

/// One compared metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// `path/subject/metric`.
    pub key: String,
    /// BASE value.
    pub base: f64,
    /// OTHER value.
    pub other: f64,
    /// Change in percent, positive = better.
    pub improvement_pct: f64,
    /// Worse than the threshold.
    pub regressed: bool,
    /// The threshold that applied, and which rule gave it.
    pub threshold: Applied,
}

/// The comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The default threshold, percent (rows carry the one that applied to them).
    pub threshold_pct: f64,
    /// Every per-metric rule in force (built-in, file, command line).
    pub rules: Vec<Rule>,
    /// Every metric present in both.
    pub rows: Vec<Row>,
    /// Phases that passed in BASE and fail in OTHER.
    pub verdict_regressions: Vec<String>,
    /// Metrics only in one of the two reports.
    pub unmatched: Vec<String>,
}

impl Comparison {
    /// Whether anything regressed.
    pub fn regressed(&self) -> bool {
        !self.verdict_regressions.is_empty() || self.rows.iter().any(|r| r.regressed)
    }
}

/// Compares `other` against `base`, each metric against its threshold in `thresholds`.
pub fn compare(base: &Report, other: &Report, thresholds: &Thresholds) -> Comparison {
    let mut rows = Vec::new();
    let mut unmatched = Vec::new();
    let mut verdict_regressions = Vec::new();
    for b in &base.results {
        let Some(o) = other
            .results
            .iter()
            .find(|o| o.path == b.path && o.subject == b.subject)
        else {
            unmatched.push(format!("{}/{}: only in base", b.path, b.subject));
            continue;
        };
        for (phase, pb, po) in [
            ("conformance", &b.conformance, &o.conformance),
            ("performance", &b.performance, &o.performance),
        ] {
            if pb.verdict != Verdict::Fail && po.verdict == Verdict::Fail {
                verdict_regressions.push(format!(
                    "{}/{} {phase}: now FAIL ({})",
                    b.path,
                    b.subject,
                    po.failures.first().map_or("", String::as_str)
                ));
            }
        }
        for mb in &b.metrics {
            let key = format!("{}/{}/{}", b.path, b.subject, mb.name);
            let Some(mo) = o.metrics.iter().find(|m| m.name == mb.name) else {
                unmatched.push(format!("{key}: only in base"));
                continue;
            };
            let change = if mb.value.abs() < f64::EPSILON {
                0.0
            } else {
                (mo.value - mb.value) / mb.value.abs() * 100.0
            };
            let improvement_pct = match mb.better {
                Better::Higher => change,
                Better::Lower => -change,
            };
            let threshold = thresholds.for_metric(&b.path, &b.subject, &mb.name);
            rows.push(Row {
                key,
                base: mb.value,
                other: mo.value,
                improvement_pct,
                regressed: improvement_pct < -threshold.pct,
                threshold,
            });
        }
    }
    for o in &other.results {
        if !base
            .results
            .iter()
            .any(|b| b.path == o.path && b.subject == o.subject)
        {
            unmatched.push(format!("{}/{}: only in other", o.path, o.subject));
        }
    }
    Comparison {
        threshold_pct: thresholds.default_pct,
        rules: thresholds.rules.clone(),
        rows,
        verdict_regressions,
        unmatched,
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for v in &self.verdict_regressions {
            writeln!(f, "REGRESSION {v}")?;
        }
        for r in &self.rows {
            let tag = if r.regressed {
                "REGRESSION"
            } else {
                "ok        "
            };
            writeln!(
                f,
                "{tag} {:<60} {:>14.3} -> {:>14.3} ({:+.1}%, threshold {})",
                r.key, r.base, r.other, r.improvement_pct, r.threshold
            )?;
        }
        for u in &self.unmatched {
            writeln!(f, "unmatched  {u}")?;
        }
        let n = self.rows.iter().filter(|r| r.regressed).count() + self.verdict_regressions.len();
        writeln!(
            f,
            "{n} regression(s) beyond their thresholds (default {}%; {} metrics compared)",
            self.threshold_pct,
            self.rows.len()
        )
    }
}
