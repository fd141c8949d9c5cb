//! Generated microbenchmarks: Wasm kernels each dominated by one instruction class of the
//! metering pass, or by one host function. A kernel is a counted loop whose body repeats one
//! snippet [`REPS`] times, so the loop's own bookkeeping is a small, known share; each kernel
//! comes in two lengths so the per-call overhead separates from the per-instruction cost.

use super::workload::{Call, Kind, Workload};
use keel_vm::schedule::OpClass;

/// Snippet repetitions per loop iteration.
pub const REPS: usize = 32;

/// Memory image at offset 0: u256 operands (3 and 65 537, little-endian), Q64.64 operands at 64
/// and 80 (1.5 and 2.0), a storage key at 512.
const DATA: &str = r#"(data (i32.const 0) "\03")
  (data (i32.const 32) "\01\00\01")
  (data (i32.const 64) "\00\00\00\00\00\00\00\80\01")
  (data (i32.const 80) "\00\00\00\00\00\00\00\00\02")
  (data (i32.const 512) "calib-key")"#;

/// The snippet that exercises `class` (stack-neutral), with any helper definitions it needs.
fn class_snippet(class: OpClass) -> Option<(&'static str, &'static str)> {
    Some(match class {
        // Structure comes with every kernel (block/loop/end); it has no kernel of its own.
        OpClass::Structural => return None,
        OpClass::Simple => ("local.get $x i64.const 3 i64.xor local.set $x", ""),
        OpClass::Global => ("global.get $g global.set $g", ""),
        OpClass::Mul => ("local.get $x i64.const 7 i64.mul local.set $x", ""),
        OpClass::Div => (
            "local.get $x i64.const 7 i64.div_u local.get $x i64.const 13 i64.rem_u i64.add \
             i64.const 0x0123456789abcdef i64.add local.set $x",
            "",
        ),
        OpClass::Load => ("i32.const 0 i32.load i32.load i32.load i32.load drop", ""),
        OpClass::Store => ("i32.const 256 local.get $x i64.store", ""),
        OpClass::Branch => ("block br 0 end", ""),
        OpClass::BranchTable => ("block i32.const 0 br_table 0 0 end", ""),
        OpClass::Call => ("call $nop", ""),
        OpClass::CallIndirect => ("i32.const 0 call_indirect (type $void)", ""),
        OpClass::MemorySize => ("memory.size drop", ""),
        OpClass::MemoryGrow => ("i32.const 0 memory.grow drop", ""),
    })
}

/// Host functions with a kernel: (name, import signature, call snippet). Pointers address the
/// [`DATA`] image; statuses and results are dropped.
const HOST_KERNELS: &[(&str, &str, &str)] = &[
    ("input_size", "(result i32)", "call $h drop"),
    ("block_height", "(result i64)", "call $h drop"),
    ("gas_left", "(result i64)", "call $h drop"),
    ("caller", "(param i32)", "i32.const 256 call $h"),
    ("self_address", "(param i32)", "i32.const 256 call $h"),
    (
        "u256_add",
        "(param i32 i32 i32) (result i32)",
        "i32.const 0 i32.const 32 i32.const 256 call $h drop",
    ),
    (
        "u256_mul",
        "(param i32 i32 i32) (result i32)",
        "i32.const 0 i32.const 32 i32.const 256 call $h drop",
    ),
    (
        "u256_div",
        "(param i32 i32 i32) (result i32)",
        "i32.const 32 i32.const 0 i32.const 256 call $h drop",
    ),
    (
        "u256_mulmod",
        "(param i32 i32 i32 i32) (result i32)",
        "i32.const 0 i32.const 32 i32.const 32 i32.const 256 call $h drop",
    ),
    (
        "u256_exp",
        "(param i32 i32 i32) (result i32)",
        "i32.const 0 i32.const 32 i32.const 256 call $h drop",
    ),
    (
        "u256_cmp",
        "(param i32 i32) (result i32)",
        "i32.const 0 i32.const 32 call $h drop",
    ),
    (
        "fx_mul",
        "(param i32 i32 i32) (result i32)",
        "i32.const 64 i32.const 80 i32.const 256 call $h drop",
    ),
    (
        "fx_div",
        "(param i32 i32 i32) (result i32)",
        "i32.const 64 i32.const 80 i32.const 256 call $h drop",
    ),
    (
        "fx_sqrt",
        "(param i32 i32) (result i32)",
        "i32.const 80 i32.const 256 call $h drop",
    ),
    (
        "fx_exp",
        "(param i32 i32) (result i32)",
        "i32.const 64 i32.const 256 call $h drop",
    ),
    (
        "fx_ln",
        "(param i32 i32) (result i32)",
        "i32.const 64 i32.const 256 call $h drop",
    ),
    (
        "fx_pow",
        "(param i32 i32 i32) (result i32)",
        "i32.const 64 i32.const 80 i32.const 256 call $h drop",
    ),
    (
        "storage_write",
        "(param i32 i32 i32 i32)",
        "i32.const 512 i32.const 9 i32.const 0 i32.const 32 call $h",
    ),
    (
        "storage_read",
        "(param i32 i32 i32 i32) (result i32)",
        "i32.const 512 i32.const 9 i32.const 256 i32.const 32 call $h drop",
    ),
];

/// A module whose exported `run` loops `iters` times over `REPS` copies of `snippet`.
fn module(import: &str, snippet: &str, iters: u32) -> String {
    let body = vec![snippet; REPS].join("\n      ");
    format!(
        r#"(module
  {import}
  (type $void (func))
  (memory (export "memory") 1 2)
  (global $g (mut i64) (i64.const 1))
  (table 1 funcref)
  (elem (i32.const 0) $nop)
  {DATA}
  (func $nop)
  (func (export "run") (local $i i32) (local $x i64)
    i64.const 0x9e3779b97f4a7c15 local.set $x
    i32.const {iters} local.set $i
    (loop $l
      {body}
      local.get $i i32.const 1 i32.sub local.tee $i
      br_if $l)))"#
    )
}

fn kernel(name: String, kind: Kind, wat: &str) -> Result<Workload, wat::Error> {
    Ok(Workload {
        name,
        kind,
        code: wat::parse_str(wat)?.into(),
        setup: Vec::new(),
        call: Call {
            caller: super::workload::CALLER,
            entry: "run",
            input: Vec::new(),
        },
    })
}

/// The microbenchmarks at each loop length of `lengths` (iterations): one per instruction
/// class that has a kernel and per host function of [`HOST_KERNELS`].
pub fn microbenchmarks(lengths: &[u32]) -> Result<Vec<Workload>, wat::Error> {
    let mut out = Vec::new();
    for &iters in lengths {
        for class in OpClass::ALL {
            if let Some((snippet, import)) = class_snippet(class) {
                let wat = module(import, snippet, iters);
                out.push(kernel(
                    format!("class {class:?} x{iters}"),
                    Kind::Class,
                    &wat,
                )?);
            }
        }
        for (name, sig, snippet) in HOST_KERNELS {
            let import = format!(r#"(import "keel" "{name}" (func $h {sig}))"#);
            // Host calls cost far more than an instruction: fewer iterations keep the kernel
            // as short as the class kernels.
            let n = (iters / 8).max(1);
            let wat = module(&import, snippet, n);
            out.push(kernel(format!("host {name} x{n}"), Kind::Host, &wat)?);
        }
    }
    Ok(out)
}
