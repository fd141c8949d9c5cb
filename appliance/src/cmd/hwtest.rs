//! `keel hwtest probe|run|compare`: qualify this machine and Keel's acceleration paths on it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use keel_hwtest::compare::{Thresholds, compare};
use keel_hwtest::probe::Probe;
use keel_hwtest::report::{
    self, Report, SignatureCheck, load_or_create_key, sign_report, verify_report,
};
use keel_hwtest::run::{Mode, PathKind, RunConfig, run_paths};

#[derive(Subcommand)]
pub enum HwtestCmd {
    /// What this machine offers (CPU features, NUMA, hugepages, kernel BPF/io_uring settings,
    /// NICs and XDP modes, accelerators, capabilities) and what Keel will use, with reasons.
    Probe {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Read procfs/sysfs under this directory instead of `/` (live kernel checks are skipped).
        #[arg(long, hide = true)]
        root: Option<PathBuf>,
    },
    /// Run every acceleration path: a conformance phase against a reference, then a performance
    /// phase. Writes DIR/report.json (schema keel-hwtest-report/1, signed) and DIR/report.html
    /// (self-contained, SVG plots). Exit 0 when every phase passed or was skipped, 1 when any
    /// failed, 2 on bad usage.
    Run(RunArgs),
    /// The plug-in host process (internal): loads PLUGIN with dlopen and answers verification
    /// requests on stdin/stdout, so a crashing plug-in takes only this process down. With
    /// --sandbox it confines itself as the daemon's BLS threads are (service user, no
    /// capabilities, read-only filesystem, their seccomp allowlist on every thread).
    #[command(hide = true)]
    PluginHost {
        plugin: PathBuf,
        /// How a syscall outside the allowlist is answered (kill, enforce, log, off).
        #[arg(long, value_parser = clap::value_parser!(keel_sandbox::Mode))]
        sandbox: Option<keel_sandbox::Mode>,
        /// The account to switch to when started as root.
        #[arg(long, requires = "sandbox")]
        user: Option<String>,
    },
    /// Compare OTHER against BASE: print every metric's change, the threshold that applied to it
    /// and the regressions beyond it. Exit 0 when nothing regressed, 1 on a regression, 2 on bad
    /// input (unreadable file, not a report, wrong schema, a signature that does not match its
    /// report, a malformed threshold or thresholds file).
    ///
    /// Each metric is judged against one threshold, named `PATH.SUBJECT.METRIC` or
    /// `PATH.METRIC` (e.g. `bls.cpu-pool.cpu.w4.b64.p99_us`, `kernel.xdp_generic.p50_attach_us`)
    /// and matched by glob (`*` any run of characters, `?` one). The most specific rule wins:
    /// among matching --threshold-for/--thresholds rules the one with the most literal
    /// characters (ties: --threshold-for over the file, later over earlier); otherwise the
    /// built-in band for the metric's kind, as a multiple of the default: `*p99*` 3x (latency
    /// tails), `*p50*` 2x (medians), `kernel.*attach_us` and `kernel.*detach_us` 5x (single
    /// system calls); otherwise the default (--threshold, else the file's `default`, else 10%).
    Compare {
        /// The baseline report (a report.json).
        base: PathBuf,
        /// The report to judge.
        other: PathBuf,
        /// The default threshold: a metric regresses when it is worse than BASE by more than
        /// this many percent [default: the file's `default`, else 10].
        #[arg(long)]
        threshold: Option<f64>,
        /// A per-metric threshold PATTERN=PCT (e.g. 'bls.*p99*=30', 'kernel.*attach_us=50');
        /// repeatable.
        #[arg(long = "threshold-for", value_name = "PATTERN=PCT")]
        threshold_for: Vec<keel_hwtest::compare::Rule>,
        /// A TOML file of thresholds: `default = 10` and a `[metrics]` table of
        /// `"PATTERN" = PCT`.
        #[arg(long, value_name = "FILE")]
        thresholds: Option<PathBuf>,
        /// Use no built-in bands: every metric without a matching rule gets the default.
        #[arg(long)]
        no_built_in_thresholds: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Which paths `--paths` selects.
#[derive(Clone, Copy, ValueEnum)]
pub enum PathArg {
    Bls,
    Ebpf,
    Vm,
    Sockets,
    Kernel,
}

#[derive(Args)]
pub struct RunArgs {
    /// Output directory for report.json and report.html (created if missing).
    #[arg(long, default_value = "hwtest-report")]
    pub out: PathBuf,
    /// Paths to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub paths: Vec<PathArg>,
    /// Short run (under three minutes): fewer batch sizes, worker counts and repetitions.
    #[arg(long, conflicts_with = "tiny")]
    pub quick: bool,
    /// Smallest run (seconds), for smoke tests.
    #[arg(long, hide = true)]
    pub tiny: bool,
    /// After the paths, keep the BLS pool busy this long (e.g. `30m`, `2h`, `90s`) and report
    /// throughput, verdict drift, errors and CPU frequency over time.
    #[arg(long, value_parser = parse_duration)]
    pub soak: Option<Duration>,
    /// Soak sampling interval.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub soak_interval: Duration,
    /// The appliance's report-signing BLS key (hex secret key); created (0600) if missing.
    #[arg(long, env = "KEEL_HWTEST_KEY", default_value = "keel-data/hwtest.key")]
    pub key: PathBuf,
    /// Seed of every random input (printed in the report so a failure can be replayed).
    #[arg(long, default_value_t = 18)]
    pub seed: u64,
    /// A BLS plug-in (shared object implementing offload/include/keel_offload.h) to qualify
    /// besides the CPU pool; repeatable. It runs in a separate process: a crash or hang fails
    /// its qualification, never the run. `bundled` names the reference plug-in (C over blst)
    /// built with this keel.
    #[arg(long = "plugin")]
    pub plugins: Vec<PathBuf>,
    /// Seconds a plug-in may take to answer one call before its process is killed.
    #[arg(long, default_value_t = 30)]
    pub plugin_timeout: u64,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?} (e.g. 90s, 30m, 2h)"))?;
    let secs = match unit {
        "" | "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        _ => None,
    };
    secs.map(Duration::from_secs)
        .ok_or_else(|| format!("bad duration {s:?} (e.g. 90s, 30m, 2h)"))
}

pub fn run(cmd: HwtestCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        HwtestCmd::Probe { json, root } => {
            let probe = match root {
                Some(r) => Probe::collect(&keel_hwtest::probe::SysRoot::new(r), false),
                None => Probe::this_machine(),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&probe)?);
            } else {
                print!("{probe}");
            }
            Ok(ExitCode::SUCCESS)
        }
        HwtestCmd::Run(a) => run_hwtest(a),
        HwtestCmd::PluginHost {
            plugin,
            sandbox,
            user,
        } => {
            let sandbox = sandbox
                .map(|m| keel_sandbox::HelperSandbox::from_args(m, user.as_deref()))
                .transpose()?;
            let (mut i, mut o) = (std::io::stdin().lock(), std::io::stdout().lock());
            keel_hwtest::plugin::host::serve(&plugin, sandbox.as_ref(), &mut i, &mut o)?;
            Ok(ExitCode::SUCCESS)
        }
        HwtestCmd::Compare {
            base,
            other,
            threshold,
            threshold_for,
            thresholds,
            no_built_in_thresholds,
            json,
        } => {
            let t = Thresholds::build(
                threshold,
                thresholds.as_deref(),
                &threshold_for,
                !no_built_in_thresholds,
            );
            Ok(match t {
                Ok(t) => run_compare(&base, &other, &t, json),
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            })
        }
    }
}

