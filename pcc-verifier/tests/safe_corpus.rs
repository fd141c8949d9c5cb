//! The hand-written safe routines certify, check and round-trip through bytes.

use keel_pcc::{Certificate, certify, check, objects::safe_corpus};

#[test]
fn every_safe_corpus_routine_certifies_and_checks() {
    for (name, image, params) in safe_corpus() {
        let cert = certify(&image, &params).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = Certificate::from_bytes(&cert.to_bytes()).unwrap();
        let report = check(&image, &back).unwrap();
        println!("{name}: {report:?}");
        assert_eq!(report.worst_case_instructions, cert.max_instructions);
    }
}
