//! The redb layout of the state database and jmt's view of it.
//!
//! Format version 2 (bump [`FORMAT_VERSION`] whenever anything below changes meaning):
//!
//! | table        | key                                   | value                              |
//! |--------------|---------------------------------------|------------------------------------|
//! | `meta`       | `"format"`, `"latest_version"`        | u32 BE, u64 BE                     |
//! | `jmt_nodes`  | version u64 BE ‖ borsh(`NibblePath`)  | borsh(`Node`)                      |
//! | `jmt_values` | key hash[32] ‖ version u64 BE         | `0x00` deleted / `0x01 ‖ value`    |
//! | `jmt_stale`  | stale-since version u64 BE ‖ node key | `()`                               |
//! | `latest`     | raw key                               | version u64 BE ‖ checksum[32] ‖ value |
//! | `roots`      | version                               | root hash[32]                      |
//! | `block_aux`  | version                               | caller's block metadata bytes      |
//!
//! `jmt_values` is ordered by (key hash, version) so "newest value at or below version v" is one
//! reverse range step. `jmt_stale` records which nodes each version superseded so that a pruner
//! can delete them later; nothing deletes them yet.
//!
//! A `latest` record carries the version that wrote it and a checksum binding key, version and
//! value ([`latest_checksum`]), checked on every read: execution reads this index, not the tree,
//! so a damaged byte must surface as [`StateError::CorruptValue`], never as a different value.
//! Version 1 stored the bare value.

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use redb::{ReadableTable, TableDefinition};

use crate::error::StateError;

/// The on-disk format this binary reads and writes.
pub const FORMAT_VERSION: u32 = 2;

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_nodes");
pub(crate) const VALUES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_values");
pub(crate) const STALE: TableDefinition<&[u8], ()> = TableDefinition::new("jmt_stale");
pub(crate) const LATEST: TableDefinition<&[u8], &[u8]> = TableDefinition::new("latest");
pub(crate) const ROOTS: TableDefinition<u64, &[u8; 32]> = TableDefinition::new("roots");
pub(crate) const BLOCK_AUX: TableDefinition<u64, &[u8]> = TableDefinition::new("block_aux");

pub(crate) const META_FORMAT: &str = "format";
pub(crate) const META_LATEST: &str = "latest_version";

const VALUE_DELETED: u8 = 0x00;
const VALUE_PRESENT: u8 = 0x01;

/// Version first, big-endian: a block's new nodes then sort after all older ones, so redb
/// appends them instead of inserting all over the B-tree.
pub(crate) fn encode_node_key(key: &NodeKey) -> Result<Vec<u8>, StateError> {
    let mut out = key.version().to_be_bytes().to_vec();
    borsh::to_writer(&mut out, key.nibble_path()).map_err(|e| corrupt("jmt_nodes", e))?;
    Ok(out)
}

fn decode_node_key(bytes: &[u8]) -> Result<NodeKey, StateError> {
    let (version, path) = bytes
        .split_first_chunk::<8>()
        .ok_or_else(|| corrupt("jmt_nodes", "node key shorter than its version"))?;
    let path = borsh::from_slice(path).map_err(|e| corrupt("jmt_nodes", e))?;
    Ok(NodeKey::new(u64::from_be_bytes(*version), path))
}

pub(crate) fn encode_node(node: &Node) -> Result<Vec<u8>, StateError> {
    borsh::to_vec(node).map_err(|e| corrupt("jmt_nodes", e))
}

pub(crate) fn decode_node(bytes: &[u8]) -> Result<Node, StateError> {
    borsh::from_slice(bytes).map_err(|e| corrupt("jmt_nodes", e))
}

pub(crate) fn value_key(key_hash: KeyHash, version: Version) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..32].copy_from_slice(&key_hash.0);
    out[32..].copy_from_slice(&version.to_be_bytes());
    out
}

pub(crate) fn encode_value(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        None => vec![VALUE_DELETED],
        Some(v) => {
            let mut out = Vec::with_capacity(1 + v.len());
            out.push(VALUE_PRESENT);
            out.extend_from_slice(v);
            out
        }
    }
}

pub(crate) fn decode_value(bytes: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
    match bytes.split_first() {
        Some((&VALUE_DELETED, [])) => Ok(None),
        Some((&VALUE_PRESENT, rest)) => Ok(Some(rest.to_vec())),
        _ => Err(corrupt("jmt_values", "unknown value tag")),
    }
}

/// Domain tag of the `latest` record checksum.
const LATEST_CHECKSUM_DOMAIN: &[u8] = b"keel/state/latest/v2";
/// Bytes before the value in a `latest` record: version and checksum.
const LATEST_HEADER: usize = 8 + 32;

/// sha256 over domain ‖ key length ‖ key ‖ version ‖ value: one hash per read, and a record
/// moved to another key or version fails as surely as a flipped value byte.
pub(crate) fn latest_checksum(key: &[u8], version: Version, value: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(LATEST_CHECKSUM_DOMAIN);
    h.update((key.len() as u64).to_be_bytes());
    h.update(key);
    h.update(version.to_be_bytes());
    h.update(value);
    h.finalize().into()
}

pub(crate) fn encode_latest(key: &[u8], version: Version, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LATEST_HEADER.saturating_add(value.len()));
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&latest_checksum(key, version, value));
    out.extend_from_slice(value);
    out
}

