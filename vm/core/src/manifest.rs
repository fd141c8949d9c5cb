//! The capability manifest: the authorities a contract declares at deploy time.
//!
//! The manifest travels **inside the module** as a custom section named [`MANIFEST_SECTION`], so
//! the code hash covers it and no deploy transaction can pair code with different authority.
//! Admission rejects a module whose imports need a capability the manifest does not grant;
//! run-time checks (which contract may be called, which native routine, whether value may be
//! attached) use the same manifest.
//!
//! Byte format (normative, also in ABI.md): a version byte `0x01`, then records, each a tag
//! byte and a fixed-size payload:
//!
//! | tag | record | payload |
//! |---|---|---|
//! | `0x01` | own storage (`storage_read/write/remove`) | — |
//! | `0x02` | events (`emit_event`) | — |
//! | `0x03` | value transfer (non-zero `value` on `call`) | — |
//! | `0x04` | call any contract | — |
//! | `0x05` | call one named contract | 32-byte address |
//! | `0x06` | call only through handles received from a caller | — |
//! | `0x07` | any activated native routine | — |
//! | `0x08` | one native routine | routine id, u32 little-endian |
//! | `0x09` | crypto host functions (`bls_*`, `poseidon`, `groth16_verify`, `randomness`) | — |
//! | `0x0A` | re-entrancy opt-in | — |
//!
//! Unknown tags, truncated payloads, a missing or wrong version byte and more than
//! [`MAX_LISTED`] named contracts or routines are rejected. Repeating a record is harmless.
//! A module **without** the section gets [`Manifest::legacy_default`]: own storage, events,
//! crypto and any activated native routine, and no calls, value or re-entrancy — exactly what
//! the pre-capability ABI allowed, so older contracts keep their meaning.

use crate::abi::HostFn;
use crate::host::Address;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Name of the custom section that holds the manifest.
pub const MANIFEST_SECTION: &str = "keel.manifest";
/// Current manifest format version (first byte of the section).
pub const MANIFEST_VERSION: u8 = 1;
/// Most named contracts, and separately most named routines, one manifest may list.
pub const MAX_LISTED: usize = 64;

const TAG_STORAGE: u8 = 0x01;
const TAG_EVENTS: u8 = 0x02;
const TAG_VALUE: u8 = 0x03;
const TAG_CALL_ANY: u8 = 0x04;
const TAG_CALL_CONTRACT: u8 = 0x05;
const TAG_CALL_HANDLES: u8 = 0x06;
const TAG_NATIVE_ANY: u8 = 0x07;
const TAG_NATIVE: u8 = 0x08;
const TAG_CRYPTO: u8 = 0x09;
const TAG_REENTRANT: u8 = 0x0A;

/// A capability, as named in admission errors and traps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Storage,
    Events,
    Value,
    Calls,
    Native,
    Crypto,
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Capability::Storage => "storage",
            Capability::Events => "events",
            Capability::Value => "value",
            Capability::Calls => "calls",
            Capability::Native => "native",
            Capability::Crypto => "crypto",
        };
        f.write_str(s)
    }
}

/// Why a manifest section could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is empty (it needs at least the version byte)")]
    Empty,
    #[error("manifest version {0} is not supported (expected {MANIFEST_VERSION})")]
    Version(u8),
    #[error("unknown manifest record tag {tag:#04x} at byte {at}")]
    UnknownTag { tag: u8, at: usize },
    #[error("manifest record at byte {at} is truncated")]
    Truncated { at: usize },
    #[error("manifest lists more than {MAX_LISTED} {what}")]
    TooMany { what: &'static str },
    #[error("module has more than one `keel.manifest` section")]
    Duplicate,
}

/// The authorities of one contract. Deterministic to encode and decode (sets are ordered).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub storage: bool,
    pub events: bool,
    pub value: bool,
    pub call_any: bool,
    pub call_contracts: BTreeSet<Address>,
    /// May import `call` although it can only use handles received from its callers.
    pub call_handles: bool,
    pub native_any: bool,
    pub native_routines: BTreeSet<u32>,
    pub crypto: bool,
    pub reentrant: bool,
}

impl Manifest {
    /// The manifest of a module without a `keel.manifest` section (see the module docs).
    pub fn legacy_default() -> Manifest {
        Manifest {
            storage: true,
            events: true,
            crypto: true,
            native_any: true,
            ..Manifest::default()
        }
    }

