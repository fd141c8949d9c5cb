//! The host side of ABI v1, independent of the engine tier.
//!
//! Each host function charges its compute cost from the schedule *before* doing work, then
//! checks every pointer/length against linear memory; any failure is a [`Trap`], never a panic.
//! Engines call these methods with the instance's memory as a byte slice.

use crate::abi::HostFn;
use crate::calls::CallState;
use crate::error::{StateError, Trap};
use crate::gas::{Dimension, GasLimits, GasVector};
use crate::manifest::Capability;
use crate::schedule::GasSchedule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

/// A 32-byte account or contract address.
pub type Address = [u8; 32];

/// Longest abort message kept in a trap; longer messages are truncated.
pub const MAX_ABORT_MESSAGE: usize = 1024;

/// Read access to committed contract storage. Implementations must be deterministic: the same
/// key always reads the same value within one block.
pub trait StateView: Send + 'static {
    /// The value stored under `key` by `contract`, if any.
    fn storage_get(
        &mut self,
        contract: &Address,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StateError>;

    /// The final randomness-beacon value of block `height`, if it is final in this state
    /// (`keel.randomness`). A view without a beacon (tests, the CLI's local calls) has none.
    fn beacon(&mut self, height: u64) -> Result<Option<[u8; 32]>, StateError> {
        let _ = height;
        Ok(None)
    }
}

/// A [`StateView`] over an in-memory map, for tests, the CLI and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct MemoryState {
    pub entries: BTreeMap<(Address, Vec<u8>), Vec<u8>>,
}

impl MemoryState {
    /// Applies a call's writes for `contract`.
    pub fn apply(&mut self, contract: &Address, writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        for (k, v) in writes {
            match v {
                Some(v) => {
                    self.entries.insert((*contract, k.clone()), v.clone());
                }
                None => {
                    self.entries.remove(&(*contract, k.clone()));
                }
            }
        }
    }
}

impl StateView for MemoryState {
    fn storage_get(
        &mut self,
        contract: &Address,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.entries.get(&(*contract, key.to_vec())).cloned())
    }
}

/// Who is calling what, and in which block. Everything a contract can learn about the world.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallContext {
    pub caller: Address,
    pub self_address: Address,
    pub block_height: u64,
    pub block_timestamp: u64,
}

/// An event emitted by a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(with = "hex_address")]
    pub contract: Address,
    #[serde(with = "hex_bytes")]
    pub topic: Vec<u8>,
    #[serde(with = "hex_bytes")]
    pub data: Vec<u8>,
}

mod hex_address {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let v = hex::decode(String::deserialize(d)?).map_err(serde::de::Error::custom)?;
        v.try_into()
            .map_err(|_| serde::de::Error::custom("expected 32 bytes"))
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

/// A failure inside a host function: a trap for the contract, or a node-level state failure.
#[derive(Debug)]
pub enum HostFault {
    Trap(Trap),
    State(StateError),
}

impl From<Trap> for HostFault {
    fn from(t: Trap) -> Self {
        HostFault::Trap(t)
    }
}

/// Why a native routine could not run: a stable non-zero code and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct NativeError {
    pub code: u32,
    pub message: String,
}

impl NativeError {
    /// The code of a routine governance killed: the call traps with [`Trap::Killed`] instead of
    /// [`Trap::Native`]. Distinct from every bridge status code.
    pub const KILLED: u32 = 0x4B11;
}

/// The activated native routines (the eBPF bridge), as the VM sees them. Implementations must
/// be deterministic: the same routine, input and budget give the same output and gas on every
/// engine.
pub trait NativeRoutines: Send + Sync {
    /// The most gas a call may use, after checking the routine exists, is active and accepts
    /// these sizes.
    fn max_gas(&self, routine: u32, in_len: usize, out_len: usize) -> Result<u64, NativeError>;
    /// Runs the routine within `budget` gas; returns the output and the gas used.
    fn run(
        &self,
        routine: u32,
        input: &[u8],
        out_len: usize,
        budget: u64,
    ) -> Result<(Vec<u8>, u64), NativeError>;
}

