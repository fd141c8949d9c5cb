//! Reused instances, on both engine tiers: a call takes a kept instance instead of
//! instantiating afresh, and the instance is reset to its just-instantiated state before it is
//! kept again. Each tier says how to reach an instance's memory and globals ([`Reusable`]);
//! what is saved, compared and restored is decided here, once.
//!
//! A reused instance must be indistinguishable from a fresh one. What a call can change in an
//! instance, and how each is restored:
//! * linear memory contents: the image taken right after instantiation (data segments applied)
//!   is kept in 4 KiB chunks, only its non-zero ones (most of a contract's memory starts zeroed:
//!   stack, heap), and read only from the chunks the data segments write
//!   ([`crate::metering::data_chunks`]):
//!   reading the rest would fault in pages the contract may never touch. After a call that
//!   returned normally (or whose entry does not exist, so no code ran) only the chunks it
//!   wrote are restored: the metering rewrite records the chunks each store may write in the module's
//!   `keel$written` global (`metering/write_set.rs`) and the host functions record theirs in
//!   [`crate::host::HostState::memory_written`]. After a trap the record may be incomplete
//!   (a function's bits reach the global when it returns), so every chunk is compared with
//!   the image, a zero one against one shared zero chunk. Comparing a 2-page memory costs
//!   about 2 µs, more than half of a token transfer's VM call; a recorded reset touches the
//!   two or three chunks the call wrote. Debug builds check after every recorded reset that
//!   the whole memory equals the image, so every test that reuses an instance checks the
//!   record;
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
//! memories and a few KiB of images). On wasmtime the saving is larger still: a fresh instance
//! maps, protects and unmaps a 4 GiB reservation with its guard region and faults its pages in
//! again, where a kept one only has its changed chunks restored.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A live instance as the pool sees it. Implemented by each tier's instance-in-its-own-store.
pub(super) trait Reusable {
    /// A mutable global and the value to restore.
    type Global;
    /// Memory size in pages, and its bytes; `None` without a memory.
    fn memory(&self) -> Option<(u64, &[u8])>;
    /// The same, writable.
    fn memory_mut(&mut self) -> Option<(u64, &mut [u8])>;
    /// Every mutable global the instance exports, with its current value.
    fn mutable_globals(&mut self) -> Vec<Self::Global>;
    /// Sets a global back to its saved value; false if that failed.
    fn restore_global(&mut self, global: &Self::Global) -> bool;
    /// The module's own written-chunks record (`keel$written`, see the metering pass's
    /// `write_set.rs`); `None` if the module does not keep one.
    fn written(&mut self) -> Option<u64>;
}

/// Instances kept per compiled module (a nested call of a module already running uses a
/// fresh one).
pub const SLOTS: usize = 2;
/// Largest initial memory, in pages, of an instance that is kept (larger ones are not reused).
pub const MAX_POOLED_PAGES: u64 = 4;
/// Granularity of the memory comparison: the written-chunks record's chunk.
const CHUNK: usize = crate::host::WrittenChunks::CHUNK;
/// What a chunk of the image that is all zero is compared against.
static ZERO_CHUNK: [u8; CHUNK] = [0; CHUNK];

/// The state of an instance right after instantiation.
pub struct Snapshot<G> {
    /// Memory size in pages.
    pages: u64,
    /// Memory length in bytes (0 without a memory).
    len: usize,
    /// Memory contents by [`CHUNK`]: `None` for a chunk of zeros.
    image: Vec<Option<Box<[u8]>>>,
    /// Every mutable global the instance exports, with its initial value.
    globals: Vec<G>,
}

/// The kept instances of one compiled module.
pub(super) struct InstancePool<L: Reusable> {
    enabled: bool,
    /// [`crate::metering::data_chunks`] of the module: the chunks a snapshot must read.
    data_chunks: Option<u64>,
    slots: Mutex<Vec<(L, Snapshot<L::Global>)>>,
    /// Calls that ran on a kept instance (observability and tests).
    reused: AtomicU64,
}

impl<L: Reusable> InstancePool<L> {
    /// A pool; when `enabled` is false it keeps nothing and every call instantiates afresh.
    /// `data_chunks` is [`crate::metering::data_chunks`] of the module's bytes
    /// ([`crate::metering::InstrumentedModule::data_chunks`]).
    pub fn new(enabled: bool, data_chunks: Option<u64>) -> Self {
        InstancePool {
            enabled,
            data_chunks,
            slots: Mutex::new(Vec::new()),
            reused: AtomicU64::new(0),
        }
    }

