//! Tracepoint programs: io_uring completion latency and preemption of pinned workers.
//!
//! Pins (under `<pin_dir>/observe/`): the maps by name (histograms keep accumulating across
//! daemon restarts, as Prometheus counters should) and one link per tracepoint.

use std::path::{Path, PathBuf};

use libbpf_rs::{Link, MapCore, MapFlags, MapHandle, Object};
use serde::{Deserialize, Serialize};

use crate::admission::maps::sum_percpu;
use crate::config::ObserveConfig;
use crate::error::KernelError;
use crate::histogram::Histogram;
use crate::loader;
use crate::status::{AttachKind, Attachment};
use crate::sysfs;

static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/observe.bpf.o"));

/// Subdirectory of the pin root holding this subsystem's pins.
pub const PIN_SUBDIR: &str = "observe";
pub(crate) const PARAMS: &str = "obs_params";
pub(crate) const URING_HIST: &str = "obs_uring_hist";
pub(crate) const URING_WAIT_HIST: &str = "obs_uring_wait_h";
pub(crate) const PREEMPT_HIST: &str = "obs_preempt_h";
pub(crate) const COUNTERS: &str = "obs_counters";
const WATCH_TID: &str = "obs_watch_tid";
const WATCH_CPU: &str = "obs_watch_cpu";
/// Size of `obs_watch_cpu` (MAX_WATCHED_CPUS in observe.h).
const MAX_WATCHED_CPUS: u32 = 1024;

/// (program, tracepoint category, tracepoint name)
const TRACEPOINTS: &[(&str, &str, &str)] = &[
    ("keel_uring_submit", "io_uring", "io_uring_submit_req"),
    ("keel_uring_complete", "io_uring", "io_uring_complete"),
    ("keel_sched_switch", "sched", "sched_switch"),
];

/// Event counts of the observability programs, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObserveCounters {
    /// io_uring submissions by the watched process.
    pub io_uring_submitted: u64,
    /// Of those, completions seen (each one observed in the latency histogram).
    pub io_uring_completed: u64,
    /// Times a watched thread was switched out while still runnable.
    pub preemptions: u64,
}

/// Everything the observability programs have aggregated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObserveSnapshot {
    /// Event counts.
    pub counters: ObserveCounters,
    /// io_uring submit → completion latency of the daemon's own operations (send, write,
    /// close, cancel…): the request-path cost.
    pub io_uring_latency: Histogram,
    /// io_uring submit → completion time of waits (accept, recv, read, poll, timeout): how
    /// long the daemon waited for peers and timers — long when idle, not a latency.
    #[serde(default)]
    pub io_uring_waits: Histogram,
    /// How long a preempted watched thread waited before running again.
    pub preemption_delay: Histogram,
}

/// Reads the aggregates from the observability maps.
pub(crate) fn read_snapshot(
    counters: &MapHandle,
    uring: &MapHandle,
    uring_wait: Option<&MapHandle>,
    preempt: &MapHandle,
) -> Result<ObserveSnapshot, KernelError> {
    Ok(ObserveSnapshot {
        counters: ObserveCounters {
            io_uring_submitted: sum_percpu(counters, COUNTERS, 0)?,
            io_uring_completed: sum_percpu(counters, COUNTERS, 1)?,
            preemptions: sum_percpu(counters, COUNTERS, 2)?,
        },
        io_uring_latency: Histogram::read(uring, URING_HIST)?,
        // Pins of an older daemon have no wait histogram.
        io_uring_waits: uring_wait
            .map(|m| Histogram::read(m, URING_WAIT_HIST))
            .transpose()?
            .unwrap_or_default(),
        preemption_delay: Histogram::read(preempt, PREEMPT_HIST)?,
    })
}