/// Per-call host state: inputs, outputs, the write buffer and the non-compute gas counters.
pub struct HostState {
    pub context: CallContext,
    pub input: Vec<u8>,
    pub return_data: Vec<u8>,
    pub state: Box<dyn StateView>,
    /// Storage writes of this call (`None` = removed), applied by the caller only on success.
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub events: Vec<Event>,
    /// Consumption in the non-compute dimensions.
    pub used: GasVector,
    pub limits: GasLimits,
    /// Remaining compute gas; engines mirror it to and from the `keel$gas` global around each
    /// host call.
    pub gas: u64,
    pub schedule: Arc<GasSchedule>,
    /// False only for unmetered benchmark baselines: host calls then charge nothing.
    pub metered: bool,
    /// Activated native routines, if this VM has them.
    pub native: Option<Arc<dyn NativeRoutines>>,
    /// Authority, call stack, handles and nested-call results of this frame.
    pub calls: CallState,
    /// The chunks of linear memory host functions wrote in this call.
    pub memory_written: WrittenChunks,
}

/// Chunks of linear memory written during a call, as the metering pass's written-chunks record
/// (`metering/write_set.rs`) counts them: bit `i` stands for bytes `i·4096 .. (i+1)·4096`, and a
/// write reaching past the 64th chunk sets every bit. A reused instance is reset from the union
/// of this and the code's own record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WrittenChunks(pub u64);

impl WrittenChunks {
    /// Bytes per chunk.
    pub const CHUNK: usize = 4096;

    /// Marks every chunk `range` touches.
    pub fn mark(&mut self, range: &Range<usize>) {
        if range.is_empty() {
            return;
        }
        let first = range.start / Self::CHUNK;
        let last = range.end.saturating_sub(1) / Self::CHUNK;
        if last >= 64 {
            self.0 = u64::MAX;
            return;
        }
        // first <= last < 64: bits first..=last.
        for chunk in first..=last {
            self.0 |= 1u64.wrapping_shl(chunk as u32);
        }
    }
}

type HostResult<T> = Result<T, HostFault>;

fn oob(func: HostFn, ptr: i32, len: i32) -> HostFault {
    HostFault::Trap(Trap::HostOutOfBounds {
        func,
        ptr: ptr as u32,
        len: len as u32,
    })
}

/// The byte range `[ptr, ptr+len)` of memory, or a trap. Negative values are read as the
/// unsigned 32-bit numbers they encode (wasm pointers are unsigned).
pub(crate) fn range(mem_len: usize, func: HostFn, ptr: i32, len: i32) -> HostResult<Range<usize>> {
    let start = ptr as u32 as usize;
    let end = start
        .checked_add(len as u32 as usize)
        .ok_or_else(|| oob(func, ptr, len))?;
    if end > mem_len {
        return Err(oob(func, ptr, len));
    }
    Ok(start..end)
}

/// A length argument as charged: never more than memory holds (a longer range traps right after
/// the charge anyway), which keeps every charge within the static bound of `analysis`.
pub(crate) fn clamp(mem: &[u8], len: i32) -> u64 {
    u64::from(len as u32).min(mem.len() as u64)
}

pub(crate) fn read(mem: &[u8], func: HostFn, ptr: i32, len: i32) -> HostResult<&[u8]> {
    let r = range(mem.len(), func, ptr, len)?;
    mem.get(r).ok_or_else(|| oob(func, ptr, len))
}

/// Copies `bytes` to `mem[ptr..]` and marks the chunks in `written`; out of bounds is a trap.
/// Every host write into linear memory goes through here (or marks `written` itself).
pub(crate) fn write(
    mem: &mut [u8],
    written: &mut WrittenChunks,
    func: HostFn,
    ptr: i32,
    bytes: &[u8],
) -> HostResult<()> {
    let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
    let r = range(mem.len(), func, ptr, len)?;
    written.mark(&r);
    let dst = mem.get_mut(r).ok_or_else(|| oob(func, ptr, len))?;
    dst.copy_from_slice(bytes);
    Ok(())
}

