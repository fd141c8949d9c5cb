//! Preconditions: what a contract promises about an export's input, stated in the module's
//! optional `keel.preconditions` custom section and read only by `keel prove` (consensus never
//! reads it; the code hash covers it like every section).
//!
//! The section is UTF-8 text, one export per line (blank lines and `#` comments ignored):
//!
//! ```text
//! div(x: u32, d: u32): d != 0
//! fib(n: u32): n <= 40 && n > 0 || n == 1000
//! ```
//!
//! The parameters name the input's fields in order, little-endian, unsigned (`u8`, `u16`,
//! `u32`, `u64`); the input holds exactly those bytes. The condition compares parameters and
//! decimal literals (`==`, `!=`, `<`, `<=`, `>`, `>=`) and combines comparisons with `&&`,
//! `||` and parentheses (`&&` binds tighter).

use std::collections::BTreeMap;
use std::fmt::Write;

/// Name of the custom section that holds the preconditions.
pub const PRECONDITION_SECTION: &str = "keel.preconditions";

/// Why a precondition could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreconditionError {
    #[error("line {line}: expected {expected} at column {col}")]
    Expected {
        line: usize,
        col: usize,
        expected: &'static str,
    },
    #[error("line {line}: unknown type `{ty}` (u8, u16, u32 or u64)")]
    UnknownType { line: usize, ty: String },
    #[error("line {line}: `{name}` is not a parameter of `{export}`")]
    UnknownParam {
        line: usize,
        export: String,
        name: String,
    },
    #[error("line {line}: parameter `{name}` is declared twice")]
    DuplicateParam { line: usize, name: String },
    #[error("line {line}: `{export}` has a precondition already")]
    DuplicateExport { line: usize, export: String },
    #[error("line {line}: literal {literal} does not fit in 64 bits")]
    LiteralTooLarge { line: usize, literal: String },
    #[error("the `keel.preconditions` section is not UTF-8")]
    NotUtf8,
}

/// An unsigned little-endian input field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntTy {
    U8,
    U16,
    U32,
    U64,
}

impl IntTy {
    /// Its size in bytes.
    pub fn bytes(self) -> usize {
        match self {
            IntTy::U8 => 1,
            IntTy::U16 => 2,
            IntTy::U32 => 4,
            IntTy::U64 => 8,
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Param(String),
    Lit(u64),
}

/// The condition, as a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Cmp(Term, Cmp, Term),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// One export's precondition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precondition {
    pub params: Vec<(String, IntTy)>,
    pub expr: Expr,
    /// The line as written (for listings).
    pub text: String,
}

/// Parses a whole section: export name to precondition.
///
/// # Errors
/// Every malformed line is a [`PreconditionError`] naming the line and what was expected.
pub fn parse_section(bytes: &[u8]) -> Result<BTreeMap<String, Precondition>, PreconditionError> {
    let text = std::str::from_utf8(bytes).map_err(|_| PreconditionError::NotUtf8)?;
    let mut out = BTreeMap::new();
    for (k, raw) in text.lines().enumerate() {
        let line = k.saturating_add(1);
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (export, pre) = parse_line(trimmed, line)?;
        if out.contains_key(&export) {
            return Err(PreconditionError::DuplicateExport { line, export });
        }
        out.insert(export, pre);
    }
    Ok(out)
}

/// The preconditions in a module's `keel.preconditions` section (none without one).
///
/// # Errors
/// A malformed section; the module's own errors are admission's to report.
pub fn from_module(wasm: &[u8]) -> Result<BTreeMap<String, Precondition>, PreconditionError> {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let Ok(wasmparser::Payload::CustomSection(c)) = payload
            && c.name() == PRECONDITION_SECTION
        {
            return parse_section(c.data());
        }
    }
    Ok(BTreeMap::new())
}

