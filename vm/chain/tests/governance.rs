//! Governance end to end on a real chain: stake-weighted proposals and votes, activation at a
//! future height with the PCC checker re-run, kill switches (admission + runtime trap), hot
//! patching of routines and contracts with old versions kept for replay, gas schedule and fee
//! changes, and audit entries.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::*;
use keel_chain::genesis_routines::GenesisRoutine;
use keel_chain::governance::{
    self, Action, GovEventKind, GovTx, KillTarget, ProposalStatus, RoutineSpec,
};
use keel_chain::*;
use keel_vm::Trap;

/// Entry `run`: input = routine id (4 bytes LE) | routine input; returns 32 output bytes.
/// Entry `divide`: returns 100 / 7 (4 bytes). Entry `add`: returns 107 (4 bytes).
const CALLER: &str = r#"(module
  (import "keel" "input_size" (func $size (result i32)))
  (import "keel" "input_copy" (func $copy (param i32 i32 i32)))
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (import "keel" "native_call" (func $native (param i32 i32 i32 i32 i32) (result i32)))
  (memory 1 1)
  (func (export "run")
    (call $copy (i32.const 0) (i32.const 0) (call $size))
    (drop (call $native (i32.load (i32.const 0)) (i32.const 4) (i32.sub (call $size) (i32.const 4))
                        (i32.const 60000) (i32.const 32)))
    (call $ret (i32.const 60000) (i32.const 32)))
  (func (export "run1")
    (call $copy (i32.const 0) (i32.const 0) (call $size))
    (drop (call $native (i32.load (i32.const 0)) (i32.const 4) (i32.sub (call $size) (i32.const 4))
                        (i32.const 60000) (i32.const 1)))
    (call $ret (i32.const 60000) (i32.const 1)))
  (func (export "divide")
    (i32.store (i32.const 0) (i32.div_u (i32.const 100) (i32.const 7)))
    (call $ret (i32.const 0) (i32.const 4)))
  (func (export "add")
    (i32.store (i32.const 0) (i32.add (i32.const 100) (i32.const 7)))
    (call $ret (i32.const 0) (i32.const 4))))"#;

const RETURNS_ONE: &str = r#"(module
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (memory 1 1) (data (i32.const 0) "\01")
  (func (export "get") (call $ret (i32.const 0) (i32.const 1))))"#;
const RETURNS_TWO: &str = r#"(module
  (import "keel" "return_data" (func $ret (param i32 i32)))
  (memory 1 1) (data (i32.const 0) "\02")
  (func (export "get") (call $ret (i32.const 0) (i32.const 1))))"#;

const MODMUL: u32 = keel_ebpf_bridge::MODMUL_BLS12_381_FR;

/// A governance transaction with room for routine objects and certificates.
fn gov(from: u32, nonce: u64, g: GovTx) -> SignedTx {
    Transaction {
        chain_id: ChainConfig::demo().chain_id,
        sender: key(from).public_key().to_bytes(),
        nonce,
        gas_limits: [50_000_000, 100_000, 64, 8_000_000],
        max_fee_per_unit: PRICES_MAX,
        priority_fee: 0,
        kind: TxKind::Governance(g),
    }
    .sign(&key(from))
}

fn propose(from: u32, nonce: u64, action: Action, at: u64) -> SignedTx {
    gov(
        from,
        nonce,
        GovTx::Propose {
            action,
            activation_height: at,
        },
    )
}

fn vote(from: u32, nonce: u64, proposal: u64, approve: bool) -> SignedTx {
    gov(from, nonce, GovTx::Vote { proposal, approve })
}

fn ok(r: &BlockResult, i: usize) -> Vec<u8> {
    match &r.receipts[i].status {
        TxStatus::Success { return_data } => return_data.clone(),
        other => panic!("tx {i}: {other:?}"),
    }
}

fn failed(r: &BlockResult, i: usize) -> FailReason {
    match &r.receipts[i].status {
        TxStatus::Failed { reason } => reason.clone(),
        other => panic!("tx {i} should fail: {other:?}"),
    }
}

/// The next nonce of demo account `i`.
fn nonce(chain: &Chain, i: u32) -> u64 {
    chain.account(&addr(i)).unwrap().map_or(0, |a| a.nonce)
}

