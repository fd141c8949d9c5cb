//! Prometheus text exposition of a [`KernelStatus`], for the daemon's metrics endpoint.

use std::fmt::Write as _;

use crate::status::KernelStatus;

/// Renders `status` as Prometheus text lines (each family with `# HELP`/`# TYPE`), to be
/// appended to the daemon's own metrics. Deterministic: the same status renders the same text.
/// Subsystems that are not loaded emit nothing but `keel_kernel_programs_loaded{…} 0`.
pub fn render_prometheus(status: &KernelStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP keel_kernel_programs_loaded Whether a kernel program subsystem is loaded (1) or the appliance runs without it (0)."
    );
    let _ = writeln!(out, "# TYPE keel_kernel_programs_loaded gauge");
    let _ = writeln!(
        out,
        "keel_kernel_programs_loaded{{subsystem=\"admission\"}} {}",
        u8::from(status.admission.is_some())
    );
    let _ = writeln!(
        out,
        "keel_kernel_programs_loaded{{subsystem=\"observe\"}} {}",
        u8::from(status.observe.is_some())
    );

    if !status.attachments.is_empty() {
        let _ = writeln!(
            out,
            "# HELP keel_kernel_program_attached Attached kernel programs by hook and target."
        );
        let _ = writeln!(out, "# TYPE keel_kernel_program_attached gauge");
        for a in &status.attachments {
            let _ = writeln!(
                out,
                "keel_kernel_program_attached{{kind=\"{}\",target=\"{}\",pinned=\"{}\"}} 1",
                a.kind,
                escape_label(&a.target),
                a.pinned
            );
        }
    }

    if let Some(adm) = &status.admission {
        let _ = writeln!(
            out,
            "# HELP keel_kernel_admission_packets_total TCP packets to the appliance port judged in the kernel, by verdict."
        );
        let _ = writeln!(out, "# TYPE keel_kernel_admission_packets_total counter");
        for (verdict, n) in [
            ("passed", adm.counters.passed),
            ("not_allowlisted", adm.counters.not_allowlisted),
            ("rate_limited", adm.counters.rate_limited),
        ] {
            let _ = writeln!(
                out,
                "keel_kernel_admission_packets_total{{verdict=\"{verdict}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP keel_kernel_admission_allowlist_entries Prefixes in the kernel allowlist."
        );
        let _ = writeln!(out, "# TYPE keel_kernel_admission_allowlist_entries gauge");
        let _ = writeln!(
            out,
            "keel_kernel_admission_allowlist_entries {}",
            adm.allowlist.len()
        );
    }

    if let Some(obs) = &status.observe {
        for (name, help, value) in [
            (
                "keel_kernel_io_uring_submissions_total",
                "io_uring requests submitted by the appliance.",
                obs.counters.io_uring_submitted,
            ),
            (
                "keel_kernel_io_uring_completions_total",
                "io_uring completions matched to a traced submission.",
                obs.counters.io_uring_completed,
            ),
            (
                "keel_kernel_worker_preemptions_total",
                "Watched worker threads switched out while still runnable.",
                obs.counters.preemptions,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {value}");
        }
        obs.io_uring_latency.render_prometheus(
            &mut out,
            "keel_kernel_io_uring_completion_latency_seconds",
            "io_uring submit to completion latency of the daemon's own operations (send, write, close, cancel).",
        );
        obs.io_uring_waits.render_prometheus(
            &mut out,
            "keel_kernel_io_uring_wait_seconds",
            "io_uring submit to completion time of waits for peers and timers (accept, recv, read, poll, timeout); long when idle.",
        );
        obs.preemption_delay.render_prometheus(
            &mut out,
            "keel_kernel_worker_preemption_delay_seconds",
            "Time a preempted worker thread waited before running again.",
        );
    }
    out
}

/// Escapes a Prometheus label value (backslash, quote, newline).
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::AdmissionCounters;
    use crate::status::{AdmissionStatus, AttachKind, Attachment};

    #[test]
    fn metrics_report_counters_by_verdict_and_unloaded_subsystems_as_zero() {
        let status = KernelStatus {
            attachments: vec![Attachment {
                kind: AttachKind::Xdp,
                target: "eth0".into(),
                link_id: 1,
                prog_id: 2,
                pinned: true,
                reused: false,
            }],
            admission: Some(AdmissionStatus {
                port: 7000,
                enforce_allowlist: true,
                rate_limit: None,
                allowlist: vec!["10.0.0.0/8".parse().unwrap()],
                counters: AdmissionCounters {
                    passed: 5,
                    not_allowlisted: 3,
                    rate_limited: 2,
                },
            }),
            ..KernelStatus::default()
        };
        let text = render_prometheus(&status);
        assert!(text.contains("keel_kernel_programs_loaded{subsystem=\"admission\"} 1\n"));
        assert!(text.contains("keel_kernel_programs_loaded{subsystem=\"observe\"} 0\n"));
        assert!(text.contains(
            "keel_kernel_program_attached{kind=\"xdp\",target=\"eth0\",pinned=\"true\"} 1\n"
        ));
        assert!(text.contains("keel_kernel_admission_packets_total{verdict=\"rate_limited\"} 2\n"));
        assert!(text.contains("keel_kernel_admission_allowlist_entries 1\n"));
        assert!(!text.contains("io_uring"));
        assert_eq!(text, render_prometheus(&status));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
