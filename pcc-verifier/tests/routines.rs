//! The bridge's production routines against the certifier, the checker and solana-sbpf.
//!
//! A routine the certifier proves must round-trip through bytes, check, and its certified
//! worst case must cover the instruction count the bridge's own engines measure on random
//! inputs of admitted lengths (both extremes included); the bound is then compared with the
//! manifest's cost model (reported, and the certified bound must not exceed it). Every
//! production routine is proven; a routine added later that is not must be refused at a named
//! instruction or loop head, never accepted vaguely, and fails this test until it is.

#![allow(clippy::unwrap_used)] // test code may unwrap

mod common;

use keel_pcc::{
    Certificate, CertifyError, certify_object, check_object, link, objects::builtin_routines,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Routines that must certify: all of the bridge's.
const PROVEN: &[&str] = &[
    "keccak256",
    "merkle_sha256",
    "modmul_bls12_381_fr",
    "sha256",
];

#[test]
fn every_routine_certifies_within_its_measured_cost_or_is_refused_at_a_location() {
    let mut rng = StdRng::seed_from_u64(0x6b65656c);
    let routines = builtin_routines().unwrap();
    let mut names: Vec<&str> = routines.iter().map(|r| r.name).collect();
    names.sort_unstable();
    assert_eq!(
        names, PROVEN,
        "the bridge's routines and the proven list differ"
    );
    for r in routines {
        let cert = match certify_object(r.elf, &r.params) {
            Ok(cert) => cert,
            Err(e @ (CertifyError::Unproven { .. } | CertifyError::NoLoopBound { .. })) => {
                println!("{}: refused: {e}", r.name);
                assert!(!PROVEN.contains(&r.name), "{}: {e}", r.name);
                continue;
            }
            Err(e) => panic!("{}: expected a located refusal, got {e:?}", r.name),
        };
        let bytes = cert.to_bytes();
        let back = Certificate::from_bytes(&bytes).unwrap();
        assert_eq!(back, cert);
        // Decoding for the program (as activation does) admits it with the documented headroom.
        assert_eq!(keel_pcc::decode_for_object(r.elf, &bytes).unwrap(), cert);
        let slots = cert.states.len();
        let per_slot = cert.decoded_entries().div_ceil(slots);
        println!("{}: {per_slot} decoded entries per slot", r.name);
        assert!(
            per_slot.saturating_mul(2) <= keel_pcc::ENTRIES_PER_SLOT,
            "{}: {per_slot} entries per slot leaves less than 2x headroom under ENTRIES_PER_SLOT",
            r.name
        );
        let report = check_object(r.elf, &back).unwrap();
        let image = link(r.elf).unwrap();
        let p = cert.params;
        let mut lens = vec![p.input_min, p.input_max];
        lens.extend((0..6).map(|_| rng.random_range(p.input_min..=p.input_max)));
        let mut measured = 0;
        for len in lens {
            let input = input_for(r.name, len, &mut rng);
            let (_, n) = common::run(&image, &input, p.output_len as usize, u64::MAX / 2)
                .unwrap()
                .unwrap();
            measured = measured.max(n);
        }
        println!(
            "{}: {} slots, {} loops, certified worst case {} instructions, measured max {}, \
             manifest {}, certificate {} bytes",
            r.name,
            report.instructions,
            report.loops,
            report.worst_case_instructions,
            measured,
            r.manifest_max_instructions,
            bytes.len()
        );
        assert!(measured <= report.worst_case_instructions, "{}", r.name);
        assert!(
            report.worst_case_instructions <= r.manifest_max_instructions,
            "{}: certified bound above the manifest's cost model",
            r.name
        );
    }
}

/// A random input of about `len` bytes that the routine processes in full: for
/// merkle_sha256 a well-formed proof (its length rounded down to 72 + 32·depth, the depth and
/// index fields consistent), so the measured count reaches the deep paths; random bytes for
/// the others.
fn input_for(name: &str, len: u64, rng: &mut StdRng) -> Vec<u8> {
    let mut input: Vec<u8> = (0..len).map(|_| rng.random()).collect();
    if name == "merkle_sha256" && len >= 72 {
        let depth = ((len - 72) / 32).min(32);
        input.truncate(72 + 32 * depth as usize);
        let index = rng.random::<u64>() & ((1u64 << depth) - 1);
        input[64..68].copy_from_slice(&(index as u32).to_le_bytes());
        input[68..72].copy_from_slice(&(depth as u32).to_le_bytes());
    }
    input
}