/// A verified `latest` record: the version that wrote it and its value.
///
/// # Errors
/// [`StateError::CorruptValue`] if the record is truncated or its checksum does not match.
pub(crate) fn decode_latest(key: &[u8], record: &[u8]) -> Result<(Version, Vec<u8>), StateError> {
    let corrupt = || StateError::CorruptValue {
        key: key.to_vec(),
        version: None,
    };
    let (version, rest) = record.split_first_chunk::<8>().ok_or_else(corrupt)?;
    let (checksum, value) = rest.split_first_chunk::<32>().ok_or_else(corrupt)?;
    let version = u64::from_be_bytes(*version);
    if latest_checksum(key, version, value) != *checksum {
        return Err(StateError::CorruptValue {
            key: key.to_vec(),
            version: Some(version),
        });
    }
    Ok((version, value.to_vec()))
}

pub(crate) fn stale_key(since: Version, node_key: &NodeKey) -> Result<Vec<u8>, StateError> {
    let mut out = since.to_be_bytes().to_vec();
    out.extend_from_slice(&encode_node_key(node_key)?);
    Ok(out)
}

pub(crate) fn decode_u32(table: &'static str, bytes: &[u8]) -> Result<u32, StateError> {
    <[u8; 4]>::try_from(bytes)
        .map(u32::from_be_bytes)
        .map_err(|_| corrupt(table, "expected a 4-byte integer"))
}

pub(crate) fn decode_u64(table: &'static str, bytes: &[u8]) -> Result<u64, StateError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| corrupt(table, "expected an 8-byte integer"))
}

pub(crate) fn corrupt(table: &'static str, detail: impl std::fmt::Display) -> StateError {
    StateError::Corrupt {
        table,
        detail: detail.to_string(),
    }
}

/// jmt's window onto the node and value tables, inside one redb transaction (read or write), so
/// every tree walk sees one consistent snapshot.
pub(crate) struct TreeTables<N, V> {
    pub(crate) nodes: N,
    pub(crate) values: V,
}

impl<N, V> TreeTables<N, V>
where
    N: ReadableTable<&'static [u8], &'static [u8]>,
    V: ReadableTable<&'static [u8], &'static [u8]>,
{
    /// The newest value of `key_hash` at or below `max_version`; `None` if absent or deleted.
    pub(crate) fn value_at(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> Result<Option<Vec<u8>>, StateError> {
        let low = value_key(key_hash, 0);
        let high = value_key(key_hash, max_version);
        let mut range = self
            .values
            .range::<&[u8]>(low.as_slice()..=high.as_slice())?;
        match range.next_back() {
            None => Ok(None),
            Some(entry) => {
                let (_, value) = entry?;
                decode_value(value.value())
            }
        }
    }

    pub(crate) fn node(&self, node_key: &NodeKey) -> Result<Option<Node>, StateError> {
        let key = encode_node_key(node_key)?;
        match self.nodes.get(key.as_slice())? {
            None => Ok(None),
            Some(bytes) => decode_node(bytes.value()).map(Some),
        }
    }
}

impl<N, V> TreeReader for TreeTables<N, V>
where
    N: ReadableTable<&'static [u8], &'static [u8]>,
    V: ReadableTable<&'static [u8], &'static [u8]>,
{
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.node(node_key)?)
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self.value_at(max_version, key_hash)?)
    }

    /// Only jmt's snapshot restore calls this. It scans every stored node (O(nodes)), which is
    /// acceptable for a restore that writes every node anyway.
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        let mut best: Option<(NodeKey, LeafNode)> = None;
        for entry in self.nodes.iter()? {
            let (key, value) = entry?;
            if let Node::Leaf(leaf) = decode_node(value.value())? {
                let is_further_right = best
                    .as_ref()
                    .is_none_or(|(_, b)| leaf.key_hash() > b.key_hash());
                if is_further_right {
                    best = Some((decode_node_key(key.value())?, leaf));
                }
            }
        }
        Ok(best)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn value_encoding_distinguishes_deleted_from_empty() {
        assert_eq!(decode_value(&encode_value(None)).ok(), Some(None));
        assert_eq!(
            decode_value(&encode_value(Some(&[]))).ok(),
            Some(Some(vec![]))
        );
        assert_eq!(
            decode_value(&encode_value(Some(b"abc"))).ok(),
            Some(Some(b"abc".to_vec()))
        );
        assert!(decode_value(&[]).is_err());
        assert!(decode_value(&[0x00, 0x01]).is_err());
        assert!(decode_value(&[0x07]).is_err());
    }

    #[test]
    fn value_keys_sort_by_key_hash_then_version() {
        let a = KeyHash([1; 32]);
        let b = KeyHash([2; 32]);
        assert!(value_key(a, 5) < value_key(a, 6));
        assert!(value_key(a, 256) > value_key(a, 255));
        assert!(value_key(a, u64::MAX) < value_key(b, 0));
    }

    #[test]
    fn a_latest_record_decodes_only_under_its_own_key_and_unchanged() {
        let record = encode_latest(b"key", 7, b"value");
        assert_eq!(
            decode_latest(b"key", &record).unwrap(),
            (7, b"value".to_vec())
        );
        assert!(decode_latest(b"other", &record).is_err());
        for i in 0..record.len() {
            let mut flipped = record.clone();
            flipped[i] ^= 0x01;
            assert!(
                matches!(
                    decode_latest(b"key", &flipped),
                    Err(StateError::CorruptValue { .. })
                ),
                "flip at byte {i} went unnoticed"
            );
        }
        assert!(decode_latest(b"key", &record[..39]).is_err());
    }
}
