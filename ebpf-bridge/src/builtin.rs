//! The built-in routines: their manifests (one data table) and their compiled BPF objects.
//!
//! Cost bounds were measured with `tests/cost_model.rs` (which fails if a run exceeds them)
//! and rounded up with headroom; they change only with the routine's version.

use crate::manifest::{CostModel, InputRule, Manifest, RoutineId};

/// Id of `sha256`.
pub const SHA256: RoutineId = 1;
/// Id of `keccak256`.
pub const KECCAK256: RoutineId = 2;
/// Id of `merkle_sha256`.
pub const MERKLE_SHA256: RoutineId = 3;
/// Id of `modmul_bls12_381_fr`.
pub const MODMUL_BLS12_381_FR: RoutineId = 4;
/// Id of the test-only `fault_spin` routine (loops forever).
pub const FAULT_SPIN: RoutineId = 0xFFFF_FF01;
/// Id of the test-only `fault_oob` routine (reads past its input).
pub const FAULT_OOB: RoutineId = 0xFFFF_FF02;

/// Input cap of the kernel build of keccak256 (`-DKECCAK_MAX_INPUT` in build.rs): the kernel
/// verifier walks every block iteration and gives up after 1M instructions (at 3 KiB).
const KERNEL_KECCAK_MAX_INPUT: usize = 2048;

/// A manifest with the routine's compiled objects.
pub(crate) struct BuiltinObject {
    pub manifest: Manifest,
    pub sbpf: &'static [u8],
    /// Kernel build and the input cap it was compiled with (see build.rs).
    pub kernel: Option<(&'static [u8], usize)>,
}

macro_rules! object {
    ($file:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/", $file))
    };
}

/// The production routines, in id order.
pub(crate) fn production() -> Vec<BuiltinObject> {
    vec![
        BuiltinObject {
            manifest: Manifest {
                id: SHA256,
                name: "sha256",
                version: 1,
                input: InputRule::Range { min: 0, max: 4096 },
                output_len: 32,
                syscalls: &[],
                cost: CostModel {
                    base: 8_000,
                    block_bytes: 64,
                    per_block: 6_600,
                },
                summary: "SHA-256 (FIPS 180-4) of the input; output the 32-byte digest",
            },
            sbpf: object!("sha256.sbpf.o"),
            // The whole manifest range: the kernel verifier walks all 64 blocks within its budget.
            kernel: Some((object!("sha256.kern.o"), 4096)),
        },
        BuiltinObject {
            manifest: Manifest {
                id: KECCAK256,
                name: "keccak256",
                // 2: branch-free padding (kernel-verifiable) costs ~630 more instructions once.
                // 3: the sBPF build in the form the PCC certifier proves (bottom-tested block
                // loop, tail copy loop); the kernel build is unchanged.
                version: 3,
                input: InputRule::Range { min: 0, max: 4096 },
                output_len: 32,
                syscalls: &[],
                cost: CostModel {
                    base: 14_000,
                    block_bytes: 136,
                    per_block: 12_200,
                },
                summary: "Keccak-256 (original padding, as Ethereum) of the input; 32-byte digest",
            },
            sbpf: object!("keccak256.sbpf.o"),
            kernel: Some((object!("keccak256.kern.o"), KERNEL_KECCAK_MAX_INPUT)),
        },
        BuiltinObject {
            manifest: Manifest {
                id: MERKLE_SHA256,
                name: "merkle_sha256",
                // 2: 64-bit word select, levels bounded by the input length in the sBPF build
                // (the form the PCC certifier proves), two compression sites there.
                version: 2,
                input: InputRule::Strided {
                    base: 72,
                    stride: 32,
                    max_count: 32,
                },
                output_len: 1,
                syscalls: &[],
                cost: CostModel {
                    base: 2_000,
                    block_bytes: 32,
                    per_block: 12_400,
                },
                summary: "sha256 Merkle inclusion proof: root[32] | leaf[32] | index u32 LE | \
                          depth u32 LE | siblings[depth][32]; output 1 if valid else 0",
            },
            sbpf: object!("merkle_sha256.sbpf.o"),
            kernel: Some((object!("merkle_sha256.kern.o"), 72 + 32 * 32)),
        },
        BuiltinObject {
            manifest: Manifest {
                id: MODMUL_BLS12_381_FR,
                name: "modmul_bls12_381_fr",
                version: 1,
                input: InputRule::Exact(64),
                output_len: 32,
                syscalls: &[],
                cost: CostModel {
                    base: 8_000,
                    block_bytes: 0,
                    per_block: 0,
                },
                summary: "a * b mod r (BLS12-381 scalar field): a[32] | b[32] little-endian, \
                          each < r; output 32 bytes little-endian",
            },
            sbpf: object!("modmul_bls12_381_fr.sbpf.o"),
            kernel: Some((object!("modmul_bls12_381_fr.kern.o"), 64)),
        },
    ]
}

/// Test-only routines that fail on purpose; never part of [`crate::Registry::builtin`].
pub(crate) fn fault_fixtures() -> Vec<BuiltinObject> {
    vec![
        BuiltinObject {
            manifest: Manifest {
                id: FAULT_SPIN,
                name: "fault_spin",
                version: 1,
                input: InputRule::Range { min: 0, max: 64 },
                output_len: 1,
                syscalls: &[],
                cost: CostModel {
                    base: u64::MAX,
                    block_bytes: 0,
                    per_block: 0,
                },
                summary: "test fixture: loops forever, so any budget is exhausted",
            },
            sbpf: object!("fault_spin.sbpf.o"),
            kernel: None,
        },
        BuiltinObject {
            manifest: Manifest {
                id: FAULT_OOB,
                name: "fault_oob",
                version: 1,
                input: InputRule::Range { min: 0, max: 64 },
                output_len: 1,
                syscalls: &[],
                cost: CostModel {
                    base: 16,
                    block_bytes: 0,
                    per_block: 0,
                },
                summary: "test fixture: reads one byte past its input, so it faults",
            },
            sbpf: object!("fault_oob.sbpf.o"),
            kernel: None,
        },
    ]
}

/// The sBPF object (relocatable ELF, as built by build.rs) of the built-in routine or fault
/// fixture named `name`; `None` for an unknown name. This is the exact object the bridge runs,
/// so a certificate computed for it (keel-pcc) is a certificate for the code that runs.
pub fn sbpf_object(name: &str) -> Option<&'static [u8]> {
    production()
        .into_iter()
        .chain(fault_fixtures())
        .find(|o| o.manifest.name == name)
        .map(|o| o.sbpf)
}
