//! The bridge's production routines against the certifier and the checker.
//!
//! `modmul_bls12_381_fr` is proven: certificate, round trip through bytes, check, and a bound
//! under the manifest's cost model. sha256, keccak256 and merkle_sha256 are not yet: their
//! input accesses are bounded only by relations between three quantities (a loop index, a
//! block offset and the input length) that the domain cannot express; the certifier must
//! refuse them with a located reason, never accept them and never fail vaguely.

use keel_pcc::{
    Certificate, CertifyError, certify_object, check_object, objects::builtin_routines,
};

const PROVEN: &[&str] = &["modmul_bls12_381_fr"];

#[test]
fn modmul_certifies_checks_and_is_bounded_by_its_manifest() {
    for r in builtin_routines()
        .unwrap()
        .into_iter()
        .filter(|r| PROVEN.contains(&r.name))
    {
        let cert = certify_object(r.elf, &r.params).unwrap();
        let bytes = cert.to_bytes();
        let back = Certificate::from_bytes(&bytes).unwrap();
        assert_eq!(back, cert);
        let report = check_object(r.elf, &back).unwrap();
        println!(
            "{}: {} slots, {} loops, worst case {} instructions (manifest {}), certificate {} bytes",
            r.name,
            report.instructions,
            report.loops,
            report.worst_case_instructions,
            r.manifest_max_instructions,
            bytes.len()
        );
        assert!(report.worst_case_instructions <= r.manifest_max_instructions);
    }
}

#[test]
fn the_other_routines_are_refused_at_a_named_instruction() {
    for r in builtin_routines()
        .unwrap()
        .into_iter()
        .filter(|r| !PROVEN.contains(&r.name))
    {
        match certify_object(r.elf, &r.params) {
            Err(e @ CertifyError::Unproven { .. }) => println!("{}: {e}", r.name),
            other => panic!("{}: expected a located refusal, got {other:?}", r.name),
        }
    }
}
