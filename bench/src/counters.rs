//! Hardware and software counters of the measuring thread via `perf_event_open` (the
//! `perf-event2` crate). A counter the kernel will not open (no PMU under virtualization,
//! `perf_event_paranoid`, seccomp) is reported unavailable with the kernel's reason, never as 0.

use perf_event::events::{Event, Hardware, Software};
use perf_event::{Builder, Counter};
use serde::Serialize;

/// A per-transaction figure, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Metric {
    Value(f64),
    Unavailable { unavailable: String },
}

impl Metric {
    fn unavailable(reason: impl Into<String>) -> Self {
        Metric::Unavailable {
            unavailable: reason.into(),
        }
    }

    pub fn value(&self) -> Option<f64> {
        match self {
            Metric::Value(v) => Some(*v),
            Metric::Unavailable { .. } => None,
        }
    }
}

/// Counters per transaction of one row.
#[derive(Debug, Clone, Serialize)]
pub struct Counters {
    pub cycles: Metric,
    pub instructions: Metric,
    /// instructions ÷ cycles.
    pub ipc: Metric,
    pub cache_misses: Metric,
    pub branch_misses: Metric,
    pub page_faults: Metric,
    pub context_switches: Metric,
}

const NAMES: [&str; 6] = [
    "cycles",
    "instructions",
    "cache_misses",
    "branch_misses",
    "page_faults",
    "context_switches",
];

fn open(i: usize) -> Result<Counter, String> {
    fn build(e: impl Event + 'static) -> std::io::Result<Counter> {
        Builder::new(e)
            .observe_self()
            .any_cpu()
            .enabled(false)
            .build()
    }
    let built = match i {
        0 => build(Hardware::CPU_CYCLES),
        1 => build(Hardware::INSTRUCTIONS),
        2 => build(Hardware::CACHE_MISSES),
        3 => build(Hardware::BRANCH_MISSES),
        4 => build(Software::PAGE_FAULTS),
        _ => build(Software::CONTEXT_SWITCHES),
    };
    built.map_err(|e| format!("perf_event_open({}): {e}", NAMES[i]))
}

/// The counters of the calling thread, opened once and enabled around each measured run.
pub struct CounterSet {
    counters: Vec<Result<Counter, String>>,
}

impl Default for CounterSet {
    fn default() -> Self {
        Self::open()
    }
}

impl CounterSet {
    /// Opens every counter; the ones the kernel refuses keep their error as the reason.
    pub fn open() -> Self {
        CounterSet {
            counters: (0..NAMES.len()).map(open).collect(),
        }
    }

    /// Resets and enables every open counter.
    pub fn start(&mut self) {
        for c in self.counters.iter_mut() {
            if let Ok(counter) = c {
                let started = counter.reset().and_then(|()| counter.enable());
                if let Err(e) = started {
                    *c = Err(format!("enable: {e}"));
                }
            }
        }
    }

    /// Stops counting and returns the counts divided by `txs`.
    pub fn stop(&mut self, txs: u32) -> Counters {
        let per_tx: Vec<Metric> = self
            .counters
            .iter_mut()
            .map(|c| match c {
                Ok(counter) => match counter.disable().and_then(|()| counter.read()) {
                    Ok(n) => Metric::Value(n as f64 / f64::from(txs.max(1))),
                    Err(e) => Metric::unavailable(format!("read: {e}")),
                },
                Err(reason) => Metric::unavailable(reason.clone()),
            })
            .collect();
        let get = |i: usize| {
            per_tx
                .get(i)
                .cloned()
                .unwrap_or_else(|| Metric::unavailable("not opened"))
        };
        let ipc = match (get(0).value(), get(1).value()) {
            (Some(c), Some(i)) if c > 0.0 => Metric::Value(i / c),
            (Some(_), Some(_)) => Metric::unavailable("no cycles counted"),
            _ => Metric::unavailable("needs cycles and instructions"),
        };
        Counters {
            cycles: get(0),
            instructions: get(1),
            ipc,
            cache_misses: get(2),
            branch_misses: get(3),
            page_faults: get(4),
            context_switches: get(5),
        }
    }
}