/// The loaded tracepoint programs and their maps.
pub struct Observer {
    // Kept for the programs' lifetime: links reference them.
    object: Object,
    watch_tid: MapHandle,
    watch_cpu: MapHandle,
    counters: MapHandle,
    uring: MapHandle,
    uring_wait: MapHandle,
    preempt: MapHandle,
    links: Vec<(Attachment, Link)>,
    pin_dir: Option<PathBuf>,
    skipped: Vec<String>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("attachments", &self.attachments())
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}

impl Observer {
    /// Loads and attaches the tracepoint programs. A tracepoint the kernel lacks (io_uring
    /// compiled out) is skipped with a warning and listed by [`Observer::skipped`]; the others
    /// still run. With `pin_root`, maps and links are pinned under `pin_root/observe`.
    ///
    /// # Errors
    /// [`KernelError::Unsupported`] when tracefs or `sched_switch` is unavailable;
    /// [`KernelError::NotPermitted`] without privileges; others from libbpf and bpffs.
    pub fn attach(config: &ObserveConfig, pin_root: Option<&Path>) -> Result<Self, KernelError> {
        sysfs::ensure_tracefs()?;
        let pin_dir = pin_root.map(|r| r.join(PIN_SUBDIR));
        if let Some(dir) = &pin_dir {
            sysfs::prepare_pin_dir(dir)?;
        }
        let missing: Vec<&str> = TRACEPOINTS
            .iter()
            .filter(|(_, cat, name)| !sysfs::tracepoint_exists(cat, name))
            .map(|(prog, _, _)| *prog)
            .collect();
        if missing.contains(&"keel_sched_switch") {
            return Err(KernelError::Unsupported {
                feature: "tracepoint sched/sched_switch".into(),
                detail: "not in tracefs".into(),
            });
        }
        // Both io_uring programs or neither: a submission without its completion is noise.
        let skip_uring = missing.iter().any(|p| p.starts_with("keel_uring"));
        let disabled: &[&str] = if skip_uring {
            tracing::warn!("io_uring tracepoints missing: io_uring latency histogram disabled");
            &["keel_uring_submit", "keel_uring_complete"]
        } else {
            &[]
        };
        let object = loader::load_with("keel_observe", OBJECT, pin_dir.as_deref(), disabled)?;
        let mut obs = Self {
            watch_tid: loader::map(&object, WATCH_TID)?,
            watch_cpu: loader::map(&object, WATCH_CPU)?,
            counters: loader::map(&object, COUNTERS)?,
            uring: loader::map(&object, URING_HIST)?,
            uring_wait: loader::map(&object, URING_WAIT_HIST)?,
            preempt: loader::map(&object, PREEMPT_HIST)?,
            object,
            links: Vec::new(),
            pin_dir,
            skipped: disabled.iter().map(|s| (*s).to_owned()).collect(),
        };
        obs.write_params(config)?;
        obs.watch_cpus(&config.worker_cpus)?;
        obs.attach_links()?;
        Ok(obs)
    }

    fn write_params(&self, config: &ObserveConfig) -> Result<(), KernelError> {
        let params = loader::map(&self.object, PARAMS)?;
        let tgid = config.tgid.unwrap_or_else(std::process::id);
        let mut value = [0u8; 8];
        value[0..4].copy_from_slice(&tgid.to_ne_bytes());
        params
            .update(&0u32.to_ne_bytes(), &value, MapFlags::ANY)
            .map_err(|e| KernelError::bpf("writing observability parameters", e))
    }

    fn attach_links(&mut self) -> Result<(), KernelError> {
        for (prog_name, category, tp) in TRACEPOINTS {
            if self.skipped.iter().any(|s| s == prog_name) {
                continue;
            }
            let prog = loader::program(&self.object, prog_name)?;
            let pin = loader::link_pin(self.pin_dir.as_deref(), &format!("link_{tp}"));
            // Perf-event links cannot swap programs: a restart re-attaches (a blip in metrics
            // only, never in admission).
            let (link, reused) = loader::reuse_or_attach(
                pin.as_deref(),
                &prog,
                |_| true,
                || {
                    prog.attach().map_err(|e| {
                        KernelError::bpf(format!("attaching tracepoint {category}/{tp}"), e)
                    })
                },
            )?;
            let info = link.info().ok();
            self.links.push((
                Attachment {
                    kind: AttachKind::Tracepoint,
                    target: format!("{category}/{tp}"),
                    link_id: info.as_ref().map_or(0, |i| i.id),
                    prog_id: info.as_ref().map_or(0, |i| i.prog_id),
                    pinned: pin.is_some(),
                    reused,
                },
                link,
            ));
        }
        Ok(())
    }

