//! Hostile certificates built on the wire: refused with a typed error, quickly and without
//! expanding them, whatever counts and numbers they declare.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests unwrap and index

use super::*;
use crate::domain::{Aff, Env, Iv, Rel};
use crate::limits::{ENTRIES_PER_SLOT, MAX_DECODED_ENTRIES, MAX_SLOTS, MAX_STATE_FACTS};

fn encode(states: Vec<WireState>, loops: Vec<LoopBound>) -> Vec<u8> {
    encode_for(states, loops, 0)
}

/// A certificate body with `assigned` loop assignments (a program of that many slots).
fn encode_for(states: Vec<WireState>, loops: Vec<LoopBound>, assigned: usize) -> Vec<u8> {
    let wire = Wire {
        params: Params {
            input_min: 0,
            input_max: 64,
            output_len: 32,
        },
        program_sha256: [0; 32],
        states,
        loops,
        loop_of: vec![None; assigned],
        max_instructions: 1,
    };
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&postcard::to_stdvec(&wire).unwrap());
    out
}

fn entry() -> State {
    State::entry(&Env {
        len_min: 0,
        len_max: 64,
        out_len: 32,
        rodata_len: 0,
        rodata_vaddr: 0,
    })
}

fn no_change() -> StateDelta {
    StateDelta {
        regs: Vec::new(),
        stack_set: Vec::new(),
        stack_unset: Vec::new(),
        len: None,
        lins: None,
        fills: None,
        facts: None,
    }
}

/// A state with as many facts as one state may hold.
fn fat_state() -> State {
    state_with_facts(MAX_STATE_FACTS)
}

/// The entry state with `n` facts.
fn state_with_facts(n: usize) -> State {
    let mut s = entry();
    s.facts = (0..n)
        .map(|i| Fact {
            terms: vec![(Loc::Reg(1), 1), (Loc::Reg(2), -1), (Loc::Slot(3), 2)],
            le: true,
            c: Aff::k(i as i128),
        })
        .collect();
    s
}

/// A change to a state that takes one number or location out of range.
type Edit = Box<dyn Fn(&mut State)>;

fn decode_one(s: State) -> Result<Certificate, DecodeError> {
    Certificate::from_bytes(&encode(vec![WireState::Full(Box::new(s))], Vec::new()))
}

#[test]
fn a_fat_state_repeated_by_empty_changes_is_refused_before_it_is_expanded() {
    // 64 Ki slots x ~1 Ki facts would be ~70 M facts (several GB) if expanded.
    let mut states = vec![WireState::Full(Box::new(fat_state()))];
    states.extend((1..MAX_SLOTS).map(|_| WireState::Delta(no_change())));
    let bytes = encode(states, Vec::new());
    assert!(
        bytes.len() < 1 << 20,
        "the bomb is small: {} bytes",
        bytes.len()
    );
    let err = Certificate::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(&err, DecodeError::TooLarge(m) if m.contains(&MAX_DECODED_ENTRIES.to_string())),
        "{err}"
    );
}

#[test]
fn more_states_than_the_largest_program_has_slots_are_refused() {
    let states = (0..=MAX_SLOTS).map(|_| WireState::Unreachable).collect();
    let err = Certificate::from_bytes(&encode(states, Vec::new())).unwrap_err();
    assert!(
        matches!(&err, DecodeError::TooLarge(m) if m.contains("states")),
        "{err}"
    );
}

#[test]
fn a_change_with_too_many_facts_is_refused() {
    let mut d = no_change();
    let mut facts = fat_state().facts;
    facts.push(facts[0].clone());
    d.facts = Some(facts);
    let states = vec![WireState::Full(Box::new(entry())), WireState::Delta(d)];
    let err = Certificate::from_bytes(&encode(states, Vec::new())).unwrap_err();
    assert!(
        matches!(&err, DecodeError::OutOfRange(m) if m.contains("facts")),
        "{err}"
    );
}

#[test]
fn extreme_numbers_in_a_state_are_refused_not_wrapped() {
    let edits: Vec<(&str, Edit)> = vec![
        (
            "i128::MAX bound",
            Box::new(|s| s.regs[0] = Value::scalar(Iv::range(0, i128::MAX))),
        ),
        (
            "i128::MIN bound",
            Box::new(|s| s.regs[5].iv.lo = Aff::k(i128::MIN)),
        ),
        (
            "huge L coefficient",
            Box::new(|s| s.regs[2].iv.hi = Aff { c: 0, l: 1 << 40 }),
        ),
        ("negative congruence", Box::new(|s| s.regs[2].iv.m = -4)),
        (
            "i128::MIN relation",
            Box::new(|s| {
                s.regs[6] = Value::top();
                s.regs[6].rels.push(Rel {
                    head: 0,
                    origin: Loc::Reg(6),
                    lo: i128::MIN,
                    hi: 0,
                });
            }),
        ),
        (
            "relation from a missing slot",
            Box::new(|s| {
                s.regs[6] = Value::top();
                s.regs[6].rels.push(Rel {
                    head: 0,
                    origin: Loc::Slot(u16::MAX),
                    lo: 0,
                    hi: 0,
                });
            }),
        ),
        (
            "stack slot past the frame",
            Box::new(|s| {
                s.stack.insert(u16::MAX, Slot::Bytes(0xff));
            }),
        ),
        ("negative input length", Box::new(|s| s.len = [-1, 64])),
        (
            "u64::MAX input length",
            Box::new(|s| s.len = [0, i128::from(u64::MAX)]),
        ),
        (
            "i64::MIN fact coefficient",
            Box::new(|s| {
                s.facts = vec![Fact {
                    terms: vec![(Loc::Reg(1), i64::MIN)],
                    le: true,
                    c: Aff::k(0),
                }];
            }),
        ),
        (
            "i128::MIN fact constant",
            Box::new(|s| {
                s.facts = vec![Fact {
                    terms: vec![(Loc::Reg(1), 1)],
                    le: true,
                    c: Aff::k(i128::MIN),
                }];
            }),
        ),
        (
            "i64::MIN equality coefficient",
            Box::new(|s| {
                s.lins = vec![Lin {
                    a: Loc::Reg(1),
                    b: Loc::Reg(2),
                    ka: i64::MIN,
                    kb: 1,
                    c: 0,
                }];
            }),
        ),
        (
            "i128::MIN equality constant",
            Box::new(|s| {
                s.lins = vec![Lin {
                    a: Loc::Reg(1),
                    b: Loc::Reg(2),
                    ka: 1,
                    kb: 1,
                    c: i128::MIN,
                }];
            }),
        ),
        (
            "i128::MAX fill offset",
            Box::new(|s| {
                s.fills = vec![Fill {
                    start: 0,
                    end: Loc::Reg(2),
                    c: i128::MAX,
                }];
            }),
        ),
    ];
    for (what, edit) in edits {
        let mut s = entry();
        edit(&mut s);
        let err = decode_one(s).unwrap_err();
        assert!(matches!(err, DecodeError::OutOfRange(_)), "{what}: {err}");
    }
    decode_one(entry()).unwrap();
}

