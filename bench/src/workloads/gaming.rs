//! Gaming: many players rewriting state-heavy records (`contracts/c/game.c`) and an NFT
//! mint/transfer (`contracts/c/nft.c`).

use super::{Call, CheckError, Domain, PLAYERS, Query, Workload, ensure, player, read_u64, u64_le};
use std::collections::BTreeMap;

/// Players of the game workload: more than [`PLAYERS`], so records stay spread out.
const GAMERS: u32 = 64;

fn no_setup() -> Vec<Call> {
    Vec::new()
}

fn game_tx(i: u32) -> Call {
    let mut input = u64_le(u64::from(i)).to_vec();
    input.push(u8::from(i.is_multiple_of(10)));
    Call {
        caller: player(i % GAMERS),
        entry: "play",
        input,
    }
}

/// Each player's stored score is the one their last move returned (0 for a player who has
/// not moved).
fn game_check(q: &mut dyn Query, outputs: &[Vec<u8>]) -> Result<(), CheckError> {
    let mut last: BTreeMap<u32, u64> = (0..GAMERS).map(|k| (k, 0)).collect();
    for (i, out) in (0u32..).zip(outputs) {
        last.insert(i % GAMERS, read_u64(out, 0)?);
    }
    for (k, score) in last {
        let stored = read_u64(&q.query("score", &player(k))?, 0)?;
        ensure(stored == score, || {
            format!("player {k}: stored score {stored}, last move returned {score}")
        })?;
    }
    Ok(())
}

pub static GAME_MOVES: Workload = Workload {
    name: "game_moves",
    domain: Domain::Gaming,
    contract: &keel_contracts::GAME,
    about: "a move rewrites the player's 8 records of 32 bytes; every 10th raises the shared high score",
    setup: no_setup,
    tx: game_tx,
    check: game_check,
};

/// Ids minted in setup: one per player, id k to player k.
const PREMINTED: u32 = PLAYERS;

fn mint(to: u32) -> Call {
    Call {
        caller: player(to),
        entry: "mint",
        input: player(to).to_vec(),
    }
}

fn nft_setup() -> Vec<Call> {
    (0..PREMINTED).map(mint).collect()
}

/// Even transactions mint id `PREMINTED + i/2` to player `(i/2) % PLAYERS`; odd ones move that
/// id on to the next player.
fn nft_tx(i: u32) -> Call {
    let j = i / 2;
    if i.is_multiple_of(2) {
        return mint(j % PLAYERS);
    }
    let mut input = u64_le(u64::from(PREMINTED + j)).to_vec();
    input.extend_from_slice(&player((j + 1) % PLAYERS));
    Call {
        caller: player(j % PLAYERS),
        entry: "transfer",
        input,
    }
}

/// Every id has the owner the sequence gives it, and the holders' counts sum to the supply.
fn nft_check(q: &mut dyn Query, outputs: &[Vec<u8>]) -> Result<(), CheckError> {
    let n = u32::try_from(outputs.len()).unwrap_or(u32::MAX);
    let minted = PREMINTED.saturating_add(n.div_ceil(2));
    let supply = read_u64(&q.query("supply", &[])?, 0)?;
    ensure(supply == u64::from(minted), || {
        format!("supply {supply}, expected {minted}")
    })?;
    for id in 0..minted {
        let expected = match id.checked_sub(PREMINTED) {
            None => player(id),
            Some(j) if j.saturating_mul(2).saturating_add(1) < n => player((j + 1) % PLAYERS),
            Some(j) => player(j % PLAYERS),
        };
        let owner = q.query("owner_of", &u64_le(u64::from(id)))?;
        ensure(owner == expected, || format!("id {id}: wrong owner"))?;
    }
    let mut held = 0u64;
    for k in 0..PLAYERS {
        held = held.saturating_add(read_u64(&q.query("balance", &player(k))?, 0)?);
    }
    ensure(held == supply, || {
        format!("holders' counts sum to {held}, supply {supply}")
    })
}

pub static NFT: Workload = Workload {
    name: "nft_mint_transfer",
    domain: Domain::Gaming,
    contract: &keel_contracts::NFT,
    about: "alternating NFT mint and owner-only transfer (owner record and two holder counts)",
    setup: nft_setup,
    tx: nft_tx,
    check: nft_check,
};
