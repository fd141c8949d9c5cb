//! Bad calls end in typed errors, identically on the interpreter and the JIT, never a panic.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use common::*;
use keel_ebpf_bridge::{
    BridgeError, Engine, FAULT_OOB, FAULT_SPIN, MERKLE_SHA256, MODMUL_BLS12_381_FR, Registry,
    SHA256,
};
use ruint::aliases::U256;

const SBPF_ENGINES: [Engine; 2] = [Engine::Interpreter, Engine::Jit];

#[test]
fn an_unknown_routine_id_is_rejected() {
    for engine in Engine::ALL {
        assert_eq!(
            registry().run(77, b"", 32, engine, BUDGET),
            Err(BridgeError::UnknownRoutine(77))
        );
    }
}

#[test]
fn registering_the_same_id_twice_is_refused() {
    let mut registry = Registry::builtin().unwrap();
    let err = registry
        .register_fault_fixtures()
        .and_then(|()| registry.register_fault_fixtures());
    assert!(
        matches!(err, Err(BridgeError::DuplicateRoutine(_))),
        "{err:?}"
    );
}

#[test]
fn inputs_and_outputs_of_the_wrong_size_are_rejected_before_running() {
    for engine in Engine::ALL {
        let r = registry().run(SHA256, &[0u8; 4097], 32, engine, BUDGET);
        assert!(
            matches!(r, Err(BridgeError::InputSize { len: 4097, .. })),
            "{r:?}"
        );
        let r = registry().run(SHA256, b"abc", 31, engine, BUDGET);
        assert!(matches!(
            r,
            Err(BridgeError::OutputSize {
                requested: 31,
                expected: 32,
                ..
            })
        ));
        let r = registry().run(MODMUL_BLS12_381_FR, &[0u8; 63], 32, engine, BUDGET);
        assert!(matches!(r, Err(BridgeError::InputSize { .. })), "{r:?}");
        // 72 + 32k only.
        let r = registry().run(MERKLE_SHA256, &[0u8; 73], 1, engine, BUDGET);
        assert!(matches!(r, Err(BridgeError::InputSize { .. })), "{r:?}");
    }
}

#[test]
fn a_routine_that_loops_forever_exhausts_its_budget_on_both_engines() {
    for engine in SBPF_ENGINES {
        for budget in [0, 1, 1_000, 100_000] {
            let r = registry().run(FAULT_SPIN, b"", 1, engine, budget);
            assert_eq!(
                r,
                Err(BridgeError::BudgetExhausted {
                    routine: FAULT_SPIN,
                    budget
                })
            );
        }
    }
}

#[test]
fn a_routine_reading_past_its_input_faults_identically_on_both_engines() {
    let interp = registry().run(FAULT_OOB, b"abcd", 1, Engine::Interpreter, BUDGET);
    let jit = registry().run(FAULT_OOB, b"abcd", 1, Engine::Jit, BUDGET);
    assert!(
        matches!(
            interp,
            Err(BridgeError::Fault {
                routine: FAULT_OOB,
                ..
            })
        ),
        "{interp:?}"
    );
    assert_eq!(interp, jit);
}

#[test]
fn the_fault_fixtures_have_no_kernel_build() {
    let r = registry().run(FAULT_OOB, b"", 1, Engine::Kernel, BUDGET);
    assert!(matches!(r, Err(BridgeError::EngineUnavailable(_))), "{r:?}");
}

#[test]
fn a_scalar_not_below_the_modulus_is_rejected_with_the_same_status_everywhere() {
    let r = fr_modulus();
    for (a, b) in [(r, U256::from(1u8)), (U256::from(2u8), U256::MAX)] {
        let input = modmul_input(a, b);
        for engine in Engine::ALL {
            if engine == Engine::Kernel
                && let Err(e) = kernel_available(MODMUL_BLS12_381_FR)
            {
                skip_kernel_loudly(MODMUL_BLS12_381_FR, &e);
                continue;
            }
            let res = registry().run(MODMUL_BLS12_381_FR, &input, 32, engine, BUDGET);
            assert_eq!(
                res,
                Err(BridgeError::Rejected {
                    routine: MODMUL_BLS12_381_FR,
                    status: 3
                }),
                "{engine}"
            );
        }
    }
}

#[test]
fn a_merkle_index_beyond_the_tree_or_a_depth_over_32_is_rejected() {
    let mut input = merkle_input([0; 32], [1; 32], 4, &[[2; 32], [3; 32]]); // index 4 >= 2^2
    for engine in SBPF_ENGINES {
        let r = registry().run(MERKLE_SHA256, &input, 1, engine, BUDGET);
        assert_eq!(
            r,
            Err(BridgeError::Rejected {
                routine: MERKLE_SHA256,
                status: 3
            })
        );
    }
    input[68..72].copy_from_slice(&33u32.to_le_bytes()); // depth 33 with 2 siblings
    for engine in SBPF_ENGINES {
        let r = registry().run(MERKLE_SHA256, &input, 1, engine, BUDGET);
        assert_eq!(
            r,
            Err(BridgeError::Rejected {
                routine: MERKLE_SHA256,
                status: 3
            })
        );
    }
}

#[test]
fn error_status_codes_are_distinct_and_never_zero() {
    let errors = [
        BridgeError::UnknownRoutine(1),
        BridgeError::DuplicateRoutine(1),
        BridgeError::InputSize {
            routine: 1,
            len: 0,
            rule: String::new(),
        },
        BridgeError::OutputSize {
            routine: 1,
            requested: 0,
            expected: 1,
        },
        BridgeError::BudgetExhausted {
            routine: 1,
            budget: 0,
        },
        BridgeError::Fault {
            routine: 1,
            instructions: 0,
            reason: String::new(),
        },
        BridgeError::Rejected {
            routine: 1,
            status: 1,
        },
        BridgeError::Load {
            routine: 1,
            reason: String::new(),
        },
        BridgeError::EngineUnavailable(String::new()),
        BridgeError::Kernel(String::new()),
    ];
    let mut codes: Vec<u32> = errors.iter().map(BridgeError::status_code).collect();
    assert!(!codes.contains(&0));
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), errors.len());
}

#[test]
fn a_huge_budget_behaves_the_same_on_the_interpreter_and_the_jit() {
    let interp = registry()
        .run(SHA256, b"abc", 32, Engine::Interpreter, u64::MAX)
        .unwrap();
    let jit = registry()
        .run(SHA256, b"abc", 32, Engine::Jit, u64::MAX)
        .unwrap();
    assert_eq!(interp, jit);
    assert_eq!(interp.output, sha256_ref(b"abc"));
}
