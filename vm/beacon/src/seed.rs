//! The seed chain: seed₀ from the chain id, seedₕ = H(seedₕ₋₁ ‖ VRF outputₕ), and the beacon
//! value H(VDF output). All SHA-256 with distinct domains.

use sha2::{Digest, Sha256};

const GENESIS_DOMAIN: &[u8] = b"keel/beacon-seed/genesis/v1";
const SEED_DOMAIN: &[u8] = b"keel/beacon-seed/v1";
const VALUE_DOMAIN: &[u8] = b"keel/beacon-value/v1";

/// seed₀ of the chain `chain_id`.
pub fn genesis_seed(chain_id: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(GENESIS_DOMAIN);
    h.update(chain_id.to_le_bytes());
    h.finalize().into()
}

/// seedₕ from seedₕ₋₁ and block h's VRF output.
pub fn next_seed(prev: &[u8; 32], vrf_output: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(SEED_DOMAIN);
    h.update(prev);
    h.update(vrf_output);
    h.finalize().into()
}

/// The 32-byte beacon value of a (verified) VDF output: what `keel.randomness` returns.
pub fn beacon_value(vdf_output: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(VALUE_DOMAIN);
    h.update(vdf_output);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_depends_on_every_input() {
        let s0 = genesis_seed(1);
        assert_ne!(s0, genesis_seed(2));
        let s1 = next_seed(&s0, &[1; 32]);
        assert_ne!(s1, next_seed(&s0, &[2; 32]));
        assert_ne!(s1, next_seed(&genesis_seed(2), &[1; 32]));
        assert_ne!(beacon_value(&[1]), beacon_value(&[2]));
    }
}
