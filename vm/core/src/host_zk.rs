//! The zero-knowledge host functions (`poseidon`, `groth16_verify`): thin glue from linear
//! memory to `keel-zk`, which holds the logic as engine-independent functions over bytes.
//!
//! Both charge before any work, trap only on out-of-bounds memory or gas, and answer malformed
//! arguments with a negative status (ABI.md), so a contract can tell "invalid" from "false".

use crate::abi::HostFn;
use crate::host::{HostFault, HostState, range, read, write};
use keel_zk::curve::SCALAR_LEN;
use keel_zk::vk_cache::VkCache;
use keel_zk::{Curve, Groth16Error, MAX_ARITY, MAX_PUBLIC_INPUTS, PoseidonError};

/// Status: the curve number is not 0 (BN254) or 1 (BLS12-381).
pub const ZK_UNKNOWN_CURVE: i32 = -1;
/// Status: an arity or input count outside the limits, or a wrong key length.
pub const ZK_BAD_SIZE: i32 = -2;
/// Status: a point is not canonical, not on the curve or not in the subgroup.
pub const ZK_BAD_POINT: i32 = -3;
/// Status: a field element (Poseidon input, public input) is not below the modulus.
pub const ZK_NON_CANONICAL: i32 = -4;

type HostResult<T> = Result<T, HostFault>;

impl HostState {
    /// `poseidon(curve, inputs, n, out) -> i32`: hashes `n` 32-byte big-endian field elements,
    /// writes the 32-byte digest to `out`; 0 on success or a negative status. Charged bytes:
    /// 32·(n+1)² (n clamped to 17, the total to twice the memory size).
    pub fn poseidon(
        &mut self,
        mem: &mut [u8],
        curve: i32,
        inputs: i32,
        n: i32,
        out: i32,
    ) -> HostResult<i32> {
        let f = HostFn::Poseidon;
        // n clamped to 17 (past the limit the call answers -2 after this charge).
        let t = u64::from(n as u32)
            .min((MAX_ARITY as u64).saturating_add(1))
            .saturating_add(1);
        let bytes = t.saturating_mul(t).saturating_mul(32);
        self.charge(f, bytes.min((mem.len() as u64).saturating_mul(2)))?;
        let Some(curve) = Curve::from_id(curve as u32) else {
            return Ok(ZK_UNKNOWN_CURVE);
        };
        let n = n as u32 as usize;
        if !(1..=MAX_ARITY).contains(&n) {
            return Ok(ZK_BAD_SIZE);
        }
        let len = i32::try_from(n.saturating_mul(SCALAR_LEN)).unwrap_or(i32::MAX);
        let words: Vec<[u8; SCALAR_LEN]> = read(mem, f, inputs, len)?
            .chunks_exact(SCALAR_LEN)
            .map(|c| {
                let mut w = [0u8; SCALAR_LEN];
                w.copy_from_slice(c);
                w
            })
            .collect();
        range(mem.len(), f, out, 32)?;
        match keel_zk::poseidon(curve, &words) {
            Ok(digest) => write(mem, &mut self.memory_written, f, out, &digest).map(|()| 0),
            Err(PoseidonError::Arity(_)) => Ok(ZK_BAD_SIZE),
            Err(PoseidonError::NonCanonical { .. } | PoseidonError::Permutation(_)) => {
                Ok(ZK_NON_CANONICAL)
            }
        }
    }

    /// `groth16_verify(curve, vk, vk_len, proof, inputs, n) -> i32`: 1 if the proof verifies
    /// for the `n` public inputs, 0 if not, or a negative status for malformed arguments.
    /// Charged bytes: 32·n (the public inputs, clamped to the memory size).
    #[allow(clippy::too_many_arguments)] // the wasm signature
    pub fn groth16_verify(
        &mut self,
        mem: &mut [u8],
        curve: i32,
        vk: i32,
        vk_len: i32,
        proof: i32,
        inputs: i32,
        n: i32,
    ) -> HostResult<i32> {
        let f = HostFn::Groth16Verify;
        let input_bytes = u64::from(n as u32).saturating_mul(SCALAR_LEN as u64);
        self.charge(f, input_bytes.min(mem.len() as u64))?;
        let Some(curve) = Curve::from_id(curve as u32) else {
            return Ok(ZK_UNKNOWN_CURVE);
        };
        let n = n as u32 as usize;
        if n > MAX_PUBLIC_INPUTS {
            return Ok(ZK_BAD_SIZE);
        }
        let proof_len = i32::try_from(keel_zk::groth16::proof_len(curve)).unwrap_or(i32::MAX);
        let inputs_len = i32::try_from(n.saturating_mul(SCALAR_LEN)).unwrap_or(i32::MAX);
        let vk = read(mem, f, vk, vk_len)?;
        let proof = read(mem, f, proof, proof_len)?;
        let inputs = read(mem, f, inputs, inputs_len)?;
        Ok(
            match keel_zk::verify_groth16(VkCache::shared(), curve, vk, proof, inputs, n) {
                Ok(ok) => i32::from(ok),
                Err(Groth16Error::Point { .. }) => ZK_BAD_POINT,
                Err(Groth16Error::NonCanonicalInput { .. }) => ZK_NON_CANONICAL,
                Err(
                    Groth16Error::TooManyInputs(_)
                    | Groth16Error::KeyLength { .. }
                    | Groth16Error::ProofLength { .. }
                    | Groth16Error::InputsLength { .. },
                ) => ZK_BAD_SIZE,
            },
        )
    }
}
