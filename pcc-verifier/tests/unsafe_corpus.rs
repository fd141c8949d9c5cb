//! Unsafe programs and tampered certificates are rejected with the precise reason: the
//! instruction, the property, and the abstract values.
//!
//! Program cases take a safe corpus routine, change one instruction, and present the original
//! (now lying) certificate re-bound to the changed program, so the *checker* must find the
//! flaw; the certifier must refuse to certify the same program too.

#![allow(clippy::unwrap_used)] // test helpers may unwrap

use keel_pcc::asm::*;
use keel_pcc::domain::{Aff, Loc};
use keel_pcc::objects::{corpus_object, safe_corpus};
use keel_pcc::{
    Certificate, CertifyError, Image, Params, Property, certify, certify_object, check,
};

fn corpus(name: &str) -> (Image, Params, Certificate) {
    let (_, image, params) = safe_corpus()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .unwrap();
    let cert = certify(&image, &params).unwrap();
    (image, params, cert)
}

/// `name` with instruction `pc` replaced, and its certificate re-bound to the new program.
fn patched(name: &str, pc: usize, insn: [u8; 8]) -> (Image, Params, Certificate) {
    let (mut image, params, mut cert) = corpus(name);
    image.text[pc * 8..pc * 8 + 8].copy_from_slice(&insn);
    cert.program_sha256 = image.sha256();
    (image, params, cert)
}

/// Removes every ghost relation from the stated invariants (a certificate that claims no
/// loop progress anywhere).
fn strip_rels(cert: &mut Certificate) {
    for s in cert
        .states
        .iter_mut()
        .flatten()
        .map(std::sync::Arc::make_mut)
    {
        s.regs.iter_mut().for_each(|v| v.rels.clear());
    }
}

fn expect_rejected(
    image: &Image,
    cert: &Certificate,
    pc: Option<usize>,
    property: Property,
    says: &str,
) {
    let err = check(image, cert).expect_err("checker accepted an unsafe pair");
    println!("checker: {err}");
    assert_eq!((err.pc, err.property), (pc, property), "{err}");
    assert!(err.detail.contains(says), "{err} does not mention {says:?}");
}

fn expect_uncertified(image: &Image, params: &Params, property: Property) {
    match certify(image, params) {
        Err(CertifyError::Unproven { property: p, .. }) if p == property => {}
        other => panic!("certifier: expected {property}, got {other:?}"),
    }
}

#[test]
fn a_load_one_byte_past_the_input_is_out_of_bounds() {
    // stack_sum reads in[8..16]; read in[9..17] of a 16-byte input instead.
    let (image, params, cert) = patched("stack_sum", 1, ldxdw(6, 1, 9));
    expect_rejected(
        &image,
        &cert,
        Some(1),
        Property::OutOfBounds,
        "input+[0, 0]+9 exceeds Input of size [L, L]",
    );
    expect_uncertified(&image, &params, Property::OutOfBounds);
}

