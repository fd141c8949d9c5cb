//! The randomness beacon's rows of `keel bench crypto`: the VRF (proved by the proposer,
//! verified in block validation) and the VDF (evaluated by a node-local worker, verified in
//! block validation). Neither is charged to contracts, so their rows have no gas; the host
//! function contracts call, `randomness`, is measured through the VM with the other host
//! functions.

use super::bench_crypto::CryptoRow;
use keel_beacon::vrf::{self, VrfInput};
use keel_chain::beacon::BeaconParams;
use std::time::{Duration, Instant};

/// The fastest of `rounds` runs of `f`, per call over `calls` calls.
fn best_us(
    rounds: u32,
    calls: u32,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<f64> {
    let mut best = Duration::MAX;
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        for _ in 0..calls {
            f()?;
        }
        best = best.min(start.elapsed());
    }
    Ok(best.as_secs_f64() * 1e6 / f64::from(calls.max(1)))
}

fn row(primitive: &'static str, case: String, calls: u32, us: f64) -> CryptoRow {
    CryptoRow {
        primitive,
        case,
        calls,
        us_per_call: us,
        gas_per_call: None,
        gas_per_us: None,
    }
}

/// `vrf` and `vdf` rows: prove/verify and evaluate/verify, at the demo chain's delay and at
/// 16 times it (evaluation is linear in the delay, verification nearly flat).
pub fn beacon_rows(rounds: u32) -> anyhow::Result<Vec<CryptoRow>> {
    let key = keel_crypto::SecretKey::from_seed(&[9; 32])?;
    let pk = key.public_key().to_bytes();
    let input = VrfInput {
        chain_id: 1,
        height: 42,
        prev_seed: [3; 32],
    };
    let proof = vrf::prove(&key, &input);
    let mut rows = vec![
        row(
            "vrf",
            "prove (the proposer, when building a block)".into(),
            20,
            best_us(rounds, 20, || {
                vrf::prove(&key, &input);
                Ok(())
            })?,
        ),
        row(
            "vrf",
            "verify (block validation)".into(),
            20,
            best_us(rounds, 20, || {
                Ok(vrf::verify(&pk, &input, &proof).map(|_| ())?)
            })?,
        ),
    ];
    let demo = BeaconParams::default();
    for delay in [demo.delay, demo.delay.saturating_mul(16)] {
        let params = BeaconParams {
            delay,
            ..demo.clone()
        }
        .vdf()?;
        let seed = [5u8; 32];
        let out = params.evaluate(&seed)?;
        let eval = best_us(rounds, 1, || Ok(params.evaluate(&seed).map(|_| ())?))?;
        rows.push(row(
            "vdf",
            format!("evaluate, RSA-2048, {delay} squarings (node-local worker)"),
            1,
            eval,
        ));
        let verify = best_us(rounds, 5, || Ok(params.verify(&seed, &out)?))?;
        rows.push(row(
            "vdf",
            format!("verify, RSA-2048, {delay} squarings (block validation)"),
            5,
            verify,
        ));
    }
    Ok(rows)
}
