//! The versioned gas schedule: what each instruction class and host call costs in compute gas.
//!
//! Costs are defined on the *input* WebAssembly (invariant 2 of ARCHITECTURE.md): the metering
//! pass sums them per basic block, so every engine tier charges exactly the same amount.
//! Changing any number here is a governance act and must bump [`GasSchedule::version`].

use crate::abi::HostFn;
use serde::{Deserialize, Serialize};
use wasmparser::Operator;

/// Classes of instructions that share one cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpClass {
    /// Structure only (`block`, `loop`, `end`, `else`, `nop`): no work at run time.
    Structural,
    /// Constants, locals, `drop`, `select` and simple integer ALU operations.
    Simple,
    /// Global reads and writes.
    Global,
    /// Integer multiplication.
    Mul,
    /// Integer division and remainder.
    Div,
    /// Memory loads.
    Load,
    /// Memory stores.
    Store,
    /// `if`, `br`, `br_if`, `return`, `unreachable`.
    Branch,
    /// `br_table`.
    BranchTable,
    /// Direct calls.
    Call,
    /// Indirect calls through the table.
    CallIndirect,
    /// `memory.size`.
    MemorySize,
    /// `memory.grow` (the page itself is also counted in the memory dimension).
    MemoryGrow,
}

impl OpClass {
    /// Every class, in declaration order.
    pub const ALL: [OpClass; 13] = [
        OpClass::Structural,
        OpClass::Simple,
        OpClass::Global,
        OpClass::Mul,
        OpClass::Div,
        OpClass::Load,
        OpClass::Store,
        OpClass::Branch,
        OpClass::BranchTable,
        OpClass::Call,
        OpClass::CallIndirect,
        OpClass::MemorySize,
        OpClass::MemoryGrow,
    ];
}

/// Why a gas schedule is refused (see [`GasSchedule::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("instruction class {class:?} costs 0; every executed instruction must cost at least 1")]
    FreeInstruction { class: OpClass },
    #[error("host function {func:?} has base cost 0; every host call must cost at least 1")]
    FreeHostCall { func: HostFn },
    #[error("the schedule prices {got} host functions; the ABI has {expected}")]
    HostTable { got: usize, expected: usize },
    #[error("call_base is 0; every call must cost at least 1")]
    FreeCall,
    #[error("per_code_byte_denominator must be positive")]
    ZeroDenominator,
}

/// Compute cost of each [`OpClass`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstructionCosts {
    pub structural: u64,
    pub simple: u64,
    pub global: u64,
    pub mul: u64,
    pub div: u64,
    pub load: u64,
    pub store: u64,
    pub branch: u64,
    pub branch_table: u64,
    pub call: u64,
    pub call_indirect: u64,
    pub memory_size: u64,
    pub memory_grow: u64,
}

/// Compute cost of one host function: `base + per_byte * bytes` where `bytes` is the amount of
/// data the call moves or hashes (documented per function in ABI.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCost {
    pub base: u64,
    pub per_byte: u64,
}

/// A complete, versioned schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GasSchedule {
    /// Version; part of the compilation-cache key. A new schedule (a governance act) must carry
    /// a higher version.
    pub version: u32,
    pub instructions: InstructionCosts,
    /// Host call costs, indexed by [`HostFn`] (same order as [`crate::abi::HOST_FUNCTIONS`]).
    pub host: Vec<HostCost>,
    /// Charged once per call before the entry point runs.
    pub call_base: u64,
    /// Charged per byte of the module's code on every call (loading is not free, even cached).
    pub per_code_byte_numerator: u64,
    /// Divisor of `per_code_byte_numerator` (cost per byte = numerator / denominator, rounded up
    /// over the whole module).
    pub per_code_byte_denominator: u64,
}

const fn hc(base: u64, per_byte: u64) -> HostCost {
    HostCost { base, per_byte }
}

