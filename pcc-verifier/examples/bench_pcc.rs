//! Prints the `keel bench pcc` table: `cargo run --release -p keel-pcc --example bench_pcc [ROUNDS]`.

fn main() -> Result<(), String> {
    let rounds = std::env::args()
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let rows = keel_pcc::bench::bench_pcc(rounds)?;
    print!("{}", keel_pcc::bench::render(&rows));
    Ok(())
}
