//! Predictive metering: a static upper bound on the compute gas of each exported function.
//!
//! A function is *bounded* when its body has no loop and every function it can call (directly,
//! or indirectly through the table) is bounded and not recursive. Without loops every metering
//! block runs at most once per invocation, so the bound is the sum of its block charges, plus the
//! bounds of its callees at each call site, plus host-call costs. The data-proportional part of
//! host costs is bounded by the largest memory the module may have (a host call can never move
//! more bytes than memory holds) and reported separately, because it is usually far above what a
//! real call moves. Loops are reported as unbounded: loop-bound inference is not attempted.

use crate::admission::AdmittedModule;
use crate::metering::block_charges;
use crate::profile::Profile;
use crate::schedule::GasSchedule;
use serde::Serialize;
use std::collections::BTreeMap;
use wasmparser::{Operator, Parser, Payload};

/// The static verdict for one function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum GasBound {
    /// Every call costs at most `compute` gas, of which at most `from_host_data` comes from the
    /// per-byte part of host calls (bounded by the maximum memory size).
    Bounded { compute: u64, from_host_data: u64 },
    /// No bound could be proven, and why.
    Unbounded { reason: String },
}

#[derive(Clone)]
enum State {
    InProgress,
    Done(GasBound),
}

struct Analyzer<'m> {
    module: &'m AdmittedModule,
    schedule: &'m GasSchedule,
    max_memory_bytes: u64,
    bodies: Vec<Vec<Operator<'m>>>,
    memo: BTreeMap<u32, State>,
}

/// Static bounds for every exported function, including the per-call base charges
/// (`call_base` and the code-size charge). Deterministic.
pub fn static_bounds(
    module: &AdmittedModule,
    schedule: &GasSchedule,
    profile: &Profile,
) -> BTreeMap<String, GasBound> {
    let max_pages = module
        .memory
        .map(|(_, max)| max.unwrap_or(u64::from(profile.max_memory_pages)))
        .unwrap_or(0)
        .min(u64::from(profile.max_memory_pages));
    let mut a = Analyzer {
        module,
        schedule,
        max_memory_bytes: max_pages.saturating_mul(65536),
        bodies: Vec::new(),
        memo: BTreeMap::new(),
    };
    if let Err(reason) = a.read_bodies() {
        return module
            .exports
            .iter()
            .map(|e| {
                (
                    e.name.clone(),
                    GasBound::Unbounded {
                        reason: reason.clone(),
                    },
                )
            })
            .collect();
    }
    let base = schedule
        .call_base
        .saturating_add(schedule.code_cost(module.bytes.len()));
    module
        .exports
        .iter()
        .map(|e| {
            let b = match a.bound(e.func_index) {
                GasBound::Bounded {
                    compute,
                    from_host_data,
                } => GasBound::Bounded {
                    compute: compute.saturating_add(base),
                    from_host_data,
                },
                u => u,
            };
            (e.name.clone(), b)
        })
        .collect()
}

impl<'m> Analyzer<'m> {
    fn read_bodies(&mut self) -> Result<(), String> {
        for payload in Parser::new(0).parse_all(&self.module.bytes) {
            if let Payload::CodeSectionEntry(body) = payload.map_err(|e| e.to_string())? {
                let mut r = body.get_operators_reader().map_err(|e| e.to_string())?;
                let mut ops = Vec::new();
                while !r.eof() {
                    ops.push(r.read().map_err(|e| e.to_string())?);
                }
                self.bodies.push(ops);
            }
        }
        Ok(())
    }

    fn bound(&mut self, func: u32) -> GasBound {
        let imported = self.module.imports.len() as u32;
        if let Some(&(host, _)) = self.module.imports.get(func as usize) {
            let base = self.schedule.host_cost(host, 0);
            let data = self
                .schedule
                // At most two buffers per call, each clamped to memory size when charged.
                .host_cost(host, self.max_memory_bytes.saturating_mul(2))
                .saturating_sub(base);
            return GasBound::Bounded {
                compute: base.saturating_add(data),
                from_host_data: data,
            };
        }
        match self.memo.get(&func) {
            Some(State::Done(b)) => return b.clone(),
            Some(State::InProgress) => {
                return GasBound::Unbounded {
                    reason: format!("recursion through function {func}"),
                };
            }
            None => {}
        }
        self.memo.insert(func, State::InProgress);
        let b = self.body_bound(func, (func - imported) as usize);
        self.memo.insert(func, State::Done(b.clone()));
        b
    }

    fn body_bound(&mut self, func: u32, index: usize) -> GasBound {
        let Some(ops) = self.bodies.get(index).cloned() else {
            return GasBound::Unbounded {
                reason: format!("function {func} has no body"),
            };
        };
        if ops.iter().any(|op| matches!(op, Operator::Loop { .. })) {
            return GasBound::Unbounded {
                reason: format!("function {func} contains a loop"),
            };
        }
        let mut compute: u64 = block_charges(&ops, self.schedule).iter().sum();
        let mut from_host_data = 0u64;
        for op in &ops {
            let callee = match op {
                Operator::Call { function_index } => self.bound(*function_index),
                Operator::CallIndirect { type_index, .. } => self.indirect_bound(*type_index),
                _ => continue,
            };
            match callee {
                GasBound::Bounded {
                    compute: c,
                    from_host_data: h,
                } => {
                    compute = compute.saturating_add(c);
                    from_host_data = from_host_data.saturating_add(h);
                }
                GasBound::Unbounded { reason } => {
                    return GasBound::Unbounded {
                        reason: format!("calls into unbounded code: {reason}"),
                    };
                }
            }
        }
        GasBound::Bounded {
            compute,
            from_host_data,
        }
    }

    fn indirect_bound(&mut self, type_index: u32) -> GasBound {
        let Some(sig) = self.module.types.get(type_index as usize).cloned() else {
            return GasBound::Unbounded {
                reason: format!("call_indirect through unknown type {type_index}"),
            };
        };
        let candidates: Vec<u32> = self
            .module
            .table_functions
            .iter()
            .copied()
            .filter(|&f| self.module.func_sig(f) == Some(&sig))
            .collect();
        let mut worst = GasBound::Bounded {
            compute: 0,
            from_host_data: 0,
        };
        for f in candidates {
            match (self.bound(f), &worst) {
                (u @ GasBound::Unbounded { .. }, _) => return u,
                (
                    GasBound::Bounded {
                        compute,
                        from_host_data,
                    },
                    GasBound::Bounded { compute: wc, .. },
                ) if compute > *wc => {
                    worst = GasBound::Bounded {
                        compute,
                        from_host_data,
                    }
                }
                _ => {}
            }
        }
        worst
    }
}