/// Copies `src[offset..offset+len]` (a host buffer: call input, callee return data) to
/// `mem[dst..]`; either range out of bounds is a trap.
pub(crate) fn copy_out(
    src: &[u8],
    mem: &mut [u8],
    written: &mut WrittenChunks,
    f: HostFn,
    dst: i32,
    offset: i32,
    len: i32,
) -> HostResult<()> {
    let bytes = read(src, f, offset, len)?;
    write(mem, written, f, dst, bytes)
}

pub(crate) fn read_array<const N: usize>(
    mem: &[u8],
    func: HostFn,
    ptr: i32,
) -> HostResult<[u8; N]> {
    let s = read(mem, func, ptr, N as i32)?;
    let mut out = [0u8; N];
    out.copy_from_slice(s);
    Ok(out)
}

impl HostState {
    /// Charges compute gas for `f` moving `bytes` bytes; traps with `OutOfGas` if short.
    pub fn charge(&mut self, f: HostFn, bytes: u64) -> HostResult<()> {
        if !self.metered {
            return Ok(());
        }
        let cost = self.schedule.host_cost(f, bytes);
        let Some(left) = self.gas.checked_sub(cost) else {
            self.gas = 0;
            return Err(Trap::OutOfGas.into());
        };
        self.gas = left;
        Ok(())
    }

    /// Adds to a non-compute dimension; traps if its limit is exceeded.
    pub fn consume(&mut self, d: Dimension, amount: u64) -> HostResult<()> {
        let v = self.used.get_mut(d);
        *v = v.saturating_add(amount);
        if self.metered && *v > self.limits.get(d) {
            return Err(Trap::LimitExceeded { dimension: d }.into());
        }
        Ok(())
    }

    pub fn input_size(&mut self, _mem: &mut [u8]) -> HostResult<i32> {
        self.charge(HostFn::InputSize, 0)?;
        Ok(i32::try_from(self.input.len()).unwrap_or(i32::MAX))
    }

    pub fn input_copy(
        &mut self,
        mem: &mut [u8],
        dst: i32,
        offset: i32,
        len: i32,
    ) -> HostResult<()> {
        let f = HostFn::InputCopy;
        self.charge(f, clamp(mem, len))?;
        copy_out(
            &self.input,
            mem,
            &mut self.memory_written,
            f,
            dst,
            offset,
            len,
        )
    }

    pub fn return_data(&mut self, mem: &mut [u8], ptr: i32, len: i32) -> HostResult<()> {
        let f = HostFn::ReturnData;
        self.charge(f, clamp(mem, len))?;
        let bytes = read(mem, f, ptr, len)?.to_vec();
        // Replacing earlier return data refunds nothing: bandwidth counts every byte handed over.
        self.consume(Dimension::Bandwidth, bytes.len() as u64)?;
        self.return_data = bytes;
        Ok(())
    }

    fn lookup(&mut self, key: &[u8]) -> HostResult<Option<Vec<u8>>> {
        if let Some(v) = self.writes.get(key) {
            return Ok(v.clone());
        }
        let me = self.context.self_address;
        self.state.storage_get(&me, key).map_err(HostFault::State)
    }

    pub fn storage_read(
        &mut self,
        mem: &mut [u8],
        key_ptr: i32,
        key_len: i32,
        val_ptr: i32,
        val_cap: i32,
    ) -> HostResult<i32> {
        let f = HostFn::StorageRead;
        self.charge(f, clamp(mem, key_len))?;
        let key = read(mem, f, key_ptr, key_len)?;
        // Validate the destination before touching state, so a bad pointer costs no I/O.
        range(mem.len(), f, val_ptr, val_cap)?;
        let Some(value) = self.lookup(key)? else {
            return Ok(-1);
        };
        let n = value.len().min(val_cap as u32 as usize);
        let copied = value.get(..n).unwrap_or_default();
        self.charge_bytes(f, copied.len() as u64)?;
        write(mem, &mut self.memory_written, f, val_ptr, copied)?;
        Ok(i32::try_from(value.len()).unwrap_or(i32::MAX))
    }

