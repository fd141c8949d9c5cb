//! Runs the serving load test: `cargo run --release -p keel-server --example serve_bench
//! [requests_per_client] [window] [client_threads] [ping|status] [tcp|unix] [io_threads]`;
//! `KEEL_BENCH_CONTENDED=1` runs with a CPU hog on every core.

use keel_server::bench::{BenchConfig, BenchRequest, run_serve_bench};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let mut config = BenchConfig::default();
    if let Some(n) = arg(1) {
        config.requests_per_client = n.parse()?;
    }
    if let Some(w) = arg(2) {
        config.window = w.parse()?;
    }
    if let Some(t) = arg(3) {
        config.client_threads = t.parse()?;
    }
    if arg(4) == Some("status") {
        config.request = BenchRequest::Status;
    }
    config.unix = arg(5) == Some("unix");
    if let Some(t) = arg(6) {
        config.io_threads = t.parse()?;
    }
    if let Ok(r) = std::env::var("KEEL_BENCH_ROUNDS") {
        config.rounds = r.parse()?;
    }
    if let Ok(list) = std::env::var("KEEL_BENCH_CLIENTS") {
        config.clients = list.split(',').map(str::parse).collect::<Result<_, _>>()?;
    }
    config.contended = std::env::var_os("KEEL_BENCH_CONTENDED").is_some();
    let report = run_serve_bench(&config)?;
    print!("{}", report.render());
    Ok(())
}
