//! Runs the BLS benchmark outside the `keel` CLI:
//! `cargo run --release -p keel-offload --example bench_bls [-- --json] [--skip-pooled] [--workers N]`.

use keel_offload::bench::{BenchOptions, PooledBaseline, bench_bls};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = BenchOptions::default();
    if args.iter().any(|a| a == "--skip-pooled") {
        opts.pooled = PooledBaseline::Skip;
    }
    if let Some(n) = args
        .iter()
        .position(|a| a == "--workers")
        .and_then(|i| args.get(i + 1))
    {
        opts.pool.max_workers = Some(n.parse()?);
    }
    let report = bench_bls(&opts)?;
    if args.iter().any(|a| a == "--json") {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}\n{report}", keel_offload::Topology::discover());
    }
    Ok(())
}
