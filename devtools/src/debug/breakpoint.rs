//! Breakpoints: `func`, `file:line` or a module byte offset, resolved to the metering blocks
//! where the debugger can stop.

use super::code::CodeInfo;
use crate::dwarf::SourceLoc;
use std::collections::BTreeMap;

/// Where the user asked to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Breakpoint {
    /// Entry of a function, by exported or DWARF name, or `#index`.
    Func(String),
    /// A source line (needs the DWARF side file).
    Line { file: String, line: u64 },
    /// A byte offset in the deployed module (`0x…` or decimal).
    Offset(u32),
}

impl std::str::FromStr for Breakpoint {
    type Err = String;

    /// `123` or `0x7b` → offset; `file.c:12` → line; anything else → function.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty breakpoint".into());
        }
        if let Some(hex) = s.strip_prefix("0x") {
            return u32::from_str_radix(hex, 16)
                .map(Breakpoint::Offset)
                .map_err(|e| format!("bad offset {s}: {e}"));
        }
        if let Ok(o) = s.parse::<u32>() {
            return Ok(Breakpoint::Offset(o));
        }
        if let Some((file, line)) = s.rsplit_once(':')
            && let Ok(line) = line.parse::<u64>()
        {
            if file.is_empty() || line == 0 {
                return Err(format!("bad breakpoint {s}: expected FILE:LINE"));
            }
            return Ok(Breakpoint::Line {
                file: file.to_owned(),
                line,
            });
        }
        Ok(Breakpoint::Func(s.to_owned()))
    }
}

impl std::fmt::Display for Breakpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Breakpoint::Func(n) => write!(f, "{n}"),
            Breakpoint::Line { file, line } => write!(f, "{file}:{line}"),
            Breakpoint::Offset(o) => write!(f, "{o:#x}"),
        }
    }
}

/// Block sites where `bps` stop in `code`, each with the source line a line breakpoint asked
/// for (reported as the stop's line: a block may start on an earlier line).
pub fn resolve(bps: &[Breakpoint], code: &CodeInfo) -> BTreeMap<u32, Option<SourceLoc>> {
    let mut out = BTreeMap::new();
    for bp in bps {
        match bp {
            Breakpoint::Func(name) => {
                if let Some(site) = code.func_named(name).and_then(|f| f.blocks.first()) {
                    out.entry(*site).or_insert(None);
                }
            }
            Breakpoint::Offset(o) => {
                if let Some(site) = code.block_at(*o) {
                    out.entry(site).or_insert(None);
                }
            }
            Breakpoint::Line { file, line } => {
                for offset in code.source.offsets_of(file, *line) {
                    let Some(o) = u32::try_from(offset).ok() else {
                        continue;
                    };
                    // The file as DWARF recorded it (the user may have named a suffix).
                    let recorded = code.line(o).map_or_else(|| file.clone(), |l| l.file);
                    if let Some(site) = code.block_at(o) {
                        out.insert(
                            site,
                            Some(SourceLoc {
                                file: recorded,
                                line: *line,
                            }),
                        );
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakpoint_specs_parse_as_offset_line_or_function() {
        assert_eq!("0x1f".parse(), Ok(Breakpoint::Offset(31)));
        assert_eq!("42".parse(), Ok(Breakpoint::Offset(42)));
        assert_eq!(
            "src/counter.c:12".parse(),
            Ok(Breakpoint::Line {
                file: "src/counter.c".into(),
                line: 12
            })
        );
        assert_eq!("add".parse(), Ok(Breakpoint::Func("add".into())));
        assert!("".parse::<Breakpoint>().is_err());
        assert!("x.c:0".parse::<Breakpoint>().is_err());
        assert!("0xzz".parse::<Breakpoint>().is_err());
    }
}