    /// Per-byte part of a host cost, charged once the byte count is known.
    fn charge_bytes(&mut self, f: HostFn, bytes: u64) -> HostResult<()> {
        if !self.metered {
            return Ok(());
        }
        let base = self.schedule.host_cost(f, 0);
        let cost = self.schedule.host_cost(f, bytes).saturating_sub(base);
        let Some(left) = self.gas.checked_sub(cost) else {
            self.gas = 0;
            return Err(Trap::OutOfGas.into());
        };
        self.gas = left;
        Ok(())
    }

    pub fn storage_write(
        &mut self,
        mem: &mut [u8],
        key_ptr: i32,
        key_len: i32,
        val_ptr: i32,
        val_len: i32,
    ) -> HostResult<()> {
        let f = HostFn::StorageWrite;
        let bytes = clamp(mem, key_len).saturating_add(clamp(mem, val_len));
        self.charge(f, bytes)?;
        let key = read(mem, f, key_ptr, key_len)?.to_vec();
        let value = read(mem, f, val_ptr, val_len)?.to_vec();
        self.consume(Dimension::StorageBytes, bytes)?;
        self.writes.insert(key, Some(value));
        Ok(())
    }

    pub fn storage_remove(
        &mut self,
        mem: &mut [u8],
        key_ptr: i32,
        key_len: i32,
    ) -> HostResult<i32> {
        let f = HostFn::StorageRemove;
        self.charge(f, clamp(mem, key_len))?;
        let key = read(mem, f, key_ptr, key_len)?.to_vec();
        let existed = self.lookup(&key)?.is_some();
        self.writes.insert(key, None);
        Ok(i32::from(existed))
    }

    pub fn emit_event(
        &mut self,
        mem: &mut [u8],
        topic_ptr: i32,
        topic_len: i32,
        data_ptr: i32,
        data_len: i32,
    ) -> HostResult<()> {
        let f = HostFn::EmitEvent;
        let bytes = clamp(mem, topic_len).saturating_add(clamp(mem, data_len));
        self.charge(f, bytes)?;
        let topic = read(mem, f, topic_ptr, topic_len)?.to_vec();
        let data = read(mem, f, data_ptr, data_len)?.to_vec();
        self.consume(Dimension::Bandwidth, bytes)?;
        self.events.push(Event {
            contract: self.context.self_address,
            topic,
            data,
        });
        Ok(())
    }

    pub fn caller(&mut self, mem: &mut [u8], dst: i32) -> HostResult<()> {
        self.charge(HostFn::Caller, 0)?;
        let a = self.context.caller;
        write(mem, &mut self.memory_written, HostFn::Caller, dst, &a)
    }

    pub fn self_address(&mut self, mem: &mut [u8], dst: i32) -> HostResult<()> {
        self.charge(HostFn::SelfAddress, 0)?;
        let a = self.context.self_address;
        write(mem, &mut self.memory_written, HostFn::SelfAddress, dst, &a)
    }

    pub fn block_height(&mut self, _mem: &mut [u8]) -> HostResult<i64> {
        self.charge(HostFn::BlockHeight, 0)?;
        Ok(self.context.block_height as i64)
    }

    pub fn block_timestamp(&mut self, _mem: &mut [u8]) -> HostResult<i64> {
        self.charge(HostFn::BlockTimestamp, 0)?;
        Ok(self.context.block_timestamp as i64)
    }

    pub fn gas_left(&mut self, _mem: &mut [u8]) -> HostResult<i64> {
        self.charge(HostFn::GasLeft, 0)?;
        Ok(i64::try_from(self.gas).unwrap_or(i64::MAX))
    }

    pub fn abort(&mut self, mem: &mut [u8], ptr: i32, len: i32) -> HostResult<()> {
        let f = HostFn::Abort;
        self.charge(f, clamp(mem, len))?;
        let bytes = read(mem, f, ptr, len)?;
        let kept = bytes
            .get(..bytes.len().min(MAX_ABORT_MESSAGE))
            .unwrap_or_default();
        Err(Trap::Abort {
            message: String::from_utf8_lossy(kept).into_owned(),
        }
        .into())
    }

