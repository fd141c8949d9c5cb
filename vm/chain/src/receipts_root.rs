//! The committed form of receipts: a canonical binary encoding of each receipt with stable
//! numeric codes (never a library's message), and the Merkle root over a block's receipts that
//! the chain writes into the state tree (see `ENCODING.md`, "Receipts root").
//!
//! Everything here is consensus: changing a code, a field order or the tree shape forks the
//! chain. Codes are appended, never renumbered.

use crate::receipt::{FailReason, Receipt, RejectReason, TxStatus};
use crate::state_access::system_key;
use keel_vm::{Dimension, Fault, FaultKind, HandleFault, Trap, WasmTrap};
use sha2::{Digest, Sha256};

/// Version byte leading every encoded receipt.
pub const RECEIPT_ENCODING_VERSION: u8 = 1;

/// The raw state key holding the receipts root of block `height`:
/// `0x00 ‖ "block/" ‖ height (u64 big-endian) ‖ "/receipts_root"`.
pub fn receipts_root_key(height: u64) -> Vec<u8> {
    let mut k = system_key("block/");
    k.extend_from_slice(&height.to_be_bytes());
    k.extend_from_slice(b"/receipts_root");
    k
}

/// Writes the receipts root of block `height` — the root over `leaves`, the [`leaf_hash`]es
/// of its receipts in block order ([`leaf_hashes`]) — into its write set, so the block's state
/// root commits to it, and returns it. Every executor (sequential, parallel) must call this.
pub fn commit_receipts_root(
    writes: &mut keel_state::WriteSet,
    height: u64,
    leaves: &[[u8; 32]],
) -> [u8; 32] {
    let root = merkle_root(leaves);
    writes.insert(receipts_root_key(height), Some(root.to_vec()));
    root
}

/// The [`leaf_hash`] of every receipt, in order.
pub fn leaf_hashes(receipts: &[Receipt]) -> Vec<[u8; 32]> {
    // One encoding buffer for the whole block.
    let mut buf = Vec::with_capacity(256);
    receipts.iter().map(|r| leaf_hash_in(r, &mut buf)).collect()
}

/// The Merkle root of `receipts` in block order (RFC 6962 shape: leaves
/// `sha256(0x00 ‖ encode(r))`, nodes `sha256(0x01 ‖ left ‖ right)`, split at the largest power
/// of two below the count; the empty list hashes to `sha256("")`).
pub fn receipts_root(receipts: &[Receipt]) -> [u8; 32] {
    merkle_root(&leaf_hashes(receipts))
}

/// The leaf hash of one receipt.
pub fn leaf_hash(r: &Receipt) -> [u8; 32] {
    leaf_hash_in(r, &mut Vec::new())
}

/// [`leaf_hash`], encoding into `buf` (cleared first).
fn leaf_hash_in(r: &Receipt, buf: &mut Vec<u8>) -> [u8; 32] {
    buf.clear();
    buf.push(0u8);
    encode_receipt_into(r, buf);
    Sha256::digest(buf.as_slice()).into()
}

fn merkle_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves {
        [] => Sha256::digest([]).into(),
        [one] => *one,
        _ => {
            let split = largest_power_of_two_below(leaves.len());
            let (l, r) = leaves.split_at(split);
            let mut h = Sha256::new();
            h.update([1u8]);
            h.update(merkle_root(l));
            h.update(merkle_root(r));
            h.finalize().into()
        }
    }
}

/// For `n ≥ 2`, the largest power of two strictly below `n`.
fn largest_power_of_two_below(n: usize) -> usize {
    let mut k = 1usize;
    while let Some(next) = k.checked_mul(2) {
        if next >= n {
            break;
        }
        k = next;
    }
    k
}

/// The canonical encoding of one receipt: little-endian integers, `u32` length prefixes,
/// `u8` presence flags. Human messages (admission, governance, native, capability, engine
/// limit, kill item) are left out; their stable codes stand for them.
pub fn encode_receipt(r: &Receipt) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    encode_receipt_into(r, &mut out);
    out
}

/// [`encode_receipt`], appended to `out`.
fn encode_receipt_into(r: &Receipt, out: &mut Vec<u8>) {
    let mut w = Writer(out);
    w.u8(RECEIPT_ENCODING_VERSION);
    w.0.extend_from_slice(&r.tx_hash);
    status(&mut w, &r.status);
    for g in r.gas_used {
        w.u64(g);
    }
    w.0.extend_from_slice(&r.fee.0);
    w.opt32(r.contract.as_ref());
    w.len(r.events.len());
    for e in &r.events {
        w.0.extend_from_slice(&e.contract);
        w.bytes(&e.topic);
        w.bytes(&e.data);
    }
    w.len(r.faults.len());
    for f in &r.faults {
        fault(&mut w, f);
    }
}