    /// Decodes a manifest section's bytes.
    ///
    /// # Errors
    /// Every malformed input is a [`ManifestError`]; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let (&version, mut rest) = bytes.split_first().ok_or(ManifestError::Empty)?;
        if version != MANIFEST_VERSION {
            return Err(ManifestError::Version(version));
        }
        let mut m = Manifest::default();
        while let Some((&tag, tail)) = rest.split_first() {
            let at = bytes.len().saturating_sub(rest.len()); // rest is a suffix of bytes
            rest = tail;
            match tag {
                TAG_STORAGE => m.storage = true,
                TAG_EVENTS => m.events = true,
                TAG_VALUE => m.value = true,
                TAG_CALL_ANY => m.call_any = true,
                TAG_CALL_HANDLES => m.call_handles = true,
                TAG_NATIVE_ANY => m.native_any = true,
                TAG_CRYPTO => m.crypto = true,
                TAG_REENTRANT => m.reentrant = true,
                TAG_CALL_CONTRACT => {
                    let (addr, tail) = rest
                        .split_first_chunk::<32>()
                        .ok_or(ManifestError::Truncated { at })?;
                    m.call_contracts.insert(*addr);
                    rest = tail;
                    if m.call_contracts.len() > MAX_LISTED {
                        return Err(ManifestError::TooMany { what: "contracts" });
                    }
                }
                TAG_NATIVE => {
                    let (id, tail) = rest
                        .split_first_chunk::<4>()
                        .ok_or(ManifestError::Truncated { at })?;
                    m.native_routines.insert(u32::from_le_bytes(*id));
                    rest = tail;
                    if m.native_routines.len() > MAX_LISTED {
                        return Err(ManifestError::TooMany { what: "routines" });
                    }
                }
                tag => return Err(ManifestError::UnknownTag { tag, at }),
            }
        }
        Ok(m)
    }

    /// The canonical encoding: version byte, then flags and lists in tag order.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![MANIFEST_VERSION];
        let flags = [
            (self.storage, TAG_STORAGE),
            (self.events, TAG_EVENTS),
            (self.value, TAG_VALUE),
            (self.call_any, TAG_CALL_ANY),
        ];
        out.extend(flags.iter().filter(|(on, _)| *on).map(|(_, t)| *t));
        for a in &self.call_contracts {
            out.push(TAG_CALL_CONTRACT);
            out.extend_from_slice(a);
        }
        if self.call_handles {
            out.push(TAG_CALL_HANDLES);
        }
        if self.native_any {
            out.push(TAG_NATIVE_ANY);
        }
        for r in &self.native_routines {
            out.push(TAG_NATIVE);
            out.extend_from_slice(&r.to_le_bytes());
        }
        if self.crypto {
            out.push(TAG_CRYPTO);
        }
        if self.reentrant {
            out.push(TAG_REENTRANT);
        }
        out
    }

    /// Whether the manifest may call anything at all.
    pub fn may_call(&self) -> bool {
        self.call_any || self.call_handles || !self.call_contracts.is_empty()
    }

    /// Whether `handle_for_contract(target)` is allowed.
    pub fn may_call_contract(&self, target: &Address) -> bool {
        self.call_any || self.call_contracts.contains(target)
    }

    /// Whether `native_call(routine)` is allowed.
    pub fn may_run_native(&self, routine: u32) -> bool {
        self.native_any || self.native_routines.contains(&routine)
    }

    /// The capability importing `f` needs, or `None` if every contract may import it.
    pub fn required_for(f: HostFn) -> Option<Capability> {
        match f {
            HostFn::StorageRead | HostFn::StorageWrite | HostFn::StorageRemove => {
                Some(Capability::Storage)
            }
            HostFn::EmitEvent => Some(Capability::Events),
            HostFn::NativeCall => Some(Capability::Native),
            HostFn::BlsVerify
            | HostFn::BlsAggregateVerify
            | HostFn::BlsFastAggregateVerify
            | HostFn::Poseidon
            | HostFn::Groth16Verify
            | HostFn::Randomness => Some(Capability::Crypto),
            HostFn::Call | HostFn::HandleForContract => Some(Capability::Calls),
            _ => None,
        }
    }

    /// Whether this manifest grants `c` (for an import-level check).
    pub fn grants(&self, c: Capability) -> bool {
        match c {
            Capability::Storage => self.storage,
            Capability::Events => self.events,
            Capability::Value => self.value,
            Capability::Calls => self.may_call(),
            Capability::Native => self.native_any || !self.native_routines.is_empty(),
            Capability::Crypto => self.crypto,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_gives_the_same_manifest() {
        let m = Manifest {
            storage: true,
            value: true,
            call_contracts: [[7u8; 32], [1u8; 32]].into_iter().collect(),
            native_routines: [3, 9].into_iter().collect(),
            reentrant: true,
            ..Manifest::default()
        };
        assert_eq!(Manifest::decode(&m.encode()).unwrap(), m);
        assert_eq!(
            Manifest::decode(&Manifest::legacy_default().encode()).unwrap(),
            Manifest::legacy_default()
        );
    }

    #[test]
    fn malformed_manifests_are_typed_errors() {
        assert_eq!(Manifest::decode(&[]), Err(ManifestError::Empty));
        assert_eq!(Manifest::decode(&[2]), Err(ManifestError::Version(2)));
        assert_eq!(
            Manifest::decode(&[1, 0x01, 0x42]),
            Err(ManifestError::UnknownTag { tag: 0x42, at: 2 })
        );
        assert_eq!(
            Manifest::decode(&[1, 0x05, 1, 2]),
            Err(ManifestError::Truncated { at: 1 })
        );
        let mut many = vec![1u8];
        for i in 0..=MAX_LISTED as u32 {
            many.push(0x08);
            many.extend_from_slice(&i.to_le_bytes());
        }
        assert!(matches!(
            Manifest::decode(&many),
            Err(ManifestError::TooMany { .. })
        ));
    }

    #[test]
    fn named_calls_allow_only_their_targets() {
        let m = Manifest::decode(
            &[1, 0x05]
                .iter()
                .copied()
                .chain([9u8; 32])
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert!(m.may_call() && m.may_call_contract(&[9; 32]));
        assert!(!m.may_call_contract(&[8; 32]));
        assert!(!m.grants(Capability::Storage));
    }
}
