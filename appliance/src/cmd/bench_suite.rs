//! `keel bench suite` and `keel bench peers`: the benchmark suite of `keel-bench` (macro and
//! contract-level micro workloads on both engine tiers) together with the host-level micro rows
//! the appliance already measures (`keel bench crypto`, `keel bench bridge`), as one report:
//! JSON, a table, and an HTML page with plots drawn by hwtest's report code.

use keel_bench::peers::{self, PeersArgs};
use keel_bench::suite::{self, SuiteArgs, SuiteReport};
use keel_hwtest::paths::{Curve, Series};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct BenchSuiteArgs {
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// Rounds of each crypto host-function row (the fastest is kept).
    #[arg(long, default_value_t = 3)]
    pub crypto_rounds: u32,
    /// Input sizes of the native-routine rows (sha256/keccak256 on wasm, sBPF, Rust).
    #[arg(long, value_delimiter = ',', default_value = "64,1024")]
    pub routine_sizes: Vec<usize>,
    /// Also write the report as an HTML page with plots to this file.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Skip the crypto host-function and native-routine rows (reported as skipped).
    #[arg(long)]
    pub no_host_rows: bool,
}

/// Rows measured, or why not.
#[derive(Serialize)]
#[serde(untagged)]
enum Rows<T> {
    Measured(Vec<T>),
    Unavailable { unavailable: &'static str },
}

const SKIPPED: &str = "skipped (--no-host-rows)";

/// The whole suite: the workload rows and the host-level micro rows.
#[derive(Serialize)]
struct Report {
    bench: &'static str,
    #[serde(flatten)]
    suite: SuiteReport,
    /// Per-call time and gas of every crypto host function (BLS, Poseidon, Groth16).
    crypto: Rows<super::bench_crypto::CryptoRow>,
    /// Native routines: the same hash in wasm, on the sBPF interpreter and JIT, in Rust.
    native_routines: Rows<super::bridge::BridgeRow>,
}

pub fn run(a: BenchSuiteArgs) -> anyhow::Result<ExitCode> {
    let progress = !a.suite.json;
    let suite = suite::run(&a.suite)?;
    let (crypto, native_routines) = if a.no_host_rows {
        (
            Rows::Unavailable {
                unavailable: SKIPPED,
            },
            Rows::Unavailable {
                unavailable: SKIPPED,
            },
        )
    } else {
        if progress {
            eprintln!("crypto host functions…");
        }
        (
            Rows::Measured(super::bench_crypto::rows(a.crypto_rounds, progress)?),
            Rows::Measured(super::bridge::bench_rows(&a.routine_sizes, progress)?),
        )
    };
    let report = Report {
        bench: "suite",
        suite,
        crypto,
        native_routines,
    };
    if let Some(path) = &a.html {
        std::fs::write(path, html(&report.suite)?)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    if a.suite.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    suite::print_table(&report.suite);
    let (Rows::Measured(crypto), Rows::Measured(routines)) =
        (&report.crypto, &report.native_routines)
    else {
        println!("crypto host-function and native-routine rows: {SKIPPED}");
        return Ok(ExitCode::SUCCESS);
    };
    println!("crypto host functions (per call):");
    for r in crypto {
        let gas = r.gas_per_call.map_or("-".into(), |g| g.to_string());
        let ratio = r.gas_per_us.map_or("-".into(), |g| format!("{g:.0}"));
        println!(
            "  {:<9} {:<62} {:>10.1} µs {:>12} gas {:>8} gas/µs",
            r.primitive, r.case, r.us_per_call, gas, ratio
        );
    }
    println!("native routines (µs per call: wasm on VM / sBPF interpreter / sBPF JIT / Rust):");
    for r in routines {
        let w = r.wasm_on_vm_us.map_or("-".into(), |v| format!("{v:.1}"));
        println!(
            "  {:<20} {:>6} B {:>10} {:>10.1} {:>10.1} {:>10.2}",
            r.routine,
            r.input_bytes,
            w,
            r.native_call_interp_us,
            r.native_call_jit_us,
            r.native_rust_us
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn peers(a: PeersArgs) -> anyhow::Result<ExitCode> {
    let report = peers::run(&a)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        peers::print_table(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// One series per tier: `y` of each row against the workload's position in the report.
fn curve(r: &SuiteReport, title: &str, y_label: &str, y: impl Fn(&suite::Row) -> f64) -> Curve {
    let series = suite::TIERS
        .iter()
        .map(|&(_, tier)| Series {
            label: tier.to_string(),
            points: r
                .rows
                .iter()
                .filter(|row| row.tier == tier)
                .zip(1u32..)
                .map(|(row, x)| (f64::from(x), y(row)))
                .collect(),
        })
        .collect();
    Curve {
        title: title.into(),
        x_label: "workload (numbered as in the table)".into(),
        y_label: y_label.into(),
        log_x: false,
        series,
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The suite as an HTML page: the rows as a table and plots of ns/gas and latency.
fn html(r: &SuiteReport) -> anyhow::Result<String> {
    let mut out = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>keel bench suite</title>\
         </head><body><h1>keel bench suite</h1>",
    );
    out.push_str(&format!(
        "<p>{} measured transactions per row after {} warm-up, each committed before the next.</p>",
        r.txs, r.warmup
    ));
    out.push_str(
        "<table border=\"1\"><tr><th>#</th><th>workload</th><th>tier</th><th>tx/s</th>\
         <th>p50 µs</th><th>p99 µs</th><th>compute gas/tx</th><th>ns/gas</th></tr>",
    );
    let mut numbers = std::collections::BTreeMap::new();
    for row in &r.rows {
        let next = numbers.len() + 1;
        let n = *numbers.entry(row.workload).or_insert(next);
        out.push_str(&format!(
            "<tr><td>{n}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.2}</td><td>{:.2}</td>\
             <td>{:.0}</td><td>{:.3}</td></tr>",
            escape(row.workload),
            row.tier,
            row.tx_per_s,
            row.p50_us,
            row.p99_us,
            row.gas.compute,
            row.ns_per_compute_gas
        ));
    }
    out.push_str("</table><ul>");
    for a in &r.accuracy {
        out.push_str(&format!(
            "<li>{}: ns per compute gas over {} workloads, mean {:.3}, CV {:.3}</li>",
            a.tier, a.workloads, a.mean_ns_per_gas, a.cv
        ));
    }
    out.push_str("</ul>");
    let plots = [
        curve(
            r,
            "ns per compute gas (flat = gas proportional to time)",
            "ns/gas",
            |x| x.ns_per_compute_gas,
        ),
        curve(r, "p99 latency per transaction", "µs", |x| x.p99_us),
    ];
    for c in &plots {
        out.push_str(&keel_hwtest::report::render_svg(c)?);
    }
    out.push_str("</body></html>\n");
    Ok(out)
}
