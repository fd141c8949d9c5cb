//! Integrity of what is stored against the roots: a cheap check of the head at open
//! ([`check_head`]) and the full scan behind `keel state check` ([`scan`]).
//!
//! The tree is verified top-down: every node must hash to what its parent (or, for a root, the
//! `roots` table) records, and every field a hash does not cover (child versions, node types,
//! leaf counts) must agree with what it points to, so any damaged byte of a reachable node is
//! found. Each `latest` record must pass its checksum and carry exactly the value hash of the
//! tree's leaf for its key.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use jmt::storage::{LeafNode, NibblePath, Node, NodeKey, TreeReader};
use jmt::{KeyHash, ValueHash};
use redb::{ReadTransaction, ReadableTable};
use serde::Serialize;

use crate::error::Result;
use crate::keys::key_hash;
use crate::tables::{self, LATEST, NODES, ROOTS, TreeTables, VALUES};
use crate::view;

/// jmt's hash of the empty tree's `Null` root (not exported by jmt).
const EMPTY_TREE_HASH: [u8; 32] = *b"SPARSE_MERKLE_PLACEHOLDER_HASH__";
/// jmt's deepest nibble path (a 32-byte key hash).
const MAX_NIBBLES: usize = 64;
/// At most this many problems are listed; the rest are only counted.
pub const MAX_LISTED_PROBLEMS: usize = 1000;
/// [`scan`] reports progress every this many keys or nodes.
const PROGRESS_EVERY: u64 = 10_000;

/// One thing wrong in the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// A tree node is missing, undecodable, or disagrees with its parent or its root.
    Node {
        /// The node's version.
        version: u64,
        /// Its nibble path in hex (empty for a root).
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// A `latest` record fails its checksum or disagrees with the tree.
    Value {
        /// The raw key, hex.
        key: String,
        /// What is wrong.
        detail: String,
    },
    /// The tree holds a leaf that the `latest` index lacks.
    MissingFromIndex {
        /// The leaf's key hash, hex.
        key_hash: String,
    },
}

/// What a full scan found. `problems_total == 0` means the head state is intact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IntegrityReport {
    /// The head version scanned (`None`: nothing committed).
    pub version: Option<u64>,
    /// The stored root of that version, hex.
    pub root: Option<String>,
    /// `latest` records checked.
    pub keys_checked: u64,
    /// Tree nodes checked (head tree plus every version's root node).
    pub nodes_checked: u64,
    /// All problems found.
    pub problems_total: u64,
    /// The first [`MAX_LISTED_PROBLEMS`] of them.
    pub problems: Vec<Problem>,
}

impl IntegrityReport {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems_total == 0
    }

    fn add(&mut self, p: Problem) {
        self.problems_total = self.problems_total.saturating_add(1);
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(p);
        }
    }
}

/// A phase of [`scan`] and how many items it has done, for progress output.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// `"roots"`, `"tree"` or `"values"`.
    pub phase: &'static str,
    /// Items done so far in this phase.
    pub done: u64,
}

/// What a node check expects, from the parent's child record (or the `roots` table).
struct Expected {
    hash: [u8; 32],
    /// `None` for a root, `Some(None)` for a leaf, `Some(Some(n))` for an internal node of `n`
    /// leaves.
    kind: Option<Option<usize>>,
}

/// Cheap check of the head: its root node hashes to the stored root, and each child of the
/// root hashes to what the root records. About 17 node reads.
///
/// # Errors
/// `Ok(Err(detail))` when the head fails; storage errors as `Err`.
pub(crate) fn check_head(txn: &ReadTransaction) -> Result<Result<(), String>> {
    let Some(head) = view::latest_version_in(txn)? else {
        return Ok(Ok(()));
    };
    let root = view::root_in(txn, head, Some(head))?;
    let nodes = txn.open_table(NODES)?;
    let root_key = NodeKey::new(head, NibblePath::from_iter(std::iter::empty()));
    let expected = Expected {
        hash: root.0,
        kind: None,
    };
    let node = match check_node(&nodes, &root_key, &expected)? {
        Ok(node) => node,
        Err(detail) => return Ok(Err(format!("root node: {detail}"))),
    };
    for (child_key, expected) in children(&root_key, &node) {
        let Ok(child_key) = child_key else {
            return Ok(Err("root node has an impossible child path".into()));
        };
        if let Err(detail) = check_node(&nodes, &child_key, &expected)? {
            return Ok(Err(format!(
                "child {:?} of the root: {detail}",
                child_key.nibble_path()
            )));
        }
    }
    Ok(Ok(()))
}

