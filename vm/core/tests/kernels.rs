//! The benchmark kernels compute exactly what `keel_contracts::reference` says they do.
//! Run on the Keel VM, metered, through tests/common.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{Host, Outcome, Runner};
use keel_contracts::reference::{
    expected_coremark, expected_fib, expected_sha256, expected_sha256_iter, u32_input,
};
use keel_contracts::{COREMARK, FIB, SHA256};

#[test]
fn fib_matches_the_reference_including_wraparound() {
    let fib = Runner::new(FIB.wasm);
    for n in [0, 1, 2, 10, 50, 93, 94, 1000] {
        let out = fib.output("fib", &u32_input(n));
        assert_eq!(out, expected_fib(n).to_le_bytes(), "n = {n}");
    }
}

#[test]
fn fib_aborts_on_input_that_is_not_four_bytes() {
    let fib = Runner::new(FIB.wasm);
    let outcome = fib.call(&mut Host::default(), "fib", &[1, 2, 3]);
    assert!(matches!(outcome, Outcome::Aborted(msg) if msg.starts_with("fib: input")));
}

#[test]
fn sha256_matches_the_reference_across_padding_and_chunk_boundaries() {
    let sha = Runner::new(SHA256.wasm);
    for n in [
        0usize, 1, 3, 55, 56, 63, 64, 65, 119, 120, 4095, 4096, 4097, 10_000,
    ] {
        let input: Vec<u8> = (0..n).map(|i| (i * 31 + 7) as u8).collect();
        assert_eq!(
            sha.output("sha256", &input),
            expected_sha256(&input),
            "len {n}"
        );
    }
}

#[test]
fn sha256_iter_matches_the_reference() {
    let sha = Runner::new(SHA256.wasm);
    for input in [
        vec![0, 0, 0, 0],
        vec![1, 0, 0, 0],
        vec![100, 0, 0, 0, 9, 9, 9],
    ] {
        let want = expected_sha256_iter(&input).unwrap();
        assert_eq!(sha.output("sha256_iter", &input), want, "{input:?}");
    }
}

#[test]
fn sha256_iter_aborts_without_a_count() {
    let sha = Runner::new(SHA256.wasm);
    let outcome = sha.call(&mut Host::default(), "sha256_iter", &[5, 0]);
    assert!(matches!(outcome, Outcome::Aborted(_)));
}

#[test]
fn coremark_crc_matches_the_rust_port() {
    let cm = Runner::new(COREMARK.wasm);
    for iterations in [0, 1, 2, 3, 17, 200] {
        let out = cm.output("coremark", &u32_input(iterations));
        assert_eq!(
            out,
            expected_coremark(iterations).to_le_bytes(),
            "iterations = {iterations}"
        );
    }
}

#[test]
fn coremark_is_deterministic_across_calls() {
    let cm = Runner::new(COREMARK.wasm);
    assert_eq!(
        cm.output("coremark", &u32_input(25)),
        cm.output("coremark", &u32_input(25))
    );
}
