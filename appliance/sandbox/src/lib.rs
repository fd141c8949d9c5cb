//! The keel daemon's privilege model: a privileged start, then no privileges for the rest of
//! the process's life.
//!
//! 1. [`arm`] — first thing in `keel serve`, before any thread exists: compiles the seccomp
//!    filters of every [`ThreadClass`], builds the Landlock ruleset (its path descriptors are
//!    opened now), empties the capability bounding and ambient sets and sets `no_new_privs`
//!    (all inherited by every thread spawned afterwards). Effective capabilities are kept for
//!    the privileged phase.
//! 2. The privileged phase runs (data directory, kernel programs, listeners, rings, workers).
//!    Every thread calls [`enter`] with its class when it starts, after its own privileged
//!    setup: it confines itself (Landlock, then its seccomp filter). Filters are per thread
//!    (no TSYNC): each class gets its own, and a thread spawned later inherits its parent's.
//! 3. [`lock_down`] — the end of the privileged phase, on the main thread: the data and socket
//!    directories are given to the service user, the process switches to that user (glibc
//!    runs setresuid on every thread, which clears every thread's capabilities), the main
//!    thread confines itself, and /proc is checked: every thread without capabilities, with
//!    `no_new_privs`, and (unless `off`) filtered.
//!
//! Outside `keel serve` (tests, benches, library users) nothing is armed and [`enter`] does
//! nothing.

mod class;
mod credentials;
mod error;
mod helper;
mod landlock_rules;
mod mode;
mod preload;
#[cfg(feature = "probe")]
pub mod probe;
mod seccomp;
mod syscalls;
mod violations;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use class::ThreadClass;
pub use credentials::{ServiceUser, is_root};
pub use error::SandboxError;
pub use helper::HelperSandbox;
pub use mode::Mode;

/// What `keel serve` asks of the sandbox.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    /// The account to switch to; `None` keeps the current one (a daemon started unprivileged).
    pub user: Option<ServiceUser>,
    /// Directories that stay writable (the data directory, the socket directory); they are
    /// given to `user`.
    pub writable: Vec<PathBuf>,
}

struct Plan {
    settings: Settings,
    filters: Vec<Vec<seccompiler::BpfProgram>>,
    confinement: Option<landlock_rules::Confinement>,
    landlock_abi: i64,
    violations: Option<violations::ViolationLog>,
    /// Whether the bounding set could be emptied (CAP_SETPCAP held: started as root).
    bounding_dropped: bool,
    locked: AtomicBool,
    entered: [AtomicU64; ThreadClass::ALL.len()],
    failures: AtomicU64,
}

static PLAN: OnceLock<Plan> = OnceLock::new();

/// Arms the sandbox for this process. Call before any thread is spawned. Errors: a filter or
/// the Landlock ruleset cannot be built, the capability sets cannot be emptied, or it was
/// already armed.
pub fn arm(settings: Settings) -> Result<(), SandboxError> {
    if PLAN.get().is_some() {
        return Err(SandboxError::AlreadyArmed);
    }
    let filters = ThreadClass::ALL
        .iter()
        .map(|&c| seccomp::compile(c, settings.mode))
        .collect::<Result<Vec<_>, _>>()?;
    let landlock_abi = landlock_rules::kernel_abi();
    let confinement = match (settings.mode, landlock_abi) {
        (Mode::Off, _) => None,
        (_, 0) => {
            tracing::warn!(
                "this kernel has no Landlock (needs Linux 5.13+ with landlock in the LSM list): \
                 the filesystem is not confined beyond the service user's rights and seccomp"
            );
            None
        }
        _ => Some(landlock_rules::Confinement::build(&settings.writable)?),
    };
    preload::c_library_lookups();
    let bounding_dropped = credentials::drop_bounding_and_ambient()?;
    credentials::no_new_privs()?;
    let violations = match settings.mode {
        Mode::Log => violations::ViolationLog::open().or_else(|| {
            tracing::warn!("cannot read /dev/kmsg: seccomp violations will not be counted");
            None
        }),
        _ => None,
    };
    if settings.mode == Mode::Off {
        tracing::warn!(
            "SANDBOX OFF (--sandbox=off): no seccomp filter and no Landlock; a compromised \
             request handler can use every syscall the service user may. For debugging only."
        );
    }
    let plan = Plan {
        settings,
        filters,
        confinement,
        landlock_abi,
        violations,
        bounding_dropped,
        locked: AtomicBool::new(false),
        entered: Default::default(),
        failures: AtomicU64::new(0),
    };
    PLAN.set(plan).map_err(|_| SandboxError::AlreadyArmed)
}

