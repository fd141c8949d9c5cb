//! `keel contract …`: the contract developer's toolchain (keel-devtools behind a CLI).
//!
//! Exit codes (every subcommand): 0 success; 1 the command could not run (bad project, tool
//! missing, compile error, unreadable file); 2 the passes reported errors (`build`, `check`) or a
//! test failed (`test`) or the call failed (`call`).

use super::chain::{DataDir, SignArgs, open, print_result, sign};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use keel_devtools::harness::{self, TestConfig};
use keel_devtools::passes::{CheckInput, Report};
use keel_devtools::project::Project;
use keel_devtools::{check, scaffold, toolchain};
use keel_vm::{GasBound, Vm, VmConfig};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code when passes report errors or tests fail.
pub const EXIT_FINDINGS: u8 = 2;

#[derive(Subcommand)]
pub enum ContractCmd {
    /// Create a C contract project NAME/ (keel.toml, src/NAME.c, tests/NAME_test.c) that builds
    /// and tests out of the box.
    New {
        /// Project and contract name (letters, digits, `_`, `-`; starts with a letter).
        name: String,
        /// Where to create it.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Compile the project with clang/wasm-ld (Keel's flags), keep DWARF in
    /// target/NAME.debug.wasm, embed the manifest and run every pass: admission, effect typing,
    /// loop bounds, handle linearity. Writes target/NAME.wasm only if no pass reports an error.
    Build(ProjectArgs),
    /// Run the same passes on any module (.wasm or .wat). DWARF is read from --debug, else from
    /// FILE.debug.wasm beside it if present, else from FILE itself.
    Check {
        file: PathBuf,
        /// The module carrying FILE's DWARF (a `keel contract build` side file).
        #[arg(long)]
        debug: Option<PathBuf>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Build the contract and the test module (sources + tests), deploy both on a private chain
    /// and run every exported test_* (once) and prop_* (on generated inputs, shrunk to a minimal
    /// counterexample), each case a transaction from the same post-deploy state.
    Test(TestArgs),
    /// Deploy target/NAME.wasm to a local chain (as the next block) and remember its address
    /// in target/deployed.json for `keel contract call`.
    Deploy(DeployArgs),
    /// Call an entry point of the deployed contract (as the next block of the local chain).
    Call(CallArgs),
}

#[derive(Args)]
pub struct ProjectArgs {
    /// The project directory (holding keel.toml).
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub p: ProjectArgs,
    /// Seed of the input generator: the same seed replays the same inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Generated cases per property test.
    #[arg(long, default_value_t = 256)]
    pub cases: u32,
    /// Largest generated input, in bytes.
    #[arg(long, default_value_t = 256)]
    pub max_input: usize,
    /// Compute gas limit per test transaction.
    #[arg(long, default_value_t = 50_000_000)]
    pub gas: u64,
    /// Run only tests whose name contains this.
    #[arg(long)]
    pub filter: Option<String>,
    /// Most shrinking steps after a failure (each runs the test once).
    #[arg(long, default_value_t = 4096)]
    pub max_shrink_iters: u32,
}

#[derive(Args)]
pub struct DeployArgs {
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
    #[command(flatten)]
    pub data: DataDir,
    /// Keystore index of the deployer.
    #[arg(long, default_value_t = 0)]
    pub from: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct CallArgs {
    /// Entry point.
    pub entry: String,
    /// Call input, hex.
    #[arg(long, default_value = "")]
    pub args_hex: String,
    /// Contract address (hex); default: the one `keel contract deploy` recorded for --data.
    #[arg(long)]
    pub contract: Option<String>,
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
    #[command(flatten)]
    pub data: DataDir,
    /// Keystore index of the caller.
    #[arg(long, default_value_t = 0)]
    pub from: u32,
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: ContractCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ContractCmd::New { name, dir } => {
            let path = scaffold::new_project(&dir, &name)?;
            println!("created {}", path.display());
            println!(
                "next: cd {} && keel contract build && keel contract test",
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        ContractCmd::Build(a) => build(&a),
        ContractCmd::Check { file, debug, json } => check_file(&file, debug.as_deref(), json),
        ContractCmd::Test(a) => test(&a),
        ContractCmd::Deploy(a) => deploy(&a),
        ContractCmd::Call(a) => call(&a),
    }
}

fn vm() -> anyhow::Result<Vm> {
    Ok(Vm::new(VmConfig::default())?)
}

fn build(a: &ProjectArgs) -> anyhow::Result<ExitCode> {
    let project = Project::load(&a.project)?;
    let vm = vm()?;
    let built = toolchain::build(&project, false, &vm.profile(), &vm.schedule())?;
    let r = &built.report;
    if a.json {
        println!(
            "{}",
            json!({
                "wasm": (r.errors() == 0).then(|| built.wasm_path.display().to_string()),
                "debug": built.debug_path.display().to_string(),
                "size": built.wasm.len(),
                "manifest_generated": built.manifest_generated,
                "report": r,
            })
        );
    } else {
        if r.errors() == 0 {
            println!(
                "built {} ({} bytes), DWARF in {}",
                built.wasm_path.display(),
                built.wasm.len(),
                built.debug_path.display()
            );
        }
        let how = if built.manifest_generated {
            "generated by effect typing"
        } else {
            "declared"
        };
        println!("manifest ({how}): {}", manifest_words(&r.manifest));
        print_report(r);
    }
    Ok(verdict(r))
}

fn check_file(file: &Path, debug: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let wasm = super::read_module(file)?;
    let side = debug.map(Path::to_owned).or_else(|| {
        let p = file.with_extension("debug.wasm");
        p.exists().then_some(p)
    });
    let debug_bytes = side
        .as_ref()
        .map(|p| std::fs::read(p).with_context(|| format!("cannot read {}", p.display())))
        .transpose()?;
    let vm = vm()?;
    let report = check(&CheckInput {
        wasm: &wasm,
        debug: debug_bytes.as_deref(),
        declared: None,
        profile: &vm.profile(),
        schedule: &vm.schedule(),
    })?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{}: {} (manifest {:?}: {})",
            file.display(),
            if report.admitted {
                "admitted"
            } else {
                "REJECTED"
            },
            report.manifest_source,
            manifest_words(&report.manifest)
        );
        println!(
            "least manifest (effect typing): {}",
            manifest_words(&report.generated_manifest)
        );
        print_report(&report);
    }
    Ok(verdict(&report))
}

fn verdict(r: &Report) -> ExitCode {
    if r.errors() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FINDINGS)
    }
}