    /// Adds threads (kernel tids, e.g. the offload workers') to the preemption watch.
    ///
    /// # Errors
    /// [`KernelError::Bpf`] when the watch map (1024 entries) is full.
    pub fn watch_threads(&self, tids: &[u32]) -> Result<(), KernelError> {
        for tid in tids {
            self.watch_tid
                .update(&tid.to_ne_bytes(), &[1u8], MapFlags::ANY)
                .map_err(|e| KernelError::bpf(format!("watching thread {tid}"), e))?;
        }
        Ok(())
    }

    /// Removes threads from the preemption watch (absent ones are ignored).
    ///
    /// # Errors
    /// [`KernelError::Bpf`] when a delete fails for another reason than absence.
    pub fn unwatch_threads(&self, tids: &[u32]) -> Result<(), KernelError> {
        for tid in tids {
            match self.watch_tid.delete(&tid.to_ne_bytes()) {
                Ok(()) => {}
                Err(e) if e.kind() == libbpf_rs::ErrorKind::NotFound => {}
                Err(e) => return Err(KernelError::bpf(format!("unwatching thread {tid}"), e)),
            }
        }
        Ok(())
    }

    /// Makes the set of watched CPUs exactly `cpus`.
    ///
    /// # Errors
    /// [`KernelError::InvalidConfig`] for a CPU number ≥ 1024; [`KernelError::Bpf`] on update.
    pub fn watch_cpus(&self, cpus: &[u32]) -> Result<(), KernelError> {
        if let Some(bad) = cpus.iter().find(|c| **c >= MAX_WATCHED_CPUS) {
            return Err(KernelError::InvalidConfig(format!(
                "cpu {bad} is beyond the {MAX_WATCHED_CPUS} watchable CPUs"
            )));
        }
        for cpu in 0..MAX_WATCHED_CPUS {
            let on = u8::from(cpus.contains(&cpu));
            self.watch_cpu
                .update(&cpu.to_ne_bytes(), &[on], MapFlags::ANY)
                .map_err(|e| KernelError::bpf(format!("setting watch of cpu {cpu}"), e))?;
        }
        Ok(())
    }

    /// The aggregates so far (cumulative since the maps were created).
    ///
    /// # Errors
    /// [`KernelError::Bpf`] or [`KernelError::MapLayout`] when a map cannot be read.
    pub fn snapshot(&self) -> Result<ObserveSnapshot, KernelError> {
        read_snapshot(
            &self.counters,
            &self.uring,
            Some(&self.uring_wait),
            &self.preempt,
        )
    }

    /// Where the programs are attached.
    pub fn attachments(&self) -> Vec<Attachment> {
        self.links.iter().map(|(a, _)| a.clone()).collect()
    }

    /// Programs not loaded because the kernel lacks their tracepoint.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Detaches the programs and removes their pins.
    ///
    /// # Errors
    /// [`KernelError::Io`] when a pin cannot be removed (the programs are detached regardless).
    pub fn detach(mut self) -> Result<(), KernelError> {
        for (_, mut link) in self.links.drain(..) {
            let _ = link.unpin();
            let _ = link.detach();
        }
        if let Some(dir) = self.pin_dir.take() {
            for name in sysfs::pins_with_prefix(&dir, "") {
                sysfs::remove_pin(&dir.join(name))?;
            }
            let _ = std::fs::remove_dir(&dir);
        }
        Ok(())
    }
}