fn run_hwtest(a: RunArgs) -> anyhow::Result<ExitCode> {
    let key = load_or_create_key(&a.key).context("report signing key")?;
    let paths = if a.paths.is_empty() {
        PathKind::ALL.to_vec()
    } else {
        a.paths
            .iter()
            .map(|p| match p {
                PathArg::Bls => PathKind::Bls,
                PathArg::Ebpf => PathKind::Ebpf,
                PathArg::Vm => PathKind::Vm,
                PathArg::Sockets => PathKind::Sockets,
                PathArg::Kernel => PathKind::Kernel,
            })
            .collect()
    };
    let config = RunConfig {
        paths,
        mode: if a.tiny {
            Mode::Tiny
        } else if a.quick {
            Mode::Quick
        } else {
            Mode::Full
        },
        soak_secs: a.soak.map(|d| d.as_secs()),
        seed: a.seed,
        plugins: a
            .plugins
            .iter()
            .map(|p| {
                if p.as_os_str() == "bundled" {
                    keel_hwtest::plugin::BUNDLED_BLST_PLUGIN.into()
                } else {
                    p.clone()
                }
            })
            .collect(),
        plugin_timeout_ms: a.plugin_timeout.saturating_mul(1000),
    };
    // Qualified under the sandbox it will run under in the daemon (default mode): a plug-in
    // that needs a syscall the BLS allowlist refuses fails here, not in production.
    let host = keel_hwtest::plugin::HostCommand {
        program: std::env::current_exe().context("cannot find the keel binary to host plug-ins")?,
        args: [
            "hwtest",
            "plugin-host",
            "--sandbox",
            keel_sandbox::Mode::default().name(),
        ]
        .map(String::from)
        .to_vec(),
    };
    let probe = Probe::this_machine();
    let mut results = run_paths(&config, &probe, &host)?;
    if let Some(d) = a.soak {
        eprintln!("soaking for {}s…", d.as_secs());
        let root = keel_hwtest::probe::SysRoot::new("/");
        results.push(keel_hwtest::soak::soak(d, a.soak_interval, a.seed, &root));
    }
    let mut rep = Report::new(env!("CARGO_PKG_VERSION"), config, probe, results);
    sign_report(&mut rep, &key);
    rep.write(&a.out)?;
    for r in &rep.results {
        println!(
            "{:<8} {:<28} conformance {:?} ({} checks, {} failed)  performance {:?}",
            r.path,
            r.subject,
            r.conformance.verdict,
            r.conformance.checks,
            r.conformance.failed,
            r.performance.verdict
        );
        for f in r.conformance.failures.iter().chain(&r.performance.failures) {
            println!("         {f}");
        }
    }
    println!(
        "{}: {} and {}",
        if rep.passed { "PASS" } else { "FAIL" },
        a.out.join(report::JSON_NAME).display(),
        a.out.join(report::HTML_NAME).display()
    );
    Ok(if rep.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_compare(
    base: &std::path::Path,
    other: &std::path::Path,
    thresholds: &Thresholds,
    json: bool,
) -> ExitCode {
    let read = |p: &std::path::Path| -> Result<Report, String> {
        let r = Report::read(p).map_err(|e| e.to_string())?;
        match verify_report(&r) {
            SignatureCheck::Invalid(why) => Err(format!("{}: {why}", p.display())),
            _ => Ok(r),
        }
    };
    let (b, o) = match (read(base), read(other)) {
        (Ok(b), Ok(o)) => (b, o),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let c = compare(&b, &o, thresholds);
    if json {
        match serde_json::to_string_pretty(&c) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{c}");
    }
    if c.regressed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Starts the host of a BLS plug-in for the daemon, after checking that this appliance's
/// signed hwtest report qualified exactly this file. Called before the sandbox is armed: the
/// host still has the privileges it needs to switch to `sandbox`'s service user itself.
pub fn start_plugin_host(
    data_dir: &std::path::Path,
    plugin: &std::path::Path,
    report: Option<&std::path::Path>,
    sandbox: &keel_sandbox::HelperSandbox,
) -> anyhow::Result<keel_hwtest::plugin::HostProcess> {
    use keel_hwtest::plugin::{HostCommand, HostProcess, check_qualification, sha256_file};
    let report = report.context("bls_plugin needs bls_plugin_report: the report of `keel hwtest run --plugin` that qualified it")?;
    let key_path = data_dir.join("hwtest.key");
    let text = std::fs::read_to_string(&key_path).with_context(|| {
        format!(
            "cannot read this appliance's hwtest key {}",
            key_path.display()
        )
    })?;
    let key = keel_crypto::SecretKey::from_bytes(
        &hex::decode(text.trim()).context("hwtest key is not hex")?,
    )
    .context("hwtest key is not a BLS secret key")?;
    let sha256 =
        sha256_file(plugin).with_context(|| format!("cannot read {}", plugin.display()))?;
    let rep = Report::read(report)?;
    check_qualification(&rep, &sha256, &hex::encode(key.public_key().to_bytes()))
        .with_context(|| format!("refusing BLS plug-in {}", plugin.display()))?;
    // The host runs under the daemon's sandbox (its mode and service user): the plug-in is
    // no freer than the BLS threads it stands in for.
    let mut args = vec!["hwtest".to_string(), "plugin-host".to_string()];
    args.extend(sandbox.to_args());
    let host = HostCommand {
        program: std::env::current_exe()
            .context("cannot find the keel binary to host the plug-in")?,
        args,
    };
    tracing::info!(plugin = %plugin.display(), %sha256, "BLS verification on a qualified plug-in");
    Ok(HostProcess::spawn(&host, plugin)?)
}

/// The daemon's verifier on a started plug-in host (see [`start_plugin_host`]).
pub fn plugin_verifier(
    host: keel_hwtest::plugin::HostProcess,
) -> anyhow::Result<std::sync::Arc<dyn keel_offload::PriorityVerifier>> {
    use keel_hwtest::plugin::{PluginSubject, PluginVerifier};
    let subject = PluginSubject::attach(host, Duration::from_secs(30))?;
    Ok(std::sync::Arc::new(PluginVerifier::new(subject)))
}
