//! The self-contained HTML report: no scripts, no external resources; plots are inline SVG.

use std::fmt::Write as _;

use super::Report;
use super::plot::render_svg;
use super::sign::{SignatureCheck, verify_report};
use crate::error::HwtestError;
use crate::paths::{Phase, Verdict};

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn verdict(p: &Phase) -> String {
    let (class, text) = match p.verdict {
        Verdict::Pass => ("pass", "PASS"),
        Verdict::Fail => ("fail", "FAIL"),
        Verdict::Skipped => ("skip", "SKIPPED"),
    };
    format!(
        "<span class=\"{class}\">{text}</span> ({} checks, {} failed)",
        p.checks, p.failed
    )
}

/// Renders `report` as one HTML document.
///
/// # Errors
/// [`HwtestError::Plot`] when a plot cannot be drawn.
pub fn render_html(report: &Report) -> Result<String, HwtestError> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Keel hwtest — {host}</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left}}\
         .pass{{color:#080;font-weight:bold}}.fail{{color:#c00;font-weight:bold}}.skip{{color:#888}}\
         figure{{margin:1em 0}}pre{{white-space:pre-wrap}}</style></head><body>\
         <h1>Keel hwtest report</h1><p>host <b>{host}</b>, keel {ver}, schema {schema}, overall {overall}</p>",
        host = esc(report.probe.hostname.as_deref().unwrap_or("unknown")),
        ver = esc(&report.keel_version),
        schema = esc(&report.schema),
        overall = if report.passed {
            "<span class=\"pass\">PASS</span>"
        } else {
            "<span class=\"fail\">FAIL</span>"
        },
    );
    let sig = match verify_report(report) {
        SignatureCheck::Valid(pk) => format!("signed by <code>{}</code> (valid)", esc(&pk)),
        SignatureCheck::Unsigned => "unsigned".into(),
        SignatureCheck::Invalid(why) => format!(
            "<span class=\"fail\">signature invalid: {}</span>",
            esc(&why)
        ),
    };
    let _ = write!(
        h,
        "<p>{sig}</p><h2>Machine</h2><pre>{}</pre>",
        esc(&report.probe.to_string())
    );
    let _ = write!(
        h,
        "<h2>Verdicts</h2><table><tr><th>path</th><th>subject</th><th>conformance</th><th>performance</th><th>notes</th></tr>"
    );
    for r in &report.results {
        let notes: Vec<String> = [&r.conformance.note, &r.performance.note]
            .into_iter()
            .flatten()
            .chain(r.conformance.failures.iter())
            .chain(r.performance.failures.iter())
            .map(|n| esc(n))
            .collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.path),
            esc(&r.subject),
            verdict(&r.conformance),
            verdict(&r.performance),
            notes.join("<br>")
        );
    }
    h.push_str("</table><h2>Plots</h2>");
    for r in &report.results {
        for c in &r.curves {
            let _ = write!(h, "<figure class=\"plot\">{}</figure>", render_svg(c)?);
        }
    }
    h.push_str(
        "<h2>Metrics</h2><table><tr><th>path</th><th>metric</th><th>value</th><th>unit</th></tr>",
    );
    for r in &report.results {
        for m in &r.metrics {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td></tr>",
                esc(&r.path),
                esc(&m.name),
                m.value,
                esc(&m.unit)
            );
        }
    }
    h.push_str("</table></body></html>\n");
    Ok(h)
}
