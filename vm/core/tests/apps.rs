//! Behaviour of the example contracts (counter, token, interest) on the VM.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{Host, Outcome, Runner};
use keel_contracts::{COUNTER, INTEREST, TOKEN};
use keel_intrinsics::fixed::Q64x64;

fn returned(outcome: Outcome) -> Vec<u8> {
    match outcome {
        Outcome::Returned(out) => out,
        Outcome::Aborted(msg) => panic!("aborted: {msg}"),
    }
}

fn aborted(outcome: Outcome) -> String {
    match outcome {
        Outcome::Aborted(msg) => msg,
        Outcome::Returned(out) => panic!("returned {out:?}, expected an abort"),
    }
}

#[test]
fn counter_increments_resets_and_reports_changes() {
    let counter = Runner::new(COUNTER.wasm);
    let mut host = Host::default();
    assert_eq!(
        returned(counter.call(&mut host, "get", &[])),
        0u64.to_le_bytes()
    );
    for want in 1u64..=3 {
        assert_eq!(
            returned(counter.call(&mut host, "increment", &[])),
            want.to_le_bytes()
        );
    }
    assert_eq!(
        returned(counter.call(&mut host, "get", &[])),
        3u64.to_le_bytes()
    );
    assert_eq!(
        host.storage.get(b"count".as_slice()),
        Some(&3u64.to_le_bytes().to_vec())
    );
    assert_eq!(host.events.len(), 3);
    assert_eq!(
        host.events[2],
        (b"count_changed".to_vec(), 3u64.to_le_bytes().to_vec())
    );

    assert_eq!(
        returned(counter.call(&mut host, "reset", &[])),
        0u64.to_le_bytes()
    );
    assert!(host.storage.is_empty());
    assert_eq!(host.events.len(), 4);
    // Resetting a zero counter changes nothing, so it emits nothing.
    counter.call(&mut host, "reset", &[]);
    assert_eq!(host.events.len(), 4);
}

#[test]
fn counter_refuses_to_wrap_and_rejects_corrupt_state() {
    let counter = Runner::new(COUNTER.wasm);
    let mut host = Host::default();
    host.storage
        .insert(b"count".to_vec(), u64::MAX.to_le_bytes().to_vec());
    assert_eq!(
        aborted(counter.call(&mut host, "increment", &[])),
        "counter: overflow"
    );
    host.storage.insert(b"count".to_vec(), vec![1, 2, 3]);
    assert!(aborted(counter.call(&mut host, "get", &[])).contains("not 8 bytes"));
}

fn u256(v: u64) -> [u8; 32] {
    let mut b = [0; 32];
    b[..8].copy_from_slice(&v.to_le_bytes());
    b
}