/// The stable code of a status (0 success, 1 failed, 2 rejected) and of its reason.
pub fn status_codes(s: &TxStatus) -> (u8, u16) {
    match s {
        TxStatus::Success { .. } => (0, 0),
        TxStatus::Failed { reason } => (1, fail_code(reason)),
        TxStatus::Rejected { reason } => (2, reject_code(reason)),
    }
}

fn status(w: &mut Writer<'_>, s: &TxStatus) {
    let (status, code) = status_codes(s);
    w.u8(status);
    w.u16(code);
    match s {
        TxStatus::Success { return_data } => w.bytes(return_data),
        TxStatus::Failed { reason } => match reason {
            FailReason::Trap(t) => trap(w, t),
            FailReason::GasLimit { dimension } => w.u8(dimension_code(*dimension)),
            _ => {}
        },
        TxStatus::Rejected { reason } => match reason {
            RejectReason::WrongChain { expected, got }
            | RejectReason::WrongNonce { expected, got } => {
                w.u64(*expected);
                w.u64(*got);
            }
            RejectReason::FeeTooLow { dimension }
            | RejectReason::GasLimitTooLow { dimension }
            | RejectReason::BlockFull { dimension } => w.u8(dimension_code(*dimension)),
            _ => {}
        },
    }
}

/// Stable codes of [`RejectReason`] (1-based; appended, never renumbered).
pub fn reject_code(r: &RejectReason) -> u16 {
    match r {
        RejectReason::BadSignature => 1,
        RejectReason::WrongChain { .. } => 2,
        RejectReason::WrongNonce { .. } => 3,
        RejectReason::InsufficientBalance => 4,
        RejectReason::FeeTooLow { .. } => 5,
        RejectReason::GasLimitTooLow { .. } => 6,
        RejectReason::BlockFull { .. } => 7,
        RejectReason::FeeOverflow => 8,
        RejectReason::NonceExhausted => 9,
    }
}

/// Stable codes of [`FailReason`] (1-based; appended, never renumbered).
pub fn fail_code(r: &FailReason) -> u16 {
    match r {
        FailReason::Trap(_) => 1,
        FailReason::Admission(_) => 2,
        FailReason::InsufficientFunds => 3,
        FailReason::GasLimit { .. } => 4,
        FailReason::NoContract => 5,
        FailReason::ContractExists => 6,
        FailReason::Evicted => 7,
        FailReason::NotEvicted => 8,
        FailReason::BadRestoreProof => 9,
        FailReason::Governance(_) => 10,
        FailReason::BalanceOverflow => 11,
    }
}

/// Stable codes of [`Trap`] (1-based; appended, never renumbered).
pub fn trap_code(t: &Trap) -> u16 {
    match t {
        Trap::OutOfGas => 1,
        Trap::StackOverflow => 2,
        Trap::LimitExceeded { .. } => 3,
        Trap::Abort { .. } => 4,
        Trap::HostOutOfBounds { .. } => 5,
        Trap::Native { .. } => 6,
        Trap::NoSuchEntry { .. } => 7,
        Trap::Wasm { .. } => 8,
        Trap::CallDepth { .. } => 9,
        Trap::Reentrancy { .. } => 10,
        Trap::Capability { .. } => 11,
        Trap::Handle { .. } => 12,
        Trap::Deposit => 13,
        Trap::Killed { .. } => 14,
        Trap::EngineLimit { .. } => 15,
    }
}

/// A trap's code and its deterministic fields: contract-produced bytes (abort message, entry
/// name from the transaction) and numbers; host-produced messages are left out.
fn trap(w: &mut Writer<'_>, t: &Trap) {
    w.u16(trap_code(t));
    match t {
        Trap::LimitExceeded { dimension } => w.u8(dimension_code(*dimension)),
        Trap::Abort { message } => w.bytes(message.as_bytes()),
        Trap::HostOutOfBounds { func, ptr, len } => {
            w.bytes(func.name().as_bytes());
            w.u32(*ptr);
            w.u32(*len);
        }
        Trap::Native { routine, code, .. } => {
            w.u32(*routine);
            w.u32(*code);
        }
        Trap::NoSuchEntry { name } => w.bytes(name.as_bytes()),
        Trap::Wasm { trap } => w.u8(wasm_trap_code(*trap)),
        Trap::CallDepth { limit } => w.u32(*limit),
        Trap::Reentrancy { contract } => w.0.extend_from_slice(contract),
        Trap::Capability { capability, .. } => w.bytes(capability.to_string().as_bytes()),
        Trap::Handle { handle, fault } => {
            w.u32(*handle);
            let (code, right) = handle_fault_code(*fault);
            w.u8(code);
            w.u32(right);
        }
        Trap::OutOfGas
        | Trap::StackOverflow
        | Trap::Deposit
        | Trap::Killed { .. }
        | Trap::EngineLimit { .. } => {}
    }
}

