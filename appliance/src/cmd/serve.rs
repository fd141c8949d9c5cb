//! `keel serve`: the daemon.

use crate::daemon::config::DaemonConfig;
use crate::daemon::notify::Supervisor;
use crate::daemon::service::ChainService;
use anyhow::Context;
use clap::Args;
use keel_chain::Chain;
use keel_client::Endpoint;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Args)]
pub struct ServeArgs {
    /// Configuration file (TOML). Without it the embedded default is used: data in
    /// ./keel-data (a demo chain is created if empty), TCP 127.0.0.1:7411, the Unix socket
    /// <data>/keel.sock, metrics on 127.0.0.1:9464, kernel programs where permitted.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override the data directory.
    #[arg(long = "data", env = "KEEL_DATA")]
    pub data: Option<PathBuf>,
    /// Override the TCP listen address.
    #[arg(long)]
    pub tcp: Option<String>,
    /// Override the metrics listen address.
    #[arg(long)]
    pub metrics: Option<String>,
    /// Serve through the epoll fallback even where io_uring works.
    #[arg(long)]
    pub no_io_uring: bool,
    /// Do not load kernel programs.
    #[arg(long)]
    pub no_kernel: bool,
    /// Run the demo client workload against the daemon once it is up.
    #[arg(long)]
    pub demo: bool,
    /// With --demo: stop the daemon (exit 0) when the workload is done.
    #[arg(long, requires = "demo")]
    pub exit_after_demo: bool,
}

