//! How a host function's gas reaches the host state and back, once for every tier.
//!
//! Two protocols (see `metering/gas_threading.rs`): a host import under [`crate::abi::HOST_MODULE`]
//! reads the gas global into [`HostState::gas`] before the call and writes it back after;
//! one under [`crate::abi::HOST_GAS_MODULE`] takes the gas as an argument and returns what is
//! left, and writes the global only when it faults (the engine reads the global when a call
//! ends). Either way a fault records the call site the code stored in `keel$site`. Each tier
//! implements [`HostCaller`] on its own `Caller`; the protocols themselves are written here.

use crate::host::{HostFault, HostState};

/// A tier's view of the host function in progress.
pub(super) trait HostCaller {
    /// The tier's host-function error.
    type Error;
    /// The host state of the call in progress (an error outside a call).
    fn host(&mut self) -> Result<&mut HostState, Self::Error>;
    /// Runs `f` on the host state and the instance's linear memory (empty without one).
    fn with_memory<R>(
        &mut self,
        f: impl FnOnce(&mut HostState, &mut [u8]) -> Result<R, HostFault>,
    ) -> Result<Result<R, HostFault>, Self::Error>;
    /// The gas global, if this call is metered.
    fn gas_global(&mut self) -> Option<i64>;
    /// Sets the gas global, if this call is metered.
    fn set_gas_global(&mut self, gas: i64) -> Result<(), Self::Error>;
    /// The `keel$site` global, if the module has it.
    fn site(&mut self) -> Option<i32>;
    /// A host fault as the tier's error.
    fn fault(fault: HostFault) -> Self::Error;
}

/// A host call of the global protocol: the gas global is mirrored into the host state around
/// `f` (metered calls only).
pub(super) fn with_host<C: HostCaller, R>(
    caller: &mut C,
    f: impl FnOnce(&mut HostState, &mut [u8]) -> Result<R, HostFault>,
) -> Result<R, C::Error> {
    let metered = caller.gas_global();
    if let Some(v) = metered {
        caller.host()?.gas = u64::try_from(v).unwrap_or(0);
    }
    let result = caller.with_memory(f)?;
    if metered.is_some() {
        let left = gas_left(caller.host()?);
        caller.set_gas_global(left)?;
    }
    finish(caller, result)
}

/// A host call of the threaded protocol: `gas` is the caller's remaining gas; the gas left is
/// returned beside the result, and written to the global only on a fault.
pub(super) fn with_host_gas<C: HostCaller, R: WithGas>(
    caller: &mut C,
    gas: i64,
    f: impl FnOnce(&mut HostState, &mut [u8]) -> Result<R, HostFault>,
) -> Result<R::Out, C::Error> {
    caller.host()?.gas = u64::try_from(gas).unwrap_or(0);
    let result = caller.with_memory(f)?;
    let left = gas_left(caller.host()?);
    if result.is_err() {
        caller.set_gas_global(left)?;
    }
    finish(caller, result).map(|r| r.with_gas(left))
}

/// The host state's gas as the global holds it.
fn gas_left(host: &HostState) -> i64 {
    i64::try_from(host.gas).unwrap_or(i64::MAX)
}

/// On a fault, records the site of the host call in progress.
fn finish<C: HostCaller, R>(caller: &mut C, result: Result<R, HostFault>) -> Result<R, C::Error> {
    match result {
        Ok(r) => Ok(r),
        Err(fault) => {
            if let Some(offset) = caller.site() {
                caller.host()?.calls.fault_offset = Some(offset as u32);
            }
            Err(C::fault(fault))
        }
    }
}

/// A host function's result with the gas left appended: the return shape of its gas-threaded
/// import (`metering/gas_threading.rs`).
pub(super) trait WithGas {
    type Out;
    fn with_gas(self, gas: i64) -> Self::Out;
}

impl WithGas for () {
    type Out = i64;
    fn with_gas(self, gas: i64) -> i64 {
        gas
    }
}

impl WithGas for i32 {
    type Out = (i32, i64);
    fn with_gas(self, gas: i64) -> (i32, i64) {
        (self, gas)
    }
}

impl WithGas for i64 {
    type Out = (i64, i64);
    fn with_gas(self, gas: i64) -> (i64, i64) {
        (self, gas)
    }
}
