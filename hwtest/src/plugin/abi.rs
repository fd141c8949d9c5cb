//! The Rust mirror of `offload/include/keel_offload.h` (ABI version 1).

use std::ffi::c_char;

use crate::vectors::RawTriple;

/// `KEEL_OFFLOAD_ABI_VERSION`.
pub const KEEL_OFFLOAD_ABI_VERSION: u32 = 1;

/// `keel_offload_ctx` (opaque).
#[repr(C)]
pub struct Ctx {
    _private: [u8; 0],
}

/// `keel_offload_triple`.
#[repr(C)]
pub struct Triple {
    pk: *const u8,
    pk_len: usize,
    msg: *const u8,
    msg_len: usize,
    sig: *const u8,
    sig_len: usize,
}

impl Triple {
    /// Borrows `t`'s buffers (valid while `t` lives).
    pub fn borrow(t: &RawTriple) -> Self {
        Self {
            pk: t.pk.as_ptr(),
            pk_len: t.pk.len(),
            msg: t.msg.as_ptr(),
            msg_len: t.msg.len(),
            sig: t.sig.as_ptr(),
            sig_len: t.sig.len(),
        }
    }
}

/// `keel_offload_caps`.
#[repr(C)]
pub struct Caps {
    /// ABI version the plug-in was built against.
    pub abi_version: u32,
    /// Largest batch.
    pub max_batch: u32,
    /// Reserved.
    pub flags: u64,
    name: [c_char; 64],
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            abi_version: 0,
            max_batch: 0,
            flags: 0,
            name: [0; 64],
        }
    }
}

impl Caps {
    /// The name up to its NUL (or all 64 bytes if the plug-in forgot it), lossily as UTF-8.
    pub fn name(&self) -> String {
        let bytes: Vec<u8> = self
            .name
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}
