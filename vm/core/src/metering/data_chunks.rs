//! Which 4 KiB chunks of a fresh instance's memory the module's data segments write: what an
//! engine keeping instances must read of a fresh instance's image (`engine/instance_pool.rs`).
//! Computed once, when a module is instrumented ([`super::InstrumentedModule::data_chunks`]).

/// The chunk the mask counts in: the written-chunks record's.
const CHUNK: usize = crate::host::WrittenChunks::CHUNK;

/// Which [`CHUNK`]s of a fresh instance's memory instantiation can make non-zero (bit `i` =
/// chunk `i`), from the module's active data segments; `None` when that is not known
/// statically, and every chunk is then read. A snapshot reads only these chunks: the others
/// are zero (fresh linear memory is zeroed, and in the profile only active data segments
/// write memory at instantiation: no start function, no bulk memory), and reading them would
/// fault in pages the contract may never touch (on wasmtime, 16 page faults per wasm page,
/// more than half of a fresh instantiation).
pub(crate) fn data_chunks(wasm: &[u8]) -> Option<u64> {
    use wasmparser::{DataKind, Operator, Parser, Payload};
    let mut bits = 0u64;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.ok()? {
            // Code that runs at instantiation, or memory from elsewhere: anything may be in it.
            Payload::StartSection { .. } => return None,
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    if matches!(import.ok()?.ty, wasmparser::TypeRef::Memory(_)) {
                        return None;
                    }
                }
            }
            Payload::DataSection(data) => {
                for segment in data {
                    let segment = segment.ok()?;
                    let DataKind::Active { offset_expr, .. } = segment.kind else {
                        return None;
                    };
                    let mut ops = offset_expr.get_operators_reader();
                    let (Operator::I32Const { value }, Operator::End) =
                        (ops.read().ok()?, ops.read().ok()?)
                    else {
                        return None;
                    };
                    if segment.data.is_empty() {
                        continue;
                    }
                    // The offset is an unsigned address (the bits of the i32); a segment past
                    // 64 chunks belongs to a memory that is not kept.
                    let start = u64::from(value as u32);
                    let len = segment.data.len() as u64; // not empty: checked above
                    let last_byte = start.checked_add(len.saturating_sub(1))?;
                    let chunk = CHUNK as u64;
                    let (first, last) = (start.checked_div(chunk)?, last_byte.checked_div(chunk)?);
                    if last >= 64 {
                        return None;
                    }
                    for i in first..=last {
                        bits |= 1 << i;
                    }
                }
            }
            _ => {}
        }
    }
    Some(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks_of(wat: &str) -> Option<u64> {
        data_chunks(&wat::parse_str(wat).expect("valid wat"))
    }

    /// Each active segment marks every chunk it overlaps, and only those.
    #[test]
    fn data_chunks_are_the_chunks_the_data_segments_overlap() {
        let mask = chunks_of(
            r#"(module (memory 4)
                 (data (i32.const 100) "a")
                 (data (i32.const 8190) "abcd")
                 (data (i32.const 40960) "")
                 (data (i32.const 262143) "z"))"#,
        );
        assert_eq!(mask, Some(1 | 0b110 | 1 << 63));
        assert_eq!(chunks_of("(module (memory 1))"), Some(0));
        assert_eq!(chunks_of("(module)"), Some(0));
    }

    /// Instrumentation records the mask of the module it outputs (data segments survive the
    /// rewrite where they were).
    #[test]
    fn an_instrumented_module_carries_its_data_chunks() {
        let profile = crate::Profile::V1;
        let wasm = wat::parse_str(
            r#"(module (memory 2) (data (i32.const 4096) "x") (data (i32.const 70000) "y")
                 (func (export "f")))"#,
        )
        .expect("valid wat");
        let admitted = crate::admit(&wasm, &profile).expect("admitted");
        let schedule = crate::GasSchedule::v1();
        let inst = crate::metering::instrument(&admitted, &schedule, &profile).expect("rewritten");
        assert_eq!(inst.data_chunks, Some(1 << 1 | 1 << 17));
    }

    /// Whatever cannot be read off the segments statically means: read every chunk.
    #[test]
    fn data_chunks_are_unknown_when_not_static() {
        let start = r#"(module (memory 1) (func $f) (start $f))"#;
        let beyond = r#"(module (memory 5) (data (i32.const 262144) "x"))"#;
        let imported = r#"(module (import "m" "mem" (memory 1)))"#;
        let global = r#"(module (import "m" "g" (global i32)) (memory 1)
                          (data (global.get 0) "x"))"#;
        let negative = r#"(module (memory 1) (data (i32.const -1) "x"))"#;
        for wat in [start, beyond, imported, global, negative] {
            assert_eq!(chunks_of(wat), None, "{wat}");
        }
        assert_eq!(data_chunks(b"not wasm"), None);
    }
}
