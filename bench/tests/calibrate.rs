//! The calibration pipeline on real workloads and the real VM (quick sizes).

use keel_bench::calibrate::counts::{self, CLASSES};
use keel_bench::calibrate::{kernels, workload::Kind, workloads};
use keel_vm::GasSchedule;
use keel_vm::schedule::OpClass;

#[test]
fn counts_reproduce_the_vm_gas_of_every_workload() {
    // `count` re-derives the current schedule's gas from the counts and fails on a mismatch;
    // under a second, different schedule the counts must predict the VM's figure too.
    let current = GasSchedule::v1();
    let mut other = GasSchedule::v1();
    other.version = 2;
    other.instructions.load = 5;
    other.instructions.branch = 3;
    other.call_base = 77;
    for h in &mut other.host {
        h.base = h.base.saturating_add(11);
    }
    // The end-to-end CLI test counts every workload; here a few of each kind.
    let mut all: Vec<_> = workloads::macro_workloads(1).into_iter().take(4).collect();
    let micro = kernels::microbenchmarks(&[2]).expect("kernels");
    all.extend(micro.into_iter().step_by(5));
    for w in &all {
        let c = counts::count(w, &current).unwrap_or_else(|e| panic!("{e}"));
        let vm = w.gas_under(&other).expect("run");
        assert_eq!(counts::gas_of(&c, &other), vm, "{}", w.name);
    }
}

#[test]
fn each_class_kernel_is_dominated_by_its_class() {
    for w in kernels::microbenchmarks(&[8]).expect("kernels") {
        if w.kind != Kind::Class {
            continue;
        }
        let c = counts::count(&w, &GasSchedule::v1()).expect("count");
        let class = OpClass::ALL
            .iter()
            .position(|k| w.name.starts_with(&format!("class {k:?} ")))
            .expect("class in the name");
        let total: u64 = c.classes.iter().sum();
        let own = c.classes[class];
        // The loop adds 5 simple, 1 branch and block structure per iteration.
        assert!(own >= 32 * 8, "{}: {own} of {total}", w.name);
        if class != 1 {
            assert!(
                own * 4 >= total / CLASSES as u64,
                "{}: {:?}",
                w.name,
                c.classes
            );
        }
    }
}