#[test]
fn a_loop_step_of_i64_min_is_refused() {
    let lb = LoopBound {
        head: 0,
        counter: Loc::Reg(1),
        step: i64::MIN,
        parent: None,
        max_iterations: u64::MAX,
    };
    let states = vec![WireState::Full(Box::new(entry()))];
    let err = Certificate::from_bytes(&encode(states, vec![lb])).unwrap_err();
    assert!(
        matches!(&err, DecodeError::OutOfRange(m) if m.contains("step")),
        "{err}"
    );
}

/// `first` followed by `n - 1` changes of one register: nothing can be shared.
fn then_changes(first: State, n: usize) -> Vec<WireState> {
    let mut states = vec![WireState::Full(Box::new(first))];
    states.extend((1..n).map(|i| {
        let mut d = no_change();
        d.regs.push((0, Value::scalar(Iv::k(i as i128))));
        WireState::Delta(d)
    }));
    states
}

#[test]
fn a_certificate_for_another_program_size_is_refused_before_it_is_expanded() {
    let bytes = encode_for(then_changes(entry(), 10), Vec::new(), 10);
    for slots in [9, 11, 1000] {
        let err = Certificate::from_bytes_for(&bytes, slots).unwrap_err();
        assert!(
            matches!(&err, DecodeError::TooLarge(m) if m.contains(&format!("program of {slots} instruction slots"))),
            "{slots}: {err}"
        );
    }
    // Loop assignments count too: a certificate must assign every slot of its program.
    let short = encode_for(then_changes(entry(), 10), Vec::new(), 9);
    assert!(matches!(
        Certificate::from_bytes_for(&short, 10),
        Err(DecodeError::TooLarge(_))
    ));
    assert_eq!(
        Certificate::from_bytes_for(&bytes, 10)
            .unwrap()
            .states
            .len(),
        10
    );
}

#[test]
fn a_small_programs_certificate_may_not_expand_like_the_largest_ones() {
    // ~1 Ki entries per slot: within the global cap, four times the per-slot budget.
    let n = 300;
    let bytes = encode_for(then_changes(fat_state(), n), Vec::new(), n);
    let any_size = Certificate::from_bytes(&bytes).unwrap();
    assert!(any_size.decoded_entries() < MAX_DECODED_ENTRIES);
    assert!(any_size.decoded_entries() > n * ENTRIES_PER_SLOT);
    let err = Certificate::from_bytes_for(&bytes, n).unwrap_err();
    let budget = n * ENTRIES_PER_SLOT;
    assert!(
        matches!(&err, DecodeError::TooLarge(m) if m.contains(&format!("exceed {budget} entries"))),
        "{err}"
    );
}

#[test]
fn states_a_change_leaves_as_they_were_are_shared_not_copied() {
    let mut states = vec![WireState::Full(Box::new(state_with_facts(100)))];
    states.extend((1..8).map(|_| WireState::Delta(no_change())));
    let mut d = no_change();
    d.regs.push((0, Value::scalar(Iv::k(1))));
    states.push(WireState::Delta(d));
    states.push(WireState::Delta(no_change()));
    let cert = Certificate::from_bytes_for(&encode_for(states, Vec::new(), 10), 10).unwrap();
    let at = |i: usize| cert.states[i].as_ref().unwrap();
    for i in 1..8 {
        assert!(Arc::ptr_eq(at(0), at(i)), "slot {i} shares slot 0's state");
    }
    assert!(!Arc::ptr_eq(at(0), at(8)), "a changed state is its own");
    assert!(Arc::ptr_eq(at(8), at(9)));
    assert_eq!(at(8).regs[0], Value::scalar(Iv::k(1)));
    // Shared or not, each stated slot counts: the checker works through every one.
    assert_eq!(cert.decoded_entries(), 10 * crate::limits::entries(at(0)));
}

#[test]
fn an_object_that_does_not_link_has_no_certificate_size() {
    let bytes = encode_for(then_changes(entry(), 2), Vec::new(), 2);
    let err = crate::decode_for_object(b"not an ELF object", &bytes).unwrap_err();
    assert!(matches!(err, DecodeError::Program(_)), "{err}");
}
