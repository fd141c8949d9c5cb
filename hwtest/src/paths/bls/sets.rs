//! Random valid and invalid sets, with the single-signature path as their reference.

use keel_crypto::{PublicKey, SecretKey, Signature};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::vectors::RawTriple;

/// The reference verdict of one triple: decode both points (key fully validated, signature
/// encoding checked), then one full verification including the subgroup check.
pub fn reference_verdict(t: &RawTriple) -> bool {
    match (PublicKey::from_bytes(&t.pk), Signature::from_bytes(&t.sig)) {
        (Ok(pk), Ok(sig)) => keel_crypto::verify(&pk, &t.msg, &sig),
        _ => false,
    }
}

/// How an item of a random set is spoiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spoil {
    WrongMessage,
    OtherSigner,
    /// Swap signatures with the next item: each alone is wrong, their sum is not.
    ForgedPair,
    OutsideSubgroup,
    Garbage,
}

const SPOILS: [Spoil; 5] = [
    Spoil::WrongMessage,
    Spoil::OtherSigner,
    Spoil::ForgedPair,
    Spoil::OutsideSubgroup,
    Spoil::Garbage,
];

/// A deterministic generator of signed sets (keys from fixed seeds, messages from `seed`).
pub struct RandomSets {
    rng: StdRng,
    keys: Vec<SecretKey>,
    /// Signatures on the curve but outside the G2 subgroup (from the py_ecc vectors).
    off_subgroup: Vec<Vec<u8>>,
}

impl RandomSets {
    /// A generator with `keys` signers. `off_subgroup` supplies points outside the subgroup.
    pub fn new(seed: u64, keys: usize, off_subgroup: Vec<Vec<u8>>) -> Self {
        let keys = (0..keys.max(2))
            .filter_map(|i| {
                let mut s = [0u8; 32];
                s[..8].copy_from_slice(&(i as u64).to_le_bytes());
                s[8..16].copy_from_slice(b"hwtestky");
                SecretKey::from_seed(&s).ok()
            })
            .collect();
        Self {
            rng: StdRng::seed_from_u64(seed),
            keys,
            off_subgroup,
        }
    }

    /// `n` valid triples; with `same_message`, all over one message (the pool groups those).
    pub fn valid(&mut self, n: usize, same_message: bool) -> Vec<RawTriple> {
        let shared = self.message();
        (0..n)
            .map(|_| {
                let msg = if same_message {
                    shared.clone()
                } else {
                    self.message()
                };
                let k = self.rng.random_range(0..self.keys.len());
                self.sign(k, msg)
            })
            .collect()
    }

    /// `n` triples of which about one in `one_in` is spoiled in a random way.
    pub fn mixed(&mut self, n: usize, one_in: u32) -> Vec<RawTriple> {
        let same = self.rng.random_bool(0.25);
        let mut set = self.valid(n, same);
        for i in 0..set.len() {
            if self.rng.random_ratio(1, one_in.max(1)) {
                let spoil = SPOILS[self.rng.random_range(0..SPOILS.len())];
                self.spoil(&mut set, i, spoil);
            }
        }
        set
    }

    fn spoil(&mut self, set: &mut [RawTriple], i: usize, how: Spoil) {
        match how {
            Spoil::WrongMessage => set[i].msg.push(0x5a),
            Spoil::OtherSigner => {
                let k = self.rng.random_range(0..self.keys.len());
                set[i].sig = self.keys[k]
                    .sign(b"someone else's message")
                    .to_bytes()
                    .to_vec();
            }
            Spoil::ForgedPair if i + 1 < set.len() && set[i].msg != set[i + 1].msg => {
                let (a, b) = set.split_at_mut(i + 1);
                std::mem::swap(&mut a[i].sig, &mut b[0].sig);
            }
            Spoil::OutsideSubgroup if !self.off_subgroup.is_empty() => {
                let j = self.rng.random_range(0..self.off_subgroup.len());
                set[i].sig = self.off_subgroup[j].clone();
            }
            _ => {
                let mut junk = vec![0u8; 96];
                self.rng.fill(&mut junk[..]);
                set[i].sig = junk;
            }
        }
    }

    fn message(&mut self) -> Vec<u8> {
        let len = self.rng.random_range(0..64);
        let mut m = vec![0u8; len];
        self.rng.fill(&mut m[..]);
        m
    }

    fn sign(&self, k: usize, msg: Vec<u8>) -> RawTriple {
        let key = &self.keys[k];
        RawTriple {
            pk: key.public_key().to_bytes().to_vec(),
            sig: key.sign(&msg).to_bytes().to_vec(),
            msg,
        }
    }
}