/// Proposes `action` (by validator 0), has validators 1-3 vote yes and runs to its height.
fn pass(chain: &mut Chain, action: Action) {
    let at = head(chain) + 3;
    let r = block(chain, vec![propose(0, nonce(chain, 0), action, at)]);
    let id = r.governance[0].proposal;
    let votes = (1..4).map(|v| vote(v, nonce(chain, v), id, true)).collect();
    block(chain, votes);
    let r = block(chain, vec![]);
    assert_eq!(head(chain), at);
    assert_eq!(
        r.governance[0].kind,
        GovEventKind::Activated,
        "{:?}",
        r.governance
    );
}

fn head(chain: &Chain) -> u64 {
    chain.head().unwrap().0
}

/// Blocks with no transactions until the head is `height - 1` (so the next block is `height`).
fn advance_to(chain: &mut Chain, height: u64) -> Vec<BlockResult> {
    let mut out = Vec::new();
    while head(chain) + 1 < height {
        out.push(block(chain, vec![]));
    }
    out
}

fn modmul_input(a: u64, b: u64, routine: u32) -> Vec<u8> {
    let mut v = routine.to_le_bytes().to_vec();
    let mut x = [0u8; 32];
    x[..8].copy_from_slice(&a.to_le_bytes());
    v.extend_from_slice(&x);
    x[..8].copy_from_slice(&b.to_le_bytes());
    v.extend_from_slice(&x);
    v
}

fn modmul_genesis() -> GenesisRoutine {
    GenesisRoutine::pinned()
        .unwrap()
        .into_iter()
        .find(|r| r.spec.id == MODMUL)
        .expect("modmul certifies and is active at genesis")
}

/// The modmul object under another id and version (its certificate is for the same
/// parameters, so it checks).
fn modmul_as(id: u32, version: u32) -> Action {
    let g = modmul_genesis();
    let spec = RoutineSpec {
        id,
        name: format!("modmul_copy_{id}"),
        version,
        ..g.spec
    };
    Action::ActivateRoutine {
        spec,
        object: g.object,
        certificate: g.certificate,
    }
}

#[test]
fn a_routine_activates_at_its_height_after_a_stake_weighted_quorum_and_hot_patches() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let code = wat::parse_str(CALLER).unwrap();
    let r = block(&mut chain, vec![deploy(0, 0, &code)]);
    let caller = r.receipts[0].contract.unwrap();

    // Genesis activated modmul: 2 * 3 = 6.
    let r = block(
        &mut chain,
        vec![call(1, 0, caller, "run", modmul_input(2, 3, MODMUL))],
    );
    assert_eq!(ok(&r, 0)[0], 6);

    // Propose routine 100 for height h+4; three of four validators (75% ≥ 66.67%) vote yes.
    let at = head(&chain) + 4;
    let r = block(&mut chain, vec![propose(0, 1, modmul_as(100, 1), at)]);
    ok(&r, 0);
    assert_eq!(r.governance.len(), 1);
    assert_eq!(r.governance[0].kind, GovEventKind::Proposed);
    let id = r.governance[0].proposal;
    let r = block(
        &mut chain,
        vec![
            vote(0, 2, id, true),
            vote(1, 1, id, true),
            vote(2, 0, id, true),
        ],
    );
    for i in 0..3 {
        ok(&r, i);
    }
    // Not active yet: an unknown routine (bridge status 1) traps the call.
    let r = block(
        &mut chain,
        vec![call(1, 2, caller, "run", modmul_input(2, 3, 100))],
    );
    assert!(matches!(
        failed(&r, 0),
        FailReason::Trap(Trap::Native { code: 1, .. })
    ));
    assert_eq!(head(&chain) + 1, at);
    // The activation block: the event comes first, then its transactions see the routine.
    let r = block(
        &mut chain,
        vec![call(1, 3, caller, "run", modmul_input(7, 6, 100))],
    );
    assert_eq!(r.governance[0].kind, GovEventKind::Activated);
    assert_eq!(ok(&r, 0)[0], 42);
    let p = chain
        .read(|a| governance::proposal(a, id))
        .unwrap()
        .unwrap();
    assert_eq!(p.status, ProposalStatus::Executed { height: at });

    // Hot patch: version 2 replaces version 1 at its height; version 1 stays for replay.
    let at2 = head(&chain) + 3;
    let r = block(&mut chain, vec![propose(1, 4, modmul_as(100, 2), at2)]);
    let id2 = r.governance[0].proposal;
    block(
        &mut chain,
        vec![
            vote(0, 3, id2, true),
            vote(2, 1, id2, true),
            vote(3, 0, id2, true),
        ],
    );
    advance_to(&mut chain, at2 + 1);
    let h = chain.read(|a| governance::routine_history(a, 100)).unwrap();
    assert_eq!(h.versions.len(), 2);
    assert_eq!(h.versions[0].spec.version, 1);
    assert_eq!(h.versions[0].active_until, Some(at2));
    assert_eq!(h.active().unwrap().spec.version, 2);
    assert_eq!(h.at(at2 - 1).unwrap().spec.version, 1);
    assert_eq!(h.at(at2).unwrap().spec.version, 2);
    assert!(h.at(at - 1).is_none());
    // Both objects remain in the state.
    for v in &h.versions {
        assert!(
            chain
                .read(|a| governance::blob(a, &v.object_hash))
                .unwrap()
                .is_some()
        );
    }
    // A lower or equal version is refused at proposal.
    let at3 = head(&chain) + 3;
    let r = block(&mut chain, vec![propose(0, 4, modmul_as(100, 2), at3)]);
    assert!(matches!(failed(&r, 0), FailReason::Governance(m) if m.contains("must be higher")));

    // sha256 certifies, so genesis activated it too.
    let mut input = keel_ebpf_bridge::SHA256.to_le_bytes().to_vec();
    input.extend_from_slice(b"governed hashing");
    let n = nonce(&chain, 2);
    let r = block(&mut chain, vec![call(2, n, caller, "run", input)]);
    use sha2::Digest;
    assert_eq!(
        ok(&r, 0),
        sha2::Sha256::digest(b"governed hashing").to_vec()
    );
}