/// Parses `name(p: ty, …): condition`.
pub fn parse_line(text: &str, line: usize) -> Result<(String, Precondition), PreconditionError> {
    let mut p = Parser {
        s: text.as_bytes(),
        at: 0,
        line,
    };
    let export = p.ident("an export name")?;
    p.expect("(")?;
    let mut params: Vec<(String, IntTy)> = Vec::new();
    if !p.eat(")") {
        loop {
            let name = p.ident("a parameter name")?;
            p.expect(":")?;
            let ty = match p.ident("a type")?.as_str() {
                "u8" => IntTy::U8,
                "u16" => IntTy::U16,
                "u32" => IntTy::U32,
                "u64" => IntTy::U64,
                other => {
                    return Err(PreconditionError::UnknownType {
                        line,
                        ty: other.into(),
                    });
                }
            };
            if params.iter().any(|(n, _)| *n == name) {
                return Err(PreconditionError::DuplicateParam { line, name });
            }
            params.push((name, ty));
            if p.eat(")") {
                break;
            }
            p.expect(",")?;
        }
    }
    p.expect(":")?;
    let expr = p.or()?;
    p.skip_ws();
    if p.at < p.s.len() {
        return Err(p.expected("`&&`, `||` or the end of the line"));
    }
    check_params(&expr, &params, &export, line)?;
    Ok((
        export,
        Precondition {
            params,
            expr,
            text: text.to_string(),
        },
    ))
}

fn check_params(
    e: &Expr,
    params: &[(String, IntTy)],
    export: &str,
    line: usize,
) -> Result<(), PreconditionError> {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            check_params(a, params, export, line)?;
            check_params(b, params, export, line)
        }
        Expr::Cmp(a, _, b) => {
            for t in [a, b] {
                if let Term::Param(name) = t
                    && !params.iter().any(|(n, _)| n == name)
                {
                    return Err(PreconditionError::UnknownParam {
                        line,
                        export: export.into(),
                        name: name.clone(),
                    });
                }
            }
            Ok(())
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    line: usize,
}

impl Parser<'_> {
    fn expected(&self, expected: &'static str) -> PreconditionError {
        PreconditionError::Expected {
            line: self.line,
            col: self.at.saturating_add(1),
            expected,
        }
    }

    fn skip_ws(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at = self.at.saturating_add(1);
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.skip_ws();
        let end = self.at.saturating_add(tok.len());
        if self.s.get(self.at..end) == Some(tok.as_bytes()) {
            self.at = end;
            return true;
        }
        false
    }

    fn expect(&mut self, tok: &'static str) -> Result<(), PreconditionError> {
        if self.eat(tok) {
            return Ok(());
        }
        Err(self.expected(tok))
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &str {
        let start = self.at;
        while self.s.get(self.at).is_some_and(|c| f(*c)) {
            self.at = self.at.saturating_add(1);
        }
        std::str::from_utf8(self.s.get(start..self.at).unwrap_or(&[])).unwrap_or("")
    }

    fn ident(&mut self, what: &'static str) -> Result<String, PreconditionError> {
        self.skip_ws();
        if !self
            .s
            .get(self.at)
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        {
            return Err(self.expected(what));
        }
        Ok(self
            .take_while(|c| c.is_ascii_alphanumeric() || c == b'_')
            .to_string())
    }

    fn or(&mut self) -> Result<Expr, PreconditionError> {
        let mut e = self.and()?;
        while self.eat("||") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, PreconditionError> {
        let mut e = self.atom()?;
        while self.eat("&&") {
            e = Expr::And(Box::new(e), Box::new(self.atom()?));
        }
        Ok(e)
    }

    fn atom(&mut self) -> Result<Expr, PreconditionError> {
        if self.eat("(") {
            let e = self.or()?;
            self.expect(")")?;
            return Ok(e);
        }
        let a = self.term()?;
        let op = [
            ("==", Cmp::Eq),
            ("!=", Cmp::Ne),
            ("<=", Cmp::Le),
            (">=", Cmp::Ge),
            ("<", Cmp::Lt),
            (">", Cmp::Gt),
        ]
        .into_iter()
        .find(|(t, _)| self.eat(t))
        .map(|(_, c)| c)
        .ok_or_else(|| self.expected("a comparison (==, !=, <, <=, >, >=)"))?;
        let b = self.term()?;
        Ok(Expr::Cmp(a, op, b))
    }

    fn term(&mut self) -> Result<Term, PreconditionError> {
        self.skip_ws();
        if self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            let line = self.line;
            let digits = self.take_while(|c| c.is_ascii_digit()).to_string();
            return digits.parse::<u64>().map(Term::Lit).map_err(|_| {
                PreconditionError::LiteralTooLarge {
                    line,
                    literal: digits,
                }
            });
        }
        self.ident("a parameter or a decimal literal")
            .map(Term::Param)
    }
}

impl Precondition {
    /// The Coq names of the input's bytes, in input order (`NAME_0` is the lowest byte).
    pub fn byte_vars(&self) -> Vec<String> {
        self.params
            .iter()
            .flat_map(|(n, t)| (0..t.bytes()).map(move |k| format!("{n}_{k}")))
            .collect()
    }

