//! The host ABI as one function call: `call_host(host, memory, func, args)`.
//!
//! For engines outside this crate that interpret the instrumented module themselves (the
//! concolic engine of `devtools/concolic`): they run the very `HostState` methods the wasmi and
//! wasmtime tiers link, through the same table (`host_table.rs`), so charges and traps agree.

use crate::abi::HostFn;
use crate::host::{HostFault, HostState};

/// What a host function returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostValue {
    None,
    I32(i32),
    I64(i64),
}

impl From<()> for HostValue {
    fn from((): ()) -> Self {
        HostValue::None
    }
}

impl From<i32> for HostValue {
    fn from(v: i32) -> Self {
        HostValue::I32(v)
    }
}

impl From<i64> for HostValue {
    fn from(v: i64) -> Self {
        HostValue::I64(v)
    }
}

struct Dispatch<'a> {
    func: HostFn,
    args: &'a [i32],
    host: &'a mut HostState,
    mem: &'a mut [u8],
    out: Option<Result<HostValue, HostFault>>,
}

macro_rules! dispatch_fn {
    ($d:ident, $f:expr, |$h:ident, $m:ident $(, $a:ident)*| -> $ret:ty $body:block) => {
        if $d.out.is_none() && $d.func == $f {
            #[allow(unused_mut, unused_variables)]
            let mut it = $d.args.iter().copied();
            $(let $a: i32 = it.next().unwrap_or(0);)*
            let $h: &mut HostState = &mut *$d.host;
            let $m: &mut [u8] = &mut *$d.mem;
            let r: Result<$ret, HostFault> = $body;
            $d.out = Some(r.map(HostValue::from));
        }
    };
}

/// Calls host function `func` with `args` (its i32 parameters, in order) on `host` and the
/// instance's linear memory `mem`. The caller mirrors the compute gas into `host.gas` before
/// and out of it after, as the tiers do. `args` must have the function's arity (see
/// [`crate::abi::HOST_FUNCTIONS`]); a wrong count is an `EngineLimit` trap, never a panic.
pub fn call_host(
    host: &mut HostState,
    mem: &mut [u8],
    func: HostFn,
    args: &[i32],
) -> Result<HostValue, HostFault> {
    if args.len() != func.spec().params.len() {
        return Err(HostFault::Trap(crate::error::Trap::EngineLimit {
            message: format!("{} called with {} arguments", func.name(), args.len()),
        }));
    }
    let mut d = Dispatch {
        func,
        args,
        host,
        mem,
        out: None,
    };
    super::host_table::link_abi!(dispatch_fn, d);
    d.out.unwrap_or_else(|| {
        Err(HostFault::Trap(crate::error::Trap::EngineLimit {
            message: format!("{} is not in the host table", func.name()),
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::HOST_FUNCTIONS;
    use crate::gas::GasVector;
    use crate::host::{CallContext, MemoryState};
    use crate::schedule::GasSchedule;
    use std::sync::Arc;

    fn host_state(input: Vec<u8>) -> HostState {
        HostState {
            context: CallContext::default(),
            input,
            return_data: Vec::new(),
            state: Box::new(MemoryState::default()),
            writes: Default::default(),
            events: Vec::new(),
            used: GasVector::default(),
            limits: GasVector::splat(1_000_000),
            gas: 1_000_000,
            schedule: Arc::new(GasSchedule::v1()),
            metered: true,
            native: None,
            calls: Default::default(),
            memory_written: Default::default(),
        }
    }

    #[test]
    fn every_abi_function_is_dispatched() {
        for spec in HOST_FUNCTIONS {
            let mut host = host_state(Vec::new());
            let args = vec![0; spec.params.len()];
            let r = call_host(&mut host, &mut [0u8; 64], spec.func, &args);
            if let Err(HostFault::Trap(crate::error::Trap::EngineLimit { message })) = &r {
                panic!("{}: {message}", spec.name);
            }
        }
    }

    #[test]
    fn input_functions_run_the_host_state_methods() {
        let mut host = host_state(vec![7, 8, 9]);
        let mut mem = [0u8; 16];
        let n = call_host(&mut host, &mut mem, HostFn::InputSize, &[]);
        assert_eq!(n.ok(), Some(HostValue::I32(3)));
        let r = call_host(&mut host, &mut mem, HostFn::InputCopy, &[4, 1, 2]);
        assert_eq!(r.ok(), Some(HostValue::None));
        assert_eq!(&mem[4..6], &[8, 9]);
        let bad = call_host(&mut host, &mut mem, HostFn::InputCopy, &[4, 1]);
        assert!(bad.is_err());
    }
}
