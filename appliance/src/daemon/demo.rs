//! The demo workload: a validator client talking to the daemon over its socket, exercising every
//! request kind once and printing what happened. Its main block goes the proposer's way:
//! transactions into the mempool (`SubmitTx`), a block packed from it (`BuildBlock`), that block
//! committed (`SubmitBlock`).

use anyhow::{Context, bail};
use keel_chain::{
    Amount, Block, CallData, Receipt, SignedTx, Transaction, TxKind, address_of, encode,
};
use keel_client::{Client, Endpoint};
use keel_crypto::SecretKey;
use keel_protocol::{Request, Response};

use crate::cmd::chain::gas_text;

fn signed(key: &SecretKey, nonce: u64, kind: TxKind) -> SignedTx {
    signed_paying(key, nonce, 1, kind)
}

fn signed_paying(key: &SecretKey, nonce: u64, priority_fee: u64, kind: TxKind) -> SignedTx {
    Transaction {
        chain_id: keel_chain::ChainConfig::demo().chain_id,
        sender: key.public_key().to_bytes(),
        nonce,
        gas_limits: [2_000_000, 10_000, 16, 100_000],
        max_fee_per_unit: [1_000, 1_000, 1_000, 1_000],
        priority_fee,
        kind,
    }
    .sign(key)
}

fn expect_ok(r: Response) -> anyhow::Result<Response> {
    if let Response::Error { code, message } = &r {
        bail!("daemon answered {}: {message}", code.name());
    }
    Ok(r)
}

fn status(c: &mut Client) -> anyhow::Result<(u64, [u8; 32])> {
    match expect_ok(c.call(&Request::Status)?)? {
        Response::Status(s) => Ok((s.height, s.state_root)),
        other => bail!("unexpected answer to Status: {other:?}"),
    }
}

fn nonce(c: &mut Client, who: &SecretKey) -> anyhow::Result<u64> {
    let key = keel_state::keys::account_key(&address_of(&who.public_key().to_bytes()));
    match expect_ok(c.call(&Request::QueryState {
        key,
        with_proof: false,
    })?)? {
        Response::StateValue { value: Some(v), .. } => {
            Ok(keel_chain::decode::<keel_chain::Account>("account", &v)?.nonce)
        }
        Response::StateValue { value: None, .. } => Ok(0),
        other => bail!("unexpected answer to QueryState: {other:?}"),
    }
}

/// Submits `txs` as the next block, proposed by `validator`, one time unit after the head.
fn submit_block(
    c: &mut Client,
    validator: &SecretKey,
    txs: Vec<SignedTx>,
) -> anyhow::Result<keel_chain::BlockResult> {
    // The daemon makes the header (the proposer's VRF proof, the due VDF output): the block
    // `BuildBlock` packed is replaced by these transactions (the header does not depend on them).
    let request = keel_protocol::BuildRequest {
        proposer: address_of(&validator.public_key().to_bytes()),
        ..keel_protocol::BuildRequest::default()
    };
    let header = match expect_ok(c.call(&Request::BuildBlock(request))?)? {
        Response::BlockBuilt { block, .. } => keel_chain::decode::<Block>("block", &block)?.header,
        other => bail!("unexpected answer to BuildBlock: {other:?}"),
    };
    let block = Block { header, txs };
    match expect_ok(c.call(&Request::SubmitBlock {
        block: encode(&block),
    })?)? {
        Response::BlockOutcome { output } => Ok(serde_json::from_slice(&output)?),
        other => bail!("unexpected answer to SubmitBlock: {other:?}"),
    }
}

/// The mempool loop: submits `txs` (`SubmitTx`), has the daemon pack the next block from its
/// mempool (`BuildBlock`, proposed by `validator`) and commits it (`SubmitBlock`).
fn through_mempool(
    c: &mut Client,
    validator: &SecretKey,
    txs: Vec<SignedTx>,
) -> anyhow::Result<keel_chain::BlockResult> {
    let (mut waiting, mut replaced) = (0, 0);
    let submitted = txs.len();
    for tx in txs {
        match expect_ok(c.call(&Request::SubmitTx { tx: encode(&tx) })?)? {
            Response::TxAdmitted {
                ready, replaced: r, ..
            } => {
                waiting += usize::from(!ready);
                replaced += usize::from(r.is_some());
            }
            other => bail!("unexpected answer to SubmitTx: {other:?}"),
        }
    }
    println!(
        "demo: SubmitTx: {submitted} transactions admitted to the mempool, signatures verified \
         once on the batching service ({waiting} waited for an earlier nonce, {replaced} \
         replaced a pending one by a higher priority fee)"
    );
    let request = keel_protocol::BuildRequest {
        proposer: address_of(&validator.public_key().to_bytes()),
        ..keel_protocol::BuildRequest::default()
    };
    let (block, detail) = match expect_ok(c.call(&Request::BuildBlock(request))?)? {
        Response::BlockBuilt { block, detail } => (block, detail),
        other => bail!("unexpected answer to BuildBlock: {other:?}"),
    };
    let detail: serde_json::Value = serde_json::from_slice(&detail).unwrap_or_default();
    println!(
        "demo: BuildBlock: packed {} transactions by priority fee per unit of the scarcest gas \
         dimension, each sender in nonce order (gas limits {}, priority fees up to {})",
        detail["txs"],
        detail["gas"],
        detail["priority_fees"].as_str().unwrap_or("?")
    );
    match expect_ok(c.call(&Request::SubmitBlock { block })?)? {
        Response::BlockOutcome { output } => Ok(serde_json::from_slice(&output)?),
        other => bail!("unexpected answer to SubmitBlock: {other:?}"),
    }
}