#[test]
fn the_demo_genesis_activates_every_bridge_routine_and_each_runs_on_chain() {
    use sha2::{Digest, Sha256};
    let all = GenesisRoutine::pinned().unwrap();
    let mut ids: Vec<u32> = all.iter().map(|r| r.spec.id).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            keel_ebpf_bridge::SHA256,
            keel_ebpf_bridge::KECCAK256,
            keel_ebpf_bridge::MERKLE_SHA256,
            MODMUL
        ],
        "every bridge routine certifies and is activated at genesis"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let code = wat::parse_str(CALLER).unwrap();
    let r = block(&mut chain, vec![deploy(0, 0, &code)]);
    let caller = r.receipts[0].contract.unwrap();
    let with_id = |id: u32, data: &[u8]| {
        let mut v = id.to_le_bytes().to_vec();
        v.extend_from_slice(data);
        v
    };
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
    // A Merkle proof of depth 2 for the leaf at index 1, and the same proof against a wrong root.
    let (leaf, s0, s1) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    let n1: Vec<u8> = Sha256::digest([s0, leaf].concat()).to_vec();
    let root: Vec<u8> = Sha256::digest([n1.as_slice(), &s1].concat()).to_vec();
    let proof = |root: &[u8]| {
        let mut p = root.to_vec();
        p.extend_from_slice(&leaf);
        p.extend_from_slice(&1u32.to_le_bytes());
        p.extend_from_slice(&2u32.to_le_bytes());
        p.extend_from_slice(&s0);
        p.extend_from_slice(&s1);
        p
    };
    let r = block(
        &mut chain,
        vec![
            call(
                1,
                0,
                caller,
                "run",
                with_id(keel_ebpf_bridge::SHA256, &data),
            ),
            call(
                1,
                1,
                caller,
                "run",
                with_id(keel_ebpf_bridge::KECCAK256, &data),
            ),
            call(
                1,
                2,
                caller,
                "run1",
                with_id(keel_ebpf_bridge::MERKLE_SHA256, &proof(&root)),
            ),
            call(
                1,
                3,
                caller,
                "run1",
                with_id(keel_ebpf_bridge::MERKLE_SHA256, &proof(&[9; 32])),
            ),
        ],
    );
    assert_eq!(ok(&r, 0), Sha256::digest(&data).to_vec());
    assert_eq!(ok(&r, 1), sha3::Keccak256::digest(&data).to_vec());
    assert_eq!(ok(&r, 2), vec![1]);
    assert_eq!(ok(&r, 3), vec![0]);
}