fn addr(tag: u8) -> [u8; 32] {
    [tag; 32]
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

struct Token {
    runner: Runner,
    host: Host,
}

impl Token {
    fn new(owner: u8, supply: u64) -> Self {
        let mut t = Self {
            runner: Runner::new(TOKEN.wasm),
            host: Host::default(),
        };
        t.host.caller = addr(owner);
        returned(t.call(owner, "init", &u256(supply)));
        t
    }

    fn call(&mut self, caller: u8, entry: &str, input: &[u8]) -> Outcome {
        self.host.caller = addr(caller);
        self.runner.call(&mut self.host, entry, input)
    }

    fn balance(&mut self, who: u8) -> [u8; 32] {
        returned(self.call(0, "balance_of", &addr(who)))
            .try_into()
            .unwrap()
    }
}

#[test]
fn token_init_mints_the_supply_to_the_caller_once() {
    let mut t = Token::new(1, 1_000);
    assert_eq!(t.balance(1), u256(1_000));
    assert_eq!(returned(t.call(9, "total_supply", &[])), u256(1_000));
    assert_eq!(
        t.host.events,
        [(
            b"Transfer".to_vec(),
            cat(&[&[0; 32], &addr(1), &u256(1_000)])
        )]
    );
    assert!(aborted(t.call(2, "init", &u256(5))).contains("already initialised"));
}

#[test]
fn token_transfer_moves_balance_and_emits_transfer() {
    let mut t = Token::new(1, 1_000);
    returned(t.call(1, "transfer", &cat(&[&addr(2), &u256(300)])));
    assert_eq!((t.balance(1), t.balance(2)), (u256(700), u256(300)));
    assert_eq!(
        t.host.events.last().unwrap(),
        &(b"Transfer".to_vec(), cat(&[&addr(1), &addr(2), &u256(300)]))
    );
    // Sending to oneself leaves the balance as it was.
    returned(t.call(2, "transfer", &cat(&[&addr(2), &u256(300)])));
    assert_eq!(t.balance(2), u256(300));
    // Emptying an account removes its storage entry.
    returned(t.call(2, "transfer", &cat(&[&addr(1), &u256(300)])));
    assert_eq!(t.balance(2), u256(0));
    assert!(
        !t.host
            .storage
            .keys()
            .any(|k| k[0] == b'b' && k[1..] == addr(2))
    );
}

#[test]
fn token_transfer_beyond_balance_aborts_without_changes() {
    let mut t = Token::new(1, 100);
    let before = t.host.storage.clone();
    assert_eq!(
        aborted(t.call(1, "transfer", &cat(&[&addr(2), &u256(101)]))),
        "insufficient balance"
    );
    assert_eq!(t.host.storage, before);
    assert!(aborted(t.call(1, "transfer", &addr(2))).contains("bad input length"));
}

#[test]
fn token_allowance_limits_transfer_from() {
    let mut t = Token::new(1, 1_000);
    returned(t.call(1, "approve", &cat(&[&addr(3), &u256(250)])));
    assert_eq!(
        t.host.events.last().unwrap(),
        &(b"Approval".to_vec(), cat(&[&addr(1), &addr(3), &u256(250)]))
    );
    assert_eq!(
        returned(t.call(0, "allowance", &cat(&[&addr(1), &addr(3)]))),
        u256(250)
    );

    returned(t.call(3, "transfer_from", &cat(&[&addr(1), &addr(4), &u256(200)])));
    assert_eq!((t.balance(1), t.balance(4)), (u256(800), u256(200)));
    assert_eq!(
        returned(t.call(0, "allowance", &cat(&[&addr(1), &addr(3)]))),
        u256(50)
    );

    let over = cat(&[&addr(1), &addr(4), &u256(51)]);
    assert_eq!(
        aborted(t.call(3, "transfer_from", &over)),
        "insufficient allowance"
    );
    // Someone without an allowance cannot spend at all.
    assert_eq!(
        aborted(t.call(4, "transfer_from", &cat(&[&addr(1), &addr(4), &u256(1)]))),
        "insufficient allowance"
    );
}

#[test]
fn token_handles_full_width_u256_amounts() {
    let max = [0xFF; 32];
    let mut t = Token::new(1, 0);
    t.host.storage.clear();
    returned(t.call(1, "init", &max));
    returned(t.call(1, "transfer", &cat(&[&addr(2), &max])));
    assert_eq!(t.balance(2), max);
    assert_eq!(t.balance(1), u256(0));
}

const ONE: i128 = 1 << 64;

fn fx_input(a: i128, b: i128, c: i128) -> Vec<u8> {
    cat(&[&a.to_le_bytes(), &b.to_le_bytes(), &c.to_le_bytes()])
}

fn fx(raw: i128) -> Q64x64 {
    Q64x64::from_bits(raw)
}

#[test]
fn compound_raises_one_plus_rate_to_the_periods_and_scales_the_principal() {
    let interest = Runner::new(INTEREST.wasm);
    let (principal, rate, periods) = (1_000 * ONE, ONE / 20, 12 * ONE);
    let out = interest.output("compound", &fx_input(principal, rate, periods));
    // The contract's result is exactly the intrinsics' composition: P * (1 + r)^n.
    let growth = fx(ONE + rate).pow(fx(periods)).unwrap();
    let want = fx(principal).mul(growth).unwrap();
    assert_eq!(out, want.to_le_bytes());
    // 1000 * 1.05^12 = 1795.856326...; the intrinsics are within a few ulps of it.
    let value = want.to_bits() as f64 / ONE as f64;
    assert!((value - 1_795.856_326_022_129).abs() < 1e-9, "{value}");

    // A negative rate subtracts: 1 + (-0.25) = 0.75, and 0.75^1 = 0.75.
    let out = interest.output("compound", &fx_input(ONE, -ONE / 4, ONE));
    assert_eq!(out, fx(3 * ONE / 4).to_le_bytes());
}

#[test]
fn continuous_exponentiates_rate_times_time() {
    let interest = Runner::new(INTEREST.wasm);
    let (principal, rate, time) = (250 * ONE, ONE / 10, 5 * ONE / 2);
    let out = interest.output("continuous", &fx_input(principal, rate, time));
    let growth = fx(rate).mul(fx(time)).unwrap().exp().unwrap();
    let want = fx(principal).mul(growth).unwrap();
    assert_eq!(out, want.to_le_bytes());
    // 250 * e^0.25 = 321.00635...
    let value = want.to_bits() as f64 / ONE as f64;
    assert!((value - 321.006_354_171_935_4).abs() < 1e-9, "{value}");
}

#[test]
fn interest_aborts_with_the_failing_step_and_status() {
    let interest = Runner::new(INTEREST.wasm);
    // 1 + (-2) = -1: a negative base is a domain error for pow.
    let msg = aborted(interest.call(
        &mut Host::default(),
        "compound",
        &fx_input(ONE, -2 * ONE, ONE),
    ));
    assert_eq!(msg, "interest: pow: domain error");
    // e^(100 * 1) overflows Q64.64.
    let msg = aborted(interest.call(
        &mut Host::default(),
        "continuous",
        &fx_input(ONE, 100 * ONE, ONE),
    ));
    assert_eq!(msg, "interest: exp: overflow");
    let msg = aborted(interest.call(
        &mut Host::default(),
        "compound",
        &fx_input(ONE, i128::MAX, ONE),
    ));
    assert_eq!(msg, "interest: 1 + rate: overflow");
    assert!(
        aborted(interest.call(&mut Host::default(), "compound", &[0; 47]))
            .contains("bad input length")
    );
}