/// What the demo left on the chain, for the "try next" hints.
pub struct DemoOutcome {
    /// The deployed counter contract.
    pub counter: [u8; 32],
}

/// Runs the workload against `endpoint` with demo validator key 0 and account keys 1 and 2.
pub fn run(endpoint: &Endpoint, keys: &[SecretKey]) -> anyhow::Result<DemoOutcome> {
    let [validator, alice, bob, ..] = keys else {
        bail!("the demo needs at least three keystore accounts");
    };
    let mut c = Client::connect(endpoint).context("cannot connect to the daemon")?;
    let read_only = c.handshake(validator, None).context("handshake failed")?;
    println!(
        "demo: authenticated as validator 0 ({})",
        if read_only {
            "read-only"
        } else {
            "may submit blocks"
        }
    );
    let (height, root) = status(&mut c)?;
    println!("demo: head at height {height}, root {}", hex::encode(root));

    // Deploy the counter contract.
    let deploy = signed(
        alice,
        nonce(&mut c, alice)?,
        TxKind::Deploy {
            code: keel_contracts::COUNTER.wasm.to_vec(),
            constructor: None,
        },
    );
    // A Deploy request only simulates (blocks come only from SubmitBlock): check the outcome,
    // then commit the deploy in a block proposed by the validator.
    let simulated: serde_json::Value = match expect_ok(c.call(&Request::Deploy {
        tx: encode(&deploy),
    })?)? {
        Response::TxOutcome { output } => serde_json::from_slice(&output)?,
        other => bail!("unexpected answer to Deploy: {other:?}"),
    };
    let (after, _) = status(&mut c)?;
    println!(
        "demo: simulated the deploy: {} ({})",
        simulated["receipt"]["status"]["status"]
            .as_str()
            .unwrap_or("?"),
        if after == height {
            "not committed"
        } else {
            "COMMITTED by a Deploy request"
        }
    );
    let result = submit_block(&mut c, validator, vec![deploy])?;
    let receipt: Receipt = result
        .receipts
        .into_iter()
        .next()
        .context("the block has no receipt")?;
    let counter = receipt
        .contract
        .context("the deploy did not create a contract")?;
    println!(
        "demo: deployed counter at {} (gas {})",
        hex::encode(counter),
        gas_text(&receipt.gas_used)
    );

    // One block through the mempool: three increments and ten transfers. Bob's transfers
    // arrive newest first (each waits for the one before it), and Alice's first increment is
    // sent again with a higher priority fee (a replacement).
    let mut txs = Vec::new();
    let n_alice = nonce(&mut c, alice)?;
    for i in 0..3 {
        txs.push(signed(
            alice,
            n_alice + i,
            TxKind::Call {
                contract: counter,
                call: CallData {
                    entry: "increment".into(),
                    args: vec![],
                },
                value: Amount::ZERO,
            },
        ));
    }
    let n_bob = nonce(&mut c, bob)?;
    let to = address_of(&alice.public_key().to_bytes());
    for i in 0..10 {
        txs.push(signed(
            bob,
            n_bob + i,
            TxKind::Transfer {
                to,
                amount: Amount::from_u128(1_000 + u128::from(i)),
            },
        ));
    }
    txs[3..].reverse();
    txs.push(signed_paying(
        alice,
        n_alice,
        2,
        TxKind::Call {
            contract: counter,
            call: CallData {
                entry: "increment".into(),
                args: vec![],
            },
            value: Amount::ZERO,
        },
    ));
    let result = through_mempool(&mut c, validator, txs)?;
    let ok = result
        .receipts
        .iter()
        .filter(|r| matches!(r.status, keel_chain::TxStatus::Success { .. }))
        .count();
    println!(
        "demo: SubmitBlock: block {} committed: {ok}/{} transactions succeeded (3 counter \
         increments by account 1, 10 transfers from account 2; their signatures were not \
         verified again), gas {}, root {}",
        result.height,
        result.receipts.len(),
        gas_text(&result.gas_used),
        hex::encode(result.state_root)
    );

    // Read the counter with a proof, and check the proof here, without the database.
    let key = keel_state::keys::storage_key(&counter, b"count");
    let (value, proof) = match expect_ok(c.call(&Request::QueryState {
        key: key.clone(),
        with_proof: true,
    })?)? {
        Response::StateValue {
            value,
            proof: Some(p),
        } => (value, p),
        other => bail!("unexpected answer to QueryState: {other:?}"),
    };
    let p: serde_json::Value = serde_json::from_slice(&proof)?;
    let root: [u8; 32] = hex::decode(p["root"].as_str().unwrap_or_default())?
        .try_into()
        .map_err(|_| anyhow::anyhow!("bad root"))?;
    let proof = keel_state::StateProof::from_hex(p["proof"].as_str().unwrap_or_default())?;
    keel_state::verify_proof(keel_state::RootHash(root), &key, value.as_deref(), &proof)
        .context("the daemon's proof does not verify")?;
    let count = value
        .as_deref()
        .and_then(|v| v.try_into().ok())
        .map(u64::from_le_bytes);
    println!(
        "demo: counter = {}, proven against root {} (the proof was checked here, without the \
         database)",
        count.map_or("absent".into(), |c| c.to_string()),
        hex::encode(root)
    );

    // Batch BLS verification: 16 good signatures and one forged.
    let mut items: Vec<keel_protocol::BlsItem> = (0..16u8)
        .map(|i| {
            let msg = vec![i; 32];
            (
                validator.public_key().to_bytes(),
                msg.clone(),
                validator.sign(&msg).to_bytes(),
            )
        })
        .collect();
    items[5].1 = b"forged".to_vec();
    match expect_ok(c.call(&Request::BlsBatchVerify { items })?)? {
        Response::VerifyResult { valid } => {
            let bad: Vec<usize> = valid
                .iter()
                .enumerate()
                .filter(|(_, v)| !**v)
                .map(|(i, _)| i)
                .collect();
            println!(
                "demo: batch-verified 16 signatures; invalid positions {bad:?} (item 5 was forged \
                 on purpose: the batch verifier must single it out)"
            );
        }
        other => bail!("unexpected answer to BlsBatchVerify: {other:?}"),
    }

    // Simulate a call without committing it.
    let sim = signed(
        alice,
        nonce(&mut c, alice)?,
        TxKind::Call {
            contract: counter,
            call: CallData {
                entry: "get".into(),
                args: vec![],
            },
            value: Amount::ZERO,
        },
    );
    if let Response::TxOutcome { output } =
        expect_ok(c.call(&Request::SimulateTx { tx: encode(&sim) })?)?
    {
        let r: Receipt = serde_json::from_slice(&output)?;
        let outcome = match &r.status {
            keel_chain::TxStatus::Success { return_data } => {
                format!("ok, returned 0x{}", hex::encode(return_data))
            }
            keel_chain::TxStatus::Failed { reason } => format!("FAILED: {reason}"),
            keel_chain::TxStatus::Rejected { reason } => format!("REJECTED: {reason}"),
        };
        println!("demo: simulated counter.get (not committed): {outcome}");
    }

    // Pipelining: 200 status requests in flight on one connection.
    let reqs = vec![Request::Status; 200];
    let answers = c.pipeline(&reqs, 64)?;
    println!(
        "demo: pipelined {} status requests, {} answers",
        reqs.len(),
        answers.len()
    );
    Ok(DemoOutcome { counter })
}

/// The commands to try next against this daemon, exactly as they are typed.
pub fn print_next_steps(endpoint: &str, keystore: &std::path::Path, outcome: &DemoOutcome) {
    let conn = format!(
        "--endpoint {endpoint} --keystore {} --key 0",
        keystore.display()
    );
    let counter = hex::encode(outcome.counter);
    println!("demo: try next (the daemon allows the demo validators' keys 0-3, here --key 0):");
    for cmd in [
        "status".to_string(),
        "account 1".to_string(),
        format!("call {counter} get"),
        format!("query storage:{counter}:{} --json", hex::encode(b"count")),
    ] {
        println!("  keel client {cmd} {conn}");
    }
    println!("  keel kernel status; keel --help; keel client --help");
}