#[test]
fn without_quorum_a_proposal_expires_and_only_validators_take_part() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let at = head(&chain) + 3;
    let r = block(&mut chain, vec![propose(0, 0, modmul_as(101, 1), at)]);
    let id = r.governance[0].proposal;
    // Two yes (50%) and one no: below two thirds.
    let r = block(
        &mut chain,
        vec![
            vote(0, 1, id, true),
            vote(1, 0, id, true),
            vote(2, 0, id, false),
        ],
    );
    assert_eq!(r.governance.len(), 3);
    let r = block(&mut chain, vec![]);
    assert_eq!(head(&chain), at);
    assert_eq!(r.governance[0].kind, GovEventKind::Expired);
    let p = chain
        .read(|a| governance::proposal(a, id))
        .unwrap()
        .unwrap();
    assert_eq!(
        p.status,
        ProposalStatus::Expired {
            height: at,
            yes_stake: 200,
            total_stake: 400
        }
    );
    assert!(
        chain
            .read(|a| governance::routine_history(a, 101))
            .unwrap()
            .versions
            .is_empty()
    );

    // A funded non-validator cannot propose or vote; votes after the activation height and on
    // unknown proposals fail; activation too soon fails. Each is a failed (paid) transaction.
    block(&mut chain, vec![transfer(0, 2, addr(9), 10u128.pow(20))]);
    let soon = head(&chain) + 1;
    let later = head(&chain) + 5;
    let r = block(
        &mut chain,
        vec![
            propose(9, 0, modmul_as(102, 1), later),
            vote(9, 1, id, true),
            vote(3, 0, id, true),
            vote(3, 1, 99, true),
            propose(3, 2, modmul_as(102, 1), soon),
        ],
    );
    assert!(matches!(failed(&r, 0), FailReason::Governance(m) if m.contains("not a validator")));
    assert!(matches!(failed(&r, 1), FailReason::Governance(m) if m.contains("not a validator")));
    assert!(matches!(failed(&r, 2), FailReason::Governance(m) if m.contains("closed")));
    assert!(matches!(failed(&r, 3), FailReason::Governance(m) if m.contains("no proposal")));
    assert!(matches!(failed(&r, 4), FailReason::Governance(m) if m.contains("activation height")));
    assert!(r.governance.is_empty());
    for rc in &r.receipts {
        assert!(rc.fee > Amount::ZERO, "failed governance transactions pay");
    }
}

#[test]
fn the_checker_refuses_tampered_or_mismatched_certificates_at_proposal() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let g = modmul_genesis();
    let at = head(&chain) + 3;
    let mut tampered = g.certificate.clone();
    let n = tampered.len();
    tampered[n / 2] ^= 0x40;
    let mut wrong_len = g.spec.clone();
    wrong_len.id = 201;
    wrong_len.input = governance::InputSpec::Exact { len: 65 };
    let mut low_ceiling = g.spec.clone();
    low_ceiling.id = 202;
    low_ceiling.cost_base = 10;
    let mut syscalls = g.spec.clone();
    syscalls.id = 203;
    syscalls.syscalls = vec!["sol_log_".into()];
    let mut other = g.spec.clone();
    other.id = 200;
    let actions = [
        Action::ActivateRoutine {
            spec: other,
            object: g.object.clone(),
            certificate: tampered,
        },
        Action::ActivateRoutine {
            spec: wrong_len,
            object: g.object.clone(),
            certificate: g.certificate.clone(),
        },
        Action::ActivateRoutine {
            spec: low_ceiling,
            object: g.object.clone(),
            certificate: g.certificate.clone(),
        },
        Action::ActivateRoutine {
            spec: syscalls,
            object: g.object.clone(),
            certificate: g.certificate.clone(),
        },
    ];
    let txs = actions
        .into_iter()
        .enumerate()
        .map(|(i, a)| propose(0, i as u64, a, at))
        .collect();
    let r = block(&mut chain, txs);
    let reasons: Vec<String> = (0..4)
        .map(|i| match failed(&r, i) {
            FailReason::Governance(m) => m,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        reasons[0].contains("checker") || reasons[0].contains("certificate"),
        "{}",
        reasons[0]
    );
    assert!(
        reasons[1].contains("certificate is for inputs"),
        "{}",
        reasons[1]
    );
    assert!(reasons[2].contains("gas ceiling"), "{}", reasons[2]);
    assert!(reasons[3].contains("syscalls"), "{}", reasons[3]);
    assert!(r.governance.is_empty());
}

