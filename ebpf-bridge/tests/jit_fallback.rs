//! A JIT that is unavailable (compilation failed or refused) never changes a result: `Jit`
//! requests run on the interpreter with the same output, instruction count, gas and errors.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use common::*;
use keel_ebpf_bridge::{
    BridgeError, Engine, FAULT_OOB, FAULT_SPIN, JitCompile, MODMUL_BLS12_381_FR, Routine, SHA256,
    sbpf_object,
};
use ruint::aliases::U256;

/// `id` loaded again from its object, with JIT compilation refused (as if it had failed).
fn without_jit(id: u32) -> Routine {
    let r = routine(id);
    let object = sbpf_object(r.manifest().name).unwrap();
    Routine::from_objects_with_jit(r.manifest().clone(), object, None, JitCompile::Refuse).unwrap()
}

#[test]
fn a_jit_request_without_a_compiled_jit_runs_on_the_interpreter_with_identical_results() {
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 31 + 7) as u8).collect();
    let cases: [(u32, Vec<u8>, usize); 2] = [
        (SHA256, data, 32),
        (
            MODMUL_BLS12_381_FR,
            modmul_input(U256::from(3u8), U256::from(5u8)),
            32,
        ),
    ];
    for (id, input, out_len) in cases {
        let refused = without_jit(id);
        assert!(refused.engine_available(Engine::Jit).is_err());
        assert_eq!(refused.effective_engine(Engine::Jit), Engine::Interpreter);
        let reference = routine(id)
            .run(&input, out_len, Engine::Interpreter, BUDGET)
            .unwrap();
        for budget in [BUDGET, reference.gas] {
            let fallback = refused.run(&input, out_len, Engine::Jit, budget).unwrap();
            assert_eq!(fallback, reference, "routine {id}, budget {budget}");
        }
        // One instruction short of what it needs: the same exhaustion error everywhere.
        let short = reference.gas - 1;
        let interp = routine(id).run(&input, out_len, Engine::Interpreter, short);
        assert!(matches!(interp, Err(BridgeError::BudgetExhausted { .. })));
        assert_eq!(refused.run(&input, out_len, Engine::Jit, short), interp);
    }
}

#[test]
fn faults_and_spins_without_a_compiled_jit_fail_exactly_as_on_the_interpreter() {
    for (id, input, out_len) in [
        (FAULT_OOB, b"abcd".to_vec(), 1),
        (FAULT_SPIN, vec![0; 8], 1),
    ] {
        let interp = routine(id).run(&input, out_len, Engine::Interpreter, BUDGET);
        assert!(interp.is_err(), "{interp:?}");
        assert_eq!(
            without_jit(id).run(&input, out_len, Engine::Jit, BUDGET),
            interp
        );
    }
}
