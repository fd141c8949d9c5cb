//! A small harness over the real VM for contract-behaviour tests: storage and events carry
//! over between calls, as they would between transactions.
#![allow(dead_code)]

use keel_vm::{CallContext, CallRequest, GasVector, MemoryState, Trap, Vm, VmConfig};
use std::collections::BTreeMap;

pub const SELF: [u8; 32] = [0x5e; 32];

#[derive(Default)]
pub struct Host {
    /// The contract's storage after the last successful call.
    pub storage: BTreeMap<Vec<u8>, Vec<u8>>,
    /// (topic, data) of every event of every successful call, in order.
    pub events: Vec<(Vec<u8>, Vec<u8>)>,
    pub caller: [u8; 32],
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Returned(Vec<u8>),
    Aborted(String),
}

pub struct Runner {
    vm: Vm,
    code: Vec<u8>,
}

pub fn limits() -> GasVector {
    GasVector {
        compute: 10_000_000_000,
        storage_bytes: 1 << 20,
        memory_pages: 64,
        bandwidth: 1 << 20,
    }
}

impl Runner {
    pub fn new(wasm: &[u8]) -> Self {
        Runner {
            vm: Vm::new(VmConfig::default()).expect("vm"),
            code: wasm.to_vec(),
        }
    }

    /// Calls `entry` with `input`. Panics on any trap other than an abort.
    pub fn call(&self, host: &mut Host, entry: &str, input: &[u8]) -> Outcome {
        let mut state = MemoryState::default();
        for (k, v) in &host.storage {
            state.entries.insert((SELF, k.clone()), v.clone());
        }
        let req = CallRequest {
            entry: entry.into(),
            input: input.to_vec(),
            context: CallContext {
                caller: host.caller,
                self_address: SELF,
                block_height: 1,
                block_timestamp: 0,
            },
            limits: limits(),
        };
        let out = self
            .vm
            .call(&self.code, req, Box::new(state))
            .expect("admitted");
        match out.result {
            Ok(data) => {
                for (k, v) in out.writes {
                    match v {
                        Some(v) => host.storage.insert(k, v),
                        None => host.storage.remove(&k),
                    };
                }
                host.events
                    .extend(out.events.into_iter().map(|e| (e.topic, e.data)));
                Outcome::Returned(data)
            }
            Err(Trap::Abort { message }) => Outcome::Aborted(message),
            Err(t) => panic!("{entry}: unexpected trap {t}"),
        }
    }

    /// Calls `entry` with a fresh host and returns its output, panicking on abort.
    pub fn output(&self, entry: &str, input: &[u8]) -> Vec<u8> {
        match self.call(&mut Host::default(), entry, input) {
            Outcome::Returned(out) => out,
            Outcome::Aborted(msg) => panic!("{entry} aborted: {msg}"),
        }
    }
}