/// Full scan of the head version; see the module doc. Memory: one 64-byte entry per leaf.
///
/// # Errors
/// Storage errors only; everything wrong with the contents is a [`Problem`].
pub(crate) fn scan(
    txn: &ReadTransaction,
    progress: &mut dyn FnMut(Progress),
) -> Result<IntegrityReport> {
    let mut report = IntegrityReport::default();
    let Some(head) = view::latest_version_in(txn)? else {
        return Ok(report);
    };
    report.version = Some(head);
    let root = view::root_in(txn, head, Some(head))?;
    report.root = Some(hex::encode(root.0));
    check_roots(txn, &mut report, progress)?;
    let leaves = scan_tree(txn, head, root.0, &mut report, progress)?;
    scan_values(txn, head, leaves, &mut report, progress)?;
    Ok(report)
}

/// Every version's root node hashes to its stored root.
fn check_roots(
    txn: &ReadTransaction,
    report: &mut IntegrityReport,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let nodes = txn.open_table(NODES)?;
    for (done, entry) in (1u64..).zip(txn.open_table(ROOTS)?.iter()?) {
        let (version, root) = entry?;
        let key = NodeKey::new(version.value(), NibblePath::from_iter(std::iter::empty()));
        let expected = Expected {
            hash: *root.value(),
            kind: None,
        };
        report.nodes_checked = report.nodes_checked.saturating_add(1);
        if let Err(detail) = check_node(&nodes, &key, &expected)? {
            report.add(node_problem(&key, detail));
        }
        if done.is_multiple_of(PROGRESS_EVERY) {
            progress(Progress {
                phase: "roots",
                done,
            });
        }
    }
    Ok(())
}

/// Walks the head tree from its root, checking every node; returns each leaf's value hash.
fn scan_tree(
    txn: &ReadTransaction,
    head: u64,
    root: [u8; 32],
    report: &mut IntegrityReport,
    progress: &mut dyn FnMut(Progress),
) -> Result<BTreeMap<[u8; 32], [u8; 32]>> {
    let nodes = txn.open_table(NODES)?;
    let mut leaves = BTreeMap::new();
    let root_key = NodeKey::new(head, NibblePath::from_iter(std::iter::empty()));
    let mut stack = vec![(
        root_key,
        Expected {
            hash: root,
            kind: None,
        },
    )];
    let mut done = 0u64;
    while let Some((key, expected)) = stack.pop() {
        done = done.saturating_add(1);
        if done.is_multiple_of(PROGRESS_EVERY) {
            progress(Progress {
                phase: "tree",
                done,
            });
        }
        let node = match check_node(&nodes, &key, &expected)? {
            Ok(node) => node,
            Err(detail) => {
                report.add(node_problem(&key, detail));
                continue;
            }
        };
        if let Node::Leaf(leaf) = &node {
            leaves.insert(leaf.key_hash().0, leaf_value_hash(leaf)?);
        }
        for (child_key, expected) in children(&key, &node) {
            match child_key {
                Ok(child_key) => stack.push((child_key, expected)),
                Err(detail) => report.add(node_problem(&key, detail)),
            }
        }
    }
    report.nodes_checked = report.nodes_checked.saturating_add(done);
    Ok(leaves)
}

