//! Predictive metering: static gas bounds for counted loops, refusals for everything else.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use keel_vm::{CallRequest, GasBound, GasVector, MemoryState, Vm, VmConfig};

fn bounds(text: &str) -> std::collections::BTreeMap<String, GasBound> {
    let vm = Vm::new(VmConfig::default()).unwrap();
    vm.static_bounds(&wat::parse_str(text).unwrap()).unwrap()
}

fn used(text: &str, entry: &str) -> u64 {
    let vm = Vm::new(VmConfig::default()).unwrap();
    let req = CallRequest {
        entry: entry.into(),
        limits: GasVector::splat(1 << 40),
        ..CallRequest::default()
    };
    let out = vm
        .call(
            &wat::parse_str(text).unwrap(),
            req,
            Box::new(MemoryState::default()),
        )
        .unwrap();
    out.result.unwrap();
    out.gas_used.compute
}

const COUNTED: &str = r#"(module
  (func (export "sum") (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100)))))
  (func (export "nested") (local $i i32) (local $j i32)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner
        (local.set $j (i32.add (local.get $j) (i32.const 2)))
        (br_if $inner (i32.lt_u (local.get $j) (i32.const 10))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (i32.const 7)))))
  (func (export "wide") (local $i i64)
    (loop $l
      (local.set $i (i64.add (local.get $i) (i64.const 3)))
      (br_if $l (i64.lt_u (local.get $i) (i64.const 30))))))"#;

#[test]
fn counted_loops_get_a_bound_that_covers_the_real_cost() {
    let b = bounds(COUNTED);
    for entry in ["sum", "nested", "wide"] {
        let GasBound::Bounded { compute, .. } = b[entry] else {
            panic!("{entry} must be bounded: {:?}", b[entry]);
        };
        let real = used(COUNTED, entry);
        assert!(real <= compute, "{entry}: used {real} > bound {compute}");
        // Tight up to the one extra iteration the proof allows and the per-call base.
        assert!(
            compute < real * 2,
            "{entry}: bound {compute} is loose against {real}"
        );
    }
}

#[test]
fn loops_that_are_not_provably_counted_are_unbounded_with_a_reason() {
    let cases = [
        // The limit is a variable.
        "(func (export \"f\") (param $n i32) (local $i i32) (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (local.get $n)))))",
        // The counter only advances on some iterations.
        "(func (export \"f\") (param $c i32) (local $i i32) (loop $l (if (local.get $c) (then (local.set $i (i32.add (local.get $i) (i32.const 1))))) (br_if $l (i32.lt_u (local.get $i) (i32.const 10)))))",
        // A second branch repeats the loop.
        "(func (export \"f\") (local $i i32) (loop $l (br_if $l (i32.const 1)) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 10)))))",
        // The counter goes down.
        "(func (export \"f\") (local $i i32) (loop $l (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 10)))))",
        // It is written twice.
        "(func (export \"f\") (local $i i32) (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (local.set $i (i32.const 0)) (br_if $l (i32.lt_u (local.get $i) (i32.const 10)))))",
        // The counter could wrap.
        "(func (export \"f\") (local $i i32) (loop $l (local.set $i (i32.add (local.get $i) (i32.const 16))) (br_if $l (i32.lt_u (local.get $i) (i32.const -1)))))",
    ];
    for body in cases {
        let b = bounds(&format!("(module {body})"));
        assert!(
            matches!(&b["f"], GasBound::Unbounded { reason } if reason.contains("loop")),
            "{body}: {:?}",
            b["f"]
        );
    }
}