impl GasSchedule {
    /// Schedule version 1, the default. Calibrated on the wasmi tier, where metered contract
    /// code runs at about 1.6 gas per nanosecond (`keel bench vm`): host costs are the measured
    /// time of the operation (criterion, `vm/intrinsics/benches`) plus ~50 ns of host-call
    /// overhead, converted at that rate and rounded up.
    pub fn v1() -> GasSchedule {
        let host = crate::abi::HOST_FUNCTIONS
            .iter()
            .map(|s| match s.func {
                HostFn::InputSize
                | HostFn::BlockHeight
                | HostFn::BlockTimestamp
                | HostFn::GasLeft => hc(40, 0),
                HostFn::InputCopy | HostFn::ReturnData => hc(80, 1),
                HostFn::Caller | HostFn::SelfAddress => hc(80, 0),
                HostFn::StorageRead => hc(800, 2),
                HostFn::StorageWrite => hc(2_000, 4),
                HostFn::StorageRemove => hc(1_000, 2),
                HostFn::EmitEvent => hc(400, 2),
                HostFn::Abort => hc(80, 1),
                HostFn::U256Add | HostFn::U256Sub | HostFn::U256Cmp => hc(80, 0),
                HostFn::U256Shl | HostFn::U256Shr => hc(80, 0),
                HostFn::U256Mul => hc(100, 0),
                HostFn::U256Div | HostFn::U256Mod => hc(140, 0),
                HostFn::U256AddMod => hc(160, 0),
                HostFn::U256MulMod => hc(240, 0),
                HostFn::U256Exp => hc(8_000, 0),
                HostFn::FxMul => hc(120, 0),
                HostFn::FxDiv => hc(160, 0),
                HostFn::FxSqrt => hc(1_100, 0),
                HostFn::FxExp => hc(2_800, 0),
                HostFn::FxLn => hc(2_400, 0),
                HostFn::FxPow => hc(5_600, 0),
                // The routine's own metered instructions are charged on top (see host.rs).
                HostFn::NativeCall => hc(500, 1),
                // One pairing check ≈ 1.1 ms on this class of machine; per_byte covers hashing
                // the message to G2.
                HostFn::BlsVerify => hc(1_800_000, 20),
                // One Miller loop per (key, message) pair: charged per key byte (48 per key).
                HostFn::BlsAggregateVerify => hc(900_000, 20_000),
                // Key aggregation is cheap (≈1 µs per key); then one pairing check.
                HostFn::BlsFastAggregateVerify => hc(1_800_000, 40),
                // A nested call instantiates a module and opens a state context: priced like a
                // storage write plus setup; the callee's own gas is charged on top. Bytes: entry
                // name + input + 4 per passed handle.
                HostFn::Call => hc(5_000, 2),
                HostFn::ReturnDataSize | HostFn::HandleCount => hc(40, 0),
                HostFn::ReturnDataCopy => hc(80, 1),
                HostFn::HandleAttenuate | HostFn::HandleInfo => hc(80, 0),
                HostFn::HandleForContract => hc(200, 0),
                // ≈ 3 µs per t² (t = arity + 1: the MDS product dominates), so the bytes
                // charged are 32·t²; measured by `keel bench crypto`.
                HostFn::Poseidon => hc(2_000, 160),
                // Priced for a cache miss on BLS12-381 (the slower curve): preparing the key
                // (decoding, subgroup checks, e(alpha, beta)) plus the pairing check ≈ 7.5 ms;
                // per public input (32 bytes) a G1 decode, subgroup check and scalar
                // multiplication ≈ 250 µs. A cache hit is faster but costs the same.
                HostFn::Groth16Verify => hc(12_000_000, 12_500),
                // One state read of a 32-byte value (the VDF proof was verified in block
                // validation): a `storage_read` of a ~20-byte key and 32-byte value, ≈ 800 + 2·52.
                HostFn::Randomness => hc(1_000, 0),
            })
            .collect();
        GasSchedule {
            version: 1,
            instructions: InstructionCosts {
                structural: 0,
                simple: 1,
                global: 1,
                mul: 2,
                div: 8,
                load: 2,
                store: 2,
                branch: 1,
                branch_table: 3,
                call: 4,
                call_indirect: 8,
                memory_size: 2,
                memory_grow: 200,
            },
            host,
            call_base: 1_000,
            per_code_byte_numerator: 1,
            per_code_byte_denominator: 16,
        }
    }