    /// `native_call`: charges the base cost, then the routine's maximum gas up front (refunding
    /// what it did not use); every failure is a trap, so the call's writes are reverted.
    pub fn native_call(
        &mut self,
        mem: &mut [u8],
        routine: i32,
        in_ptr: i32,
        in_len: i32,
        out_ptr: i32,
        out_len: i32,
    ) -> HostResult<i32> {
        let f = HostFn::NativeCall;
        self.charge(f, clamp(mem, in_len))?;
        let input = read(mem, f, in_ptr, in_len)?.to_vec();
        let out = range(mem.len(), f, out_ptr, out_len)?;
        let routine = routine as u32;
        if !self.calls.manifest.may_run_native(routine) {
            return Err(Trap::Capability {
                capability: Capability::Native,
                detail: format!("routine {routine} is not in the manifest"),
            }
            .into());
        }
        let native_trap = |e: NativeError| {
            HostFault::Trap(if e.code == NativeError::KILLED {
                Trap::Killed { item: e.message }
            } else {
                Trap::Native {
                    routine,
                    code: e.code,
                    message: e.message,
                }
            })
        };
        let Some(native) = self.native.clone() else {
            return Err(native_trap(NativeError {
                code: 1,
                message: "this VM has no native routines".into(),
            }));
        };
        let max = native
            .max_gas(routine, input.len(), out.len())
            .map_err(native_trap)?;
        if self.metered && self.gas < max {
            self.gas = 0;
            return Err(Trap::OutOfGas.into());
        }
        let (output, used) = native.run(routine, &input, out.len(), max).map_err(|e| {
            // A failed routine consumed its whole budget. Deterministic: the engine is
            // node-local (an unavailable JIT falls back to the interpreter), never a cause.
            if self.metered {
                self.gas = self.gas.saturating_sub(max); // max <= gas, checked above
            }
            native_trap(e)
        })?;
        if self.metered {
            self.gas = self.gas.saturating_sub(used.min(max)); // max <= gas, checked above
        }
        self.memory_written.mark(&out);
        let dst = mem.get_mut(out).ok_or_else(|| oob(f, out_ptr, out_len))?;
        if output.len() != dst.len() {
            return Err(native_trap(NativeError {
                code: 5,
                message: format!(
                    "routine wrote {} bytes, {} expected",
                    output.len(),
                    dst.len()
                ),
            }));
        }
        dst.copy_from_slice(&output);
        Ok(0)
    }

    /// `bls_verify(pk, msg, msg_len, sig)`: 1 if valid, 0 otherwise (including bad encodings).
    pub fn bls_verify(
        &mut self,
        mem: &mut [u8],
        pk: i32,
        msg: i32,
        msg_len: i32,
        sig: i32,
    ) -> HostResult<i32> {
        let f = HostFn::BlsVerify;
        self.charge(f, clamp(mem, msg_len))?;
        let pk = read_array::<48>(mem, f, pk)?;
        let sig = read_array::<96>(mem, f, sig)?;
        let msg = read(mem, f, msg, msg_len)?;
        let ok = match (
            keel_crypto::PublicKey::from_bytes(&pk),
            keel_crypto::Signature::from_bytes(&sig),
        ) {
            (Ok(pk), Ok(sig)) => keel_crypto::verify(&pk, msg, &sig),
            _ => false,
        };
        Ok(i32::from(ok))
    }

    /// `bls_aggregate_verify(n, pks, msgs32, sig)`: n distinct 32-byte messages.
    pub fn bls_aggregate_verify(
        &mut self,
        mem: &mut [u8],
        n: i32,
        pks: i32,
        msgs: i32,
        sig: i32,
    ) -> HostResult<i32> {
        let f = HostFn::BlsAggregateVerify;
        let pk_bytes = (n as u32 as u64).saturating_mul(48).min(mem.len() as u64);
        self.charge(f, pk_bytes)?;
        let keys = self.read_keys(mem, f, n, pks)?;
        let msgs_len = i32::try_from((n as u32 as u64).saturating_mul(32)).unwrap_or(i32::MAX);
        let msg_bytes = read(mem, f, msgs, msgs_len)?;
        let sig = read_array::<96>(mem, f, sig)?;
        let (Some(keys), Ok(sig)) = (keys, keel_crypto::Signature::from_bytes(&sig)) else {
            return Ok(0);
        };
        let messages: Vec<&[u8]> = msg_bytes.chunks_exact(32).collect();
        Ok(i32::from(
            !keys.is_empty() && keel_crypto::aggregate_verify(&keys, &messages, &sig),
        ))
    }

