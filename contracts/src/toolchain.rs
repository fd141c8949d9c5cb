//! The C toolchain profile every Keel contract is built with: one definition shared by this
//! crate's `build.rs` (which includes this file) and `keel contract build` (keel-devtools).
//!
//! The flags pin the output to Keel's profile: MVP only (no bulk-memory, SIMD, threads,
//! reference types), no libc, a fixed 64 KiB stack placed first so an overflow traps instead of
//! corrupting data, and a fixed 2-page memory that cannot grow.

/// Compiler flags (code generation and warnings). `-g` may be added: it changes no code byte.
pub const COMPILE_FLAGS: &[&str] = &[
    "--target=wasm32",
    "-mcpu=mvp",
    "-O2",
    "-nostdlib",
    "-fno-builtin",
    "-ffreestanding",
    "-Wall",
    "-Wextra",
    "-Werror",
];

/// Linker flags (passed through clang to wasm-ld), apart from stripping.
pub const LINK_FLAGS: &[&str] = &[
    "-Wl,--no-entry",
    "-Wl,--stack-first",
    "-Wl,-z,stack-size=65536",
    "-Wl,--initial-memory=131072",
    "-Wl,--max-memory=131072",
];

/// Drops every custom section but the ones the source placed (e.g. `keel.manifest`). Tools that
/// keep DWARF in a side file link without it and strip the same sections themselves.
pub const STRIP_FLAG: &str = "-Wl,--strip-all";

/// The shared freestanding runtime linked into every contract, relative to the crate root.
pub const RUNTIME_SOURCE: &str = "c/runtime/keel_runtime.c";

/// The contract SDK header (the C view of the host ABI).
pub const KEEL_H: &str = include_str!("../include/keel.h");
/// The runtime's header and source, for projects built outside this repository.
pub const RUNTIME_H: &str = include_str!("../c/runtime/keel_runtime.h");
/// See [`RUNTIME_H`].
pub const RUNTIME_C: &str = include_str!("../c/runtime/keel_runtime.c");