/// Confines the calling thread as `class` (Landlock, then its seccomp filter). Does nothing
/// when no sandbox is armed. A failure is logged and counted, and [`lock_down`] (or /metrics
/// afterwards) reports it: the thread-start hooks of the server and the offload pool have no
/// way to stop their caller.
pub fn enter(class: ThreadClass) {
    let Some(plan) = PLAN.get() else { return };
    #[cfg(feature = "probe")]
    probe::set_class(class);
    if let Err(e) = plan.confine(class) {
        plan.failures.fetch_add(1, Ordering::Relaxed);
        tracing::error!(class = class.name(), error = %e, "a thread could not enter the sandbox");
        return;
    }
    plan.entered[class.index()].fetch_add(1, Ordering::Relaxed);
}

impl Plan {
    fn confine(&self, class: ThreadClass) -> Result<(), SandboxError> {
        // Started unprivileged with capabilities (systemd's AmbientCapabilities): no user
        // switch will clear them, so each thread gives up its own (capabilities are per
        // thread). Started as root, a thread must keep them until the main thread's setresuid
        // reaches it (glibc runs it on every thread, and it needs CAP_SETUID there).
        if self.settings.user.is_none() {
            credentials::clear_capabilities()?;
        }
        if let Some(c) = &self.confinement {
            c.apply()?;
        }
        match self.filters.get(class.index()) {
            Some(programs) => seccomp::install(class, programs),
            None => Ok(()),
        }
    }
}

/// A call in the loop of a sandboxed thread, where it is idle and safe to run test probes
/// (only with the `probe` feature; otherwise nothing).
#[inline]
pub fn checkpoint() {
    #[cfg(feature = "probe")]
    probe::run_if_requested();
}

/// Whether this build has the test probes (feature `probe`).
pub const PROBES_COMPILED: bool = cfg!(feature = "probe");

/// Asks every sandboxed thread to run the test probes at its next [`checkpoint`] (nothing
/// without the `probe` feature).
pub fn request_probe() {
    #[cfg(feature = "probe")]
    probe::request();
}

/// What [`lock_down`] did.
#[derive(Debug, Clone)]
pub struct Report {
    pub mode: Mode,
    pub user: Option<String>,
    pub landlock_abi: i64,
    /// Threads checked in /proc.
    pub threads: usize,
}

/// Ends the privileged phase (main thread): gives the writable directories to the service
/// user, switches the process to it, clears capabilities, confines the main thread and checks
/// every thread in /proc. Errors: any step failed, or (except in `log` mode) a thread is left
/// unconfined — the daemon must then refuse to serve.
pub fn lock_down() -> Result<Report, SandboxError> {
    let Some(plan) = PLAN.get() else {
        return Err(SandboxError::Landlock("the sandbox was never armed".into()));
    };
    let s = &plan.settings;
    if let Some(user) = &s.user {
        for dir in &s.writable {
            credentials::chown_tree(dir, user)?;
        }
        credentials::switch_user(user)?;
    }
    plan.confine(ThreadClass::Main)?;
    #[cfg(feature = "probe")]
    probe::set_class(ThreadClass::Main);
    plan.entered[ThreadClass::Main.index()].fetch_add(1, Ordering::Relaxed);
    plan.locked.store(true, Ordering::Release);
    let threads = match verify_settled(s.mode != Mode::Off, plan.bounding_dropped) {
        Ok(n) => n,
        Err(e) if s.mode == Mode::Log => {
            tracing::warn!(error = %e, "sandbox check failed (log mode: serving anyway)");
            0
        }
        Err(e) => return Err(e),
    };
    let failures = plan.failures.load(Ordering::Relaxed);
    if failures > 0 && matches!(s.mode, Mode::Enforce | Mode::Kill) {
        return Err(SandboxError::Install {
            class: "some",
            reason: format!("{failures} thread(s) could not enter the sandbox"),
        });
    }
    Ok(Report {
        mode: s.mode,
        user: s.user.as_ref().map(|u| u.name.clone()),
        landlock_abi: if plan.confinement.is_some() {
            plan.landlock_abi
        } else {
            0
        },
        threads,
    })
}

