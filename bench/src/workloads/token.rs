//! The ERC-20-style token (`contracts/c/token.c`): transfers among players.

use super::{Call, CheckError, Domain, PLAYERS, Query, Workload, ensure, player};

const SUPPLY: u64 = 1_000_000_000_000;
const GRANT: u64 = 1_000_000;

fn u256(v: u64) -> Vec<u8> {
    let mut b = vec![0u8; 32];
    b[..8].copy_from_slice(&v.to_le_bytes());
    b
}

fn transfer(from: u32, to: u32, amount: u64) -> Call {
    let mut input = player(to).to_vec();
    input.extend_from_slice(&u256(amount));
    Call {
        caller: player(from),
        entry: "transfer",
        input,
    }
}

fn setup() -> Vec<Call> {
    let mut calls = vec![Call {
        caller: player(0),
        entry: "init",
        input: u256(SUPPLY),
    }];
    calls.extend((1..PLAYERS).map(|k| transfer(0, k, GRANT)));
    calls
}

fn tx(i: u32) -> Call {
    let amount = 1 + u64::from(i % 5);
    transfer(i % PLAYERS, (i + 1) % PLAYERS, amount)
}

/// Balances are conserved (they sum to the unchanged supply) and each player holds exactly
/// what the transactions so far gave and took.
fn check(q: &mut dyn Query, outputs: &[Vec<u8>]) -> Result<(), CheckError> {
    let to_u128 = |b: &[u8]| -> Result<u128, CheckError> {
        ensure(b.len() == 32 && b[16..].iter().all(|&x| x == 0), || {
            format!("balance is not a small u256: {b:?}")
        })?;
        let mut lo = [0u8; 16];
        lo.copy_from_slice(&b[..16]);
        Ok(u128::from_le_bytes(lo))
    };
    let mut expected = vec![u128::from(GRANT); PLAYERS as usize];
    expected[0] = u128::from(SUPPLY) - u128::from(GRANT) * u128::from(PLAYERS - 1);
    for i in (0u32..).take(outputs.len()) {
        let amount = 1 + u128::from(i % 5);
        let (from, to) = ((i % PLAYERS) as usize, ((i + 1) % PLAYERS) as usize);
        expected[from] = expected[from].saturating_sub(amount);
        expected[to] = expected[to].saturating_add(amount);
    }
    let supply = to_u128(&q.query("total_supply", &[])?)?;
    let mut sum = 0u128;
    for k in 0..PLAYERS {
        let b = to_u128(&q.query("balance_of", &player(k))?)?;
        ensure(b == expected[k as usize], || {
            format!("player {k}: balance {b}, expected {}", expected[k as usize])
        })?;
        sum = sum.saturating_add(b);
    }
    ensure(supply == u128::from(SUPPLY) && sum == supply, || {
        format!("balances sum to {sum}, supply {supply}, minted {SUPPLY}")
    })
}

pub static TRANSFER: Workload = Workload {
    name: "token_transfer",
    domain: Domain::Token,
    contract: &keel_contracts::TOKEN,
    about: "u256 token transfer between players (2 balance reads, 2 writes, an event)",
    setup,
    tx,
    check,
};
