//! The file-system root the probe reads: `/` on a real machine, a fake tree in tests.

use std::fs;
use std::path::{Path, PathBuf};

/// Reads files relative to a root (`/proc/...`, `/sys/...`, `/dev/...`). A missing or
/// unreadable file is `None`, never an error: the probe describes what it can see.
#[derive(Debug, Clone)]
pub struct SysRoot {
    root: PathBuf,
}

/// Files larger than this are not read (sysfs and procfs files are small; this bounds a hostile
/// or broken tree).
const MAX_FILE: u64 = 4 << 20;

impl SysRoot {
    /// A root; `/` for this machine.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The absolute path of `rel` (given without a leading `/`) under the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// A file's contents, trimmed.
    pub fn read(&self, rel: &str) -> Option<String> {
        read_bounded(&self.path(rel)).map(|s| s.trim().to_string())
    }

    /// A file's contents parsed as a number.
    pub fn read_u64(&self, rel: &str) -> Option<u64> {
        self.read(rel)?.parse().ok()
    }

    /// Whether the path exists.
    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// Names of the entries of a directory, sorted (empty when it does not exist).
    pub fn list(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path(rel))
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        names.sort_by(|a, b| natural_cmp(a, b));
        names
    }

    /// The last component of a symbolic link's target (e.g. a driver's name).
    pub fn link_name(&self, rel: &str) -> Option<String> {
        let target = fs::read_link(self.path(rel)).ok()?;
        target.file_name()?.to_str().map(str::to_string)
    }
}

fn read_bounded(path: &Path) -> Option<String> {
    use std::io::Read;
    let f = fs::File::open(path).ok()?;
    let mut s = String::new();
    f.take(MAX_FILE).read_to_string(&mut s).ok()?;
    Some(s)
}

/// Orders `cpu2` before `cpu10`: digits compare as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| {
        let i = s.find(|c: char| c.is_ascii_digit()).unwrap_or(s.len());
        let (p, n) = s.split_at(i);
        (p.to_string(), n.parse::<u64>().ok())
    };
    split(a).cmp(&split(b)).then_with(|| a.cmp(b))
}

/// Parses a kernel CPU list (`0-3,8,10-11`); `None` on malformed input or absurd ranges.
pub fn parse_list(s: &str) -> Option<Vec<usize>> {
    const MAX_CPUS: usize = 1 << 16;
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
            None => {
                let v = part.parse::<usize>().ok()?;
                (v, v)
            }
        };
        if hi < lo || hi >= MAX_CPUS {
            return None;
        }
        out.extend(lo..=hi);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_ranges_and_reject_garbage() {
        assert_eq!(parse_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_list(""), Some(vec![]));
        assert_eq!(parse_list("3-1"), None);
        assert_eq!(parse_list("x"), None);
        assert_eq!(parse_list("0-99999999"), None);
    }

    #[test]
    fn directory_listings_sort_numbers_naturally() {
        let mut v = vec!["cpu10", "cpu2", "cpu1"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["cpu1", "cpu2", "cpu10"]);
    }
}
