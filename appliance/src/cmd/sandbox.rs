//! `keel serve`'s two phases, from the daemon's side: arming the sandbox before any thread
//! exists, locking it down once everything privileged is done, and the log-mode summary.
//! The mechanisms live in `keel-sandbox`.

use super::serve::ServeArgs;
use crate::daemon::config::DaemonConfig;
use anyhow::Context;
use keel_sandbox::{Mode, ServiceUser, Settings};

/// The sandbox `keel serve` will arm: the service user and the writable directories (the data
/// directory and the Unix socket's directory, created here).
pub fn settings(a: &ServeArgs, cfg: &DaemonConfig) -> anyhow::Result<Settings> {
    let user = match (&a.user, keel_sandbox::is_root()) {
        (Some(name), true) => {
            let u = ServiceUser::lookup(name)?;
            // uid 0 keeps its capabilities across the switch: nothing would be dropped.
            anyhow::ensure!(
                u.uid != 0,
                "--user {name} is uid 0, which keeps every capability; choose an unprivileged \
                 user (or --sandbox=off to debug without the sandbox)"
            );
            Some(u)
        }
        (Some(name), false) => {
            anyhow::bail!("--user {name} needs the daemon to be started as root (it is not)")
        }
        (None, true) => {
            let u = ServiceUser::default_for_root()?;
            tracing::warn!(user = %u.name, uid = u.uid, "started as root: the daemon will run as {} once started (--user to choose)", u.name);
            Some(u)
        }
        (None, false) => None,
    };
    let mut writable = vec![std::path::absolute(&cfg.data_dir)?];
    if let Some(dir) = cfg.server.unix_socket.as_deref().and_then(|p| p.parent()) {
        let dir = if dir.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            dir
        };
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the socket directory {}", dir.display()))?;
        writable.push(std::path::absolute(dir)?);
    }
    Ok(Settings {
        mode: a.sandbox,
        user,
        writable,
    })
}

/// Arms the sandbox for `keel serve` (before any thread exists), raising RLIMIT_MEMLOCK first
/// while root.
pub fn arm(settings: Settings) -> anyhow::Result<()> {
    if keel_sandbox::is_root() {
        raise_memlock();
    }
    keel_sandbox::arm(settings).context("cannot arm the sandbox")
}

/// io_uring buffers and BPF maps count against RLIMIT_MEMLOCK on older kernels: lift it while
/// we may (after the drop the daemon could not).
fn raise_memlock() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit/getrlimit read and write one live struct.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) == 0 {
            return;
        }
        // Without CAP_SYS_RESOURCE (a container): at least the soft limit up to the hard one.
        let mut now = unlimited;
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut now) == 0 {
            now.rlim_cur = now.rlim_max;
            libc::setrlimit(libc::RLIMIT_MEMLOCK, &now);
        }
    }
    tracing::info!(
        "RLIMIT_MEMLOCK stays bounded (no CAP_SYS_RESOURCE); fine on kernels that charge \
         io_uring and BPF memory to the cgroup (5.11+)"
    );
}

/// Ends the privileged phase; says what the daemon now is.
pub fn lock_down() -> anyhow::Result<()> {
    let r = keel_sandbox::lock_down().context("cannot drop privileges and enter the sandbox")?;
    let who = r.user.as_deref().unwrap_or("the starting user");
    let landlock = match r.landlock_abi {
        0 => "no Landlock".to_string(),
        v => format!("Landlock ABI {v}"),
    };
    match r.mode {
        Mode::Off => tracing::warn!(
            "SANDBOX OFF: running as {who} without seccomp or Landlock (--sandbox=off)"
        ),
        mode => tracing::info!(
            %mode, user = who, threads = r.threads, %landlock,
            "privileges dropped: no capabilities, no_new_privs, seccomp per thread class"
        ),
    }
    if r.mode == Mode::Off {
        eprintln!("warning: SANDBOX OFF (--sandbox=off): for debugging only");
    }
    Ok(())
}

/// In log mode, the violations counted (zero is the goal: each one is a syscall missing from an
/// allowlist, to be reported).
pub fn say_violations() {
    let v = keel_sandbox::violations();
    if v.is_empty() {
        return;
    }
    let list: Vec<String> = v
        .iter()
        .map(|(nr, n)| format!("syscall {nr} ×{n}"))
        .collect();
    eprintln!(
        "sandbox (log mode): {} violation(s): {}",
        v.values().sum::<u64>(),
        list.join(", ")
    );
}

/// SIGUSR2 asks every sandboxed thread to attempt the forbidden actions — only in a daemon
/// built with `keel-sandbox`'s test feature `probe` (the integration tests' build); a release
/// daemon ignores it.
pub fn probe_trigger() -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if keel_sandbox::PROBES_COMPILED {
        signal_hook::flag::register(signal_hook::consts::SIGUSR2, flag.clone())?;
    }
    Ok(flag)
}

/// Passes a pending probe request on, and lets the main thread run its own probes.
pub fn poll_probe(flag: &std::sync::atomic::AtomicBool) {
    if flag.swap(false, std::sync::atomic::Ordering::AcqRel) {
        keel_sandbox::request_probe();
    }
    keel_sandbox::checkpoint();
}
