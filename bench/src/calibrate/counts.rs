//! What a workload does, counted exactly without touching the consensus path: compute gas is
//! linear in the schedule's prices, so running the same call under a schedule with one price
//! raised by 1 adds exactly the number of times that price is charged. One run per price
//! gives per-class instruction counts (every metering block's class mix times its executions),
//! host-call counts and bytes, calls and code bytes; a last check re-derives the gas of the
//! current schedule from the counts and must match the VM's own figure.

use super::workload::{RunError, Workload};
use keel_vm::abi::HOST_FUNCTIONS;
use keel_vm::schedule::{GasSchedule, OpClass};

/// Number of host functions of the ABI.
pub const HOSTS: usize = HOST_FUNCTIONS.len();
/// Number of instruction classes.
pub const CLASSES: usize = OpClass::ALL.len();

/// Everything a call is charged for, counted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Executed instructions per [`OpClass`], in `OpClass::ALL` order.
    pub classes: [u64; CLASSES],
    /// Calls per host function, in ABI order.
    pub host_calls: Vec<u64>,
    /// Bytes charged per host function, in ABI order.
    pub host_bytes: Vec<u64>,
    /// Calls charged `call_base` (the measured call and any nested ones).
    pub calls: u64,
    /// Code bytes charged by the per-code-byte price, summed over those calls.
    pub code_bytes: u64,
}

/// Why counting failed.
#[derive(Debug, thiserror::Error)]
pub enum CountError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("workload {name}: gas fell when a price rose ({what}); its path depends on gas")]
    NotMonotone { name: String, what: String },
    #[error(
        "workload {name}: the counts give {predicted} gas under the current schedule, the VM \
         charged {measured}; its path depends on the schedule"
    )]
    Mismatch {
        name: String,
        predicted: u64,
        measured: u64,
    },
}

fn set_class(s: &mut GasSchedule, class: OpClass, v: u64) {
    let c = &mut s.instructions;
    let slot = match class {
        OpClass::Structural => &mut c.structural,
        OpClass::Simple => &mut c.simple,
        OpClass::Global => &mut c.global,
        OpClass::Mul => &mut c.mul,
        OpClass::Div => &mut c.div,
        OpClass::Load => &mut c.load,
        OpClass::Store => &mut c.store,
        OpClass::Branch => &mut c.branch,
        OpClass::BranchTable => &mut c.branch_table,
        OpClass::Call => &mut c.call,
        OpClass::CallIndirect => &mut c.call_indirect,
        OpClass::MemorySize => &mut c.memory_size,
        OpClass::MemoryGrow => &mut c.memory_grow,
    };
    *slot = v;
}

/// Sets the price of `class` (public for the price rounding, which writes every class).
pub fn with_class(s: &GasSchedule, class: OpClass, v: u64) -> GasSchedule {
    let mut s = s.clone();
    set_class(&mut s, class, v);
    s
}

/// Host functions the module imports (only those can be charged).
fn imported_hosts(code: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(code) {
        let Ok(wasmparser::Payload::ImportSection(r)) = payload else {
            continue;
        };
        for imp in r.into_imports().flatten() {
            if let Some(i) = HOST_FUNCTIONS
                .iter()
                .position(|s| s.name == imp.name && imp.module == keel_vm::abi::HOST_MODULE)
            {
                out.push(i);
            }
        }
    }
    out
}

struct Counter<'a> {
    w: &'a Workload,
    base: GasSchedule,
    base_gas: u64,
}

impl Counter<'_> {
    /// Gas added by `bumped` over the base schedule.
    fn delta(&self, bumped: &GasSchedule, what: &str) -> Result<u64, CountError> {
        let gas = self.w.gas_under(bumped)?;
        gas.checked_sub(self.base_gas)
            .ok_or_else(|| CountError::NotMonotone {
                name: self.w.name.clone(),
                what: what.into(),
            })
    }
}

/// Counts `w` by perturbing `current` (every counting schedule is valid: prices only rise).
///
/// Errors: the workload fails to run, or its gas is not the linear function of prices that a
/// schedule-independent path gives (a contract branching on `gas_left`).
pub fn count(w: &Workload, current: &GasSchedule) -> Result<Counts, CountError> {
    let base = current.clone();
    let base_gas = w.gas_under(&base)?;
    let c = Counter { w, base, base_gas };
    let mut classes = [0u64; CLASSES];
    for (slot, class) in classes.iter_mut().zip(OpClass::ALL) {
        let s = with_class(&c.base, class, c.base.class_cost(class).saturating_add(1));
        *slot = c.delta(&s, &format!("{class:?}"))?;
    }
    let mut host_calls = vec![0u64; HOSTS];
    let mut host_bytes = vec![0u64; HOSTS];
    for i in imported_hosts(&w.code) {
        let mut s = c.base.clone();
        if let Some(h) = s.host.get_mut(i) {
            h.base = h.base.saturating_add(1);
        }
        host_calls[i] = c.delta(&s, HOST_FUNCTIONS[i].name)?;
        let mut s = c.base.clone();
        if let Some(h) = s.host.get_mut(i) {
            h.per_byte = h.per_byte.saturating_add(1);
        }
        host_bytes[i] = c.delta(&s, HOST_FUNCTIONS[i].name)?;
    }
    let mut s = c.base.clone();
    s.call_base = s.call_base.saturating_add(1);
    let calls = c.delta(&s, "call_base")?;
    let code_bytes = code_bytes(w, current)?;
    let counts = Counts {
        classes,
        host_calls,
        host_bytes,
        calls,
        code_bytes,
    };
    let predicted = gas_of(&counts, current);
    if calls == 1 && predicted != base_gas {
        return Err(CountError::Mismatch {
            name: w.name.clone(),
            predicted,
            measured: base_gas,
        });
    }
    Ok(counts)
}

/// Code bytes charged: the difference between 2 and 1 gas per code byte.
fn code_bytes(w: &Workload, current: &GasSchedule) -> Result<u64, CountError> {
    let mut one = current.clone();
    one.per_code_byte_numerator = 1;
    one.per_code_byte_denominator = 1;
    let mut two = one.clone();
    two.per_code_byte_numerator = 2;
    let a = w.gas_under(&one)?;
    let b = w.gas_under(&two)?;
    b.checked_sub(a).ok_or_else(|| CountError::NotMonotone {
        name: w.name.clone(),
        what: "per_code_byte".into(),
    })
}

/// The compute gas `counts` cost under `s`, as the VM charges it for one call (the code charge
/// is rounded up once over the module; saturating).
pub fn gas_of(counts: &Counts, s: &GasSchedule) -> u64 {
    let mut g = 0u64;
    for (n, class) in counts.classes.iter().zip(OpClass::ALL) {
        g = g.saturating_add(n.saturating_mul(s.class_cost(class)));
    }
    for ((calls, bytes), h) in counts
        .host_calls
        .iter()
        .zip(&counts.host_bytes)
        .zip(&s.host)
    {
        g = g
            .saturating_add(calls.saturating_mul(h.base))
            .saturating_add(bytes.saturating_mul(h.per_byte));
    }
    g = g.saturating_add(counts.calls.saturating_mul(s.call_base));
    let code = usize::try_from(counts.code_bytes).unwrap_or(usize::MAX);
    g.saturating_add(s.code_cost(code))
}