/// Every `latest` record passes its checksum, matches its leaf and its value history; every
/// leaf has a record.
fn scan_values(
    txn: &ReadTransaction,
    head: u64,
    mut leaves: BTreeMap<[u8; 32], [u8; 32]>,
    report: &mut IntegrityReport,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let tree = TreeTables {
        nodes: txn.open_table(NODES)?,
        values: txn.open_table(VALUES)?,
    };
    for entry in txn.open_table(LATEST)?.iter()? {
        let (key, record) = entry?;
        let key = key.value();
        report.keys_checked = report.keys_checked.saturating_add(1);
        if report.keys_checked.is_multiple_of(PROGRESS_EVERY) {
            progress(Progress {
                phase: "values",
                done: report.keys_checked,
            });
        }
        let hash = key_hash(key);
        let leaf = leaves.remove(&hash.0);
        if let Some(detail) = value_problem(&tree, key, hash, record.value(), leaf, head)? {
            report.add(Problem::Value {
                key: hex::encode(key),
                detail,
            });
        }
    }
    for key_hash in leaves.keys() {
        report.add(Problem::MissingFromIndex {
            key_hash: hex::encode(key_hash),
        });
    }
    Ok(())
}

fn value_problem<N, V>(
    tree: &TreeTables<N, V>,
    key: &[u8],
    hash: KeyHash,
    record: &[u8],
    leaf: Option<[u8; 32]>,
    head: u64,
) -> Result<Option<String>>
where
    N: ReadableTable<&'static [u8], &'static [u8]>,
    V: ReadableTable<&'static [u8], &'static [u8]>,
{
    let (version, value) = match tables::decode_latest(key, record) {
        Ok(decoded) => decoded,
        Err(_) => return Ok(Some("record fails its checksum".into())),
    };
    if version > head {
        return Ok(Some(format!(
            "record claims version {version} > head {head}"
        )));
    }
    let Some(leaf) = leaf else {
        return Ok(Some("no intact leaf for this key in the tree".into()));
    };
    if ValueHash::with::<sha2::Sha256>(&value).0 != leaf {
        return Ok(Some("value differs from the tree's leaf".into()));
    }
    match tree.value_at(head, hash) {
        Ok(Some(history)) if history == value => Ok(None),
        Ok(_) => Ok(Some("value history (jmt_values) differs".into())),
        Err(e) => Ok(Some(format!("value history: {e}"))),
    }
}

/// Reads `key` and checks it against `expected`: its hash, its kind, and, for an internal node,
/// that its leaf count and child count are what its children say.
fn check_node(
    nodes: &impl ReadableTable<&'static [u8], &'static [u8]>,
    key: &NodeKey,
    expected: &Expected,
) -> Result<Result<Node, String>> {
    let Some(bytes) = nodes.get(tables::encode_node_key(key)?.as_slice())? else {
        return Ok(Err("node is missing".into()));
    };
    let node = match tables::decode_node(bytes.value()) {
        Ok(node) => node,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let (hash, kind) = match &node {
        Node::Null => (node_hash(&node), None),
        Node::Leaf(_) => (node_hash(&node), Some(None)),
        Node::Internal(internal) => {
            let children: Vec<_> = internal.children_sorted().map(|(_, c)| c).collect();
            let sum = children
                .iter()
                .try_fold(0usize, |sum, c| sum.checked_add(c.leaf_count()));
            if sum != Some(internal.leaf_count())
                || stored_child_count(bytes.value()) != Some(children.len() as u64)
                || children.is_empty()
                || (children.len() == 1 && children.iter().all(|c| c.is_leaf()))
            {
                return Ok(Err("internal node's children are inconsistent".into()));
            }
            (node_hash(&node), Some(Some(internal.leaf_count())))
        }
    };
    if hash != expected.hash {
        return Ok(Err("node hash differs from the recorded hash".into()));
    }
    if expected.kind.is_some_and(|k| Some(k) != kind) {
        return Ok(Err("node type differs from its parent's record".into()));
    }
    Ok(Ok(node))
}

/// jmt's hash of a node (jmt keeps `Node::hash` private).
fn node_hash(node: &Node) -> [u8; 32] {
    match node {
        Node::Null => EMPTY_TREE_HASH,
        Node::Leaf(leaf) => leaf.hash::<sha2::Sha256>(),
        Node::Internal(internal) => internal.hash::<sha2::Sha256>(),
    }
}

/// jmt's reader during a commit: every node it reads from disk must hash to what its parent, or
/// the previous version's stored root, records. A damaged node then fails the commit instead of
/// silently yielding a different new root. jmt walks from the root down, so every node it reads
/// has a recorded hash by the time it is read; reads of nodes without one pass through.
pub(crate) struct VerifyingReader<'t, N, V> {
    tree: &'t TreeTables<N, V>,
    /// Looked up, never iterated, so a `HashMap` cannot affect any result.
    expected: RefCell<HashMap<NodeKey, [u8; 32]>>,
}

