//! The bridge's production routines as relocatable objects (the bridge's own sBPF builds), with
//! the parameters of their manifests, and this crate's unsafe corpus (compiled by its build
//! script).

use crate::certificate::Params;

macro_rules! object {
    ($file:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/", $file)).as_slice()
    };
}

/// A routine to certify: its manifest name, its sBPF object and its manifest's parameters.
#[derive(Debug, Clone)]
pub struct RoutineObject {
    /// Manifest name.
    pub name: &'static str,
    /// Relocatable BPF object.
    pub elf: &'static [u8],
    /// Input/output contract from the manifest.
    pub params: Params,
    /// The manifest's instruction bound at the largest input (`CostModel::max_instructions`).
    pub manifest_max_instructions: u64,
}

/// The bridge's production routines, in id order. Errors: the bridge's registry fails to load
/// (a build defect), or a manifest has no matching object.
pub fn builtin_routines() -> Result<Vec<RoutineObject>, String> {
    let registry = keel_ebpf_bridge::Registry::builtin().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for manifest in registry.list() {
        let elf = keel_ebpf_bridge::sbpf_object(manifest.name)
            .ok_or_else(|| format!("no object for routine {}", manifest.name))?;
        out.push(RoutineObject {
            name: manifest.name,
            elf,
            params: crate::params_of(manifest),
            manifest_max_instructions: manifest.cost.max_instructions(manifest.input.max_len()),
        });
    }
    Ok(out)
}

/// An unsafe object: this crate's `corpus/NAME.c`, or the bridge's `fault_spin` / `fault_oob`
/// fixtures; `None` for an unknown name.
pub fn corpus_object(name: &str) -> Option<&'static [u8]> {
    match name {
        "oob_by_one" => Some(object!("corpus_oob_by_one.o")),
        "fault_spin" | "fault_oob" => keel_ebpf_bridge::sbpf_object(name),
        _ => None,
    }
}

/// Small safe routines written in assembly (same calling convention as the bridge's), used by
/// the soundness campaign and the benchmark: `(name, image, params)`.
pub fn safe_corpus() -> Vec<(&'static str, crate::Image, Params)> {
    use crate::asm::*;
    let image = |insns: &[[u8; 8]]| crate::Image {
        text: text(insns),
        rodata: Vec::new(),
    };
    vec![
        (
            // out[0] = xor of all input bytes; loop bounded by the input length.
            "xor_fold",
            image(&[
                mov_imm(0, 0),
                mov_imm(5, 0),
                jge_reg(5, 2, 6), // pc 2: if i >= len goto store
                mov_reg(6, 1),
                add_reg(6, 5),
                ldxb(7, 6, 0),
                xor_reg(0, 7),
                add_imm(5, 1),
                ja(-7),
                stxb(3, 0, 0),
                mov_imm(0, 0),
                exit(),
            ]),
            Params {
                input_min: 0,
                input_max: 256,
                output_len: 1,
            },
        ),
        (
            // Spills two input words to the stack and writes their sum to the output.
            "stack_sum",
            image(&[
                ldxdw(5, 1, 0),
                ldxdw(6, 1, 8),
                stxdw(10, -8, 5),
                stxdw(10, -16, 6),
                ldxdw(7, 10, -8),
                ldxdw(8, 10, -16),
                add_reg(7, 8),
                stxdw(3, 0, 7),
                mov_imm(0, 0),
                exit(),
            ]),
            Params {
                input_min: 16,
                input_max: 16,
                output_len: 8,
            },
        ),
        (
            // out[0] = 200 / in[0], status 3 when in[0] == 0.
            "checked_div",
            image(&[
                ldxb(6, 1, 0),
                mov_imm(0, 3),
                jeq_imm(6, 0, 4),
                mov_imm(7, 200),
                div_reg(7, 6),
                stxb(3, 0, 7),
                mov_imm(0, 0),
                exit(),
            ]),
            Params {
                input_min: 1,
                input_max: 8,
                output_len: 1,
            },
        ),
    ]
}
