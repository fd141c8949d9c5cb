//! Prints the admission-path benchmark (`keel bench kernel`) as JSON. Needs root.
//!
//! `cargo run --release -p keel-kernel-progs --example bench_kernel -- [repeat]`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let repeat = std::env::args()
        .nth(1)
        .map(|s| s.parse::<u32>())
        .transpose()?
        .unwrap_or(1_000_000);
    let bench = keel_kernel_progs::bench_admission(repeat)?;
    println!("{}", serde_json::to_string_pretty(&bench)?);
    Ok(())
}