fn manifest_words(m: &keel_vm::Manifest) -> String {
    let mut w = Vec::new();
    for (on, name) in [
        (m.storage, "storage"),
        (m.events, "events"),
        (m.value, "value"),
        (m.call_any, "call_any"),
        (m.call_handles, "call_handles"),
        (m.native_any, "native_any"),
        (m.crypto, "crypto"),
        (m.reentrant, "reentrant"),
    ] {
        if on {
            w.push(name.to_owned());
        }
    }
    w.extend(
        m.call_contracts
            .iter()
            .map(|a| format!("call {}", hex::encode(a))),
    );
    w.extend(m.native_routines.iter().map(|r| format!("native {r}")));
    if w.is_empty() {
        "(nothing)".into()
    } else {
        w.join(", ")
    }
}

fn print_report(r: &Report) {
    if !r.has_source_lines {
        println!("(no DWARF: findings are located by byte offset)");
    }
    println!("exports:");
    for (name, e) in &r.effects {
        let caps: Vec<String> = e.capabilities.iter().map(|c| c.to_string()).collect();
        let gas = match r.gas_bounds.get(name) {
            Some(GasBound::Bounded { compute, .. }) => format!("≤ {compute} compute gas"),
            Some(GasBound::Unbounded { reason }) => format!("unbounded ({reason})"),
            None => "no bound (not admitted)".into(),
        };
        let caps = if caps.is_empty() {
            "none".to_owned()
        } else {
            caps.join(", ")
        };
        println!("  {name}: capabilities {caps}; {gas}");
    }
    for f in &r.findings {
        println!("{f}");
    }
    println!(
        "{} error(s), {} warning(s)",
        r.errors(),
        r.findings.len().saturating_sub(r.errors())
    );
}

