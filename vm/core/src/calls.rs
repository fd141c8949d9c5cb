//! Cross-contract calls: the `call` host function, return data of callees and handles.
//!
//! The VM runs the callee itself (through [`NestedRunner`], the VM's own engine and cache) and
//! reaches the chain through [`ContractEnv`], implemented by the chain executor:
//! 1. the caller's buffered writes are **flushed** into the chain's current state context, so a
//!    re-entered contract sees them (they are reverted with the caller's frame if it fails);
//! 2. [`ContractEnv::enter`] opens a nested state context and moves the value;
//! 3. the callee runs with gas forwarded per dimension, capped by what the caller has left;
//! 4. on success its writes are flushed and the context committed, otherwise reverted — only
//!    the callee's writes, never the caller's;
//! 5. the callee's gas, in every dimension, is added to the caller's.
//!
//! Faults of the *caller* (bad handle, missing capability, re-entrancy, depth) trap the caller;
//! a *callee's* trap is a status code for the caller (`CALL_FAILED`) plus a fault record.

use crate::abi::HostFn;
use crate::error::{StateError, Trap, VmError};
use crate::fault::{CallRecord, Fault, FaultKind};
use crate::gas::{Dimension, GasVector};
use crate::handles::{Handle, HandleTable, RIGHT_CALL, RIGHT_VALUE};
use crate::host::{
    Address, CallContext, HostFault, HostState, StateView, clamp, copy_out, read, read_array, write,
};
use crate::manifest::{Capability, Manifest};
use crate::vm::{CallOutcome, CallRequest, Prepared};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most nested calls below the transaction's own call.
pub const MAX_CALL_DEPTH: u32 = 16;

/// `call` succeeded; the callee's return data is available.
pub const CALL_OK: i32 = 0;
/// The callee trapped; its writes and value transfer were reverted.
pub const CALL_FAILED: i32 = 1;
/// The caller cannot cover the value; nothing ran.
pub const CALL_NO_FUNDS: i32 = 2;
/// No live contract at the handle's address (missing, evicted, or no longer admissible).
pub const CALL_NO_CONTRACT: i32 = 3;

/// Storage writes of one contract: `None` removes the key.
pub type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The chain, as nested calls need it. Implementations must be deterministic and keep a stack
/// of state contexts: every successful [`ContractEnv::enter`] is matched by one
/// [`ContractEnv::leave`].
pub trait ContractEnv: Send + Sync {
    /// The code of a live contract, or `None`.
    fn code(&self, contract: &Address) -> Result<Option<Vec<u8>>, StateError>;
    /// The SHA-256 of a live contract's code, if the environment has it without reading the
    /// code (a chain account stores it), so that a compiled module can be found by it.
    /// `None`: no live contract, or not known this way; the caller then asks
    /// [`ContractEnv::code`]. A hash returned here must be that of the code `code` returns.
    fn code_hash(&self, contract: &Address) -> Result<Option<[u8; 32]>, StateError> {
        let _ = contract;
        Ok(None)
    }
    /// A fresh view of contract storage in the current context.
    fn state_view(&self) -> Box<dyn StateView>;
    /// Applies `contract`'s writes to the current context (with storage deposits). An inner
    /// `Err` means the deposit cannot be paid; nothing was applied then.
    fn flush(&self, contract: &Address, writes: Writes) -> Result<Result<(), Trap>, StateError>;
    /// Opens a nested context and moves `value` (u256 LE) from `from` to `to`. `Ok(false)`:
    /// the value cannot move (`from` cannot pay, or `to`'s balance would overflow); no context
    /// was opened.
    fn enter(&self, from: &Address, to: &Address, value: &[u8; 32]) -> Result<bool, StateError>;
    /// Closes the innermost nested context, keeping (`commit`) or undoing its writes.
    fn leave(&self, commit: bool) -> Result<(), StateError>;
}

