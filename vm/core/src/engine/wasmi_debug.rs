//! The debugger's linker for the wasmi tier: the node's metering helpers and host functions,
//! each host function reporting its call to a [`DebugHook`], plus the `keel_debug` imports of
//! debug-instrumented modules. A node's linker (`wasmi_tier.rs`) has none of this.

use super::HostErr;
use super::host_call::with_host;
use super::wasmi_tier::{Data, link_meter};
use crate::abi::{HOST_MODULE, HostFn, STACK_GLOBAL_EXPORT};
use crate::debug::{BlockEvent, DEBUG_MODULE, DebugHook, Flow, HostCallEvent, HostReturn};
use crate::gas::GasVector;
use crate::host::{HostFault, HostState};
use std::sync::{Arc, Mutex};
use wasmi::{Caller, Linker};

/// A linker being built, with the hook its functions report to (`link_abi!` passes one ident).
struct DebugLinker {
    linker: Linker<Data>,
    hook: Arc<dyn DebugHook>,
}

/// A host function's result as the hook sees it.
trait AsRet {
    fn as_ret(&self) -> Option<i64>;
}

impl AsRet for () {
    fn as_ret(&self) -> Option<i64> {
        None
    }
}

impl AsRet for i32 {
    fn as_ret(&self) -> Option<i64> {
        Some(i64::from(*self))
    }
}

impl AsRet for i64 {
    fn as_ret(&self) -> Option<i64> {
        Some(*self)
    }
}

/// Compute gas (from the `keel$gas` global) and other dimensions used, before a host call.
fn gas_now(caller: &Caller<'_, Data>) -> (u64, GasVector) {
    let gas = caller
        .data()
        .gas
        .and_then(|g| g.get(caller).i64())
        .map_or(0, |g| u64::try_from(g).unwrap_or(0));
    let used = caller
        .data()
        .host
        .as_ref()
        .map(|h| h.used)
        .unwrap_or_default();
    (gas, used)
}

/// What a host call gives the hook, read after the call.
struct Reported<'a> {
    func: HostFn,
    args: &'a [i64],
    before: (u64, GasVector),
}

fn report<R: AsRet>(
    caller: &Caller<'_, Data>,
    hook: &dyn DebugHook,
    call: Reported<'_>,
    result: &Result<R, wasmi::Error>,
) {
    let data = caller.data();
    let Some(host) = data.host.as_ref() else {
        return;
    };
    let fault = result
        .as_ref()
        .err()
        .and_then(|e| e.downcast_ref::<HostErr>());
    let ret = match (result, fault) {
        (Ok(v), _) => HostReturn::Value(v.as_ret()),
        (Err(_), Some(HostErr(HostFault::Trap(t)))) => HostReturn::Trap(t),
        (Err(_), Some(HostErr(HostFault::State(s)))) => HostReturn::Fatal(s),
        // Only host faults leave a host function; nothing else to report.
        (Err(_), None) => return,
    };
    let site = data
        .site
        .and_then(|s| s.get(caller).i32())
        .map_or(0, |s| s as u32);
    let memory = data.memory.map_or(&[][..], |m| m.data(caller));
    hook.host_call(&HostCallEvent {
        func: call.func,
        site,
        args: call.args,
        ret,
        gas_before: call.before.0,
        gas_after: host.gas,
        used_before: call.before.1,
        used_after: host.used,
        memory,
    });
}

macro_rules! debug_host_fn {
    ($dl:ident, $f:expr, |$h:ident, $m:ident $(, $a:ident)*| -> $ret:ty $body:block) => {
        let hook = Arc::clone(&$dl.hook);
        let func: HostFn = $f;
        $dl.linker.func_wrap(
            HOST_MODULE,
            func.name(),
            move |mut caller: Caller<'_, Data>, $($a: i32),*| -> Result<$ret, wasmi::Error> {
                let args = [$(i64::from($a)),*];
                let before = gas_now(&caller);
                let result = with_host(&mut caller, |$h: &mut HostState, $m: &mut [u8]| $body);
                report(&caller, &*hook, Reported { func, args: &args, before }, &result);
                result
            },
        )?;
    };
}

/// The debugger's linker: metering helpers, host functions reporting to `hook`, and the
/// `keel_debug` hooks.
pub(super) fn build_linker(
    engine: &wasmi::Engine,
    hook: Arc<dyn DebugHook>,
) -> Result<Linker<Data>, wasmi::errors::LinkerError> {
    let mut dl = DebugLinker {
        linker: Linker::<Data>::new(engine),
        hook,
    };
    link_meter(&mut dl.linker)?;
    super::host_table::link_abi!(debug_host_fn, dl);
    // Locals arrive one call each just before their block's call; a run is single-threaded
    // and nothing runs in between, so one buffer serves every frame.
    let locals: Arc<Mutex<Vec<i64>>> = Arc::default();
    let buffer = Arc::clone(&locals);
    dl.linker.func_wrap(
        DEBUG_MODULE,
        "local",
        move |_: Caller<'_, Data>, value: i64| {
            let mut b = buffer.lock().unwrap_or_else(|p| p.into_inner());
            if b.len() < crate::debug::MAX_DEBUG_LOCALS {
                b.push(value);
            }
        },
    )?;
    let hook = Arc::clone(&dl.hook);
    dl.linker.func_wrap(
        DEBUG_MODULE,
        "block",
        move |caller: Caller<'_, Data>,
              site: i32,
              func: i32,
              charge: i64|
              -> Result<(), wasmi::Error> {
            let values = std::mem::take(&mut *locals.lock().unwrap_or_else(|p| p.into_inner()));
            let (gas_left, used) = gas_now(&caller);
            let stack = caller
                .get_export(STACK_GLOBAL_EXPORT)
                .and_then(|e| e.into_global())
                .and_then(|g| g.get(&caller).i32())
                .map_or(0, |s| s as u32);
            let memory = caller.data().memory.map_or(&[][..], |m| m.data(&caller));
            let flow = hook.block(&BlockEvent {
                site: site as u32,
                func: func as u32,
                charge: u64::try_from(charge).unwrap_or(0),
                gas_left,
                used,
                stack,
                locals: &values,
                memory,
            });
            match flow {
                Flow::Continue => Ok(()),
                Flow::Abort => Err(wasmi::Error::new("stopped by the debugger")),
            }
        },
    )?;
    Ok(dl.linker)
}