    /// Checks that every price is at least 1 (ARCHITECTURE invariant 2), so no work is free and
    /// every loop drains gas. `Structural` is exempt: it marks structure and never executes by
    /// itself (each loop iteration passes a branch). Per-byte prices may be 0 where a base
    /// price covers the call. Refused schedules never reach a VM or the chain state.
    ///
    /// Errors: the first price or shape that breaks the rule, as a [`ScheduleError`].
    pub fn validate(&self) -> Result<(), ScheduleError> {
        for class in OpClass::ALL {
            if class != OpClass::Structural && self.class_cost(class) == 0 {
                return Err(ScheduleError::FreeInstruction { class });
            }
        }
        let expected = crate::abi::HOST_FUNCTIONS.len();
        if self.host.len() != expected {
            return Err(ScheduleError::HostTable {
                got: self.host.len(),
                expected,
            });
        }
        for (spec, cost) in crate::abi::HOST_FUNCTIONS.iter().zip(&self.host) {
            if cost.base == 0 {
                return Err(ScheduleError::FreeHostCall { func: spec.func });
            }
        }
        if self.call_base == 0 {
            return Err(ScheduleError::FreeCall);
        }
        if self.per_code_byte_denominator == 0 {
            return Err(ScheduleError::ZeroDenominator);
        }
        Ok(())
    }

    /// Cost of one instruction class.
    pub fn class_cost(&self, class: OpClass) -> u64 {
        let c = &self.instructions;
        match class {
            OpClass::Structural => c.structural,
            OpClass::Simple => c.simple,
            OpClass::Global => c.global,
            OpClass::Mul => c.mul,
            OpClass::Div => c.div,
            OpClass::Load => c.load,
            OpClass::Store => c.store,
            OpClass::Branch => c.branch,
            OpClass::BranchTable => c.branch_table,
            OpClass::Call => c.call,
            OpClass::CallIndirect => c.call_indirect,
            OpClass::MemorySize => c.memory_size,
            OpClass::MemoryGrow => c.memory_grow,
        }
    }

    /// Cost of one operator of the admitted profile.
    pub fn op_cost(&self, op: &Operator<'_>) -> u64 {
        self.class_cost(op_class(op))
    }

    /// Cost of a host call moving `bytes` bytes (saturating).
    pub fn host_cost(&self, f: HostFn, bytes: u64) -> u64 {
        let c = self
            .host
            .get(f as usize)
            .copied()
            .unwrap_or(hc(u64::MAX, 0));
        c.base.saturating_add(c.per_byte.saturating_mul(bytes))
    }

    /// Per-call loading charge for a module of `code_len` bytes.
    pub fn code_cost(&self, code_len: usize) -> u64 {
        let n = (code_len as u64).saturating_mul(self.per_code_byte_numerator);
        n.div_ceil(self.per_code_byte_denominator.max(1))
    }
}

impl Default for GasSchedule {
    fn default() -> Self {
        GasSchedule::v1()
    }
}

/// The class of an operator. Operators outside the profile never reach metering (admission
/// rejects them first); they are classed as `Call`-priced to stay conservative if they did.
pub fn op_class(op: &Operator<'_>) -> OpClass {
    use Operator as O;
    match op {
        O::Block { .. } | O::Loop { .. } | O::End | O::Else | O::Nop => OpClass::Structural,
        O::If { .. } | O::Br { .. } | O::BrIf { .. } | O::Return | O::Unreachable => {
            OpClass::Branch
        }
        O::BrTable { .. } => OpClass::BranchTable,
        O::Call { .. } => OpClass::Call,
        O::CallIndirect { .. } => OpClass::CallIndirect,
        O::GlobalGet { .. } | O::GlobalSet { .. } => OpClass::Global,
        O::I32Mul | O::I64Mul => OpClass::Mul,
        O::I32DivS | O::I32DivU | O::I32RemS | O::I32RemU => OpClass::Div,
        O::I64DivS | O::I64DivU | O::I64RemS | O::I64RemU => OpClass::Div,
        O::I32Load { .. }
        | O::I64Load { .. }
        | O::I32Load8S { .. }
        | O::I32Load8U { .. }
        | O::I32Load16S { .. }
        | O::I32Load16U { .. }
        | O::I64Load8S { .. }
        | O::I64Load8U { .. }
        | O::I64Load16S { .. }
        | O::I64Load16U { .. }
        | O::I64Load32S { .. }
        | O::I64Load32U { .. } => OpClass::Load,
        O::I32Store { .. }
        | O::I64Store { .. }
        | O::I32Store8 { .. }
        | O::I32Store16 { .. }
        | O::I64Store8 { .. }
        | O::I64Store16 { .. }
        | O::I64Store32 { .. } => OpClass::Store,
        O::MemorySize { .. } => OpClass::MemorySize,
        O::MemoryGrow { .. } => OpClass::MemoryGrow,
        O::LocalGet { .. }
        | O::LocalSet { .. }
        | O::LocalTee { .. }
        | O::I32Const { .. }
        | O::I64Const { .. }
        | O::Drop
        | O::Select => OpClass::Simple,
        other if is_integer_alu(other) => OpClass::Simple,
        _ => OpClass::Call,
    }
}

