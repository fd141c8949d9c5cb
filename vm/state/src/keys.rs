//! Raw state keys of the chain and their hashing into the tree.
//!
//! The tree stores `sha256(raw_key)` (jmt's [`KeyHash`]); the latest-value index stores the raw
//! key itself, so raw keys are laid out to make prefix scans meaningful.
//!
//! Layout (domain separation by a leading tag byte, followed by fixed-length fields, so no two
//! distinct `(kind, fields)` tuples ever produce the same raw key):
//!
//! | kind    | raw key                                  | length    |
//! |---------|------------------------------------------|-----------|
//! | account | `0x01 ‖ address[32]`                     | 33        |
//! | storage | `0x02 ‖ contract[32] ‖ slot key (any)`   | 33 + n    |
//! | code    | `0x03 ‖ code_hash[32]`                   | 33        |
//!
//! Tags `0x00` and `0x04..=0xff` are reserved for future kinds (e.g. chain configuration,
//! eviction commitments). Because the contract address is fixed-length, all storage of one
//! contract is exactly the raw keys starting with [`storage_prefix`].

use jmt::KeyHash;

/// Tag byte of account records.
pub const ACCOUNT_TAG: u8 = 0x01;
/// Tag byte of contract storage slots.
pub const STORAGE_TAG: u8 = 0x02;
/// Tag byte of contract code blobs.
pub const CODE_TAG: u8 = 0x03;

/// The raw key of the account record at `addr`.
pub fn account_key(addr: &[u8; 32]) -> Vec<u8> {
    account_key_array(addr).to_vec()
}

/// [`account_key`] on the stack, for lookups that need no owned key.
pub fn account_key_array(addr: &[u8; 32]) -> [u8; 33] {
    let mut key = [ACCOUNT_TAG; 33];
    if let Some(id) = key.get_mut(1..) {
        id.copy_from_slice(addr);
    }
    key
}

/// The raw key of slot `key` in the storage of `contract`. `key` may have any length,
/// including zero.
pub fn storage_key(contract: &[u8; 32], key: &[u8]) -> Vec<u8> {
    tagged(STORAGE_TAG, contract, key)
}

/// Slot keys up to this length get their [`storage_key`] built on the stack by
/// [`with_storage_key`].
const STACK_SLOT_KEY: usize = 64;

/// `f` of [`storage_key`]`(contract, key)`, built on the stack when the slot key is short (at
/// most 64 bytes), for lookups that need no owned key.
pub fn with_storage_key<R>(contract: &[u8; 32], key: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    if key.len() > STACK_SLOT_KEY {
        return f(&storage_key(contract, key));
    }
    let mut buf = [STORAGE_TAG; 1 + 32 + STACK_SLOT_KEY];
    let (id, slot) = buf.split_at_mut(33);
    if let (Some(id), Some(slot)) = (id.get_mut(1..), slot.get_mut(..key.len())) {
        id.copy_from_slice(contract);
        slot.copy_from_slice(key);
    }
    f(buf.get(..33 + key.len()).unwrap_or_default())
}

/// The prefix shared by every storage key of `contract` (and by no other key).
pub fn storage_prefix(contract: &[u8; 32]) -> Vec<u8> {
    tagged(STORAGE_TAG, contract, &[])
}

/// The raw key of the code blob whose hash is `code_hash`.
pub fn code_key(code_hash: &[u8; 32]) -> Vec<u8> {
    tagged(CODE_TAG, code_hash, &[])
}

/// The tree position of a raw key: `sha256(raw_key)`, exactly as jmt hashes keys.
pub fn key_hash(raw_key: &[u8]) -> KeyHash {
    KeyHash::with::<sha2::Sha256>(raw_key)
}

fn tagged(tag: u8, id: &[u8; 32], rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + id.len() + rest.len());
    key.push(tag);
    key.extend_from_slice(id);
    key.extend_from_slice(rest);
    key
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn key_kinds_never_collide_for_the_same_identifier() {
        let id = [7u8; 32];
        let keys = [account_key(&id), storage_key(&id, &[]), code_key(&id)];
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[0], keys[2]);
        assert_ne!(keys[1], keys[2]);
    }

    #[test]
    fn storage_keys_of_a_contract_share_its_prefix_and_no_other() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        assert!(storage_key(&a, b"slot").starts_with(&storage_prefix(&a)));
        assert!(!storage_key(&b, b"slot").starts_with(&storage_prefix(&a)));
        assert!(!account_key(&a).starts_with(&storage_prefix(&a)));
    }

    #[test]
    fn the_stack_storage_key_is_the_storage_key_at_every_length() {
        let c: [u8; 32] = std::array::from_fn(|i| i as u8 + 1);
        for n in [0usize, 1, 31, 63, 64, 65, 200] {
            let slot: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
            let built = with_storage_key(&c, &slot, <[u8]>::to_vec);
            assert_eq!(built, storage_key(&c, &slot), "slot key of {n} bytes");
        }
    }

    #[test]
    fn the_stack_account_key_is_the_account_key() {
        let a: [u8; 32] = std::array::from_fn(|i| i as u8 + 1);
        assert_eq!(
            account_key_array(&a).as_slice(),
            tagged(ACCOUNT_TAG, &a, &[])
        );
        assert_eq!(account_key(&a), tagged(ACCOUNT_TAG, &a, &[]));
    }

    #[test]
    fn key_hash_is_sha256_of_the_raw_key() {
        use sha2::Digest;
        let raw = account_key(&[9u8; 32]);
        let expected: [u8; 32] = sha2::Sha256::digest(&raw).into();
        assert_eq!(key_hash(&raw).0, expected);
    }
}
