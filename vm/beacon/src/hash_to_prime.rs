//! Wesolowski's challenge ℓ: a 256-bit prime derived from the statement (Fiat–Shamir).
//!
//! Candidates are SHA-256(domain ‖ N ‖ x ‖ y ‖ counter) with the top and bottom bits set; the
//! first that passes num-prime's Baillie–PSW test is ℓ. BPSW has no known counterexample and
//! uses no random bases, so every node derives the same ℓ. 256 bits = 2λ for λ = 128, the size
//! Wesolowski's adaptive-root argument asks for.

use crate::error::VdfError;
use num_bigint::BigUint;
use num_prime::PrimalityTestConfig;
use sha2::{Digest, Sha256};

const DST: &[u8] = b"keel/vdf/hash-to-prime/v1";

/// Most candidates tried. Odd 256-bit numbers are prime with probability ≈ 1/89, so failing
/// 4096 in a row has probability below 2^-100.
pub const MAX_CANDIDATES: u32 = 4096;

/// Whether `n` passes the Baillie–PSW test (deterministic).
pub fn is_probable_prime(n: &BigUint) -> bool {
    num_prime::nt_funcs::is_prime(n, Some(PrimalityTestConfig::bpsw())).probably()
}

/// The challenge prime for the statement "y = x^(2^T) mod N". `parts` are the encodings of the
/// modulus, x, y and the delay, hashed in that order with their lengths.
pub fn challenge(parts: &[&[u8]]) -> Result<BigUint, VdfError> {
    let mut base = Sha256::new();
    base.update(DST);
    for p in parts {
        base.update((p.len() as u64).to_be_bytes());
        base.update(p);
    }
    for counter in 0..MAX_CANDIDATES {
        let mut h = base.clone();
        h.update(counter.to_be_bytes());
        let mut bytes: [u8; 32] = h.finalize().into();
        bytes[0] |= 0x80;
        bytes[31] |= 1;
        let candidate = BigUint::from_bytes_be(&bytes);
        if is_probable_prime(&candidate) {
            return Ok(candidate);
        }
    }
    Err(VdfError::NoPrime(MAX_CANDIDATES))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_test_agrees_with_known_primes_and_composites() {
        // 2^255 − 19 and 2^127 − 1 are prime; their product and a Carmichael number are not.
        let p25519 = (BigUint::from(1u8) << 255u32) - 19u8;
        let m127 = (BigUint::from(1u8) << 127u32) - 1u8;
        assert!(is_probable_prime(&p25519));
        assert!(is_probable_prime(&m127));
        assert!(!is_probable_prime(&(&p25519 * &m127)));
        assert!(!is_probable_prime(&BigUint::from(561u32)));
        assert!(!is_probable_prime(&BigUint::from(3_215_031_751u64))); // strong pseudoprime to 2,3,5,7
    }

    #[test]
    fn the_challenge_is_a_256_bit_prime_fixed_by_the_statement() {
        let a = challenge(&[b"n", b"x", b"y"]).unwrap();
        assert_eq!(a.bits(), 256);
        assert!(is_probable_prime(&a));
        assert_eq!(challenge(&[b"n", b"x", b"y"]).unwrap(), a);
        assert_ne!(challenge(&[b"n", b"x", b"z"]).unwrap(), a);
        // Lengths are hashed: moving a byte between parts changes the challenge.
        assert_ne!(challenge(&[b"nx", b"", b"y"]).unwrap(), a);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn every_statement_has_a_256_bit_prime_challenge(x in proptest::collection::vec(any::<u8>(), 0..64)) {
            let l = challenge(&[&x]).unwrap();
            prop_assert_eq!(l.bits(), 256);
            prop_assert!(l.bit(0));
            // Cross-check with a trial division by small primes (independent of BPSW).
            for p in [3u32, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47] {
                prop_assert!(&l % p != BigUint::from(0u8));
            }
        }
    }
}
