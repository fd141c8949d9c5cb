//! BLS12-381 keys, signatures and the signature-verifier interface used by Keel.
//!
//! The scheme is Ethereum's: "minimal public key size" (public keys in G1, 48 bytes compressed;
//! signatures in G2, 96 bytes compressed), hashing to G2 with the proof-of-possession ciphersuite
//! [`SIGNATURE_DST`]. Rogue-key attacks on aggregates are prevented by proofs of possession
//! ([`SecretKey::prove_possession`], [`PublicKey::verify_possession`]) checked when a key is
//! registered, as in Ethereum.
//!
//! Validation is split by lifetime: a [`PublicKey`] is fully validated when decoded (on the curve,
//! in the prime-order subgroup, not the point at infinity) because keys are long-lived and decoded
//! once; a [`Signature`] is checked for encoding and infinity when decoded, and its subgroup
//! membership is checked by every verification path, so that batch verifiers can do that work on
//! their own (pinned) threads.
//!
//! [`SignatureVerifier`] is the seam between the chain executor and the verification backends:
//! [`SingleVerifier`] is the reference path (one full verification per item); the batch verifier in
//! `keel-offload` must give the same verdicts.

mod aggregate;
mod encoded;
mod error;
mod key_cache;
mod keys;
mod verifier;

pub use aggregate::{aggregate_signatures, aggregate_verify, fast_aggregate_verify};
pub use encoded::{EncodedItem, verify_decoded};
pub use error::CryptoError;
pub use key_cache::{KeyCache, KeyCacheStats};
pub use keys::{PublicKey, SecretKey, Signature};
pub use verifier::{SignatureVerifier, SingleVerifier, Verdict, VerifyItem, verify};

/// Domain separation tag for message signatures (Ethereum's proof-of-possession ciphersuite).
pub const SIGNATURE_DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// Domain separation tag for proofs of possession (signatures over the signer's own public key).
pub const POP_DST: &[u8] = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// Length of a compressed public key (a G1 point).
pub const PUBLIC_KEY_LEN: usize = 48;

/// Length of a compressed signature (a G2 point).
pub const SIGNATURE_LEN: usize = 96;

/// Length of a serialized secret key and of a key-generation seed.
pub const SECRET_KEY_LEN: usize = 32;
