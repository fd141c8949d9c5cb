//! Per-metric regression thresholds for `compare`.
//!
//! A rule is `PATTERN=PCT`: a glob ([`glob_match`]) over a metric's name, written
//! `PATH.SUBJECT.METRIC` (e.g. `bls.cpu-pool.cpu.w4.b64.p99_us`) or `PATH.METRIC` (e.g.
//! `kernel.xdp_generic.p50_attach_us`); it matches when either spelling matches.
//!
//! Which threshold applies to a metric (the precedence, most specific wins):
//! 1. the matching user rule (`--threshold-for`, then the `--thresholds` file) with the most
//!    literal characters; on a tie a `--threshold-for` rule beats a file rule, a later
//!    `--threshold-for` beats an earlier one, and among file rules the alphabetically last
//!    pattern wins;
//! 2. otherwise the matching built-in rule ([`BUILT_IN`]) with the most literal characters;
//! 3. otherwise the default threshold (`--threshold`, else the file's `default`, else 10 %).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::compare::glob::{check_pattern, glob_match, specificity};

/// The default threshold when neither `--threshold` nor a file's `default` gives one, percent.
pub const DEFAULT_THRESHOLD_PCT: f64 = 10.0;

/// Built-in rules by metric kind, as multiples of the default threshold (so at the default
/// 10 %: tails 30 %, medians 20 %, attach/detach 50 %). Timing tails and single system calls
/// vary far more between runs of one machine than throughput does.
pub const BUILT_IN: [(&str, f64, &str); 4] = [
    ("*p99*", 3.0, "latency tail (p99): a few slow calls move it"),
    ("*p50*", 2.0, "median latency: noisier than throughput"),
    (
        "kernel.*attach_us",
        5.0,
        "BPF attach: one system call, RCU grace periods",
    ),
    (
        "kernel.*detach_us",
        5.0,
        "BPF detach: one system call, RCU grace periods",
    ),
];

/// Where a rule came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    /// Built into keel ([`BUILT_IN`]).
    BuiltIn,
    /// A `--thresholds` file.
    File,
    /// `--threshold-for` on the command line.
    Cli,
}

/// One `PATTERN=PCT` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Glob over `PATH.SUBJECT.METRIC` / `PATH.METRIC`.
    pub pattern: String,
    /// Threshold in percent (finite, ≥ 0).
    pub pct: f64,
    /// Where it came from.
    pub source: RuleSource,
}

/// Why a threshold specification was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    /// Not of the form `PATTERN=PCT`.
    #[error("{0:?} is not PATTERN=PCT (e.g. 'bls.*p99*=30')")]
    NotAnAssignment(String),
    /// The pattern is empty.
    #[error("{0:?}: the pattern is empty")]
    EmptyPattern(String),
    /// The pattern is not a valid glob.
    #[error("{spec:?}: not a valid pattern: {reason}")]
    BadPattern {
        /// The whole specification.
        spec: String,
        /// Why.
        reason: String,
    },
    /// The percentage is not a finite, non-negative number.
    #[error("{spec:?}: {value:?} is not a non-negative number of percent")]
    BadPercent {
        /// The whole specification.
        spec: String,
        /// The offending value.
        value: String,
    },
    /// A thresholds file could not be read or is not valid.
    #[error("thresholds file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

impl FromStr for Rule {
    type Err = ThresholdError;

    /// Parses `PATTERN=PCT` (a trailing `%` is allowed) as a command-line rule.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (pattern, value) = spec
            .rsplit_once('=')
            .ok_or_else(|| ThresholdError::NotAnAssignment(spec.to_owned()))?;
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Err(ThresholdError::EmptyPattern(spec.to_owned()));
        }
        check_pattern(pattern).map_err(|reason| ThresholdError::BadPattern {
            spec: spec.to_owned(),
            reason,
        })?;
        let pct = parse_pct(value.trim().trim_end_matches('%')).ok_or_else(|| {
            ThresholdError::BadPercent {
                spec: spec.to_owned(),
                value: value.to_owned(),
            }
        })?;
        Ok(Self {
            pattern: pattern.to_owned(),
            pct,
            source: RuleSource::Cli,
        })
    }
}

fn parse_pct(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|p| p.is_finite() && *p >= 0.0)
}

/// The threshold that applied to one metric, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Applied {
    /// Percent.
    pub pct: f64,
    /// The rule's pattern, or `None` for the default threshold.
    pub pattern: Option<String>,
    /// Where the rule came from (`None` for the default threshold).
    pub source: Option<RuleSource>,
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.pattern, self.source) {
            (Some(p), Some(RuleSource::Cli)) => write!(f, "{}% --threshold-for {p}", self.pct),
            (Some(p), Some(RuleSource::File)) => write!(f, "{}% file {p}", self.pct),
            (Some(p), _) => write!(f, "{}% built-in {p}", self.pct),
            (None, _) => write!(f, "{}% default", self.pct),
        }
    }
}

