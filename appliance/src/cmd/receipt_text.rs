//! Receipts for people: event topics as text when they are printable, and fault locations
//! with the function's name from the module's name section next to its index.

use std::collections::BTreeMap;

/// A topic as `"text"` when it is non-empty printable ASCII, else as `0x…` hex.
pub fn topic_text(topic: &[u8]) -> String {
    if !topic.is_empty() && topic.iter().all(|b| (0x20..0x7f).contains(b) && *b != b'"') {
        format!("\"{}\"", String::from_utf8_lossy(topic))
    } else {
        format!("0x{}", hex::encode(topic))
    }
}

/// The serde name of a unit enum variant (`snake_case`, as in the JSON output), or its
/// compact JSON for anything else: user output never shows Rust's Debug form.
pub fn name_of<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::from("?"),
    }
}

/// Function names by index from a module's `name` section (empty when it has none, e.g. a
/// stripped build, or when the section is malformed: names are a debugging aid only).
pub fn function_names(code: &[u8]) -> BTreeMap<u32, String> {
    use wasmparser::{KnownCustom, Name, Parser, Payload};
    let mut names = BTreeMap::new();
    for payload in Parser::new(0).parse_all(code) {
        let Ok(Payload::CustomSection(section)) = payload else {
            continue;
        };
        let KnownCustom::Name(reader) = section.as_known() else {
            continue;
        };
        for name in reader.into_iter().flatten() {
            if let Name::Function(map) = name {
                names.extend(
                    map.into_iter()
                        .flatten()
                        .map(|n| (n.index, n.name.to_string())),
                );
            }
        }
    }
    names
}

/// `func 3 (transfer) at offset 0x1f2`, or without the name when it is unknown.
pub fn location_text(func: u32, offset: u32, names: &BTreeMap<u32, String>) -> String {
    match names.get(&func) {
        Some(n) => format!("func {func} ({n}) at offset {offset:#x}"),
        None => format!("func {func} at offset {offset:#x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names_are_their_serde_names() {
        assert_eq!(
            name_of(&keel_chain::governance::GovEventKind::Activated),
            "activated"
        );
    }

    #[test]
    fn printable_topics_are_text_and_others_hex() {
        assert_eq!(topic_text(b"transfer"), "\"transfer\"");
        assert_eq!(topic_text(&[0, 1, 0xff]), "0x0001ff");
        assert_eq!(topic_text(b""), "0x");
        assert_eq!(topic_text(b"a\"b"), "0x612262");
    }

    #[test]
    fn function_names_come_from_the_name_section() {
        let code =
            wat::parse_str(r#"(module (func $helper) (func $run (export "run") call $helper))"#)
                .unwrap();
        let names = function_names(&code);
        assert_eq!(names.get(&1).map(String::as_str), Some("run"));
        assert_eq!(
            location_text(1, 0x20, &names),
            "func 1 (run) at offset 0x20"
        );
        assert_eq!(location_text(7, 3, &names), "func 7 at offset 0x3");
        assert!(function_names(b"not wasm").is_empty());
    }
}
