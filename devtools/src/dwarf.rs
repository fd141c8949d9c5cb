//! Source lines from DWARF: a wasm byte offset → `file:line`.
//!
//! clang keeps DWARF for wasm in `.debug_*` custom sections; its addresses are offsets from the
//! start of the code section's contents. `keel contract build` keeps those sections in a side
//! file (`NAME.debug.wasm`, the unstripped link output), whose code section is byte-identical to
//! the shipped module's, so an offset in one is the same instruction in the other.

use crate::error::DevError;
use serde::Serialize;
use std::collections::BTreeMap;
use wasmparser::{Parser, Payload};

/// Most line-table rows kept from one module (a bound on memory for hostile side files).
pub const MAX_ROWS: usize = 4_000_000;

/// A place in the contract's source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SourceLoc {
    /// The path as the compiler recorded it (relative to the build directory when the source
    /// was named relatively, as `keel contract build` does).
    pub file: String,
    pub line: u64,
}

impl std::fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Debug, Clone, Copy)]
struct Row {
    addr: u64,
    end_sequence: bool,
    file: usize,
    line: u64,
}

/// The line table of one module, ready for lookups. Empty when the module has no DWARF.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    code_start: usize,
    rows: Vec<Row>,
    files: Vec<String>,
}

impl SourceMap {
    /// Reads the line tables of `wasm` (a module with `.debug_*` sections; none gives an empty
    /// map).
    ///
    /// # Errors
    /// [`DevError::Wasm`] if the module cannot be parsed, [`DevError::Dwarf`] if its DWARF is
    /// malformed or larger than [`MAX_ROWS`] rows.
    pub fn from_wasm(wasm: &[u8]) -> Result<SourceMap, DevError> {
        let mut sections: BTreeMap<String, &[u8]> = BTreeMap::new();
        let mut code_start = None;
        for payload in Parser::new(0).parse_all(wasm) {
            match payload? {
                Payload::CodeSectionStart {
                    unchecked_range, ..
                } => {
                    code_start = usize::try_from(unchecked_range.start).ok();
                }
                Payload::CustomSection(c) if c.name().starts_with(".debug_") => {
                    sections.insert(c.name().to_owned(), c.data());
                }
                _ => {}
            }
        }
        let mut map = SourceMap {
            code_start: code_start.unwrap_or(0),
            ..SourceMap::default()
        };
        if !sections.is_empty() {
            map.read_lines(&sections)?;
        }
        Ok(map)
    }

    /// The same table for a module whose code section starts at `code_start` (the deployed,
    /// stripped module: its code section is byte-identical to the side file's, only its start
    /// differs).
    pub fn rebased(mut self, code_start: usize) -> SourceMap {
        self.code_start = code_start;
        self
    }

    /// Module offsets of the instructions DWARF attributes to `file:line`, ascending. `file`
    /// matches a recorded path equal to it or ending in `/file`.
    pub fn offsets_of(&self, file: &str, line: u64) -> Vec<usize> {
        let matches = |recorded: &str| {
            recorded == file
                || recorded.ends_with(&format!("/{file}"))
                || file.ends_with(&format!("/{recorded}"))
        };
        let mut out: Vec<usize> = self
            .rows
            .iter()
            .filter(|r| !r.end_sequence && r.line == line)
            .filter(|r| self.files.get(r.file).is_some_and(|f| matches(f)))
            .filter_map(|r| usize::try_from(r.addr).ok()?.checked_add(self.code_start))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether the module carried any line information.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The source line of the instruction at byte `offset` of the module, if DWARF covers it.
    /// Compiler-generated rows (line 0) resolve to the nearest earlier real line of the same
    /// sequence.
    pub fn locate(&self, offset: usize) -> Option<SourceLoc> {
        let addr = offset.checked_sub(self.code_start)? as u64;
        let mut i = self.rows.partition_point(|r| r.addr <= addr);
        while let Some(prev) = i.checked_sub(1) {
            let row = self.rows.get(prev)?;
            if row.end_sequence {
                return None;
            }
            if row.line != 0 {
                return Some(SourceLoc {
                    file: self.files.get(row.file)?.clone(),
                    line: row.line,
                });
            }
            i = prev;
        }
        None
    }

    fn read_lines(&mut self, sections: &BTreeMap<String, &[u8]>) -> Result<(), DevError> {
        use gimli::{EndianSlice, LittleEndian};
        let load = |id: gimli::SectionId| -> Result<EndianSlice<'_, LittleEndian>, gimli::Error> {
            let data = sections.get(id.name()).copied().unwrap_or(&[]);
            Ok(EndianSlice::new(data, LittleEndian))
        };
        let dwarf = gimli::Dwarf::load(load)?;
        let mut units = dwarf.units();
        let mut file_ids: BTreeMap<String, usize> = BTreeMap::new();
        while let Some(header) = units.next()? {
            let unit = dwarf.unit(header)?;
            let Some(program) = unit.line_program.clone() else {
                continue;
            };
            let mut rows = program.rows();
            while let Some((header, row)) = rows.next_row()? {
                if self.rows.len() >= MAX_ROWS {
                    return Err(DevError::Dwarf(format!("more than {MAX_ROWS} line rows")));
                }
                let name = match row.file(header) {
                    Some(f) => file_path(&dwarf, &unit, header, f)?,
                    None => String::from("?"),
                };
                let next = file_ids.len();
                let file = *file_ids.entry(name.clone()).or_insert(next);
                if file == self.files.len() {
                    self.files.push(name);
                }
                self.rows.push(Row {
                    addr: row.address(),
                    end_sequence: row.end_sequence(),
                    file,
                    line: row.line().map_or(0, |l| l.get()),
                });
            }
        }
        // An end of sequence sorts before a sequence starting at the same address.
        self.rows.sort_by_key(|r| (r.addr, !r.end_sequence));
        Ok(())
    }
}

type Slice<'a> = gimli::EndianSlice<'a, gimli::LittleEndian>;

/// `dir/name` as recorded; the compilation directory itself is left out so paths stay as the
/// build named them.
fn file_path(
    dwarf: &gimli::Dwarf<Slice<'_>>,
    unit: &gimli::Unit<Slice<'_>>,
    header: &gimli::LineProgramHeader<Slice<'_>>,
    file: &gimli::FileEntry<Slice<'_>>,
) -> Result<String, DevError> {
    let name = dwarf.attr_string(unit, file.path_name())?;
    let name = name.to_string_lossy().into_owned();
    // Directory 0 is the compilation directory in every DWARF version.
    if file.directory_index() == 0 || name.starts_with('/') {
        return Ok(name);
    }
    match file.directory(header) {
        Some(dir) => {
            let dir = dwarf.attr_string(unit, dir)?;
            Ok(format!("{}/{name}", dir.to_string_lossy()))
        }
        None => Ok(name),
    }
}
