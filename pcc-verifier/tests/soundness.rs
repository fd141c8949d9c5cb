//! Soundness campaign: random mutations of programs and of certificates. Every pair the checker
//! accepts must run on solana-sbpf without a fault and within its declared instruction bound.
//!
//! `PCC_CAMPAIGN_CASES=N` sets the number of cases (default 10 000); `PCC_CAMPAIGN_SEED=S`
//! the seed (default fixed, so CI runs are reproducible).

#![allow(clippy::unwrap_used)] // test helpers may unwrap

mod common;

use keel_pcc::domain::{Aff, Kind, Loc, Region, Slot, Value};
use keel_pcc::objects::{builtin_routines, safe_corpus};
use keel_pcc::{Certificate, Image, Params, certify, check, link};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Opcodes a program mutation may write (valid and invalid ones alike).
const OPCODES: &[u8] = &[
    0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77, 0x7f,
    0x87, 0x97, 0x9f, 0xa7, 0xaf, 0xb7, 0xbf, 0xc7, 0xcf, 0x04, 0x0c, 0x34, 0x3c, 0x94, 0xb4, 0xbc,
    0x61, 0x69, 0x71, 0x79, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0x05, 0x15, 0x1d, 0x25,
    0x2d, 0x35, 0x3d, 0x45, 0x55, 0x5d, 0x65, 0x6d, 0xa5, 0xad, 0xb5, 0xbd, 0xc5, 0xd5, 0x95, 0x85,
    0x16, 0xd4, 0xdc,
];

fn mutate_program(image: &Image, rng: &mut StdRng) -> Image {
    let mut text = image.text.clone();
    let slots = text.len() / 8;
    for _ in 0..rng.random_range(1..=2) {
        let at = rng.random_range(0..slots) * 8;
        match rng.random_range(0..5) {
            0 => text[at] = OPCODES[rng.random_range(0..OPCODES.len())],
            1 => text[at + 1] = (rng.random_range(0..11u8) << 4) | rng.random_range(0..11u8),
            2 => text[at + 2..at + 4].copy_from_slice(&rng.random_range(-20i16..20).to_le_bytes()),
            3 => text[at + 4..at + 8].copy_from_slice(&rng.random_range(-70i32..300).to_le_bytes()),
            _ => {
                let other = rng.random_range(0..slots) * 8;
                let insn: [u8; 8] = text[other..other + 8].try_into().unwrap();
                text[at..at + 8].copy_from_slice(&insn);
            }
        }
    }
    Image {
        text,
        rodata: image.rodata.clone(),
    }
}

fn nudge(a: &mut Aff, rng: &mut StdRng) {
    match rng.random_range(0..4) {
        0 => a.c += rng.random_range(-3..=3),
        1 => a.l = rng.random_range(-1..=1),
        2 => a.c = rng.random_range(-1..=300),
        _ => a.c *= 2,
    }
}

fn mutate_value(v: &mut Value, rng: &mut StdRng) {
    match rng.random_range(0..6) {
        0 => nudge(&mut v.iv.lo, rng),
        1 => nudge(&mut v.iv.hi, rng),
        2 => {
            v.kind = [
                Kind::Scalar,
                Kind::Uninit,
                Kind::Ptr(Region::Input),
                Kind::Ptr(Region::Stack),
                Kind::Ptr(Region::Output),
            ][rng.random_range(0..5)]
        }
        3 => v.iv.m = [0, 1, 2, 8][rng.random_range(0..4)],
        4 => v.rels.clear(),
        _ => {
            for r in &mut v.rels {
                r.lo += rng.random_range(-2..=2);
                r.hi += rng.random_range(-2..=2);
            }
        }
    }
}