#[test]
fn a_c_routine_reading_in_at_in_len_is_refused_by_the_certifier() {
    for name in ["oob_by_one", "fault_oob"] {
        let params = Params {
            input_min: 0,
            input_max: 64,
            output_len: 1,
        };
        let err = certify_object(corpus_object(name).unwrap(), &params).unwrap_err();
        println!("certifier on {name}: {err}");
        assert!(
            matches!(
                err,
                CertifyError::Unproven {
                    property: Property::OutOfBounds,
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn a_loop_without_progress_is_unbounded() {
    // xor_fold's `i += 1` (pc 7) becomes `i += 0`; the lying certificate states what the
    // new instruction really does (pc 8 = pc 7), so only the progress obligation fails.
    let (image, params, mut cert) = patched("xor_fold", 7, add_imm(5, 0));
    cert.states[8] = cert.states[7].clone();
    expect_rejected(
        &image,
        &cert,
        Some(8),
        Property::LoopBound,
        "does not move by 1",
    );
    assert!(matches!(
        certify(&image, &params),
        Err(CertifyError::NoLoopBound { head: 2, .. })
    ));
}

#[test]
fn a_c_loop_that_never_ends_is_refused_by_the_certifier() {
    let params = Params {
        input_min: 0,
        input_max: 64,
        output_len: 1,
    };
    let err = certify_object(corpus_object("fault_spin").unwrap(), &params).unwrap_err();
    println!("certifier on fault_spin: {err}");
    assert!(matches!(err, CertifyError::NoLoopBound { .. }), "{err}");
}

#[test]
fn a_backward_edge_without_a_declared_bound_is_an_unbounded_loop() {
    let (image, _, mut cert) = corpus("xor_fold");
    cert.loops.clear();
    cert.loop_of.iter_mut().for_each(|l| *l = None);
    strip_rels(&mut cert);
    expect_rejected(
        &image,
        &cert,
        Some(8),
        Property::UnboundedLoop,
        "backward edge to 2",
    );
}

#[test]
fn a_tampered_invariant_is_not_inductive() {
    // Claim the loop index is always 0 after the loop test.
    let (image, _, mut cert) = corpus("xor_fold");
    let s = cert.states[3]
        .as_mut()
        .map(std::sync::Arc::make_mut)
        .unwrap();
    s.regs[5].iv.hi = Aff::k(0);
    expect_rejected(
        &image,
        &cert,
        Some(2),
        Property::InvariantNotInductive,
        "edge to 3: Reg(5)",
    );
}

#[test]
fn a_tampered_loop_bound_is_refused() {
    let (image, _, mut cert) = corpus("xor_fold");
    cert.loops[0].max_iterations -= 1;
    expect_rejected(
        &image,
        &cert,
        Some(2),
        Property::LoopBound,
        "only proves 257",
    );
    let (image, _, mut cert) = corpus("xor_fold");
    cert.loops[0].counter = Loc::Reg(0);
    strip_rels(&mut cert);
    expect_rejected(
        &image,
        &cert,
        Some(8),
        Property::LoopBound,
        "counter Reg(0) = scalar",
    );
}

#[test]
fn a_tampered_instruction_bound_is_refused() {
    let (image, _, mut cert) = corpus("xor_fold");
    cert.max_instructions -= 1;
    expect_rejected(
        &image,
        &cert,
        None,
        Property::InstructionBound,
        "worst case 1804",
    );
}

#[test]
fn a_syscall_is_forbidden() {
    let (image, params, cert) = patched("stack_sum", 8, call(0x71e3cf81)); // sol_log_
    expect_rejected(
        &image,
        &cert,
        Some(8),
        Property::ForbiddenSyscall,
        "opcode 0x85",
    );
    expect_uncertified(&image, &params, Property::ForbiddenSyscall);
}

#[test]
fn reading_an_unwritten_stack_slot_is_an_uninitialised_read() {
    let (image, params, cert) = patched("stack_sum", 5, ldxdw(8, 10, -24));
    expect_rejected(&image, &cert, Some(5), Property::UninitStack, "r10-24");
    expect_uncertified(&image, &params, Property::UninitStack);
}

#[test]
fn reading_an_unwritten_register_is_an_uninitialised_read() {
    let (image, params, cert) = patched("stack_sum", 6, add_reg(7, 9));
    expect_rejected(&image, &cert, Some(6), Property::UninitRegister, "r9");
    expect_uncertified(&image, &params, Property::UninitRegister);
}

#[test]
fn dividing_by_an_unchecked_input_byte_may_divide_by_zero() {
    // checked_div without its `in[0] == 0` guard.
    let (image, params, mut cert) = patched("checked_div", 2, mov_imm(0, 3));
    for pc in 3..=4 {
        cert.states[pc]
            .as_mut()
            .map(std::sync::Arc::make_mut)
            .unwrap()
            .regs[6]
            .iv = keel_pcc::domain::Iv::range(0, 255);
    }
    expect_rejected(
        &image,
        &cert,
        Some(4),
        Property::DivisionByZero,
        "scalar[0, 255]",
    );
    expect_uncertified(&image, &params, Property::DivisionByZero);
}

#[test]
fn a_certificate_for_another_program_is_refused() {
    let (image, _, mut cert) = corpus("xor_fold");
    cert.program_sha256[0] ^= 1;
    expect_rejected(
        &image,
        &cert,
        None,
        Property::CertificateMismatch,
        "different program",
    );
}

#[test]
fn hiding_a_body_instruction_from_its_loop_is_refused() {
    // Claiming pc 5 runs outside the loop would undercount it; the edge back into the body
    // then enters the loop elsewhere than at its head.
    let (image, _, mut cert) = corpus("xor_fold");
    cert.loop_of[5] = None;
    expect_rejected(
        &image,
        &cert,
        Some(5),
        Property::UnboundedLoop,
        "enters loop Some(2) elsewhere than at its head",
    );
}

#[test]
fn a_tampered_relation_is_not_inductive() {
    // Claim `i <= len - 2` inside xor_fold's loop (i reaches len - 1 there).
    let (image, _, mut cert) = corpus("xor_fold");
    let lie =
        keel_pcc::relations::Fact::new(vec![(Loc::Reg(5), 1), (Loc::Reg(2), -1)], true, Aff::k(-2))
            .unwrap();
    cert.states[3]
        .as_mut()
        .map(std::sync::Arc::make_mut)
        .unwrap()
        .facts
        .push(lie);
    expect_rejected(
        &image,
        &cert,
        Some(2),
        Property::InvariantNotInductive,
        "not known to satisfy Fact",
    );
}

#[test]
fn a_relation_claiming_room_past_the_input_is_refused() {
    // xor_fold reading in[i + 1]: one byte past the input on the last iteration. The
    // certificate is given a one-location fact `r6 <= L - 2` that would make the read fit.
    let (image, params, mut cert) = patched("xor_fold", 5, ldxb(7, 6, 1));
    let room =
        keel_pcc::relations::Fact::new(vec![(Loc::Reg(6), 1)], true, Aff { c: -2, l: 1 }).unwrap();
    cert.states[5]
        .as_mut()
        .map(std::sync::Arc::make_mut)
        .unwrap()
        .facts
        .push(room);
    expect_rejected(
        &image,
        &cert,
        Some(4),
        Property::InvariantNotInductive,
        "not known to satisfy Fact",
    );
    expect_uncertified(&image, &params, Property::OutOfBounds);
}
