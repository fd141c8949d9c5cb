//! The exported functions a kept instance has been called through, looked up by name once.
//!
//! Looking an export up by name hashes the name and checks the function's type against the
//! engine's type registry: a profile of a token transfer on wasmtime put that lookup at a tenth
//! of its ≈ 2 µs VM call. Both tiers keep the functions they have found here, beside the
//! instance, so a reused instance pays the lookup only for its first call of each entry.

/// Typed functions of one instance, by export name. Bounded by the module's exports (each
/// name is looked up at most once; a name the module does not export is never kept).
pub(super) struct EntryFuncs<F> {
    found: Vec<(Box<str>, F)>,
}

impl<F: Clone> EntryFuncs<F> {
    pub(super) fn new() -> Self {
        EntryFuncs { found: Vec::new() }
    }

    /// The function exported as `name`: the one found before, or `lookup`'s (kept if found).
    pub(super) fn get(&mut self, name: &str, lookup: impl FnOnce() -> Option<F>) -> Option<F> {
        if let Some((_, f)) = self.found.iter().find(|(n, _)| &**n == name) {
            return Some(f.clone());
        }
        let f = lookup()?;
        self.found.push((name.into(), f.clone()));
        Some(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_looked_up_once_and_a_missing_one_every_time() {
        let mut entries = EntryFuncs::new();
        let lookups = std::cell::Cell::new(0);
        let get = |entries: &mut EntryFuncs<u32>, name: &str| {
            entries.get(name, || {
                lookups.set(lookups.get() + 1);
                (name != "missing").then_some(name.len() as u32)
            })
        };
        assert_eq!(get(&mut entries, "transfer"), Some(8));
        assert_eq!(get(&mut entries, "transfer"), Some(8));
        assert_eq!(get(&mut entries, "mint"), Some(4));
        assert_eq!(get(&mut entries, "missing"), None);
        assert_eq!(get(&mut entries, "missing"), None);
        assert_eq!(lookups.get(), 4);
        assert_eq!(entries.found.len(), 2);
    }
}
