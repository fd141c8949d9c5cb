//! `keel`: the Keel execution appliance — one binary for the daemon and every operator command.

mod cmd;
mod daemon;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Keel: a deterministic, gas-metered WebAssembly execution appliance for blockchain validators.
#[derive(Parser)]
#[command(name = "keel", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `keel_vm=debug`.
    #[arg(long, global = true, env = "KEEL_LOG", default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: the chain behind io_uring sockets (TCP and Unix), with metrics.
    Serve(cmd::serve::ServeArgs),
    /// Talk to a running daemon (authenticate with --key N, an allowlisted keystore index).
    /// Exit codes: 0 success, 1 error, 2 a submitted transaction FAILED or was REJECTED,
    /// 3 the value asked for is absent.
    #[command(subcommand)]
    Client(cmd::client::ClientCmd),
    /// Run, inspect and check contracts on the deterministic VM.
    #[command(subcommand)]
    Vm(cmd::vm::VmCmd),
    /// Measure Keel's fast paths against their baselines, side by side in one run.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCmd),
    /// Run the demo workload: the bundled contracts on the VM, with gas per call.
    Demo(cmd::demo::DemoArgs),
    /// Create, inspect and extend the chain in a data directory.
    #[command(subcommand)]
    Chain(cmd::chain::ChainCmd),
    /// Read authenticated state and its proofs (`get` and `proof` exit 3 when the key is
    /// absent; through the daemon when one holds the data directory).
    #[command(subcommand)]
    State(cmd::chain::StateCmd),
    /// Sign and send transactions (demo helpers using the keystore). `send` exits 2 when a
    /// transaction FAILED or was REJECTED.
    #[command(subcommand)]
    Tx(cmd::chain::TxCmd),
    /// Native routines on the eBPF bridge.
    #[command(subcommand)]
    Bridge(cmd::bridge::BridgeCmd),
    /// The audit trail of contract faults (append-only JSON lines, rotated).
    #[command(subcommand)]
    Audit(cmd::audit::AuditCmd),
    /// Generate Coq lemmas (gas bound, capabilities, feature gate) for contract exports, in a
    /// self-contained project; --check runs coqc on it.
    Prove(cmd::prove::ProveArgs),
    /// Proof-carrying code for native routines: certify and check.
    #[command(subcommand)]
    Module(cmd::module::ModuleCmd),
    /// Kernel eBPF programs: admission, rate limiting, observability.
    #[command(subcommand)]
    Kernel(cmd::kernel::KernelCmd),
    /// Governance: propose, vote, kill switches, and the state of it all.
    #[command(subcommand)]
    Gov(cmd::gov::GovCmd),
    /// Gas schedule calibration: measure this machine and propose a schedule for a vote.
    #[command(subcommand)]
    Gas(cmd::gas::GasCmd),
    /// Batch BLS verification on pinned workers.
    #[command(subcommand)]
    Offload(cmd::offload::OffloadCmd),
    /// Contract developer tools: new, build (with analysis passes), check, test, deploy, call.
    #[command(subcommand)]
    Contract(cmd::contract::ContractCmd),
    /// Dynamic analyses of contracts: `keel analyze concolic` (z3-driven path exploration).
    #[command(subcommand)]
    Analyze(cmd::analyze::AnalyzeCmd),
    /// The deterministic replay debugger: re-execute a transaction with a trace, breakpoints
    /// and stepping, or serve it to an editor over the Debug Adapter Protocol.
    #[command(subcommand)]
    Debug(cmd::debug::DebugCmd),
    /// Re-execute the recorded chain from genesis in a fresh database and compare every state
    /// root, receipts root and receipt (exit 0 identical, 1 cannot replay, 2 usage, 3 differs).
    Replay(cmd::replay::ReplayArgs),
    /// Qualify this machine: probe it, run conformance and performance of every acceleration
    /// path, write signed JSON and HTML reports, compare reports (`keel hwtest --help`).
    #[command(subcommand)]
    Hwtest(cmd::hwtest::HwtestCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(&cli.command, Command::Serve(a) if !a.print_config) {
        // `keel … | head`: end quietly when the reader goes away, like every Unix tool (Rust
        // ignores SIGPIPE, so the next print would panic). The daemon keeps ignoring it.
        // SAFETY: restoring a signal's default disposition before any thread is started.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Serve(a) => cmd::serve::run(a),
        Command::Client(c) => cmd::client::run(c),
        Command::Vm(c) => cmd::vm::run(c),
        Command::Bench(c) => cmd::bench::run(c),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Chain(c) => cmd::chain::run_chain(c),
        Command::State(c) => cmd::chain::run_state(c),
        Command::Tx(c) => cmd::chain::run_tx(c),
        Command::Offload(c) => cmd::offload::run(c),
        Command::Bridge(c) => cmd::bridge::run(c),
        Command::Kernel(c) => cmd::kernel::run(c),
        Command::Module(c) => cmd::module::run(c),
        Command::Audit(c) => cmd::audit::run(c),
        Command::Prove(a) => cmd::prove::run(a),
        Command::Gov(c) => cmd::gov::run(c),
        Command::Gas(c) => cmd::gas::run(c),
        Command::Replay(a) => cmd::replay::run(a),
        Command::Hwtest(c) => cmd::hwtest::run(c),
        Command::Contract(c) => cmd::contract::run(c),
        Command::Analyze(c) => cmd::analyze::run(c),
        Command::Debug(c) => cmd::debug::run(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line, skipping a cause whose text the message already
/// carries (library errors often embed their source in their own message).
fn describe(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