/// Threads started just before the drop (a ring thread still registering its ring) confine
/// themselves a moment later: the check waits for them, bounded.
fn verify_settled(filtered: bool, bounding: bool) -> Result<usize, SandboxError> {
    const WAIT: std::time::Duration = std::time::Duration::from_secs(10);
    let begun = std::time::Instant::now();
    loop {
        match credentials::verify_threads(filtered, bounding) {
            Err(e) if begun.elapsed() < WAIT => {
                tracing::debug!(error = %e, "waiting for threads to enter the sandbox");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            done => return done,
        }
    }
}

/// Seccomp violations counted so far in `log` mode, by syscall number (empty otherwise).
pub fn violations() -> std::collections::BTreeMap<u64, u64> {
    PLAN.get()
        .and_then(|p| p.violations.as_ref())
        .map(|v| v.counts())
        .unwrap_or_default()
}

/// Appends the sandbox's state to a Prometheus text page (nothing when not armed).
pub fn write_metrics(out: &mut String) {
    let Some(plan) = PLAN.get() else { return };
    let mode = plan.settings.mode;
    let _ = writeln!(
        out,
        "# HELP keel_sandbox_enforced 1 when seccomp refuses syscalls (enforce, kill); 0 in \
         log and off modes.\n# TYPE keel_sandbox_enforced gauge\nkeel_sandbox_enforced {}",
        u8::from(matches!(mode, Mode::Enforce | Mode::Kill))
    );
    let _ = writeln!(
        out,
        "# TYPE keel_sandbox_mode gauge\nkeel_sandbox_mode{{mode=\"{}\"}} 1",
        mode.name()
    );
    if mode == Mode::Off {
        let _ = writeln!(
            out,
            "# HELP keel_sandbox_off 1: the sandbox is OFF (--sandbox=off), debugging only.\n\
             # TYPE keel_sandbox_off gauge\nkeel_sandbox_off 1"
        );
    }
    let abi = if plan.confinement.is_some() {
        plan.landlock_abi
    } else {
        0
    };
    let _ = writeln!(
        out,
        "# TYPE keel_sandbox_landlock_abi gauge\nkeel_sandbox_landlock_abi {abi}\n\
         # TYPE keel_sandbox_locked gauge\nkeel_sandbox_locked {}",
        u8::from(plan.locked.load(Ordering::Acquire))
    );
    let _ = writeln!(out, "# TYPE keel_sandbox_threads gauge");
    for class in ThreadClass::ALL {
        let _ = writeln!(
            out,
            "keel_sandbox_threads{{class=\"{}\"}} {}",
            class.name(),
            plan.entered[class.index()].load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# TYPE keel_sandbox_enter_failures_total counter\nkeel_sandbox_enter_failures_total {}",
        plan.failures.load(Ordering::Relaxed)
    );
    if mode == Mode::Log {
        let total: u64 = violations().values().fold(0, |a, &b| a.saturating_add(b));
        let _ = writeln!(
            out,
            "# TYPE keel_sandbox_violations_total counter\nkeel_sandbox_violations_total {total}"
        );
    }
    #[cfg(feature = "probe")]
    probe::write_metrics(out);
}