#[test]
fn kill_switches_refuse_deploys_and_trap_running_code_where_it_reaches_the_item() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let code = wat::parse_str(CALLER).unwrap();
    let r = block(&mut chain, vec![deploy(0, 0, &code)]);
    let caller = r.receipts[0].contract.unwrap();
    // Account 4 (not a validator) makes the calls.
    block(&mut chain, vec![transfer(0, 1, addr(4), 10u128.pow(20))]);
    pass(
        &mut chain,
        Action::Kill {
            target: KillTarget::parse("division").unwrap(),
        },
    );
    let r = block(
        &mut chain,
        vec![
            call(4, 0, caller, "divide", vec![]),
            call(4, 1, caller, "add", vec![]),
            deploy(4, 2, &code),
        ],
    );
    assert_eq!(
        failed(&r, 0),
        FailReason::Trap(Trap::Killed {
            item: "opcode class division".into()
        })
    );
    assert_eq!(r.receipts[0].faults[0].kind, keel_vm::FaultKind::Killed);
    assert_eq!(ok(&r, 1), 107u32.to_le_bytes());
    assert!(
        matches!(failed(&r, 2), FailReason::Admission(m) if m.contains("killed by governance"))
    );

    // Killing a routine: native_call to it traps with Killed.
    pass(
        &mut chain,
        Action::Kill {
            target: KillTarget::parse(&format!("routine:{MODMUL}")).unwrap(),
        },
    );
    let r = block(
        &mut chain,
        vec![call(4, 3, caller, "run", modmul_input(2, 3, MODMUL))],
    );
    assert!(
        matches!(failed(&r, 0), FailReason::Trap(Trap::Killed { item }) if item == format!("routine {MODMUL}"))
    );

    // Revive both: everything runs again.
    pass(
        &mut chain,
        Action::Revive {
            target: KillTarget::Opcode("division".into()),
        },
    );
    pass(
        &mut chain,
        Action::Revive {
            target: KillTarget::Routine(MODMUL),
        },
    );
    let r = block(
        &mut chain,
        vec![
            call(4, 4, caller, "divide", vec![]),
            call(4, 5, caller, "run", modmul_input(2, 3, MODMUL)),
        ],
    );
    assert_eq!(ok(&r, 0), 14u32.to_le_bytes());
    assert_eq!(ok(&r, 1)[0], 6);

    // Killing a host function.
    pass(
        &mut chain,
        Action::Kill {
            target: KillTarget::parse("native_call").unwrap(),
        },
    );
    let r = block(
        &mut chain,
        vec![call(4, 6, caller, "run", modmul_input(2, 3, MODMUL))],
    );
    assert!(
        matches!(failed(&r, 0), FailReason::Trap(Trap::Killed { item }) if item.contains("native_call"))
    );
    // Unknown kill targets are refused by the parser.
    assert!(KillTarget::parse("floats").is_err());

    // Every governance action is in the audit log.
    let lines = keel_chain::audit::tail(&keel_chain::audit::audit_dir(dir.path()), 1000).unwrap();
    let gov_lines = lines
        .iter()
        .filter(|l| l.contains("\"governance\""))
        .count();
    // 5 proposals × (1 proposed + 3 votes + 1 activated).
    assert_eq!(gov_lines, 25, "{lines:#?}");
}

