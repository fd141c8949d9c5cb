//! Certificates with extreme numbers (u64::MAX, i64::MIN, i128 bounds, huge offsets) in any
//! field: the checker and the decoder refuse them with an error, never a panic or a wrap.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests unwrap and index

use keel_pcc::domain::{Aff, Iv, Loc, Rel, Slot, Value};
use keel_pcc::linear::{Fill, Lin};
use keel_pcc::objects::safe_corpus;
use keel_pcc::relations::Fact;
use keel_pcc::{Certificate, DecodeError, LoopBound, certify, check};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Numbers outside every field's range (FORMAT.md, Limits).
const WIDE: [i128; 6] = [
    i128::MAX,
    i128::MIN,
    i128::MIN + 1,
    (1 << 100) + 1,
    -(1 << 100),
    1 << 120,
];

fn extreme(rng: &mut StdRng) -> i128 {
    WIDE[rng.random_range(0..WIDE.len())]
}

/// Puts one extreme number into one field of one stated state (or the loop table).
fn plant(cert: &mut Certificate, rng: &mut StdRng) -> String {
    let pcs: Vec<usize> = (0..cert.states.len())
        .filter(|&pc| cert.states[pc].is_some())
        .collect();
    let s = cert.states[pcs[rng.random_range(0..pcs.len())]]
        .as_mut()
        .map(std::sync::Arc::make_mut)
        .unwrap();
    let x = extreme(rng);
    let r = rng.random_range(0..11);
    let field = rng.random_range(0..11);
    match field {
        0 => s.regs[r].iv.hi = Aff::k(x),
        1 => s.regs[r].iv.lo = Aff { c: 0, l: x },
        2 => s.regs[r].iv.m = x,
        3 => s.regs[r].rels.push(Rel {
            head: 0,
            origin: Loc::Reg(1),
            lo: x,
            hi: x,
        }),
        4 => {
            let v = Value::scalar(Iv::range(0, x));
            s.stack.insert(rng.random_range(0..512), Slot::Spill(v));
        }
        5 => s.len = [0, x],
        6 => s.lins.push(Lin {
            a: Loc::Reg(1),
            b: Loc::Reg(2),
            ka: i64::MIN,
            kb: 1,
            c: x,
        }),
        7 => s.fills.push(Fill {
            start: x,
            end: Loc::Reg(2),
            c: x,
        }),
        8 => s.facts.push(Fact {
            terms: vec![(Loc::Reg(2), i64::MIN)],
            le: true,
            c: Aff::k(x),
        }),
        9 => s.regs[r].rels.push(Rel {
            head: u32::MAX,
            origin: Loc::Slot(u16::MAX),
            lo: 0,
            hi: 0,
        }),
        _ => cert.loops.push(LoopBound {
            head: 0,
            counter: Loc::Reg(2),
            step: i64::MIN,
            parent: None,
            max_iterations: u64::MAX,
        }),
    }
    format!("field {field}, r{r}, {x}")
}

#[test]
fn extreme_numbers_anywhere_in_a_certificate_are_refused_without_a_panic() {
    let mut rng = StdRng::seed_from_u64(14);
    for (name, image, params) in safe_corpus() {
        let cert = certify(&image, &params).unwrap();
        check(&image, &cert).unwrap();
        for case in 0..200 {
            let mut bad = cert.clone();
            let what = plant(&mut bad, &mut rng);
            assert!(
                check(&image, &bad).is_err(),
                "{name} case {case} ({what}): accepted"
            );
            let decoded = Certificate::from_bytes(&bad.to_bytes()).map(|_| ());
            assert!(
                matches!(decoded, Err(DecodeError::OutOfRange(_))),
                "{name} case {case} ({what}): decoding gave {decoded:?}"
            );
        }
    }
}

#[test]
fn extreme_parameters_and_bounds_are_refused_without_a_panic() {
    let (_, image, params) = safe_corpus().remove(0);
    let cert = certify(&image, &params).unwrap();
    for (input_min, input_max, output_len) in [
        (0, u64::MAX, 32),
        (u64::MAX, u64::MAX, 0),
        (0, 64, u64::MAX),
    ] {
        let mut bad = cert.clone();
        bad.params = keel_pcc::Params {
            input_min,
            input_max,
            output_len,
        };
        assert!(check(&image, &bad).is_err());
    }
    let mut bad = cert.clone();
    bad.max_instructions = 0;
    assert!(check(&image, &bad).is_err());
    let mut huge = cert;
    huge.loop_of = vec![Some(u32::MAX); huge.states.len()];
    assert!(check(&image, &huge).is_err());
}
