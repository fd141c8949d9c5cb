//! `keel serve`: the daemon.
//!
//! Start-up order is chosen so that a daemon that cannot run changes nothing: the
//! configuration is validated first, then the data directory's lock is taken (one daemon per
//! data directory), then every listener is bound (an address another process holds is an
//! error), and only then is the chain opened or a demo chain created.

use super::kernel_pins;
use crate::daemon::config::DaemonConfig;
use crate::daemon::lock::{DaemonRecord, DataDirLock, explain_server_error};
use crate::daemon::notify::Supervisor;
use crate::daemon::service::ChainService;
use anyhow::Context;
use clap::Args;
use keel_chain::Chain;
use keel_client::Endpoint;
use keel_crypto::SecretKey;
use keel_server::{BoundListeners, ServerHandle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A line on stdout that never panics: the daemon keeps running (and stops cleanly) when
/// whoever started it has closed its stdout.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// The same on stderr.
macro_rules! say_err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

#[derive(Args)]
pub struct ServeArgs {
    /// Configuration file (TOML; `appliance/keel.toml` is a documented sample). Without it the
    /// embedded default is used: data in ./keel-data (a demo chain is created if empty), TCP
    /// 127.0.0.1:7411, the Unix socket <data>/keel.sock, metrics on 127.0.0.1:9464, kernel
    /// programs where permitted.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override the data directory.
    #[arg(long = "data", env = "KEEL_DATA")]
    pub data: Option<PathBuf>,
    /// Override the TCP listen address (`off` disables TCP).
    #[arg(long)]
    pub tcp: Option<String>,
    /// Override the metrics listen address (`off` disables the endpoint).
    #[arg(long)]
    pub metrics: Option<String>,
    /// Serve through the epoll fallback even where io_uring works.
    #[arg(long)]
    pub no_io_uring: bool,
    /// Do not load kernel programs.
    #[arg(long)]
    pub no_kernel: bool,
    /// Print the effective configuration (file, defaults and flags combined) as a commented
    /// keel.toml, and exit without starting anything.
    #[arg(long)]
    pub print_config: bool,
    /// Run the demo client workload against the daemon once it is up.
    #[arg(long)]
    pub demo: bool,
    /// With --demo: stop the daemon (exit 0) when the workload is done.
    #[arg(long, requires = "demo")]
    pub exit_after_demo: bool,
    /// The sandbox after start-up, for a syscall outside a thread's allowlist: `kill` (the
    /// daemon dies with SIGSYS; the service manager restarts it), `enforce` (the syscall fails
    /// with EPERM; the request fails, the daemon serves on), `log` (the
    /// syscall runs and is counted: keel_sandbox_violations_total), `off` (no seccomp, no
    /// Landlock; debugging only, warned about in the log and on /metrics).
    #[arg(long, default_value = "kill", value_parser = clap::value_parser!(keel_sandbox::Mode))]
    pub sandbox: keel_sandbox::Mode,
    /// The account the daemon runs as once started (it must be started as root to switch).
    /// Default when started as root: `keel` if that user exists, else `nobody`.
    #[arg(long)]
    pub user: Option<String>,
}

pub fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    // Installed first, so a SIGTERM at any point of start-up still ends in a graceful stop.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install signal handlers")?;
    }
    let mut cfg = effective_config(&a)?;
    if a.print_config {
        print!("{}", cfg.to_commented_toml()?);
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
    let sandbox = super::sandbox::settings(&a, &cfg)?;
    // A BLS plug-in's host process starts while this process may still hand it the
    // privileges it needs to drop to the service user by itself.
    let plugin_host = cfg
        .bls_plugin
        .as_deref()
        .map(|plugin| {
            super::hwtest::start_plugin_host(
                &cfg.data_dir,
                plugin,
                cfg.bls_plugin_report.as_deref(),
                &keel_sandbox::HelperSandbox::of_daemon(&sandbox),
            )
        })
        .transpose()?;
    // Before any thread exists: every thread spawned from here on inherits no_new_privs and
    // the empty capability bounding set, and confines itself when it starts.
    super::sandbox::arm(sandbox)?;
    let mut lock = DataDirLock::acquire(&cfg.data_dir)?;
    let keystore = cfg.data_dir.join("keystore.json");
    let db_exists = cfg.data_dir.join(keel_state::DB_FILE_NAME).exists();
    if !db_exists && !cfg.demo_genesis {
        anyhow::bail!(
            "no chain in {} and demo_genesis is off (run `keel chain init`)",
            cfg.data_dir.display()
        );
    }
    if cfg.server.allowlist.is_empty() {
        // The demo chain's validators may submit blocks and governance transactions.
        cfg.server.allowlist = validator_keys(&keystore, db_exists)?
            .iter()
            .map(|k| hex::encode(k.public_key().to_bytes()))
            .collect();
    }
    let bound = BoundListeners::bind(cfg.server.clone()).map_err(explain_server_error)?;
    lock.record(&DaemonRecord {
        pid: std::process::id(),
        data_dir: std::path::absolute(&cfg.data_dir).unwrap_or_else(|_| cfg.data_dir.clone()),
        unix_socket: bound.unix_path().map(Path::to_path_buf),
        tcp: bound.tcp_addr().map(|a| a.to_string()),
        metrics: bound.metrics_addr().map(|a| a.to_string()),
    })
    .context("cannot write the data dir's lock record")?;

    // Batch verification on one pool of pinned workers, in two lanes: blocks (each block its
    // own batch, ahead of client work) and BlsBatchVerify requests (batched together).
    // Or a plug-in that hwtest qualified on this appliance.
    let batch: Arc<dyn keel_offload::PriorityVerifier> = match plugin_host {
        Some(host) => super::hwtest::plugin_verifier(host)?,
        None => {
            let topology = keel_offload::Topology::discover();
            let backend =
                keel_offload::CpuBackend::new(&topology, &keel_offload::PoolConfig::default())
                    .context("cannot start the BLS workers")?;
            Arc::new(keel_offload::BatchVerifier::new(backend))
        }
    };
    let policy = keel_offload::BatchPolicy {
        max_batch_items: cfg.verify_max_batch,
        max_delay: Duration::from_millis(cfg.verify_max_delay_ms),
        ..keel_offload::BatchPolicy::default()
    };
    let verifier = Arc::new(keel_offload::BatchService::start(batch, policy)?);
    let block_lane = verifier.lane(keel_offload::Priority::Block);
    // Blocks verify on the block lane, except signatures the mempool verified at admission.
    let verdicts = Arc::new(keel_mempool::VerdictCache::new(cfg.mempool.verdict_cache));
    let block_verifier = {
        let (lane, verdicts) = (block_lane.clone(), verdicts.clone());
        move || -> Box<dyn keel_crypto::SignatureVerifier> {
            Box::new(keel_mempool::CachedVerifier::new(
                Box::new(lane.clone()),
                verdicts.clone(),
            ))
        }
    };
    let mut chain = if db_exists {
        Chain::open(&cfg.data_dir, block_verifier())?
    } else {
        create_demo_chain(&cfg, &keystore, block_verifier())?
    };
    // `BuildBlock` signs the VRF proofs of the validators whose keys are in the keystore.
    super::chain::add_keystore_proposers(&mut chain, &keystore)?;
    // Which routines contracts may call is decided by governance, in the chain state.
    let engine = cfg.routine_engine()?;
    chain.set_routine_engine(engine)?;
    let exec = keel_chain::ExecMode::from_threads(cfg.exec_threads);
    chain.set_exec_mode(exec);

    let tcp_port = bound.tcp_addr().map(|a| a.port());
    warn_about_other_pins(&cfg, tcp_port);
    let kernel = cfg.kernel.enabled.then(|| {
        if cfg.kernel.admission.port == 0 {
            cfg.kernel.admission.port = tcp_port.unwrap_or(0);
        }
        // Pins belong to one daemon: the one serving this port (one per port, enforced above).
        cfg.kernel.pin_dir = match (&cfg.kernel.pin_dir, tcp_port) {
            (Some(root), Some(port)) => Some(kernel_pins::instance_dir(root, port)),
            _ => None,
        };
        let k = keel_kernel_progs::KernelPrograms::start(&cfg.kernel);
        for p in k.problems() {
            say_err!("warning: {p}");
        }
        Arc::new(k)
    });

    // After a disk error the store is reopened exactly as it was opened here, and the audit
    // log rotates, on the one thread whose sandbox may open files (request workers may not).
    let store_thread = crate::daemon::reopener::StoreThread::spawn()?;
    crate::daemon::reopener::attach(&mut chain, &store_thread);
    let reopen: crate::daemon::store::Opener = {
        let (dir, block_verifier, st, keystore) = (
            cfg.data_dir.clone(),
            block_verifier.clone(),
            store_thread.clone(),
            keystore.clone(),
        );
        store_thread.opener(Box::new(move || {
            let mut c = Chain::open(&dir, block_verifier())?;
            super::chain::add_keystore_proposers(&mut c, &keystore)?;
            c.set_routine_engine(engine)?;
            c.set_exec_mode(exec);
            crate::daemon::reopener::attach(&mut c, &st);
            Ok(c)
        }))
    };
    let limits = crate::daemon::service::RequestLimits {
        simulate_compute: cfg.simulate_compute_limit,
        verify_max_items: cfg
            .verify_max_items
            .min(keel_protocol::BLS_BATCH_MAX_ITEMS as usize),
        verify_rate: cfg.verify_rate,
    };
    let client_lane: Arc<dyn keel_crypto::SignatureVerifier> =
        Arc::new(verifier.lane(keel_offload::Priority::Client));
    let pool = crate::daemon::mempool::DaemonPool::new(
        cfg.mempool.pool(),
        verdicts,
        client_lane.clone(),
        cfg.mempool.submit_rate,
    );
    let service = ChainService::new(
        chain,
        Some(reopen),
        client_lane,
        kernel.clone(),
        limits,
        pool,
    );
    let handle =
        ServerHandle::start_on(bound, Arc::new(service)).context("cannot start the server")?;
    let mut supervisor = Supervisor::from_env();
    // The privileged phase is over.
    super::sandbox::lock_down()?;
    // Listeners are bound and kernel programs attached: the service manager may call us up.
    supervisor.ready(&format!("serving ({} backend)", handle.backend().name()));
    say!(
        "keel serving ({} backend): tcp {}, unix {}, metrics {}",
        handle.backend().name(),
        handle.tcp_addr().map_or("off".into(), |a| a.to_string()),
        handle
            .unix_path()
            .map_or("off".into(), |p| p.display().to_string()),
        handle
            .metrics_addr()
            .map_or("off".into(), |a| format!("http://{a}/metrics")),
    );

    if a.demo {
        let demo_keys = if keystore.exists() {
            super::chain::keystore_secrets(&keystore)?
        } else {
            Vec::new()
        };
        let endpoint = match (handle.tcp_addr(), handle.unix_path()) {
            (Some(t), _) => Endpoint::Tcp(t),
            (None, Some(u)) => Endpoint::Unix(u.to_path_buf()),
            (None, None) => anyhow::bail!("the demo needs a TCP or Unix listener"),
        };
        let result = crate::daemon::demo::run(&endpoint, &demo_keys);
        match &result {
            Ok(outcome) => {
                let at = match (handle.unix_path(), handle.tcp_addr()) {
                    (Some(u), _) => format!("unix:{}", u.display()),
                    (None, Some(t)) => t.to_string(),
                    (None, None) => String::new(),
                };
                crate::daemon::demo::print_next_steps(&at, &keystore, outcome);
            }
            Err(e) => say_err!("demo failed: {e:#}"),
        }
        if a.exit_after_demo {
            handle.shutdown();
            handle.join()?;
            say_kernel_programs_stay(kernel.as_deref(), tcp_port);
            drop(kernel);
            super::sandbox::say_violations();
            return Ok(if result.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        say!("demo done; the daemon keeps serving (Ctrl-C or SIGTERM to stop)");
    }

    let probe = super::sandbox::probe_trigger()?;
    while !stop.load(Ordering::Relaxed) && !handle.is_finished() {
        super::sandbox::poll_probe(&probe);
        supervisor.tick(!handle.is_finished());
        std::thread::sleep(Duration::from_millis(100));
    }
    supervisor.stopping();
    say!("shutting down: finishing in-flight requests");
    handle.shutdown();
    handle.join()?;
    say!("stopped cleanly");
    say_kernel_programs_stay(kernel.as_deref(), tcp_port);
    drop(kernel);
    drop(lock);
    super::sandbox::say_violations();
    Ok(ExitCode::SUCCESS)
}

/// Kernel programs outlive the daemon by design; say so, and how to remove them.
fn say_kernel_programs_stay(kernel: Option<&keel_kernel_progs::KernelPrograms>, port: Option<u16>) {
    if let (Some(k), Some(port)) = (kernel, port)
        && let Some(pins) = k.pin_root()
    {
        say!(
            "kernel programs stay attached to port {port} (pinned under {}) so the next start \
             has no gap; `keel kernel detach --port {port}` removes them",
            pins.display()
        );
    }
}

/// Warns about kernel programs an earlier daemon left on this port that this one will not
/// replace (kernel programs off, or another pin directory): they keep their old allowlist.
fn warn_about_other_pins(cfg: &DaemonConfig, port: Option<u16>) {
    let Some(port) = port else { return };
    let ours = cfg.kernel.pin_dir.as_deref().filter(|_| cfg.kernel.enabled);
    let roots = [
        Some(Path::new(keel_kernel_progs::DEFAULT_PIN_DIR)),
        cfg.kernel.pin_dir.as_deref(),
    ];
    for root in roots.into_iter().flatten() {
        let dir = kernel_pins::instance_dir(root, port);
        if Some(root) != ours && dir.exists() {
            say_err!(
                "warning: kernel programs of an earlier daemon still guard port {port} with their \
                 old allowlist (pinned under {}); `keel kernel detach --port {port} --pin-dir {}` \
                 removes them",
                dir.display(),
                root.display()
            );
        }
    }
}

/// The configuration file (or the embedded default) with the command-line overrides applied,
/// validated: nothing is created or bound before this succeeds.
fn effective_config(a: &ServeArgs) -> anyhow::Result<DaemonConfig> {
    let mut cfg = match &a.config {
        Some(p) => DaemonConfig::from_toml(
            &std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        )
        .with_context(|| format!("{} is not a valid keel.toml", p.display()))?,
        None => DaemonConfig::default(),
    };
    if let Some(d) = &a.data {
        cfg.data_dir = d.clone();
    }
    if let Some(t) = &a.tcp {
        cfg.server.tcp = (t != "off").then(|| t.clone());
    }
    if let Some(m) = &a.metrics {
        cfg.server.metrics = (m != "off").then(|| m.clone());
    }
    if a.no_io_uring {
        cfg.server.io_uring = false;
    }
    if a.no_kernel {
        cfg.kernel.enabled = false;
    }
    cfg.resolve_defaults();
    cfg.validate().with_context(|| match &a.config {
        Some(p) => format!("{} is not a valid keel.toml", p.display()),
        None => "invalid configuration".into(),
    })?;
    Ok(cfg)
}

/// The validators' keys: from the keystore when there is one, else (a demo chain about to be
/// created) the demo validators' keys, which are derived from public seeds.
fn validator_keys(keystore: &Path, db_exists: bool) -> anyhow::Result<Vec<SecretKey>> {
    let n = keel_chain::genesis::DEMO_VALIDATORS as usize;
    if keystore.exists() {
        let mut keys = super::chain::keystore_secrets(keystore)?;
        keys.truncate(n);
        Ok(keys)
    } else if db_exists {
        Ok(Vec::new())
    } else {
        Ok((0..keel_chain::genesis::DEMO_VALIDATORS)
            .map(keel_chain::genesis::demo_key)
            .collect())
    }
}

fn create_demo_chain(
    cfg: &DaemonConfig,
    keystore: &Path,
    verifier: Box<dyn keel_crypto::SignatureVerifier>,
) -> anyhow::Result<Chain> {
    let g = keel_chain::genesis::demo(
        cfg.demo_accounts,
        keel_chain::Amount::from_u128(10u128.pow(24)),
    )?;
    let chain = Chain::init(&cfg.data_dir, &g, verifier)?;
    if !keystore.exists() {
        keel_chain::genesis::write_keystore(keystore, cfg.demo_accounts)
            .context("cannot write the demo keystore")?;
    }
    say!(
        "created a demo chain in {} ({} funded accounts, keys in {})",
        cfg.data_dir.display(),
        cfg.demo_accounts,
        keystore.display()
    );
    Ok(chain)
}