pub fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    // Installed first, so a SIGTERM at any point of start-up still ends in a graceful stop.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install signal handlers")?;
    }
    let mut cfg = match &a.config {
        Some(p) => DaemonConfig::from_toml(
            &std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        )
        .with_context(|| format!("{} is not a valid keel.toml", p.display()))?,
        None => DaemonConfig::default(),
    };
    if let Some(d) = a.data {
        cfg.data_dir = d;
    }
    if let Some(t) = a.tcp {
        cfg.server.tcp = Some(t);
    }
    if let Some(m) = a.metrics {
        cfg.server.metrics = Some(m);
    }
    if a.no_io_uring {
        cfg.server.io_uring = false;
    }
    if a.no_kernel {
        cfg.kernel.enabled = false;
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
    let keystore = cfg.data_dir.join("keystore.json");

    // Batch verification on one pool of pinned workers, in two lanes: blocks (each block its
    // own batch, ahead of client work) and BlsBatchVerify requests (batched together).
    // Or a plug-in that hwtest qualified on this appliance.
    let batch: Arc<dyn keel_offload::PriorityVerifier> = match &cfg.bls_plugin {
        Some(plugin) => {
            super::hwtest::plugin_verifier(&cfg.data_dir, plugin, cfg.bls_plugin_report.as_deref())?
        }
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

    let db_exists = cfg.data_dir.join(keel_state::DB_FILE_NAME).exists();
    let mut chain = if db_exists {
        Chain::open(&cfg.data_dir, Box::new(block_lane.clone()))?
    } else if cfg.demo_genesis {
        let g = keel_chain::genesis::demo(
            cfg.demo_accounts,
            keel_chain::Amount::from_u128(10u128.pow(24)),
        )?;
        let c = Chain::init(&cfg.data_dir, &g, Box::new(block_lane.clone()))?;
        if !keystore.exists() {
            keel_chain::genesis::write_keystore(&keystore, cfg.demo_accounts)
                .context("cannot write the demo keystore")?;
        }
        println!(
            "created a demo chain in {} ({} funded accounts, keys in {})",
            cfg.data_dir.display(),
            cfg.demo_accounts,
            keystore.display()
        );
        c
    } else {
        anyhow::bail!(
            "no chain in {} and demo_genesis is off (run `keel chain init`)",
            cfg.data_dir.display()
        );
    };
    let engine: keel_ebpf_bridge::Engine = cfg
        .bridge_engine
        .parse()
        .map_err(|e| anyhow::anyhow!("bridge_engine: {e}"))?;
    if engine == keel_ebpf_bridge::Engine::Kernel {
        anyhow::bail!(
            "bridge_engine: contracts run routines on `interpreter` or `jit`; `kernel` is for cross-checks"
        );
    }
    // Which routines contracts may call is decided by governance, in the chain state.
    chain.set_routine_engine(engine)?;

    if cfg.server.unix_socket.is_none() {
        cfg.server.unix_socket = Some(cfg.data_dir.join("keel.sock"));
    }
    let demo_keys = if keystore.exists() {
        super::chain::keystore_secrets(&keystore)?
    } else {
        Vec::new()
    };
    if cfg.server.allowlist.is_empty() {
        // The demo chain's validators may submit blocks and governance transactions.
        for k in demo_keys
            .iter()
            .take(keel_chain::genesis::DEMO_VALIDATORS as usize)
        {
            cfg.server
                .allowlist
                .push(hex::encode(k.public_key().to_bytes()));
        }
    }

    let kernel = if cfg.kernel.enabled {
        let port = cfg
            .server
            .tcp
            .as_deref()
            .and_then(|t| t.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if cfg.kernel.admission.port == 0 {
            cfg.kernel.admission.port = port;
        }
        if cfg.kernel.admission.allowlist.is_empty() {
            cfg.kernel.admission.allowlist = vec!["127.0.0.0/8".parse()?, "::1/128".parse()?];
        }
        let k = keel_kernel_progs::KernelPrograms::start(&cfg.kernel);
        for p in k.problems() {
            eprintln!("warning: {p}");
        }
        Some(Arc::new(k))
    } else {
        None
    };

    // After a disk error the store is reopened exactly as it was opened here.
    let reopen: crate::daemon::store::Opener = {
        let (dir, lane) = (cfg.data_dir.clone(), block_lane.clone());
        Box::new(move || {
            let mut c = Chain::open(&dir, Box::new(lane.clone()))?;
            c.set_routine_engine(engine)?;
            Ok(c)
        })
    };
    let limits = crate::daemon::service::RequestLimits {
        simulate_compute: cfg.simulate_compute_limit,
        verify_max_items: cfg
            .verify_max_items
            .min(keel_protocol::BLS_BATCH_MAX_ITEMS as usize),
        verify_rate: cfg.verify_rate,
    };
    let service = ChainService::new(
        chain,
        Some(reopen),
        Arc::new(verifier.lane(keel_offload::Priority::Client)),
        kernel.clone(),
        limits,
    );
    let handle = keel_server::ServerHandle::start(cfg.server.clone(), Arc::new(service))
        .context("cannot start the server")?;
    // Listeners are bound and kernel programs attached: the service manager may call us up.
    let mut supervisor = Supervisor::from_env();
    supervisor.ready(&format!("serving ({:?} backend)", handle.backend()));
    println!(
        "keel serving ({:?} backend): tcp {}, unix {}, metrics http://{}/metrics",
        handle.backend(),
        handle.tcp_addr().map_or("-".into(), |a| a.to_string()),
        handle
            .unix_path()
            .map_or("-".into(), |p| p.display().to_string()),
        handle.metrics_addr().map_or("-".into(), |a| a.to_string()),
    );

    if a.demo {
        let endpoint = match (handle.tcp_addr(), handle.unix_path()) {
            (Some(t), _) => Endpoint::Tcp(t),
            (None, Some(u)) => Endpoint::Unix(u.to_path_buf()),
            (None, None) => anyhow::bail!("the demo needs a TCP or Unix listener"),
        };
        let result = crate::daemon::demo::run(&endpoint, &demo_keys);
        if let Err(e) = &result {
            eprintln!("demo failed: {e:#}");
        }
        if a.exit_after_demo {
            handle.shutdown();
            handle.join()?;
            return Ok(if result.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        println!("demo done; the daemon keeps serving (Ctrl-C or SIGTERM to stop)");
    }

    while !stop.load(Ordering::Relaxed) && !handle.is_finished() {
        supervisor.tick(!handle.is_finished());
        std::thread::sleep(Duration::from_millis(100));
    }
    supervisor.stopping();
    println!("shutting down: finishing in-flight requests");
    handle.shutdown();
    handle.join()?;
    println!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}