/// Every threshold of one comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thresholds {
    /// The default threshold, percent.
    pub default_pct: f64,
    /// User rules and (unless disabled) the built-in ones, resolved to percent.
    pub rules: Vec<Rule>,
}

/// A `--thresholds` TOML file: `default = 10` (optional) and a `[metrics]` table of
/// `"PATTERN" = PCT`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdsFile {
    default: Option<f64>,
    #[serde(default)]
    metrics: std::collections::BTreeMap<String, f64>,
}

impl Thresholds {
    /// One threshold for every metric, no rules.
    pub fn uniform(pct: f64) -> Self {
        Self {
            default_pct: pct,
            rules: Vec::new(),
        }
    }

    /// The default threshold plus the built-in rules scaled to it.
    pub fn with_built_ins(default_pct: f64) -> Self {
        let rules = BUILT_IN
            .iter()
            .map(|(pattern, factor, _)| Rule {
                pattern: (*pattern).to_owned(),
                pct: default_pct * factor,
                source: RuleSource::BuiltIn,
            })
            .collect();
        Self { default_pct, rules }
    }

    /// Builds the thresholds of one `compare`: `threshold` (`--threshold`) or the file's
    /// `default` or [`DEFAULT_THRESHOLD_PCT`]; built-in rules unless `built_ins` is false;
    /// the file's rules; `cli` rules in command-line order.
    ///
    /// # Errors
    /// [`ThresholdError`] for an unreadable or invalid file, or a negative/non-finite percent.
    pub fn build(
        threshold: Option<f64>,
        file: Option<&Path>,
        cli: &[Rule],
        built_ins: bool,
    ) -> Result<Self, ThresholdError> {
        let parsed = file.map(read_file).transpose()?;
        let default_pct = threshold
            .or(parsed.as_ref().and_then(|f| f.default))
            .unwrap_or(DEFAULT_THRESHOLD_PCT);
        if !(default_pct.is_finite() && default_pct >= 0.0) {
            return Err(ThresholdError::BadPercent {
                spec: "default threshold".into(),
                value: default_pct.to_string(),
            });
        }
        let mut t = if built_ins {
            Self::with_built_ins(default_pct)
        } else {
            Self::uniform(default_pct)
        };
        for (pattern, pct) in parsed.map(|f| f.metrics).unwrap_or_default() {
            t.rules.push(Rule {
                pattern,
                pct,
                source: RuleSource::File,
            });
        }
        t.rules.extend(cli.iter().cloned());
        Ok(t)
    }

    /// The threshold for metric `metric` of `path`/`subject` (see the module's precedence).
    pub fn for_metric(&self, path: &str, subject: &str, metric: &str) -> Applied {
        let full = format!("{path}.{subject}.{metric}");
        let short = format!("{path}.{metric}");
        // Later rules win ties: `max_by_key` keeps the last maximum, and rules are stored
        // built-in, file (sorted by pattern), then command line in order.
        let best = self
            .rules
            .iter()
            .filter(|r| glob_match(&r.pattern, &full) || glob_match(&r.pattern, &short))
            .max_by_key(|r| {
                (
                    r.source != RuleSource::BuiltIn,
                    specificity(&r.pattern),
                    r.source,
                )
            });
        match best {
            Some(r) => Applied {
                pct: r.pct,
                pattern: Some(r.pattern.clone()),
                source: Some(r.source),
            },
            None => Applied {
                pct: self.default_pct,
                pattern: None,
                source: None,
            },
        }
    }
}