fn is_integer_alu(op: &Operator<'_>) -> bool {
    use Operator as O;
    matches!(
        op,
        O::I32Eqz
            | O::I32Eq
            | O::I32Ne
            | O::I32LtS
            | O::I32LtU
            | O::I32GtS
            | O::I32GtU
            | O::I32LeS
            | O::I32LeU
            | O::I32GeS
            | O::I32GeU
            | O::I64Eqz
            | O::I64Eq
            | O::I64Ne
            | O::I64LtS
            | O::I64LtU
            | O::I64GtS
            | O::I64GtU
            | O::I64LeS
            | O::I64LeU
            | O::I64GeS
            | O::I64GeU
            | O::I32Clz
            | O::I32Ctz
            | O::I32Popcnt
            | O::I32Add
            | O::I32Sub
            | O::I32And
            | O::I32Or
            | O::I32Xor
            | O::I32Shl
            | O::I32ShrS
            | O::I32ShrU
            | O::I32Rotl
            | O::I32Rotr
            | O::I64Clz
            | O::I64Ctz
            | O::I64Popcnt
            | O::I64Add
            | O::I64Sub
            | O::I64And
            | O::I64Or
            | O::I64Xor
            | O::I64Shl
            | O::I64ShrS
            | O::I64ShrU
            | O::I64Rotl
            | O::I64Rotr
            | O::I32WrapI64
            | O::I64ExtendI32S
            | O::I64ExtendI32U
            | O::I32Extend8S
            | O::I32Extend16S
            | O::I64Extend8S
            | O::I64Extend16S
            | O::I64Extend32S
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_has_a_cost_for_every_host_function() {
        let s = GasSchedule::v1();
        assert_eq!(s.host.len(), crate::abi::HOST_FUNCTIONS.len());
        assert_eq!(s.host_cost(HostFn::StorageWrite, 10), 2_040);
    }

    #[test]
    fn v1_is_a_valid_schedule() {
        assert_eq!(GasSchedule::v1().validate(), Ok(()));
    }

    #[test]
    fn a_schedule_with_a_free_instruction_class_is_refused() {
        let mut s = GasSchedule::v1();
        s.instructions.branch = 0;
        assert_eq!(
            s.validate(),
            Err(ScheduleError::FreeInstruction {
                class: OpClass::Branch
            })
        );
        let mut zero = GasSchedule::v1();
        zero.instructions = InstructionCosts {
            structural: 0,
            simple: 0,
            global: 0,
            mul: 0,
            div: 0,
            load: 0,
            store: 0,
            branch: 0,
            branch_table: 0,
            call: 0,
            call_indirect: 0,
            memory_size: 0,
            memory_grow: 0,
        };
        assert!(matches!(
            zero.validate(),
            Err(ScheduleError::FreeInstruction { .. })
        ));
    }

    #[test]
    fn free_host_calls_free_calls_and_malformed_tables_are_refused() {
        let mut s = GasSchedule::v1();
        s.host[HostFn::StorageRead as usize].base = 0;
        assert_eq!(
            s.validate(),
            Err(ScheduleError::FreeHostCall {
                func: HostFn::StorageRead
            })
        );
        let mut s = GasSchedule::v1();
        s.host.pop();
        assert!(matches!(s.validate(), Err(ScheduleError::HostTable { .. })));
        let mut s = GasSchedule::v1();
        s.call_base = 0;
        assert_eq!(s.validate(), Err(ScheduleError::FreeCall));
        let mut s = GasSchedule::v1();
        s.per_code_byte_denominator = 0;
        assert_eq!(s.validate(), Err(ScheduleError::ZeroDenominator));
    }

    #[test]
    fn a_vm_refuses_a_schedule_that_makes_work_free() {
        let mut schedule = GasSchedule::v1();
        schedule.instructions.simple = 0;
        let vm = crate::Vm::new(crate::VmConfig {
            schedule,
            ..crate::VmConfig::default()
        });
        assert!(matches!(
            vm,
            Err(crate::VmError::Schedule(ScheduleError::FreeInstruction {
                class: OpClass::Simple
            }))
        ));
    }

    #[test]
    fn code_cost_rounds_up() {
        let s = GasSchedule::v1();
        assert_eq!(s.code_cost(0), 0);
        assert_eq!(s.code_cost(1), 1);
        assert_eq!(s.code_cost(32), 2);
    }
}