/// The VM's side of a nested call: prepare (cached) and run a callee.
pub trait NestedRunner: Send + Sync {
    fn prepare(&self, code: &[u8]) -> Result<Arc<Prepared>, VmError>;
    /// What [`NestedRunner::prepare`] returns for the code hashed `code_hash`, if it is at hand
    /// without the code (a compile-cache hit).
    fn cached(&self, code_hash: &[u8; 32]) -> Option<Arc<Prepared>> {
        let _ = code_hash;
        None
    }
    fn run(
        &self,
        prepared: &Prepared,
        request: CallRequest,
        state: Box<dyn StateView>,
        calls: CallState,
    ) -> Result<CallOutcome, VmError>;
}

/// Per-frame call state: authority, the call stack and what nested calls reported.
pub struct CallState {
    pub env: Option<Arc<dyn ContractEnv>>,
    pub runner: Option<Arc<dyn NestedRunner>>,
    /// This contract's manifest.
    pub manifest: Arc<Manifest>,
    /// Contracts on the call stack, outermost first, this one last.
    pub stack: Vec<Address>,
    /// 0 for the transaction's call.
    pub depth: u32,
    pub handles: HandleTable,
    /// Return data of the last callee (empty if it failed).
    pub callee_return: Vec<u8>,
    /// Faults of this frame's callees (and, once it ends, its own).
    pub faults: Vec<Fault>,
    /// Nested calls, pre-order.
    pub trace: Vec<CallRecord>,
    /// Input-module offset of the fault being raised, set by the engine.
    pub fault_offset: Option<u32>,
}

impl Default for CallState {
    fn default() -> Self {
        CallState::for_manifest(Arc::new(Manifest::legacy_default()))
    }
}

impl CallState {
    /// The state of a frame whose module has `manifest`: no environment, stack, handles,
    /// callees or faults yet. (Cheaper than [`CallState::default`] with the manifest replaced,
    /// which allocates a manifest only to drop it: this runs on every call.)
    pub fn for_manifest(manifest: Arc<Manifest>) -> Self {
        CallState {
            env: None,
            runner: None,
            manifest,
            stack: Vec::new(),
            depth: 0,
            handles: HandleTable::default(),
            callee_return: Vec::new(),
            faults: Vec::new(),
            trace: Vec::new(),
            fault_offset: None,
        }
    }
}

type HostResult<T> = Result<T, HostFault>;

fn capability(capability: Capability, detail: impl Into<String>) -> HostFault {
    HostFault::Trap(Trap::Capability {
        capability,
        detail: detail.into(),
    })
}

fn u64s(bytes: &[u8; 32]) -> [u64; 4] {
    let mut out = [0u64; 4];
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        *o = u64::from_le_bytes(b);
    }
    out
}