impl<'t, N, V> VerifyingReader<'t, N, V> {
    /// `previous`: the latest committed version and its stored root, if any.
    pub(crate) fn new(tree: &'t TreeTables<N, V>, previous: Option<(u64, [u8; 32])>) -> Self {
        let mut expected = HashMap::new();
        if let Some((version, root)) = previous {
            let key = NodeKey::new(version, NibblePath::from_iter(std::iter::empty()));
            expected.insert(key, root);
        }
        Self {
            tree,
            expected: RefCell::new(expected),
        }
    }
}

impl<N, V> TreeReader for VerifyingReader<'_, N, V>
where
    N: ReadableTable<&'static [u8], &'static [u8]>,
    V: ReadableTable<&'static [u8], &'static [u8]>,
{
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let Some(node) = self.tree.node(node_key)? else {
            return Ok(None);
        };
        let mut expected = self.expected.borrow_mut();
        if expected
            .get(node_key)
            .is_some_and(|want| *want != node_hash(&node))
        {
            let detail = format!(
                "node v{} path [{:?}] does not hash to what its parent records; run `keel state \
                 check`",
                node_key.version(),
                node_key.nibble_path()
            );
            return Err(tables::corrupt("jmt_nodes", detail).into());
        }
        for (child_key, want) in children(node_key, &node) {
            let child_key = child_key.map_err(|detail| tables::corrupt("jmt_nodes", detail))?;
            expected.insert(child_key, want.hash);
        }
        Ok(Some(node))
    }

    fn get_value_option(
        &self,
        max_version: jmt::Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<jmt::OwnedValue>> {
        self.tree.get_value_option(max_version, key_hash)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        self.tree.get_rightmost_leaf()
    }
}

/// The child count an internal node's encoding stores (borsh: tag ‖ 16 × Option<Child> ‖
/// num_children u64 ‖ leaf_count u64). No hash covers it, so it is checked against the children.
fn stored_child_count(bytes: &[u8]) -> Option<u64> {
    let end = bytes.len().checked_sub(8)?;
    let start = end.checked_sub(8)?;
    let field = bytes.get(start..end)?;
    Some(u64::from_le_bytes(field.try_into().ok()?))
}

/// The node keys and expectations of `node`'s children (none for a leaf or `Null`).
fn children(key: &NodeKey, node: &Node) -> Vec<(std::result::Result<NodeKey, String>, Expected)> {
    let Node::Internal(internal) = node else {
        return Vec::new();
    };
    internal
        .children_sorted()
        .map(|(nibble, child)| {
            let path = if key.nibble_path().num_nibbles() < MAX_NIBBLES {
                Ok(key.nibble_path().nibbles().chain([nibble]).collect())
            } else {
                Err("internal node below the deepest level".to_string())
            };
            let kind = Some(if child.is_leaf() {
                None
            } else {
                Some(child.leaf_count())
            });
            (
                path.map(|p| NodeKey::new(child.version, p)),
                Expected {
                    hash: child.hash,
                    kind,
                },
            )
        })
        .collect()
}

/// jmt keeps a leaf's value hash private; its borsh form is key hash ‖ value hash.
fn leaf_value_hash(leaf: &LeafNode) -> Result<[u8; 32]> {
    let bytes = borsh::to_vec(leaf).map_err(|e| tables::corrupt("jmt_nodes", e))?;
    bytes
        .get(32..64)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| tables::corrupt("jmt_nodes", "leaf encoding is not 64 bytes"))
}

fn node_problem(key: &NodeKey, detail: String) -> Problem {
    Problem::Node {
        version: key.version(),
        path: format!("{:?}", key.nibble_path()),
        detail,
    }
}