fn test(a: &TestArgs) -> anyhow::Result<ExitCode> {
    let project = Project::load(&a.p.project)?;
    let vm = vm()?;
    let contract = toolchain::build(&project, false, &vm.profile(), &vm.schedule())?;
    let built = toolchain::build(&project, true, &vm.profile(), &vm.schedule())?;
    for (what, b) in [("contract", &contract), ("test module", &built)] {
        if b.report.errors() > 0 {
            print_report(&b.report);
            bail!("the {what} did not pass the checks");
        }
    }
    let mut cfg = TestConfig {
        seed: a.seed,
        cases: a.cases,
        max_input: a.max_input,
        filter: a.filter.clone(),
        max_shrink_iters: a.max_shrink_iters,
        ..TestConfig::default()
    };
    cfg.limits[0] = a.gas;
    let results = harness::run(&contract.wasm, &built.wasm, &cfg)?;
    let failed = results.iter().filter(|r| !r.passed).count();
    if a.p.json {
        println!(
            "{}",
            json!({ "seed": a.seed, "passed": results.len().saturating_sub(failed), "failed": failed, "tests": results })
        );
    } else {
        for r in &results {
            let status = if r.passed { "ok" } else { "FAILED" };
            println!(
                "{status:6} {} ({:?}, {} case(s), gas {})",
                r.name, r.kind, r.cases, r.gas.compute
            );
            if let Some(why) = &r.failure {
                println!("       failure: {why}");
            }
            if let Some(hex) = &r.counterexample_hex {
                println!("       counterexample: 0x{hex} (replay: --seed {})", r.seed);
            }
        }
        println!(
            "{} passed, {failed} failed (seed {})",
            results.len().saturating_sub(failed),
            a.seed
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FINDINGS)
    })
}

/// `tx sign`'s arguments parsed from words, so deploy and call get its defaults and checks.
fn sign_args(words: &[String]) -> anyhow::Result<SignArgs> {
    #[derive(Parser)]
    struct Words {
        #[command(flatten)]
        a: SignArgs,
    }
    let argv = std::iter::once("sign".to_owned()).chain(words.iter().cloned());
    Ok(Words::try_parse_from(argv)?.a)
}

const DEPLOYED: &str = "deployed.json";

fn deploy(a: &DeployArgs) -> anyhow::Result<ExitCode> {
    let project = Project::load(&a.project)?;
    let wasm = project.target_dir().join(format!("{}.wasm", project.name));
    if !wasm.exists() {
        bail!(
            "{} does not exist: run `keel contract build` first",
            wasm.display()
        );
    }
    let data = a.data.dir.display().to_string();
    let args = sign_args(&[
        "--data".into(),
        data.clone(),
        "--from".into(),
        a.from.to_string(),
        "--deploy".into(),
        wasm.display().to_string(),
    ])?;
    let tx = sign(&args)?;
    let chain = open(&a.data)?;
    let header = chain.next_local_header()?;
    let r = chain.execute_block(&keel_chain::Block {
        header,
        txs: vec![tx],
    })?;
    let receipt = r.receipts.first().context("the block has no receipt")?;
    let Some(address) = receipt.contract else {
        print_result(&r, a.json);
        return Ok(ExitCode::from(EXIT_FINDINGS));
    };
    let record = json!({ "data": data, "address": hex::encode(address), "block": r.height });
    let path = project.target_dir().join(DEPLOYED);
    std::fs::write(&path, record.to_string())
        .with_context(|| format!("cannot write {}", path.display()))?;
    if a.json {
        println!("{record}");
    } else {
        println!(
            "deployed {} at {} in block {} (gas {:?})",
            project.name,
            hex::encode(address),
            r.height,
            receipt.gas_used
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn call(a: &CallArgs) -> anyhow::Result<ExitCode> {
    let data = a.data.dir.display().to_string();
    let contract = match &a.contract {
        Some(c) => c.clone(),
        None => {
            let path = a.project.join("target").join(DEPLOYED);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "no {}: run `keel contract deploy` or pass --contract",
                    path.display()
                )
            })?;
            let v: serde_json::Value = serde_json::from_str(&text)?;
            if v["data"] != data.as_str() {
                bail!(
                    "the last deploy went to {}, not {data}: pass --contract",
                    v["data"]
                );
            }
            v["address"]
                .as_str()
                .context("deployed.json has no address")?
                .to_owned()
        }
    };
    let args = sign_args(&[
        "--data".into(),
        data,
        "--from".into(),
        a.from.to_string(),
        "--call".into(),
        contract,
        "--entry".into(),
        a.entry.clone(),
        "--args-hex".into(),
        a.args_hex.clone(),
    ])?;
    let tx = sign(&args)?;
    let chain = open(&a.data)?;
    let header = chain.next_local_header()?;
    let r = chain.execute_block(&keel_chain::Block {
        header,
        txs: vec![tx],
    })?;
    print_result(&r, a.json);
    let ok = r
        .receipts
        .first()
        .is_some_and(|rc| matches!(rc.status, keel_chain::TxStatus::Success { .. }));
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FINDINGS)
    })
}
