//! The trace of one replayed transaction: what `keel debug replay --json` prints.
//!
//! Every field comes from the deterministic run (offsets, gas, arguments, bytes), never from
//! the machine (no time, no addresses, no hash-map order), so the same transaction on the same
//! state always gives byte-identical JSON.

use keel_vm::debug::{BlockEvent, FrameStart, HostCallEvent, HostReturn};
use keel_vm::{CallOutcome, GasVector, HostFn, VmError};
use serde::Serialize;

/// Most events kept; a longer run sets [`Trace::truncated`] and keeps running.
pub const MAX_EVENTS: usize = 1_000_000;
/// Most bytes of one storage key, value or return data copied into an event.
pub const MAX_BYTES: usize = 4096;

/// The recorded run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Trace {
    pub events: Vec<Event>,
    /// Whether events were dropped past [`MAX_EVENTS`].
    pub truncated: bool,
}

/// One thing the run did, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A contract frame starts (the transaction's call, or a nested `keel.call`).
    Frame {
        depth: u32,
        contract: String,
        entry: String,
        /// SHA-256 of the contract's code.
        code_hash: String,
        input: String,
    },
    /// A metering block entered (its charge already taken), or, with `charge` 0, execution
    /// resuming after a call returned.
    Block {
        depth: u32,
        site: u32,
        func: u32,
        charge: u64,
        gas_left: u64,
        used: GasVector,
        /// `file:line` of the block's first instruction, when the code has DWARF.
        #[serde(skip_serializing_if = "Option::is_none")]
        line: Option<String>,
    },
    /// A host function returned (or trapped).
    Host {
        depth: u32,
        func: HostFn,
        site: u32,
        args: Vec<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ret: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        trap: Option<String>,
        /// Compute gas the call charged.
        gas: u64,
        /// Non-compute gas the call used, per dimension.
        used: GasVector,
        #[serde(skip_serializing_if = "Option::is_none")]
        storage: Option<Storage>,
    },
    /// A contract frame ends.
    End {
        depth: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        returned: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        trap: Option<String>,
        gas_used: GasVector,
        /// Writes not flushed by a nested call, `(key, value or null)`, hex, sorted by key.
        writes: Vec<(String, Option<String>)>,
        faults: Vec<String>,
    },
    /// The node could not finish the frame (state backend failure).
    Fatal { depth: u32, error: String },
}

/// A storage access decoded from a host call's arguments and memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    Read { key: String, value: Option<String> },
    Write { key: String, value: String },
    Remove { key: String, existed: bool },
}

fn hex_capped(bytes: &[u8]) -> String {
    hex::encode(bytes.get(..MAX_BYTES).unwrap_or(bytes))
}

fn mem_slice(memory: &[u8], ptr: i64, len: i64) -> Option<&[u8]> {
    let start = usize::try_from(ptr as u32).ok()?;
    let len = usize::try_from(len as u32).ok()?;
    memory.get(start..start.checked_add(len)?)
}

impl Event {
    pub(crate) fn frame(f: &FrameStart<'_>) -> Event {
        use sha2::Digest;
        Event::Frame {
            depth: f.depth,
            contract: hex::encode(f.contract),
            entry: f.entry.to_owned(),
            code_hash: hex::encode(sha2::Sha256::digest(&f.module.bytes)),
            input: hex_capped(f.input),
        }
    }

    pub(crate) fn block(depth: u32, e: &BlockEvent<'_>, line: Option<String>) -> Event {
        Event::Block {
            depth,
            site: e.site,
            func: e.func,
            charge: e.charge,
            gas_left: e.gas_left,
            used: e.used,
            line,
        }
    }

    pub(crate) fn host(depth: u32, e: &HostCallEvent<'_>) -> Event {
        let (ret, trap) = match &e.ret {
            HostReturn::Value(v) => (*v, None),
            HostReturn::Trap(t) => (None, Some(t.to_string())),
            HostReturn::Fatal(s) => (None, Some(s.to_string())),
        };
        let used = GasVector {
            compute: 0,
            storage_bytes: e
                .used_after
                .storage_bytes
                .saturating_sub(e.used_before.storage_bytes),
            memory_pages: e
                .used_after
                .memory_pages
                .saturating_sub(e.used_before.memory_pages),
            bandwidth: e
                .used_after
                .bandwidth
                .saturating_sub(e.used_before.bandwidth),
        };
        Event::Host {
            depth,
            func: e.func,
            site: e.site,
            args: e.args.to_vec(),
            ret,
            trap,
            gas: e.gas_before.saturating_sub(e.gas_after),
            used,
            storage: ret.and_then(|r| storage(e, r)).or_else(|| storage_write(e)),
        }
    }

    pub(crate) fn end(depth: u32, outcome: Result<&CallOutcome, &VmError>) -> Event {
        let o = match outcome {
            Ok(o) => o,
            Err(e) => {
                return Event::Fatal {
                    depth,
                    error: e.to_string(),
                };
            }
        };
        let (returned, trap) = match &o.result {
            Ok(data) => (Some(hex_capped(data)), None),
            Err(t) => (None, Some(t.to_string())),
        };
        Event::End {
            depth,
            returned,
            trap,
            gas_used: o.gas_used,
            writes: o
                .writes
                .iter()
                .map(|(k, v)| (hex_capped(k), v.as_deref().map(hex_capped)))
                .collect(),
            faults: o.faults.iter().map(|f| f.trap.to_string()).collect(),
        }
    }
}

/// Storage reads and removes, from the arguments, the result and memory after the call.
fn storage(e: &HostCallEvent<'_>, ret: i64) -> Option<Storage> {
    let a = e.args;
    let key = |p: usize, l: usize| mem_slice(e.memory, *a.get(p)?, *a.get(l)?).map(hex_capped);
    match e.func {
        HostFn::StorageRead => {
            let value = match ret {
                r if r < 0 => None,
                r => {
                    let copied = r.min(*a.get(3)?);
                    Some(hex_capped(mem_slice(e.memory, *a.get(2)?, copied)?))
                }
            };
            Some(Storage::Read {
                key: key(0, 1)?,
                value,
            })
        }
        HostFn::StorageRemove => Some(Storage::Remove {
            key: key(0, 1)?,
            existed: ret != 0,
        }),
        _ => None,
    }
}

/// Storage writes (the function returns nothing).
fn storage_write(e: &HostCallEvent<'_>) -> Option<Storage> {
    if e.func != HostFn::StorageWrite || !matches!(e.ret, HostReturn::Value(_)) {
        return None;
    }
    let a = e.args;
    Some(Storage::Write {
        key: hex_capped(mem_slice(e.memory, *a.first()?, *a.get(1)?)?),
        value: hex_capped(mem_slice(e.memory, *a.get(2)?, *a.get(3)?)?),
    })
}
