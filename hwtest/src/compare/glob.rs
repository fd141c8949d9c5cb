//! The glob patterns of per-metric thresholds: `*` matches any run of characters (dots
//! included), `?` exactly one, `[…]` a class; everything else matches itself, case-sensitively.

/// Whether `pattern` matches all of `text` (the `glob` crate's matcher with its default options:
/// `*` spans dots, matching is case-sensitive). A pattern that does not compile matches nothing;
/// rules are checked with [`check_pattern`] when they are parsed, so none reaches here.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    glob::Pattern::new(pattern).is_ok_and(|p| p.matches(text))
}

/// Why `pattern` is not a valid glob, if it is not (e.g. an unclosed `[`).
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    glob::Pattern::new(pattern)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// How specific a pattern is: its count of literal (non-wildcard) characters.
pub fn specificity(pattern: &str) -> usize {
    pattern.chars().filter(|c| !matches!(c, '*' | '?')).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_span_dots_and_question_marks_take_one_character() {
        assert!(glob_match(
            "kernel.*attach_us",
            "kernel.admission.xdp_generic.p50_attach_us"
        ));
        assert!(glob_match("bls.*p99*", "bls.cpu-pool.cpu.w4.b64.p99_us"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(!glob_match(
            "kernel.*attach_us",
            "kernel.x.p50_attach_us_max"
        ));
        assert!(!glob_match("bls.*", "kernel.bls.x"));
        assert!(glob_match("*a*a*a", "aaaa"));
        assert!(!glob_match("*a*a*b", "aaaa"));
        assert!(!glob_match("P99", "p99"), "case-sensitive");
    }

    #[test]
    fn a_malformed_pattern_is_reported() {
        assert!(check_pattern("bls.[p99").is_err());
        assert!(check_pattern("bls.*p99*").is_ok());
    }

    #[test]
    fn specificity_counts_literal_characters() {
        assert_eq!(specificity("*"), 0);
        assert_eq!(specificity("*p99*"), 3);
        assert_eq!(specificity("bls.*p99*"), 7);
        assert_eq!(specificity("a?c"), 2);
    }
}
