//! Single signature verification and the [`SignatureVerifier`] seam used by the executor.

use crate::{EncodedItem, PublicKey, SIGNATURE_DST, Signature};

/// Verifies `sig` on `msg` under `pk` with [`SIGNATURE_DST`], including the subgroup check of
/// the signature (the key was validated when decoded).
///
/// Deterministic: the answer depends only on the three inputs.
pub fn verify(pk: &PublicKey, msg: &[u8], sig: &Signature) -> bool {
    sig.as_blst()
        .verify(true, msg, SIGNATURE_DST, &[], pk.as_blst(), false)
        == blst::BLST_ERROR::BLST_SUCCESS
}

/// One signature to check: a key, the signed message and the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyItem {
    /// The signer's validated public key.
    pub pk: PublicKey,
    /// The signed message (signed as is, hashed to G2 under [`SIGNATURE_DST`]).
    pub msg: Vec<u8>,
    /// The signature, decoded but not yet subgroup-checked.
    pub sig: Signature,
}

impl VerifyItem {
    /// Bundles the three parts.
    pub fn new(pk: PublicKey, msg: impl Into<Vec<u8>>, sig: Signature) -> Self {
        Self {
            pk,
            msg: msg.into(),
            sig,
        }
    }

    /// The reference check of this item alone: [`verify`].
    pub fn verify(&self) -> Verdict {
        Verdict::from(verify(&self.pk, &self.msg, &self.sig))
    }
}

/// The outcome for one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The signature verifies.
    Valid,
    /// The signature does not verify (wrong key, wrong message, not in the subgroup, ...).
    Invalid,
}

impl Verdict {
    /// `true` for [`Verdict::Valid`].
    pub fn is_valid(self) -> bool {
        self == Self::Valid
    }
}

impl From<bool> for Verdict {
    fn from(ok: bool) -> Self {
        if ok { Self::Valid } else { Self::Invalid }
    }
}

/// Something that checks many signatures at once.
///
/// Contract for every implementation: `verify_batch(items)` returns exactly one verdict per item,
/// in the order of `items`, and each verdict equals `items[i].verify()` — the reference path —
/// whatever the batch composition, thread count or machine. The verdicts are a function of
/// `items` alone (consensus): no host randomness, so a batch verifier derives its combination
/// scalars from the batch itself (`keel-offload`), and may differ from the reference only if an
/// adversary grinds a batch whose errors cancel (about 2^-128 per attempt there).
pub trait SignatureVerifier: Send + Sync {
    /// One verdict per item, in order. Never fails: a verifier that cannot use its fast path
    /// must fall back to checking items itself.
    fn verify_batch(&self, items: &[VerifyItem]) -> Vec<Verdict>;

    /// One verdict per item, in order, for items whose signatures are still compressed: an
    /// item whose signature does not decode is [`Verdict::Invalid`], every other verdict is
    /// that of [`SignatureVerifier::verify_batch`] over the decoded items (same contract). The
    /// default decodes on the calling thread; a verifier with workers decodes there instead.
    fn verify_encoded(&self, items: &[EncodedItem]) -> Vec<Verdict> {
        let decoded = items.iter().map(EncodedItem::decode).collect();
        crate::encoded::verify_decoded(self, decoded)
    }
}

/// The reference verifier: one full blst verification per item, on the calling thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleVerifier;

impl SignatureVerifier for SingleVerifier {
    fn verify_batch(&self, items: &[VerifyItem]) -> Vec<Verdict> {
        items.iter().map(VerifyItem::verify).collect()
    }
}
