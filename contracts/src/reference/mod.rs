//! Expected outputs of the benchmark kernels, computed natively. Each function returns exactly
//! the bytes (or the value whose little-endian bytes) the contract's entry point returns, so a
//! VM test can compare results without trusting the VM. All functions are pure and
//! deterministic; none panics.

mod coremark;

pub use coremark::{crc16_arc, expected_coremark};

use sha2::{Digest, Sha256};

/// `fib` entry of [`crate::FIB`]: F(n) with wrapping u64 addition (F(0) = 0, F(1) = 1).
/// The contract returns it as 8 bytes LE. Runs in O(n) like the contract.
pub fn expected_fib(n: u32) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        let t = a.wrapping_add(b);
        a = b;
        b = t;
    }
    a
}

/// `sha256` entry of [`crate::SHA256`]: the SHA-256 digest of the whole input.
pub fn expected_sha256(input: &[u8]) -> [u8; 32] {
    Sha256::digest(input).into()
}

/// `sha256_iter` entry of [`crate::SHA256`]: hashes the whole input (count bytes included),
/// then re-hashes the digest n times, n being the first 4 input bytes as u32 LE.
/// Returns `None` for inputs shorter than 4 bytes, on which the contract aborts.
pub fn expected_sha256_iter(input: &[u8]) -> Option<[u8; 32]> {
    let count: [u8; 4] = input.get(..4)?.try_into().ok()?;
    let mut digest = expected_sha256(input);
    for _ in 0..u32::from_le_bytes(count) {
        digest = Sha256::digest(digest).into();
    }
    Some(digest)
}

/// Input bytes for the `fib`, `sha256_iter` (count prefix) and `coremark` entries: a u32 LE.
pub fn u32_input(n: u32) -> [u8; 4] {
    n.to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fib_matches_the_textbook_sequence() {
        let got: Vec<u64> = (0..10).map(expected_fib).collect();
        assert_eq!(got, [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
        assert_eq!(expected_fib(93), 12_200_160_415_121_876_738);
    }

    #[test]
    fn fib_wraps_past_u64() {
        // F(94) = F(93) + F(92) overflows u64.
        assert_eq!(
            expected_fib(94),
            expected_fib(93).wrapping_add(expected_fib(92))
        );
    }

    #[test]
    fn sha256_of_abc_is_the_fips_vector() {
        let want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let got: String = expected_sha256(b"abc")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn sha256_iter_with_zero_count_is_a_plain_hash() {
        let input = [0, 0, 0, 0, 7, 7];
        assert_eq!(expected_sha256_iter(&input), Some(expected_sha256(&input)));
    }

    #[test]
    fn sha256_iter_rehashes_the_digest_count_times() {
        let input = [2, 0, 0, 0, 1];
        let once = expected_sha256(&input);
        let twice = expected_sha256(&expected_sha256(&once));
        assert_eq!(expected_sha256_iter(&input), Some(twice));
    }

    #[test]
    fn sha256_iter_rejects_inputs_without_a_count() {
        assert_eq!(expected_sha256_iter(&[1, 2, 3]), None);
    }
}