impl HostState {
    /// `call(handle, entry, entry_len, in, in_len, value, gas, pass, pass_len) -> status`.
    #[allow(clippy::too_many_arguments)]
    pub fn call(
        &mut self,
        mem: &mut [u8],
        handle: i32,
        entry_ptr: i32,
        entry_len: i32,
        in_ptr: i32,
        in_len: i32,
        value_ptr: i32,
        gas_ptr: i32,
        pass_ptr: i32,
        pass_len: i32,
    ) -> HostResult<i32> {
        let f = HostFn::Call;
        let pass_bytes = u64::from(pass_len as u32)
            .saturating_mul(4)
            .min(mem.len() as u64);
        let bytes = clamp(mem, entry_len)
            .saturating_add(clamp(mem, in_len))
            .saturating_add(pass_bytes);
        self.charge(f, bytes)?;
        let h = self.calls.handles.get(handle as u32, RIGHT_CALL)?;
        let entry = String::from_utf8_lossy(read(mem, f, entry_ptr, entry_len)?).into();
        let input = read(mem, f, in_ptr, in_len)?.to_vec();
        let value: [u8; 32] = read_array(mem, f, value_ptr)?;
        let requested = u64s(&read_array(mem, f, gas_ptr)?);
        let pass_len_bytes = i32::try_from(pass_bytes).unwrap_or(i32::MAX);
        let pass: Vec<u32> = read(mem, f, pass_ptr, pass_len_bytes)?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        if value != [0; 32] {
            if !self.calls.manifest.value {
                return Err(capability(Capability::Value, "call with a non-zero value"));
            }
            self.calls.handles.get(handle as u32, RIGHT_VALUE)?;
        }
        let (Some(env), Some(runner)) = (self.calls.env.clone(), self.calls.runner.clone()) else {
            return Err(capability(
                Capability::Calls,
                "this VM runs without a chain to call into",
            ));
        };
        if self.calls.depth >= MAX_CALL_DEPTH {
            return Err(Trap::CallDepth {
                limit: MAX_CALL_DEPTH,
            }
            .into());
        }
        // By the code hash first: a compile-cache hit neither copies nor hashes the callee's code.
        let hash = env.code_hash(&h.target).map_err(HostFault::State)?;
        let prepared = match hash.and_then(|hash| runner.cached(&hash)) {
            Some(p) => p,
            None => {
                let Some(code) = env.code(&h.target).map_err(HostFault::State)? else {
                    return Ok(CALL_NO_CONTRACT);
                };
                match runner.prepare(&code) {
                    Ok(p) => p,
                    Err(VmError::State(e)) => return Err(HostFault::State(e)),
                    Err(_) => return Ok(CALL_NO_CONTRACT),
                }
            }
        };
        if self.calls.stack.contains(&h.target) && !prepared.module.manifest.reentrant {
            return Err(Trap::Reentrancy { contract: h.target }.into());
        }
        let passed = self.calls.handles.take_for_callee(&pass)?;
        let me = self.context.self_address;
        let own = std::mem::take(&mut self.writes);
        if let Err(trap) = env.flush(&me, own).map_err(HostFault::State)? {
            return Err(trap.into());
        }
        let limits = self.forwarded(mem, requested);
        if !env
            .enter(&me, &h.target, &value)
            .map_err(HostFault::State)?
        {
            return Ok(CALL_NO_FUNDS);
        }
        self.run_callee(env, runner, &prepared, h, entry, input, limits, passed)
    }

