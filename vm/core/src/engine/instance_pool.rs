//! Reused wasmi instances: a call takes a kept instance instead of instantiating afresh, and
//! the instance is reset to its just-instantiated state before it is kept again.
//!
//! A reused instance must be indistinguishable from a fresh one. What a call can change in an
//! instance, and how each is restored:
//! * linear memory contents: the image taken right after instantiation (data segments applied)
//!   is compared in 4 KiB chunks and only the chunks a call changed are restored. The image keeps
//!   only its non-zero chunks: most of a contract's memory starts zeroed (stack, heap), and a
//!   chunk that was zero is compared against one shared zero chunk (always in the L1 cache) and
//!   cleared, so a reset reads the instance's memory once instead of it and a copy of it;
//! * memory size: memory cannot shrink, so an instance whose memory grew is dropped, never kept;
//! * globals: every global the module defines is exported by the instrumentation
//!   (`keel$global<i>`, plus the metering globals) and each mutable one is set back to its
//!   initial value;
//! * tables, element and data segments: immutable in the profile (no bulk-memory or reference
//!   types), and admission refuses start functions, so instantiation runs no code whose effects
//!   could depend on a call.
//!
//! The store and its host-function entities are created once per kept instance: that, not the
//! reset, is what a call saves. Bounds: at most [`SLOTS`] instances per compiled module, each
//! with an initial memory of at most [`MAX_POOLED_PAGES`] pages plus the non-zero chunks of its
//! image (at most the same size), so at most 1 MiB per cached module and 256 MiB at the default
//! compile-cache capacity of 256 modules (a 2-page contract such as the token keeps 256 KiB of
//! memories and a few KiB of images). A second engine tier
//! (a JIT with its own pooling allocator) keeps the same contract behind
//! [`super::CompiledModule::invoke`].

use super::wasmi_tier::Live;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmi::{Global, Val};

/// Instances kept per compiled module (a nested call of a module already running uses a
/// fresh one).
pub const SLOTS: usize = 2;
/// Largest initial memory, in pages, of an instance that is kept (larger ones are not reused).
pub const MAX_POOLED_PAGES: u64 = 4;
/// Granularity of the memory comparison.
const CHUNK: usize = 4096;
/// What a chunk of the image that is all zero is compared against.
static ZERO_CHUNK: [u8; CHUNK] = [0; CHUNK];

/// The state of an instance right after instantiation.
pub struct Snapshot {
    /// Memory size in pages.
    pages: u64,
    /// Memory length in bytes (0 without a memory).
    len: usize,
    /// Memory contents by [`CHUNK`]: `None` for a chunk of zeros.
    image: Vec<Option<Box<[u8]>>>,
    /// Every mutable global the instance exports, with its initial value.
    globals: Vec<(Global, Val)>,
}

/// The kept instances of one compiled module.
pub struct InstancePool {
    enabled: bool,
    slots: Mutex<Vec<(Live, Snapshot)>>,
    /// Calls that ran on a kept instance (observability and tests).
    reused: AtomicU64,
}

impl InstancePool {
    /// A pool; when `enabled` is false it keeps nothing and every call instantiates afresh.
    pub fn new(enabled: bool) -> Self {
        InstancePool {
            enabled,
            slots: Mutex::new(Vec::new()),
            reused: AtomicU64::new(0),
        }
    }

    /// A kept instance, reset, if one is available and its memory fits `max_memory_pages`
    /// (otherwise a fresh instantiation must fail the way it always does).
    pub fn take(&self, max_memory_pages: u64) -> Option<(Live, Snapshot)> {
        if !self.enabled {
            return None;
        }
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.last()?.1.pages > max_memory_pages {
            return None;
        }
        let kept = slots.pop();
        self.reused.fetch_add(1, Ordering::Relaxed);
        kept
    }

    /// Calls so far that ran on a kept instance.
    pub fn reused(&self) -> u64 {
        self.reused.load(Ordering::Relaxed)
    }

    /// The snapshot of a just-instantiated instance, or `None` if it will not be kept.
    pub fn snapshot(&self, live: &Live) -> Option<Snapshot> {
        if !self.enabled {
            return None;
        }
        let store = &live.store;
        let memory = store.data().memory;
        let pages = memory.map_or(0, |m| m.size(store));
        if pages > MAX_POOLED_PAGES {
            return None;
        }
        let data = memory.map_or(&[][..], |m| m.data(store));
        let image = data
            .chunks(CHUNK)
            .map(|c| c.iter().any(|&b| b != 0).then(|| Box::from(c)))
            .collect();
        let globals = live
            .instance
            .exports(store)
            .filter_map(|e| e.into_global())
            .filter(|g| g.ty(store).mutability().is_mut())
            .map(|g| (g, g.get(store)))
            .collect();
        Some(Snapshot {
            pages,
            len: data.len(),
            image,
            globals,
        })
    }

    /// Resets `live` to `snapshot` and keeps it, unless it cannot be reset exactly (its memory
    /// grew) or the pool is full: then it is dropped.
    pub fn give_back(&self, mut live: Live, snapshot: Snapshot) {
        if !reset(&mut live, &snapshot) {
            return;
        }
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.len() < SLOTS {
            slots.push((live, snapshot));
        }
    }
}

/// Restores memory and globals; false if the instance cannot be made fresh again.
fn reset(live: &mut Live, snapshot: &Snapshot) -> bool {
    let store = &mut live.store;
    if let Some(memory) = store.data().memory {
        if memory.size(&*store) != snapshot.pages {
            return false;
        }
        let data = memory.data_mut(&mut *store);
        if data.len() != snapshot.len {
            return false;
        }
        for (now, then) in data.chunks_mut(CHUNK).zip(&snapshot.image) {
            match then {
                Some(then) if now != &then[..] => now.copy_from_slice(then),
                None if ZERO_CHUNK.get(..now.len()) != Some(&*now) => now.fill(0),
                _ => {}
            }
        }
    }
    snapshot
        .globals
        .iter()
        .all(|(g, v)| g.set(&mut *store, v.clone()).is_ok())
}
