//! DeFi: the constant-product AMM (`contracts/c/amm.c`) and the lending market with Q64.64
//! interest accrual (`contracts/c/lending.c`).

use super::{Call, CheckError, Domain, PLAYERS, Query, Workload, ensure, player, read_u64, u64_le};

const POOLS: u32 = 4;
const RESERVE: u64 = 1_000_000_000;

fn amm_setup() -> Vec<Call> {
    (0..POOLS)
        .map(|p| {
            let mut input = u64_le(u64::from(p)).to_vec();
            input.extend_from_slice(&u64_le(RESERVE));
            input.extend_from_slice(&u64_le(RESERVE));
            Call {
                caller: player(0),
                entry: "init",
                input,
            }
        })
        .collect()
}

fn swap_amount(i: u32) -> u64 {
    1_000 + u64::from(i % 7) * 100
}

fn amm_tx(i: u32) -> Call {
    let mut input = u64_le(u64::from(i % POOLS)).to_vec();
    input.extend_from_slice(&u64_le(swap_amount(i)));
    input.extend_from_slice(&u64_le(1));
    Call {
        caller: player(i % PLAYERS),
        entry: "swap",
        input,
    }
}

/// Per pool: reserve A grew by exactly what was sold, reserve B shrank by exactly what was
/// bought, and x·y never fell below its initial value (the fee only raises it).
fn amm_check(q: &mut dyn Query, outputs: &[Vec<u8>]) -> Result<(), CheckError> {
    let mut sold = [0u64; POOLS as usize];
    let mut bought = [0u64; POOLS as usize];
    for (i, out) in (0u32..).zip(outputs) {
        let p = (i % POOLS) as usize;
        sold[p] = sold[p].saturating_add(swap_amount(i));
        bought[p] = bought[p].saturating_add(read_u64(out, 0)?);
    }
    for p in 0..POOLS {
        let v = q.query("pool", &u64_le(u64::from(p)))?;
        let (ra, rb) = (read_u64(&v, 0)?, read_u64(&v, 8)?);
        let (s, b) = (sold[p as usize], bought[p as usize]);
        ensure(ra == RESERVE.saturating_add(s), || {
            format!("pool {p}: reserve A {ra}, expected {RESERVE} + {s}")
        })?;
        ensure(rb == RESERVE.saturating_sub(b), || {
            format!("pool {p}: reserve B {rb}, expected {RESERVE} - {b}")
        })?;
        let k0 = u128::from(RESERVE) * u128::from(RESERVE);
        ensure(u128::from(ra) * u128::from(rb) >= k0, || {
            format!("pool {p}: x·y fell below its initial value")
        })?;
    }
    Ok(())
}

pub static AMM_SWAP: Workload = Workload {
    name: "amm_swap",
    domain: Domain::Defi,
    contract: &keel_contracts::AMM,
    about: "constant-product swap on one of 4 pools (reserves and the trader's holding rewritten)",
    setup: amm_setup,
    tx: amm_tx,
    check: amm_check,
};

/// Initial deposit of every player.
const DEPOSIT: u64 = 1_000_000;
const BORROW: u64 = 1_000;
const REPAY: u64 = 600;
const TOP_UP: u64 = 500;
/// 10⁻⁶ per block as a Q64.64 raw value (2⁶⁴ / 10⁶, rounded down).
const RATE_RAW: u128 = (1u128 << 64) / 1_000_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Borrow,
    Repay,
    Deposit,
}

/// Every player borrows, then repays part, then deposits more, in rounds.
fn action(i: u32) -> Action {
    match (i / PLAYERS) % 3 {
        0 => Action::Borrow,
        1 => Action::Repay,
        _ => Action::Deposit,
    }
}

fn lending_setup() -> Vec<Call> {
    let mut calls = vec![Call {
        caller: player(0),
        entry: "init",
        input: RATE_RAW.to_le_bytes().to_vec(),
    }];
    calls.extend((0..PLAYERS).map(|k| Call {
        caller: player(k),
        entry: "deposit",
        input: u64_le(DEPOSIT).to_vec(),
    }));
    calls
}

fn lending_tx(i: u32) -> Call {
    let (entry, amount) = match action(i) {
        Action::Borrow => ("borrow", BORROW),
        Action::Repay => ("repay", REPAY),
        Action::Deposit => ("deposit", TOP_UP),
    };
    Call {
        caller: player(i % PLAYERS),
        entry,
        input: u64_le(amount).to_vec(),
    }
}

/// Cash is conserved (deposits − borrowed + repaid), deposits add up, the index only grows,
/// and no borrower owes less than the principal they have not repaid (interest ≥ 0).
fn lending_check(q: &mut dyn Query, outputs: &[Vec<u8>]) -> Result<(), CheckError> {
    let n = PLAYERS as usize;
    let (mut deposited, mut borrowed, mut paid) = (vec![DEPOSIT; n], vec![0u64; n], vec![0u64; n]);
    for (i, out) in (0u32..).zip(outputs) {
        let p = (i % PLAYERS) as usize;
        match action(i) {
            Action::Borrow => borrowed[p] = borrowed[p].saturating_add(BORROW),
            Action::Repay => paid[p] = paid[p].saturating_add(read_u64(out, 0)?),
            Action::Deposit => deposited[p] = deposited[p].saturating_add(TOP_UP),
        }
    }
    let m = q.query("market", &[])?;
    let index_hi = read_u64(&m, 8)?;
    let (cash, deposits) = (read_u64(&m, 16)?, read_u64(&m, 24)?);
    let sum = |v: &[u64]| v.iter().fold(0u64, |a, &b| a.saturating_add(b));
    let expected_cash = sum(&deposited)
        .saturating_sub(sum(&borrowed))
        .saturating_add(sum(&paid));
    ensure(deposits == sum(&deposited), || {
        format!(
            "market deposits {deposits}, players deposited {}",
            sum(&deposited)
        )
    })?;
    ensure(cash == expected_cash, || {
        format!("cash {cash}, expected {expected_cash}")
    })?;
    ensure(index_hi >= 1, || "borrow index fell below 1.0".into())?;
    for k in 0..PLAYERS {
        let a = q.query("account", &player(k))?;
        let (dep, debt) = (read_u64(&a, 0)?, read_u64(&a, 8)?);
        let p = k as usize;
        let principal = borrowed[p].saturating_sub(paid[p]);
        ensure(dep == deposited[p], || {
            format!("player {k}: deposit {dep}, expected {}", deposited[p])
        })?;
        ensure(debt >= principal, || {
            format!("player {k}: debt {debt} below unpaid principal {principal}")
        })?;
    }
    Ok(())
}

pub static LENDING: Workload = Workload {
    name: "lending",
    domain: Domain::Defi,
    contract: &keel_contracts::LENDING,
    about: "borrow / repay / deposit rounds; every call accrues the Q64.64 index (fx_pow, fx_mul)",
    setup: lending_setup,
    tx: lending_tx,
    check: lending_check,
};