    /// The Coq value of parameter `name`, from its bytes.
    fn value(&self, name: &str) -> String {
        let bytes = self
            .params
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, t)| t.bytes());
        let mut s = String::from("(");
        for k in 0..bytes {
            if k > 0 {
                s.push_str(" + ");
            }
            let _ = write!(s, "{} * {name}_{k}", 1u128 << (8 * k));
        }
        s.push(')');
        s
    }

    fn term(&self, t: &Term) -> String {
        match t {
            Term::Param(n) => self.value(n),
            Term::Lit(v) => v.to_string(),
        }
    }

    fn expr(&self, e: &Expr) -> String {
        match e {
            Expr::And(a, b) => format!("({} /\\ {})", self.expr(a), self.expr(b)),
            Expr::Or(a, b) => format!("({} \\/ {})", self.expr(a), self.expr(b)),
            Expr::Cmp(a, op, b) => {
                let op = match op {
                    Cmp::Eq => "=",
                    Cmp::Ne => "<>",
                    Cmp::Lt => "<",
                    Cmp::Le => "<=",
                    Cmp::Gt => ">",
                    Cmp::Ge => ">=",
                };
                format!("({} {op} {})", self.term(a), self.term(b))
            }
        }
    }

    /// The condition as a Coq proposition over the byte variables.
    pub fn coq(&self) -> String {
        self.expr(&self.expr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_precondition_line_becomes_its_typed_tree() {
        let (name, p) =
            parse_line("div(x: u32, d: u16): d != 0 && x < 10 || (x == 7)", 1).expect("parses");
        assert_eq!(name, "div");
        assert_eq!(
            p.params,
            vec![("x".into(), IntTy::U32), ("d".into(), IntTy::U16)]
        );
        let d_ne_0 = Expr::Cmp(Term::Param("d".into()), Cmp::Ne, Term::Lit(0));
        let x_lt_10 = Expr::Cmp(Term::Param("x".into()), Cmp::Lt, Term::Lit(10));
        let x_eq_7 = Expr::Cmp(Term::Param("x".into()), Cmp::Eq, Term::Lit(7));
        assert_eq!(
            p.expr,
            Expr::Or(
                Box::new(Expr::And(Box::new(d_ne_0), Box::new(x_lt_10))),
                Box::new(x_eq_7)
            )
        );
        assert_eq!(p.byte_vars().len(), 6);
        assert!(
            p.coq().contains("(1 * d_0 + 256 * d_1) <> 0"),
            "{}",
            p.coq()
        );
    }

    #[test]
    fn malformed_preconditions_are_clear_errors() {
        let err = |s: &str| parse_line(s, 3).expect_err(s);
        assert!(matches!(
            err("div(d: u32): d != "),
            PreconditionError::Expected { line: 3, .. }
        ));
        assert!(matches!(
            err("div(d: i32): d != 0"),
            PreconditionError::UnknownType { .. }
        ));
        assert_eq!(
            err("div(d: u32): e != 0"),
            PreconditionError::UnknownParam {
                line: 3,
                export: "div".into(),
                name: "e".into()
            }
        );
        assert!(matches!(
            err("div(d: u32, d: u8): d != 0"),
            PreconditionError::DuplicateParam { .. }
        ));
        assert!(matches!(
            err("div(d: u32): d = 0"),
            PreconditionError::Expected { .. }
        ));
        assert!(matches!(
            err("div(d: u32): d != 0 extra"),
            PreconditionError::Expected { .. }
        ));
        assert!(matches!(
            err("div(d: u64): d < 99999999999999999999"),
            PreconditionError::LiteralTooLarge { .. }
        ));
        assert!(
            err("div(d: u32): d != ")
                .to_string()
                .contains("expected a parameter or a decimal literal")
        );
    }

    #[test]
    fn a_section_reads_every_line_and_refuses_a_second_precondition() {
        let s = b"# comment\n\ndiv(d: u32): d != 0\nfib(n: u32): n <= 40\n";
        let m = parse_section(s).expect("parses");
        assert_eq!(m.len(), 2);
        assert!(matches!(
            parse_section(b"a(x: u8): x < 1\na(x: u8): x < 2"),
            Err(PreconditionError::DuplicateExport { line: 2, .. })
        ));
    }
}