    /// Gas for the callee: what was asked, capped per dimension by what this frame has left.
    fn forwarded(&self, mem: &[u8], requested: [u64; 4]) -> GasVector {
        let own_pages = (mem.len() / 65536) as u64;
        let left = |d: Dimension| self.limits.get(d).saturating_sub(self.used.get(d));
        let available = GasVector {
            compute: self.gas,
            storage_bytes: left(Dimension::StorageBytes),
            memory_pages: left(Dimension::MemoryPages).saturating_sub(own_pages),
            bandwidth: left(Dimension::Bandwidth),
        };
        let mut out = GasVector::default();
        for (i, d) in Dimension::ALL.into_iter().enumerate() {
            *out.get_mut(d) = requested[i].min(available.get(d));
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn run_callee(
        &mut self,
        env: Arc<dyn ContractEnv>,
        runner: Arc<dyn NestedRunner>,
        prepared: &Prepared,
        h: Handle,
        entry: String,
        input: Vec<u8>,
        limits: GasVector,
        passed: Vec<Handle>,
    ) -> HostResult<i32> {
        let me = self.context.self_address;
        // Below MAX_CALL_DEPTH (checked before a callee is prepared): never saturates.
        let depth = self.calls.depth.saturating_add(1);
        let mut stack = self.calls.stack.clone();
        stack.push(h.target);
        let request = CallRequest {
            entry: entry.clone(),
            input,
            context: CallContext {
                caller: me,
                self_address: h.target,
                ..self.context.clone()
            },
            limits,
        };
        let callee = CallState {
            env: Some(Arc::clone(&env)),
            runner: Some(Arc::clone(&runner)),
            stack,
            depth,
            handles: HandleTable::with(passed),
            ..CallState::for_manifest(Arc::clone(&prepared.module.manifest))
        };
        let out = match runner.run(prepared, request, env.state_view(), callee) {
            Ok(out) => out,
            Err(e) => {
                // Node-level: the block cannot finish. Close the context all the same.
                env.leave(false).map_err(HostFault::State)?;
                return Err(HostFault::State(StateError(e.to_string())));
            }
        };
        let used = out.gas_used;
        if self.metered {
            self.gas = self.gas.saturating_sub(used.compute);
        }
        for d in [
            Dimension::StorageBytes,
            Dimension::MemoryPages,
            Dimension::Bandwidth,
        ] {
            let v = self.used.get_mut(d);
            *v = v.saturating_add(used.get(d));
        }
        let record_at = self.calls.trace.len();
        self.calls.trace.push(CallRecord {
            depth,
            caller: me,
            callee: h.target,
            entry: entry.clone(),
            gas_used: used,
            success: false,
        });
        self.calls.trace.extend(out.trace);
        self.calls.faults.extend(out.faults);
        self.calls.callee_return.clear();
        let data = match out.result {
            Ok(data) => data,
            Err(_) => {
                env.leave(false).map_err(HostFault::State)?;
                return Ok(crate::calls::CALL_FAILED);
            }
        };
        if let Err(trap) = env.flush(&h.target, out.writes).map_err(HostFault::State)? {
            env.leave(false).map_err(HostFault::State)?;
            self.calls.faults.push(Fault {
                kind: FaultKind::of(&trap),
                trap,
                contract: h.target,
                entry,
                depth,
                location: None,
            });
            return Ok(CALL_FAILED);
        }
        env.leave(true).map_err(HostFault::State)?;
        if let Some(r) = self.calls.trace.get_mut(record_at) {
            r.success = true;
        }
        self.events.extend(out.events);
        self.calls.callee_return = data;
        Ok(CALL_OK)
    }

    /// `return_data_size() -> i32`: length of the last callee's return data.
    pub fn return_data_size(&mut self, _mem: &mut [u8]) -> HostResult<i32> {
        self.charge(HostFn::ReturnDataSize, 0)?;
        Ok(i32::try_from(self.calls.callee_return.len()).unwrap_or(i32::MAX))
    }

    /// `return_data_copy(dst, offset, len)`: copies part of the last callee's return data.
    pub fn return_data_copy(
        &mut self,
        mem: &mut [u8],
        dst: i32,
        offset: i32,
        len: i32,
    ) -> HostResult<()> {
        let f = HostFn::ReturnDataCopy;
        self.charge(f, clamp(mem, len))?;
        copy_out(
            &self.calls.callee_return,
            mem,
            &mut self.memory_written,
            f,
            dst,
            offset,
            len,
        )
    }

    /// `handle_for_contract(addr) -> handle`: a call handle for a contract the manifest names.
    pub fn handle_for_contract(&mut self, mem: &mut [u8], addr_ptr: i32) -> HostResult<i32> {
        let f = HostFn::HandleForContract;
        self.charge(f, 0)?;
        let target: [u8; 32] = read_array(mem, f, addr_ptr)?;
        if !self.calls.manifest.may_call_contract(&target) {
            return Err(capability(
                Capability::Calls,
                format!("contract {} is not in the manifest", hex::encode(target)),
            ));
        }
        let rights = RIGHT_CALL
            | if self.calls.manifest.value {
                RIGHT_VALUE
            } else {
                0
            };
        let index = self.calls.handles.insert(Handle { target, rights })?;
        Ok(index as i32)
    }

    /// `handle_attenuate(handle, rights)`: keeps only `rights`, which must be a subset.
    pub fn handle_attenuate(
        &mut self,
        _mem: &mut [u8],
        handle: i32,
        rights: i32,
    ) -> HostResult<()> {
        self.charge(HostFn::HandleAttenuate, 0)?;
        Ok(self.calls.handles.attenuate(handle as u32, rights as u32)?)
    }

    /// `handle_info(handle, addr_out) -> rights`: the target address and the rights.
    pub fn handle_info(&mut self, mem: &mut [u8], handle: i32, out: i32) -> HostResult<i32> {
        let f = HostFn::HandleInfo;
        self.charge(f, 0)?;
        let h = self.calls.handles.get(handle as u32, 0)?;
        write(mem, &mut self.memory_written, f, out, &h.target)?;
        Ok(h.rights as i32)
    }

    /// `handle_count() -> i32`: slots in this call's table (live or moved).
    pub fn handle_count(&mut self, _mem: &mut [u8]) -> HostResult<i32> {
        self.charge(HostFn::HandleCount, 0)?;
        Ok(self.calls.handles.len() as i32)
    }
}