fn fault(w: &mut Writer<'_>, f: &Fault) {
    w.u8(fault_kind_code(f.kind));
    trap(w, &f.trap);
    w.0.extend_from_slice(&f.contract);
    w.bytes(f.entry.as_bytes());
    w.u32(f.depth);
    match f.location {
        None => w.u8(0),
        Some(l) => {
            w.u8(1);
            w.u32(l.func);
            w.u32(l.offset);
        }
    }
}

/// The canonical dimension order (compute 0, storage bytes 1, memory pages 2, bandwidth 3).
fn dimension_code(d: Dimension) -> u8 {
    match d {
        Dimension::Compute => 0,
        Dimension::StorageBytes => 1,
        Dimension::MemoryPages => 2,
        Dimension::Bandwidth => 3,
    }
}

fn wasm_trap_code(t: WasmTrap) -> u8 {
    match t {
        WasmTrap::Unreachable => 1,
        WasmTrap::MemoryOutOfBounds => 2,
        WasmTrap::TableOutOfBounds => 3,
        WasmTrap::IndirectCallToNull => 4,
        WasmTrap::IntegerDivisionByZero => 5,
        WasmTrap::IntegerOverflow => 6,
        WasmTrap::BadSignature => 7,
    }
}

fn handle_fault_code(f: HandleFault) -> (u8, u32) {
    match f {
        HandleFault::Invalid => (1, 0),
        HandleFault::Moved => (2, 0),
        HandleFault::MissingRight(r) => (3, r),
        HandleFault::Amplify => (4, 0),
        HandleFault::TableFull => (5, 0),
    }
}

fn fault_kind_code(k: FaultKind) -> u8 {
    match k {
        FaultKind::OutOfGas => 1,
        FaultKind::StackOverflow => 2,
        FaultKind::LimitExceeded => 3,
        FaultKind::Reentrancy => 4,
        FaultKind::CallDepth => 5,
        FaultKind::CapabilityViolation => 6,
        FaultKind::HandleMisuse => 7,
        FaultKind::HostOutOfBounds => 8,
        FaultKind::Abort => 9,
        FaultKind::Native => 10,
        FaultKind::Wasm => 11,
        FaultKind::Deposit => 12,
        FaultKind::NoSuchEntry => 13,
        FaultKind::EngineLimit => 14,
        FaultKind::Killed => 15,
    }
}

struct Writer<'o>(&'o mut Vec<u8>);

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// Lengths are written as u64: a receipt's vectors are bounded by the block's gas limits,
    /// and a u64 never truncates a `usize` on the platforms Keel runs on.
    fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.extend_from_slice(b);
    }
    fn opt32(&mut self, v: Option<&[u8; 32]>) {
        match v {
            None => self.u8(0),
            Some(a) => {
                self.u8(1);
                self.0.extend_from_slice(a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Amount;

    fn receipt(status: TxStatus) -> Receipt {
        Receipt {
            tx_hash: [7; 32],
            status,
            gas_used: [1, 2, 3, 4],
            fee: Amount::from_u128(99),
            contract: None,
            events: vec![],
            faults: vec![],
        }
    }

    #[test]
    fn library_messages_do_not_change_the_receipts_root() {
        let a = receipt(TxStatus::Failed {
            reason: FailReason::Admission("wasmparser 0.1 says: floats".into()),
        });
        let b = receipt(TxStatus::Failed {
            reason: FailReason::Admission("wasmparser 0.2 words it differently".into()),
        });
        assert_eq!(receipts_root(&[a]), receipts_root(&[b]));
    }

    #[test]
    fn every_consensus_field_changes_the_receipts_root() {
        let base = receipt(TxStatus::Success {
            return_data: vec![1],
        });
        let mut variants = vec![base.clone(); 5];
        variants[0].gas_used[2] = 9;
        variants[1].fee = Amount::from_u128(100);
        variants[2].contract = Some([1; 32]);
        variants[3].status = TxStatus::Failed {
            reason: FailReason::Trap(Trap::OutOfGas),
        };
        variants[4].status = TxStatus::Success {
            return_data: vec![2],
        };
        let root = receipts_root(std::slice::from_ref(&base));
        for v in variants {
            assert_ne!(receipts_root(std::slice::from_ref(&v)), root, "{v:?}");
        }
    }

    #[test]
    fn the_tree_commits_to_receipt_order_and_count() {
        let r: Vec<Receipt> = (0..5u8)
            .map(|i| {
                let mut r = receipt(TxStatus::Success {
                    return_data: vec![i],
                });
                r.tx_hash = [i; 32];
                r
            })
            .collect();
        let root = receipts_root(&r);
        let mut swapped = r.clone();
        swapped.swap(3, 4);
        assert_ne!(receipts_root(&swapped), root);
        assert_ne!(receipts_root(&r[..4]), root);
        assert_eq!(receipts_root(&[]), <[u8; 32]>::from(Sha256::digest([])));
    }

    #[test]
    fn the_receipts_root_key_is_a_system_key_per_height() {
        assert_eq!(receipts_root_key(1)[0], 0x00);
        assert_ne!(receipts_root_key(1), receipts_root_key(256));
    }
}
