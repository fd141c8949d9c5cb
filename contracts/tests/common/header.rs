//! The `keel` import table as declared in `include/keel.h`, parsed from the header itself so the
//! tests follow the ABI instead of a copy of it.

use std::collections::BTreeMap;

use wasmparser::ValType;

use super::module::Sig;

/// Import name → Wasm signature, for every `KEEL_IMPORT("name")` declaration in keel.h.
/// Pointers and `int32_t` map to i32, `int64_t` to i64, `void` to nothing.
pub fn keel_imports() -> BTreeMap<String, Sig> {
    let header = include_str!("../../include/keel.h");
    let mut table = BTreeMap::new();
    for line in header.lines() {
        let Some(rest) = line.trim().strip_prefix("KEEL_IMPORT(\"") else {
            continue;
        };
        let (name, decl) = rest.split_once("\")").expect("import name");
        let decl = decl.replace("__attribute__((noreturn))", "");
        let (head, tail) = decl.split_once('(').expect("parameter list");
        let params_text = tail.split_once(')').expect("closing parenthesis").0;
        let mut head_words: Vec<&str> = head.split_whitespace().collect();
        head_words.pop(); // the C function name
        let results = c_type(&head_words.join(" ")).into_iter().collect();
        let params = params_text
            .split(',')
            .filter_map(|p| c_type(p.trim()))
            .collect();
        table.insert(name.to_owned(), (params, results));
    }
    table
}

fn c_type(decl: &str) -> Option<ValType> {
    if decl.contains('*') {
        return Some(ValType::I32);
    }
    match decl.split_whitespace().next()? {
        "void" => None,
        "int32_t" => Some(ValType::I32),
        "int64_t" => Some(ValType::I64),
        other => panic!("keel.h uses a C type the tests do not map: {other}"),
    }
}