#[test]
fn contract_upgrades_schedule_and_fee_changes_apply_at_their_height_and_replay_identically() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    let v1 = wat::parse_str(RETURNS_ONE).unwrap();
    let v2 = wat::parse_str(RETURNS_TWO).unwrap();
    let mut blocks: Vec<Block> = Vec::new();
    let mut run = |chain: &mut Chain, txs: Vec<SignedTx>| {
        let (h, _) = chain.head().unwrap();
        let header = chain.next_header(1_700_000_000 + h, *PROPOSER).unwrap();
        let b = Block { header, txs };
        let r = chain.execute_block(&b).unwrap();
        blocks.push(b);
        r
    };
    let r = run(&mut chain, vec![deploy(0, 0, &v1)]);
    let c = r.receipts[0].contract.unwrap();
    let r = run(&mut chain, vec![call(1, 0, c, "get", vec![])]);
    assert_eq!(ok(&r, 0), vec![1]);
    let gas_v1 = r.receipts[0].gas_used[0];

    let mut schedule = keel_vm::GasSchedule::v1();
    schedule.version = 2;
    schedule.call_base *= 3;
    let mut fees = ChainConfig::demo().fees;
    fees.min_prices = [2, 1, 1, 1];
    let at = head(&chain) + 4;
    let r = run(
        &mut chain,
        vec![
            propose(
                0,
                1,
                Action::UpgradeContract {
                    contract: c,
                    code: v2.clone(),
                },
                at,
            ),
            propose(
                0,
                2,
                Action::SetGasSchedule {
                    schedule_json: serde_json::to_vec(&schedule).unwrap(),
                },
                at,
            ),
            propose(0, 3, Action::SetFeeParams { fees: fees.clone() }, at),
            propose(
                0,
                4,
                Action::SetFeature {
                    name: "isa.wasm".into(),
                    version: 2,
                },
                at,
            ),
        ],
    );
    for i in 0..3 {
        ok(&r, i);
    }
    assert!(matches!(failed(&r, 3), FailReason::Governance(m) if m.contains("versions [1]")));
    let ids: Vec<u64> = r.governance.iter().map(|e| e.proposal).collect();
    let votes = ids
        .iter()
        .enumerate()
        .flat_map(|(k, id)| (1..4).map(move |v| (v, k as u64, *id)))
        .map(|(v, k, id)| vote(v, nonce(&chain, v) + k, id, true))
        .collect();
    run(&mut chain, votes);
    // Still the old code and schedule in the block before the activation height.
    let n = nonce(&chain, 1);
    let r = run(&mut chain, vec![call(1, n, c, "get", vec![])]);
    assert_eq!(ok(&r, 0), vec![1]);
    assert_eq!(r.receipts[0].gas_used[0], gas_v1);
    let r = run(&mut chain, vec![call(1, n + 1, c, "get", vec![])]);
    assert_eq!(head(&chain), at);
    assert_eq!(r.governance.len(), 3);
    assert!(
        r.governance
            .iter()
            .all(|e| e.kind == GovEventKind::Activated)
    );
    assert_eq!(ok(&r, 0), vec![2]);
    assert_eq!(
        r.receipts[0].gas_used[0],
        gas_v1 + 2 * keel_vm::GasSchedule::v1().call_base
    );
    assert_eq!(chain.config().unwrap().fees, fees);
    let history = chain.read(|a| governance::code_history(a, &c)).unwrap();
    assert_eq!(history.versions.len(), 2);
    assert_eq!(history.versions[1].1, at);
    // The old code is still in the state (for replay of old blocks).
    let old_hash: [u8; 32] = history.versions[0].0;
    assert_eq!(chain.read(|a| a.code(&old_hash)).unwrap().unwrap(), v1);

    // Replay every block on a fresh chain: same receipts, same roots, same governance.
    let dir2 = tempfile::tempdir().unwrap();
    let replay = new_chain(dir2.path());
    for b in &blocks {
        let original = chain.block_result(b.header.height).unwrap().unwrap();
        let again = replay.execute_block(b).unwrap();
        assert_eq!(again, original, "block {}", b.header.height);
    }
}