fn mutate_certificate(cert: &Certificate, rng: &mut StdRng) -> Certificate {
    let mut c = cert.clone();
    for _ in 0..rng.random_range(1..=3) {
        match rng.random_range(0..8) {
            0..=2 => {
                let pc = rng.random_range(0..c.states.len());
                if let Some(s) = c.states[pc].as_mut().map(std::sync::Arc::make_mut) {
                    let r = rng.random_range(0..11);
                    mutate_value(&mut s.regs[r], rng);
                }
            }
            3 => {
                let pc = rng.random_range(0..c.states.len());
                if let Some(s) = c.states[pc].as_mut().map(std::sync::Arc::make_mut) {
                    let slot = rng.random_range(505..512u16);
                    if rng.random_bool(0.5) {
                        s.stack.remove(&slot);
                    } else {
                        s.stack.insert(slot, Slot::Bytes(rng.random()));
                    }
                    s.len[rng.random_range(0..2)] += rng.random_range(-2..=2);
                    if let Some(l) = s.lins.first_mut() {
                        l.c += rng.random_range(-1..=1);
                    }
                    if let Some(f) = s.fills.first_mut() {
                        f.c += rng.random_range(-1..=2);
                    }
                    // Relational facts: tighten a constant, or invent a room-below-L claim.
                    if !s.facts.is_empty() {
                        let i = rng.random_range(0..s.facts.len());
                        s.facts[i].c.c -= rng.random_range(0..=2);
                    } else if let Some(f) = keel_pcc::relations::Fact::new(
                        vec![(Loc::Reg(rng.random_range(0..10)), 1)],
                        true,
                        Aff {
                            c: rng.random_range(-8..=0),
                            l: 1,
                        },
                    ) {
                        s.facts.push(f);
                    }
                }
            }
            4 => {
                if let Some(l) = c.loops.first_mut() {
                    match rng.random_range(0..4) {
                        0 => {
                            l.max_iterations =
                                l.max_iterations.saturating_sub(rng.random_range(0..3))
                        }
                        1 => l.step += rng.random_range(-2..=2),
                        2 => l.counter = Loc::Reg(rng.random_range(0..10)),
                        _ => l.head = rng.random_range(0..c.states.len() as u32),
                    }
                } else {
                    let n = c.states.len();
                    c.states[rng.random_range(0..n)] = None;
                }
            }
            5 if rng.random_bool(0.5) => {
                let n = c.loop_of.len();
                let heads: Vec<u32> = c.loops.iter().map(|l| l.head).collect();
                let at = rng.random_range(0..n);
                c.loop_of[at] = if heads.is_empty() || rng.random_bool(0.5) {
                    None
                } else {
                    Some(heads[rng.random_range(0..heads.len())])
                };
            }
            5 => c.max_instructions = c.max_instructions.saturating_sub(rng.random_range(0..3)),
            6 => {
                c.params.input_max += rng.random_range(0..3);
                c.params.input_min = c.params.input_min.saturating_sub(rng.random_range(0..2));
            }
            _ => c.params.output_len = c.params.output_len.saturating_sub(rng.random_range(0..2)),
        }
    }
    c
}

/// Runs an accepted pair on random inputs of admitted lengths (always both extremes).
fn run_accepted(
    image: &Image,
    params: &Params,
    bound: u64,
    rng: &mut StdRng,
) -> Result<(), String> {
    let mut lens = vec![params.input_min, params.input_max];
    lens.extend((0..2).map(|_| rng.random_range(params.input_min..=params.input_max)));
    for len in lens {
        let input: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let outcome = common::run(image, &input, params.output_len as usize, bound)?;
        match outcome {
            Ok((_, n)) if n <= bound => {}
            Ok((_, n)) => return Err(format!("ran {n} > {bound} instructions")),
            Err(e) => return Err(format!("input len {len}: {e}")),
        }
    }
    Ok(())
}

#[test]
fn every_accepted_mutant_runs_without_fault_within_its_bound() {
    let cases: usize = std::env::var("PCC_CAMPAIGN_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let seed: u64 = std::env::var("PCC_CAMPAIGN_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x6b65656c);
    let mut rng = StdRng::seed_from_u64(seed);
    let corpus: Vec<(Image, Params, Certificate)> = safe_corpus()
        .into_iter()
        .map(|(_, image, params)| {
            let cert = certify(&image, &params).unwrap();
            (image, params, cert)
        })
        .collect();
    // Bridge routines the certifier proves join the campaign as certificate mutants (their
    // programs are too large to re-certify thousands of times in a debug test run).
    let bridge: Vec<(Image, Params, Certificate)> = builtin_routines()
        .unwrap()
        .into_iter()
        .filter_map(|r| {
            let image = link(r.elf).unwrap();
            let cert = certify(&image, &r.params).ok()?;
            Some((image, r.params, cert))
        })
        .collect();
    let (mut accepted, mut program_mutants, mut bridge_runs) = (0usize, 0usize, 0usize);
    for case in 0..cases {
        if case % 50 == 0 && !bridge.is_empty() {
            let (image, _, cert) = &bridge[(case / 50) % bridge.len()];
            let cert = if case % 100 == 0 {
                cert.clone()
            } else {
                mutate_certificate(cert, &mut rng)
            };
            if let Ok(report) = check(image, &cert) {
                bridge_runs += 1;
                if let Err(e) = run_accepted(image, &cert.params, report.declared_bound, &mut rng) {
                    panic!("bridge case {case} (seed {seed}): accepted but {e}");
                }
            }
            continue;
        }
        let (image, params, cert) = &corpus[case % corpus.len()];
        let (image, cert) = if case % 2 == 0 {
            let mutant = mutate_program(image, &mut rng);
            match certify(&mutant, params) {
                Ok(c) => {
                    program_mutants += 1;
                    (mutant, c)
                }
                Err(_) => continue,
            }
        } else {
            (image.clone(), mutate_certificate(cert, &mut rng))
        };
        let Ok(report) = check(&image, &cert) else {
            continue;
        };
        accepted += 1;
        if let Err(e) = run_accepted(&image, &cert.params, report.declared_bound, &mut rng) {
            panic!(
                "case {case} (seed {seed}): accepted but {e}\ncertificate: {cert:?}\ntext: {:02x?}",
                image.text
            );
        }
    }
    println!(
        "{cases} cases: {accepted} accepted and run ({program_mutants} certified program \
         mutants; {bridge_runs} bridge-routine certificates accepted and run)"
    );
    assert!(
        bridge.is_empty() || bridge_runs > 0,
        "no bridge-routine certificate was run"
    );
    assert!(
        accepted >= cases / 5,
        "only {accepted} of {cases} cases were accepted: the campaign is too weak"
    );
}