fn read_file(path: &Path) -> Result<ThresholdsFile, ThresholdError> {
    let err = |reason: String| ThresholdError::File {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let file: ThresholdsFile = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
    for (pattern, pct) in file
        .metrics
        .iter()
        .map(|(p, v)| (p.as_str(), *v))
        .chain(file.default.map(|d| ("default", d)))
    {
        if pattern.trim().is_empty() {
            return Err(err("an empty pattern".into()));
        }
        check_pattern(pattern).map_err(|reason| err(format!("{pattern:?}: {reason}")))?;
        if !(pct.is_finite() && pct >= 0.0) {
            return Err(err(format!(
                "{pattern:?} = {pct}: not a non-negative percent"
            )));
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(spec: &str) -> Rule {
        spec.parse().unwrap_or_else(|e| panic!("{spec}: {e}"))
    }

    #[test]
    fn a_rule_is_pattern_equals_percent() {
        let r = rule("bls.*p99*=30");
        assert_eq!(
            (r.pattern.as_str(), r.pct, r.source),
            ("bls.*p99*", 30.0, RuleSource::Cli)
        );
        assert_eq!(rule("a=b=12.5%").pattern, "a=b", "split at the last '='");
        assert_eq!(rule(" x = 0 ").pct, 0.0);
    }

    #[test]
    fn malformed_rules_are_refused_with_the_reason() {
        assert!(matches!(
            "bls".parse::<Rule>(),
            Err(ThresholdError::NotAnAssignment(_))
        ));
        assert!(matches!(
            "=5".parse::<Rule>(),
            Err(ThresholdError::EmptyPattern(_))
        ));
        for bad in ["x=", "x=abc", "x=-1", "x=NaN", "x=inf"] {
            assert!(
                matches!(bad.parse::<Rule>(), Err(ThresholdError::BadPercent { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            "bls.[p99=30".parse::<Rule>(),
            Err(ThresholdError::BadPattern { .. })
        ));
    }

    #[test]
    fn built_ins_widen_tails_and_attach_times_relative_to_the_default() {
        let t = Thresholds::with_built_ins(10.0);
        let at = |p: &str, s: &str, m: &str| t.for_metric(p, s, m);
        assert_eq!(at("bls", "cpu-pool", "cpu.w1.b64.sigs_per_s").pct, 10.0);
        assert_eq!(at("bls", "cpu-pool", "cpu.w1.b64.sigs_per_s").pattern, None);
        assert_eq!(at("bls", "cpu-pool", "cpu.w1.b64.p99_us").pct, 30.0);
        assert_eq!(at("sockets", "io_uring", "c16.p50_us").pct, 20.0);
        // `kernel.*attach_us` (15 literal characters) beats `*p50*` (3).
        let a = at(
            "kernel",
            "admission attach-detach",
            "xdp_generic.p50_attach_us",
        );
        assert_eq!(
            (a.pct, a.pattern.as_deref()),
            (50.0, Some("kernel.*attach_us"))
        );
        assert_eq!(
            Thresholds::with_built_ins(4.0)
                .for_metric("x", "y", "p99")
                .pct,
            12.0
        );
    }

    #[test]
    fn the_most_specific_matching_rule_wins_and_user_rules_beat_built_ins() {
        let cli = [rule("bls.*=40"), rule("bls.*p99*=25"), rule("*=1")];
        let t = Thresholds::build(Some(10.0), None, &cli, true).unwrap();
        let at = |m: &str| t.for_metric("bls", "cpu-pool", m);
        // `bls.*p99*` (7 literal characters) beats `bls.*` (4) and `*` (0).
        assert_eq!(at("cpu.w1.b64.p99_us").pct, 25.0);
        assert_eq!(at("cpu.w1.b64.sigs_per_s").pct, 40.0);
        // A user rule, however broad, beats a built-in one.
        assert_eq!(t.for_metric("vm", "wasmi", "x.p99_us").pct, 1.0);
        // Both spellings match: PATH.METRIC skips the subject.
        let t = Thresholds::build(None, None, &[rule("kernel.xdp_generic.*=70")], true).unwrap();
        assert_eq!(
            t.for_metric(
                "kernel",
                "admission attach-detach",
                "xdp_generic.p50_attach_us"
            )
            .pct,
            70.0
        );
    }

    #[test]
    fn on_equal_specificity_the_command_line_beats_the_file_and_later_beats_earlier() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(
            &file,
            "default = 7\n[metrics]\n\"*p99*\" = 60\n\"*_us*\" = 61\n",
        )
        .unwrap();
        let t = Thresholds::build(None, Some(&file), &[], true).unwrap();
        assert_eq!(
            t.default_pct, 7.0,
            "the file's default applies without --threshold"
        );
        // `*p99*` and `*_us*` are equally specific (3): the alphabetically last (`*p99*`) wins.
        assert_eq!(t.for_metric("a", "b", "p99_us").pct, 60.0);
        // A command-line rule as specific as the file's beats it.
        let t = Thresholds::build(None, Some(&file), &[rule("*_us*=8")], true).unwrap();
        assert_eq!(t.for_metric("a", "b", "p99_us").pct, 8.0);
        let t = Thresholds::build(
            Some(5.0),
            Some(&file),
            &[rule("*_us*=8"), rule("*p*9_*=9")],
            true,
        )
        .unwrap();
        assert_eq!(t.default_pct, 5.0, "--threshold beats the file's default");
        let a = t.for_metric("a", "b", "p99_us");
        assert_eq!(
            (a.pct, a.source),
            (9.0, Some(RuleSource::Cli)),
            "later CLI rule wins"
        );
    }

    #[test]
    fn a_bad_thresholds_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        for bad in [
            "[metrics]\n\"x\" = \"wide\"\n",
            "[metrics]\n\"x\" = -3\n",
            "[metrics]\n\"\" = 3\n",
            "[metrics]\n\"bls.[p99\" = 3\n",
            "defualt = 3\n",
            "not toml at all [",
        ] {
            std::fs::write(&file, bad).unwrap();
            let e = Thresholds::build(None, Some(&file), &[], true).unwrap_err();
            assert!(matches!(e, ThresholdError::File { .. }), "{bad}: {e}");
        }
        let missing = dir.path().join("missing.toml");
        assert!(Thresholds::build(None, Some(&missing), &[], true).is_err());
        assert!(Thresholds::build(Some(-1.0), None, &[], true).is_err());
    }
}
