//! The glob patterns of per-metric thresholds: `*` matches any run of characters (dots
//! included), `?` exactly one; everything else matches itself, case-sensitively.

/// Whether `pattern` matches all of `text`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Classic two-pointer wildcard match: on a mismatch, retry from the last `*` with one more
    // character swallowed. Linear in practice, O(|p|·|t|) at worst; both are short names.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
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
    fn specificity_counts_literal_characters() {
        assert_eq!(specificity("*"), 0);
        assert_eq!(specificity("*p99*"), 3);
        assert_eq!(specificity("bls.*p99*"), 7);
        assert_eq!(specificity("a?c"), 2);
    }
}
