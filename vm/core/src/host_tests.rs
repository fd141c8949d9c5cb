//! Unit tests of the host functions.

use super::*;

fn host() -> HostState {
    HostState {
        context: CallContext::default(),
        input: vec![1, 2, 3, 4],
        return_data: Vec::new(),
        state: Box::new(MemoryState::default()),
        writes: BTreeMap::new(),
        events: Vec::new(),
        used: GasVector::default(),
        limits: GasVector::splat(1_000_000),
        gas: 1_000_000,
        schedule: Arc::new(GasSchedule::v1()),
        metered: true,
        native: None,
        calls: CallState::default(),
        memory_written: Default::default(),
    }
}

fn is_oob(r: HostResult<impl std::fmt::Debug>) -> bool {
    matches!(r, Err(HostFault::Trap(Trap::HostOutOfBounds { .. })))
}

#[test]
fn every_pointer_taking_host_function_rejects_out_of_bounds_ranges() {
    let mut h = host();
    let mut mem = vec![0u8; 64];
    let m = &mut mem;
    assert!(is_oob(h.input_copy(m, 62, 0, 4)));
    assert!(is_oob(h.input_copy(m, 0, 2, 4)));
    assert!(is_oob(h.input_copy(m, -1, 0, 1)));
    assert!(is_oob(h.return_data(m, 60, 5)));
    assert!(is_oob(h.return_data(m, 0, -1)));
    assert!(is_oob(h.storage_read(m, 0, 65, 0, 0)));
    assert!(is_oob(h.storage_read(m, 0, 1, 63, 2)));
    assert!(is_oob(h.storage_write(m, 0, 1, i32::MAX, 2)));
    assert!(is_oob(h.storage_remove(m, 64, 1)));
    assert!(is_oob(h.emit_event(m, 0, 1, 40, 30)));
    assert!(is_oob(h.caller(m, 40)));
    assert!(is_oob(h.self_address(m, 33)));
    assert!(is_oob(h.abort(m, 63, 2)));
    let add = |v: [[u8; 32]; 2]| (v[0], 0);
    assert!(is_oob(h.intrinsic(m, HostFn::U256Add, [0, 40], 0, add)));
    assert!(is_oob(h.intrinsic(m, HostFn::U256Add, [0, 0], 33, add)));
    assert!(is_oob(h.compare::<32>(m, HostFn::U256Cmp, 0, 33, |_, _| 0)));
    assert!(is_oob(h.shift(m, HostFn::U256Shl, 0, 1, 40, |a, _| *a)));
    // Nothing was written or emitted by the failed calls.
    assert!(h.writes.is_empty() && h.events.is_empty() && h.return_data.is_empty());
}

#[test]
fn host_calls_charge_before_working_and_trap_when_short() {
    let mut h = host();
    let mut mem = vec![0u8; 64];
    h.gas = 10;
    let r = h.storage_write(&mut mem, 0, 1, 0, 1);
    assert!(matches!(r, Err(HostFault::Trap(Trap::OutOfGas))));
    assert!(h.writes.is_empty());
}

#[test]
fn reads_see_this_calls_own_writes_and_removals() {
    let mut h = host();
    let mut mem = vec![0u8; 64];
    mem[0] = b'k';
    mem[1] = 7;
    h.storage_write(&mut mem, 0, 1, 1, 1).unwrap();
    assert_eq!(h.storage_read(&mut mem, 0, 1, 10, 4).unwrap(), 1);
    assert_eq!(mem[10], 7);
    assert_eq!(h.storage_remove(&mut mem, 0, 1).unwrap(), 1);
    assert_eq!(h.storage_read(&mut mem, 0, 1, 10, 4).unwrap(), -1);
}

#[test]
fn storage_limit_is_enforced_per_dimension() {
    let mut h = host();
    h.limits.storage_bytes = 3;
    let mut mem = vec![0u8; 64];
    h.storage_write(&mut mem, 0, 1, 0, 2).unwrap();
    let r = h.storage_write(&mut mem, 0, 1, 0, 1);
    assert!(matches!(
        r,
        Err(HostFault::Trap(Trap::LimitExceeded {
            dimension: Dimension::StorageBytes
        }))
    ));
}

#[test]
#[allow(clippy::single_range_in_vec_init)] // lists of byte ranges, some of one range
fn written_chunks_mark_every_chunk_a_range_touches() {
    use crate::host::WrittenChunks;
    let marked = |ranges: &[std::ops::Range<usize>]| {
        let mut w = WrittenChunks::default();
        for r in ranges {
            w.mark(r);
        }
        w.0
    };
    assert_eq!(marked(&[]), 0);
    assert_eq!(marked(&[5..5]), 0, "an empty range writes nothing");
    assert_eq!(marked(&[0..1]), 1);
    assert_eq!(
        marked(&[4095..4097]),
        0b11,
        "a write across a boundary marks both"
    );
    assert_eq!(marked(&[4096..8192]), 0b10, "a whole chunk is one bit");
    assert_eq!(marked(&[8180..8212, 65536..65540]), 0b110 | 1 << 16);
    assert_eq!(
        marked(&[63 * 4096..64 * 4096]),
        1 << 63,
        "the last chunk a record covers"
    );
    assert_eq!(
        marked(&[64 * 4096 - 1..64 * 4096 + 1]),
        u64::MAX,
        "past the record: all"
    );
    assert_eq!(marked(&[0..1 << 20]), u64::MAX);
}
