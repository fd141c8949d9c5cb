//! Items whose signature is still in its compressed encoding: the executor's hand-off to a
//! verifier, so that decompressing a signature (a square root in Fp2, tens of microseconds)
//! runs where the verifier runs its other per-signature work (the BLS workers) rather than on
//! the thread that executes the block.

use crate::{PublicKey, Signature, SignatureVerifier, Verdict, VerifyItem};

/// One signature to check, its signature not yet decoded. The verdict of an item whose bytes do
/// not decode to a signature ([`Signature::from_bytes`] fails) is [`Verdict::Invalid`];
/// otherwise it is the verdict of the decoded [`VerifyItem`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedItem {
    /// The signer's validated public key.
    pub pk: PublicKey,
    /// The signed message.
    pub msg: Vec<u8>,
    /// The compressed signature, as the transaction carries it.
    pub sig: [u8; crate::SIGNATURE_LEN],
}

impl EncodedItem {
    /// Decodes the signature: the item a [`SignatureVerifier::verify_batch`] takes, or `None`
    /// when the bytes are not a signature (wrong flags, off the curve, infinity).
    pub fn decode(&self) -> Option<VerifyItem> {
        let sig = Signature::from_bytes(&self.sig).ok()?;
        Some(VerifyItem::new(self.pk, self.msg.clone(), sig))
    }

    /// The reference check of this item alone: decode, then [`VerifyItem::verify`].
    pub fn verify(&self) -> Verdict {
        self.decode().map_or(Verdict::Invalid, |item| item.verify())
    }
}

/// [`SignatureVerifier::verify_encoded`] given the decoded items (`None` where a signature does
/// not decode): the decodable ones go to `verifier` as one batch, in order, and the verdicts are
/// put back in place. Shared by the default method and by verifiers that decode elsewhere.
pub fn verify_decoded(
    verifier: &(impl SignatureVerifier + ?Sized),
    decoded: Vec<Option<VerifyItem>>,
) -> Vec<Verdict> {
    let mut verdicts = vec![Verdict::Invalid; decoded.len()];
    let mut index = Vec::with_capacity(decoded.len());
    let items: Vec<VerifyItem> = decoded
        .into_iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let item = d?;
            index.push(i);
            Some(item)
        })
        .collect();
    for (i, v) in index.into_iter().zip(verifier.verify_batch(&items)) {
        if let Some(slot) = verdicts.get_mut(i) {
            *slot = v;
        }
    }
    verdicts
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{SecretKey, SingleVerifier};

    fn item(seed: u8, msg: &[u8]) -> EncodedItem {
        let sk = SecretKey::from_seed(&[seed; 32]).unwrap();
        EncodedItem {
            pk: sk.public_key(),
            msg: msg.to_vec(),
            sig: sk.sign(msg).to_bytes(),
        }
    }

    /// Valid, wrong message, undecodable (a flipped field byte), infinity, not compressed.
    fn mixed() -> Vec<EncodedItem> {
        let mut wrong_msg = item(2, b"b");
        wrong_msg.msg = b"other".to_vec();
        let mut off_curve = item(3, b"c");
        off_curve.sig[95] ^= 1;
        let mut infinity = item(4, b"d");
        infinity.sig = [0; 96];
        infinity.sig[0] = 0xc0;
        let mut uncompressed = item(5, b"e");
        uncompressed.sig[0] &= 0x7f;
        vec![
            item(1, b"a"),
            wrong_msg,
            off_curve,
            item(6, b"f"),
            infinity,
            uncompressed,
        ]
    }

    #[test]
    fn the_default_verify_encoded_equals_each_items_reference_check() {
        let items = mixed();
        let got = SingleVerifier.verify_encoded(&items);
        let want: Vec<Verdict> = items.iter().map(EncodedItem::verify).collect();
        assert_eq!(got, want);
        use Verdict::{Invalid, Valid};
        assert_eq!(got, [Valid, Invalid, Invalid, Valid, Invalid, Invalid]);
    }

    #[test]
    fn an_undecodable_signature_never_reaches_the_verifier() {
        struct Counting(std::sync::atomic::AtomicUsize);
        impl SignatureVerifier for Counting {
            fn verify_batch(&self, items: &[VerifyItem]) -> Vec<Verdict> {
                self.0
                    .fetch_add(items.len(), std::sync::atomic::Ordering::Relaxed);
                SingleVerifier.verify_batch(items)
            }
        }
        let v = Counting(Default::default());
        let verdicts = v.verify_encoded(&mixed());
        assert_eq!(verdicts.len(), 6);
        // Valid, wrong message and the second valid one decode; the other three do not.
        assert_eq!(v.0.load(std::sync::atomic::Ordering::Relaxed), 3);
        assert!(v.verify_encoded(&[]).is_empty());
    }
}