#[test]
fn a_node_stops_at_a_feature_version_it_does_not_implement() {
    use std::collections::BTreeMap;
    let mut base: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    base.insert(
        keel_chain::state_access::config_key(),
        encode(&ChainConfig::demo()),
    );
    let vm = node_tier_vm(keel_vm::VmConfig::default());
    let routines =
        keel_chain::routines::RoutineCache::new(keel_ebpf_bridge::Engine::Interpreter).unwrap();
    let exec = Executor {
        vm: &vm,
        verifier: &keel_crypto::SingleVerifier,
        routines: &routines,
        keys: &std::sync::Mutex::new(keel_crypto::KeyCache::default()),
    };
    let header = BlockHeader {
        height: 1,
        parent_root: [0; 32],
        timestamp: 0,
        proposer: *PROPOSER,
        vrf: Default::default(),
        beacon: None,
    };
    // Every gate at a version this binary implements: the block executes.
    assert!(exec.execute(base.clone(), &header, &[]).is_ok());
    // A chain whose gate moved on (decided by upgraded nodes) stops this node, with a reason.
    let mut gates = BTreeMap::new();
    gates.insert("isa.wasm".to_string(), 2u32);
    base.insert(governance::features_key(), encode(&gates));
    match exec.execute(base, &header, &[]) {
        Err(ChainError::UnsupportedFeature { name, version }) => {
            assert_eq!((name.as_str(), version), ("isa.wasm", 2));
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("executed a block under an unknown feature version"),
    }
}

#[test]
fn genesis_stores_every_feature_gate_so_the_rules_in_force_are_consensus_state() {
    let dir = tempfile::tempdir().unwrap();
    let chain = new_chain(dir.path());
    let stored = chain.get(&governance::features_key()).unwrap().unwrap();
    let gates: std::collections::BTreeMap<String, u32> = decode("features", &stored).unwrap();
    assert_eq!(gates.get("pcc.checker"), Some(&1));
    assert_eq!(gates.get("isa.wasm"), Some(&1));
    assert_eq!(gates.len(), governance::FEATURES.len());
}

#[test]
fn a_chain_whose_checker_gate_is_at_version_1_activates_routines_under_version_1_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    // Moving the gate to the version it is at is a valid proposal for a gate this node knows.
    pass(
        &mut chain,
        Action::SetFeature {
            name: "pcc.checker".into(),
            version: 1,
        },
    );
    pass(&mut chain, modmul_as(77, 1));
    let genesis = chain
        .read(|a| governance::routine_history(a, MODMUL))
        .unwrap();
    let activated = chain.read(|a| governance::routine_history(a, 77)).unwrap();
    assert_eq!(genesis.versions[0].checker_rules, 1);
    assert_eq!(activated.versions[0].checker_rules, 1);
    assert_eq!(
        activated.versions[0].worst_case_instructions, genesis.versions[0].worst_case_instructions,
        "the same object and certificate under the same rules give the same count"
    );
}

#[test]
fn a_checker_rules_version_this_binary_does_not_implement_halts_the_node_before_the_block() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain(dir.path());
    // The chain's state as upgraded nodes left it: the checker gate at version 2.
    let gate = governance::features_key();
    let mut gates: std::collections::BTreeMap<String, u32> =
        decode("features", &chain.get(&gate).unwrap().unwrap()).unwrap();
    gates.insert("pcc.checker".into(), 2);
    let mut base: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = std::collections::BTreeMap::new();
    base.insert(
        keel_chain::state_access::config_key(),
        encode(&ChainConfig::demo()),
    );
    base.insert(gate, encode(&gates));
    let vm = node_tier_vm(keel_vm::VmConfig::default());
    let routines =
        keel_chain::routines::RoutineCache::new(keel_ebpf_bridge::Engine::Interpreter).unwrap();
    let exec = Executor {
        vm: &vm,
        verifier: &keel_crypto::SingleVerifier,
        routines: &routines,
        keys: &std::sync::Mutex::new(keel_crypto::KeyCache::default()),
    };
    let header = BlockHeader {
        height: 1,
        parent_root: [0; 32],
        timestamp: 0,
        proposer: *PROPOSER,
        vrf: Default::default(),
        beacon: None,
    };
    match exec.execute(base, &header, &[]) {
        Err(ChainError::UnsupportedFeature { name, version }) => {
            assert_eq!((name.as_str(), version), ("pcc.checker", 2));
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("executed a block under checker rules this node lacks"),
    }
    // A proposal to move the gate to an unimplemented version fails at once.
    let at = head(&chain) + 3;
    let r = block(
        &mut chain,
        vec![propose(
            0,
            0,
            Action::SetFeature {
                name: "pcc.checker".into(),
                version: 2,
            },
            at,
        )],
    );
    assert!(matches!(r.receipts[0].status, TxStatus::Failed { .. }));
}
