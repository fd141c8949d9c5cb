//! The kernel engine: every routine with a kernel build is accepted by the Linux verifier as a
//! BPF_PROG_TYPE_SYSCALL program, so the differential tests compare all four implementations
//! (interpreter, JIT, kernel, Rust reference). Needs root and Linux 5.14+; skips loudly
//! otherwise, and fails if the kernel could run a routine but refuses it.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use common::*;
use keel_ebpf_bridge::{Engine, kernel_support};
use std::io::Write;

#[test]
fn every_routine_with_a_kernel_build_is_accepted_by_the_kernel_verifier() {
    if let Err(e) = kernel_support() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED[bpf]: kernel verifier acceptance because {e}"
        );
        return;
    }
    let mut refused = Vec::new();
    let mut accepted = 0;
    for manifest in registry().list() {
        let routine = routine(manifest.id);
        let Some(cap) = routine.kernel_max_input() else {
            continue;
        };
        match routine.engine_available(Engine::Kernel) {
            Ok(()) => accepted += 1,
            Err(e) => refused.push(format!(
                "{} (kernel build up to {cap} bytes): {e}",
                manifest.name
            )),
        }
    }
    assert!(
        refused.is_empty(),
        "the kernel verifier refused: {refused:#?}"
    );
    assert!(
        accepted >= 4,
        "only {accepted} routines have a kernel build"
    );
}

#[test]
fn the_kernel_build_of_each_hash_covers_its_whole_input_range_or_says_its_cap() {
    for id in [keel_ebpf_bridge::SHA256, keel_ebpf_bridge::KECCAK256] {
        let r = routine(id);
        let cap = r.kernel_max_input().unwrap();
        let data = vec![0x3cu8; cap];
        let expected = if id == keel_ebpf_bridge::SHA256 {
            sha256_ref(&data)
        } else {
            keccak256_ref(&data)
        };
        check_all_engines(id, &data, &expected);
        if cap < 4096 {
            let over = vec![0u8; cap + 1];
            let err = registry().run(id, &over, 32, Engine::Kernel, BUDGET);
            assert!(
                matches!(
                    err,
                    Err(keel_ebpf_bridge::BridgeError::EngineUnavailable(_))
                ),
                "{err:?}"
            );
        }
    }
}