    /// A kept instance, reset, if one is available and its memory fits `max_memory_pages`
    /// (otherwise a fresh instantiation must fail the way it always does).
    pub fn take(&self, max_memory_pages: u64) -> Option<(L, Snapshot<L::Global>)> {
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
    pub fn snapshot(&self, live: &mut L) -> Option<Snapshot<L::Global>> {
        if !self.enabled {
            return None;
        }
        let (pages, data) = live.memory().unwrap_or((0, &[]));
        if pages > MAX_POOLED_PAGES {
            return None;
        }
        let len = data.len();
        // A chunk no data segment writes is zero without reading it (see `data_chunks`).
        let written = |i: usize| {
            self.data_chunks
                .is_none_or(|bits| i >= 64 || (bits >> i) & 1 == 1)
        };
        let image = data
            .chunks(CHUNK)
            .enumerate()
            .map(|(i, c)| {
                debug_assert!(
                    written(i) || all_zero(c),
                    "chunk {i} is not zero but no data segment writes it"
                );
                (written(i) && !all_zero(c)).then(|| Box::from(c))
            })
            .collect();
        Some(Snapshot {
            pages,
            len,
            image,
            globals: live.mutable_globals(),
        })
    }

    /// Resets `live` to `snapshot` and keeps it, unless it cannot be reset exactly (its memory
    /// grew) or the pool is full: then it is dropped. `host_written` is what the host functions
    /// wrote into memory when the call returned normally, `None` after a trap: only then are
    /// the written-chunks records complete, and only then is the reset limited to them.
    pub fn give_back(&self, mut live: L, snapshot: Snapshot<L::Global>, host_written: Option<u64>) {
        let recorded = host_written.and_then(|host| Some(live.written()? | host));
        if !reset(&mut live, &snapshot, recorded) {
            return;
        }
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.len() < SLOTS {
            slots.push((live, snapshot));
        }
    }
}

/// Restores memory and globals; false if the instance cannot be made fresh again. With a
/// `recorded` set of written chunks (bit `i` = chunk `i`) only those chunks are restored;
/// without one, every chunk is compared with the snapshot.
fn reset<L: Reusable>(live: &mut L, snapshot: &Snapshot<L::Global>, recorded: Option<u64>) -> bool {
    if let Some((pages, data)) = live.memory_mut() {
        if pages != snapshot.pages || data.len() != snapshot.len {
            return false;
        }
        // A record covers 64 chunks; a kept memory never has more (`MAX_POOLED_PAGES`).
        let recorded = recorded.filter(|_| snapshot.image.len() <= 64);
        for (i, (now, then)) in data.chunks_mut(CHUNK).zip(&snapshot.image).enumerate() {
            match recorded {
                // A recorded chunk was (almost always) written: put it back without comparing.
                Some(bits) if (bits >> i) & 1 == 1 => overwrite_chunk(now, then.as_deref()),
                Some(_) => {}
                None => restore_chunk(now, then.as_deref()),
            }
        }
        debug_assert!(
            recorded.is_none() || matches_snapshot(data, snapshot),
            "a chunk changed outside the written-chunks record"
        );
    }
    snapshot.globals.iter().all(|g| live.restore_global(g))
}

/// Whether a chunk equals its snapshot (`None`: zeros).
fn chunk_matches(now: &[u8], then: Option<&[u8]>) -> bool {
    match then {
        Some(then) => now == then,
        None => all_zero(now),
    }
}

/// Puts one chunk back to its snapshot (`None`: zeros), writing only if it differs (a chunk
/// that may not have been written is compared first, which leaves its pages clean).
fn restore_chunk(now: &mut [u8], then: Option<&[u8]>) {
    if !chunk_matches(now, then) {
        overwrite_chunk(now, then);
    }
}

/// Puts one chunk back to its snapshot (`None`: zeros).
fn overwrite_chunk(now: &mut [u8], then: Option<&[u8]>) {
    match then {
        Some(then) => now.copy_from_slice(then),
        None => now.fill(0),
    }
}

/// Whether all of `data` equals the snapshot (debug builds check every recorded reset).
fn matches_snapshot<G>(data: &[u8], snapshot: &Snapshot<G>) -> bool {
    data.chunks(CHUNK)
        .zip(&snapshot.image)
        .all(|(now, then)| chunk_matches(now, then.as_deref()))
}

/// What the host functions wrote into memory if the call returned normally, or ended before
/// any of the module's code ran (its entry does not exist); `None` after a trap, when the
/// code's record may be incomplete (see [`InstancePool::give_back`]).
pub(super) fn host_written(ending: &super::Ending, host: &crate::host::HostState) -> Option<u64> {
    use super::Ending::{Returned, Trapped};
    use crate::error::Trap::NoSuchEntry;
    matches!(ending, Returned | Trapped(NoSuchEntry { .. })).then_some(host.memory_written.0)
}

/// Whether `chunk` (at most [`CHUNK`] bytes) is all zeros: one `memcmp` against
/// [`ZERO_CHUNK`], which runs at the memory's bandwidth, where a byte-by-byte scan with an early
/// exit does not vectorize (128 KiB: about 2 µs against 70 µs measured side by side).
fn all_zero(chunk: &[u8]) -> bool {
    ZERO_CHUNK.get(..chunk.len()) == Some(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        memory: Vec<u8>,
    }

    impl Reusable for Fake {
        type Global = ();
        fn memory(&self) -> Option<(u64, &[u8])> {
            Some((1, &self.memory))
        }
        fn memory_mut(&mut self) -> Option<(u64, &mut [u8])> {
            Some((1, &mut self.memory))
        }
        fn mutable_globals(&mut self) -> Vec<()> {
            Vec::new()
        }
        fn restore_global(&mut self, _: &()) -> bool {
            true
        }
        fn written(&mut self) -> Option<u64> {
            Some(0)
        }
    }

    /// The host's record counts after a normal return and after a call whose entry is missing
    /// (no code ran); after any other trap every chunk is compared.
    #[test]
    fn host_writes_count_when_the_call_returned_or_ran_no_code() {
        use crate::engine::Ending;
        use crate::error::{Trap, WasmTrap};
        let mut host = crate::host::HostState {
            context: Default::default(),
            input: Vec::new(),
            return_data: Vec::new(),
            state: Box::new(crate::host::MemoryState::default()),
            writes: Default::default(),
            events: Vec::new(),
            used: Default::default(),
            limits: Default::default(),
            gas: 0,
            schedule: std::sync::Arc::new(crate::schedule::GasSchedule::v1()),
            metered: true,
            native: None,
            calls: Default::default(),
            memory_written: Default::default(),
        };
        host.memory_written.0 = 0b100;
        let missing = Ending::Trapped(Trap::NoSuchEntry { name: "f".into() });
        assert_eq!(host_written(&Ending::Returned, &host), Some(0b100));
        assert_eq!(host_written(&missing, &host), Some(0b100));
        for trapped in [
            Ending::Trapped(Trap::OutOfGas),
            Ending::Trapped(Trap::Wasm {
                trap: WasmTrap::Unreachable,
            }),
        ] {
            assert_eq!(host_written(&trapped, &host), None);
        }
    }

    /// A snapshot keeps the non-zero chunks the data segments write and takes every other
    /// chunk as zero; without a mask it reads them all.
    #[test]
    fn a_snapshot_reads_only_the_data_chunks() {
        let mut memory = vec![0u8; 65536];
        memory[5] = 1; // chunk 0: written by a segment
        memory[CHUNK * 2] = 2; // chunk 2: no segment (only possible in a test)
        let mut live = Fake { memory };
        let image = |pool: &InstancePool<Fake>, live: &mut Fake| {
            let snap = pool.snapshot(live).expect("kept");
            snap.image.iter().map(Option::is_some).collect::<Vec<_>>()
        };
        let all = image(&InstancePool::new(true, None), &mut live);
        assert_eq!(all.iter().filter(|c| **c).count(), 2);
        assert!(all[0] && all[2]);
        let masked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            image(&InstancePool::new(true, Some(0b1)), &mut live)
        }));
        if cfg!(debug_assertions) {
            assert!(
                masked.is_err(),
                "a non-zero chunk outside the mask is caught"
            );
        } else {
            let masked = masked.expect("no check in release");
            assert_eq!(masked.iter().filter(|c| **c).count(), 1);
        }
        live.memory[CHUNK * 2] = 0;
        let masked = image(&InstancePool::new(true, Some(0b1)), &mut live);
        assert!(masked[0] && masked.iter().filter(|c| **c).count() == 1);
    }
}