    /// `bls_fast_aggregate_verify(n, pks, msg, msg_len, sig)`: n keys, one message.
    pub fn bls_fast_aggregate_verify(
        &mut self,
        mem: &mut [u8],
        n: i32,
        pks: i32,
        msg: i32,
        msg_len: i32,
        sig: i32,
    ) -> HostResult<i32> {
        let f = HostFn::BlsFastAggregateVerify;
        let pk_bytes = (n as u32 as u64).saturating_mul(48).min(mem.len() as u64);
        self.charge(f, pk_bytes.saturating_add(clamp(mem, msg_len)))?;
        let keys = self.read_keys(mem, f, n, pks)?;
        let msg = read(mem, f, msg, msg_len)?;
        let sig = read_array::<96>(mem, f, sig)?;
        let (Some(keys), Ok(sig)) = (keys, keel_crypto::Signature::from_bytes(&sig)) else {
            return Ok(0);
        };
        Ok(i32::from(
            !keys.is_empty() && keel_crypto::fast_aggregate_verify(&keys, msg, &sig),
        ))
    }

    /// `n` public keys from memory; `None` if any is malformed (the call then answers 0).
    fn read_keys(
        &self,
        mem: &[u8],
        f: HostFn,
        n: i32,
        ptr: i32,
    ) -> HostResult<Option<Vec<keel_crypto::PublicKey>>> {
        let len = i32::try_from((n as u32 as u64).saturating_mul(48)).unwrap_or(i32::MAX);
        let bytes = read(mem, f, ptr, len)?;
        Ok(bytes
            .chunks_exact(48)
            .map(keel_crypto::PublicKey::from_bytes)
            .collect::<Result<Vec<_>, _>>()
            .ok())
    }

    /// Shared shape of the u256 and fixed-point intrinsics: charge, read `N`-byte operands,
    /// compute, write the `N`-byte result, return the status.
    pub fn intrinsic<const N: usize, const K: usize>(
        &mut self,
        mem: &mut [u8],
        f: HostFn,
        args: [i32; K],
        out: i32,
        op: impl FnOnce([[u8; N]; K]) -> ([u8; N], i32),
    ) -> HostResult<i32> {
        self.charge(f, 0)?;
        let mut vals = [[0u8; N]; K];
        for (v, &p) in vals.iter_mut().zip(args.iter()) {
            *v = read_array::<N>(mem, f, p)?;
        }
        // Check the destination before computing, so a bad pointer never costs the host work.
        range(mem.len(), f, out, N as i32)?;
        let (result, status) = op(vals);
        write(mem, &mut self.memory_written, f, out, &result)?;
        Ok(status)
    }

    /// `u256_cmp`: reads two words, returns -1/0/1.
    pub fn compare<const N: usize>(
        &mut self,
        mem: &mut [u8],
        f: HostFn,
        a: i32,
        b: i32,
        op: impl FnOnce(&[u8; N], &[u8; N]) -> i32,
    ) -> HostResult<i32> {
        self.charge(f, 0)?;
        let x = read_array::<N>(mem, f, a)?;
        let y = read_array::<N>(mem, f, b)?;
        Ok(op(&x, &y))
    }

    /// `u256_shl`/`u256_shr`: a word and a shift amount.
    pub fn shift(
        &mut self,
        mem: &mut [u8],
        f: HostFn,
        a: i32,
        shift: i32,
        out: i32,
        op: impl FnOnce(&[u8; 32], u32) -> [u8; 32],
    ) -> HostResult<()> {
        self.charge(f, 0)?;
        let x = read_array::<32>(mem, f, a)?;
        range(mem.len(), f, out, 32)?;
        let r = op(&x, shift as u32);
        write(mem, &mut self.memory_written, f, out, &r)
    }
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
