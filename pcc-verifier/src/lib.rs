//! Proof-carrying code for Keel's eBPF routines.
//!
//! A routine (a relocatable BPF object, as the bridge loads it) is *certified* once by
//! [`certify_object`]: an abstract interpretation computes, for every instruction, the kinds
//! and intervals of registers and stack slots, a ranking counter for every loop and the
//! worst-case instruction count over every admitted input length. The resulting
//! [`Certificate`] travels with the routine ([`Certificate::to_bytes`], see `FORMAT.md`) and is
//! *checked* by [`check_object`] in one linear pass: the invariants are inductive, every memory
//! access is in bounds and permitted, no uninitialised register or stack byte is read, every
//! divisor is non-zero, no call is made, every loop is bounded and the instruction count stays
//! under the declared bound.
//!
//! Trusted base: `checker`, `loops`, `transfer`, `alu`, `linear`, `relations`, `domain`, `isa`,
//! `image`, `certificate`, `limits`.
//! The certifier (`certifier`, `lattice`) is untrusted: its output is always re-checked.

// Certificates and objects are untrusted input to a consensus check: no silent wrap, no panic.
#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

mod alu;
pub mod asm;
pub mod bench;
mod certificate;
mod certifier;
mod checker;
pub mod domain;
mod image;
pub mod isa;
mod lattice;
mod limits;
pub mod linear;
mod loops;
pub mod objects;
mod property;
pub mod relations;
mod rules;
mod transfer;

pub use certificate::{Certificate, DecodeError, FORMAT_VERSION, LoopBound, MAGIC, Params};
pub use certifier::{CertifyError, certify};
pub use checker::{CheckError, CheckReport, check};
pub use image::{Image, link};
pub use limits::{
    ENTRIES_PER_SLOT, MAX_DECODED_ENTRIES, MAX_FILLS, MAX_LINS, MAX_RELS, MAX_SLOTS,
    MAX_STATE_FACTS,
};
pub use property::Property;
pub use rules::{CheckerRules, check_object_under, check_under};

/// Identity of this certifier's sources (a hash computed at build time): provenance of
/// certificates (the chain's pinned genesis manifest records it).
pub const CERTIFIER_ID: &str = env!("KEEL_PCC_SOURCE_ID");

/// Certifies a relocatable BPF object (`clang -target bpf -mcpu=v1 -c`) for the calling
/// contract `params`. Deterministic. Errors: [`CertifyError`] names the instruction, the
/// property and the abstract values when the routine cannot be proven safe and bounded.
pub fn certify_object(elf: &[u8], params: &Params) -> Result<Certificate, CertifyError> {
    certifier::certify_object(elf, params)
}

/// Links `elf` and checks `cert` against it. Deterministic. Errors: a link failure is reported
/// as [`Property::CertificateMismatch`] at no pc; otherwise the first failed obligation.
///
/// The caller must also compare `cert.params` with the routine's manifest: the proof holds for
/// the input lengths and output length it declares, nothing else.
pub fn check_object(elf: &[u8], cert: &Certificate) -> Result<CheckReport, CheckError> {
    check(&link_for_check(elf)?, cert)
}

/// [`link`], its failure reported as the checker reports it.
fn link_for_check(elf: &[u8]) -> Result<Image, CheckError> {
    link(elf).map_err(|e| CheckError {
        pc: None,
        property: Property::CertificateMismatch,
        detail: format!("cannot link the object: {e}"),
    })
}

/// Decodes `certificate` for the relocatable object `elf`: links the object to learn its
/// instruction slot count, then [`Certificate::from_bytes_for`] bounds the decoding by it.
/// Errors: [`DecodeError::Program`] when the object does not link, else the decoder's.
pub fn decode_for_object(elf: &[u8], certificate: &[u8]) -> Result<Certificate, DecodeError> {
    let image = link(elf).map_err(DecodeError::Program)?;
    Certificate::from_bytes_for(certificate, image.slots())
}

/// The certificate parameters a bridge manifest implies: its input length range and output
/// length.
pub fn params_of(manifest: &keel_ebpf_bridge::Manifest) -> Params {
    let (min, max) = match manifest.input {
        keel_ebpf_bridge::InputRule::Exact(n) => (n, n),
        keel_ebpf_bridge::InputRule::Range { min, max } => (min, max),
        keel_ebpf_bridge::InputRule::Strided { base, .. } => (base, manifest.input.max_len()),
    };
    Params {
        input_min: min as u64,
        input_max: max as u64,
        output_len: manifest.output_len as u64,
    }
}
