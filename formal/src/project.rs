//! The self-contained Coq project `keel prove --out DIR` writes: the model (embedded here, so
//! the binary carries the exact files it was built with), the generated `Contract.v`, an
//! `Audit.v` that prints the axioms every proved lemma depends on, and a `_CoqProject`.

use crate::error::FormalError;
use std::path::{Path, PathBuf};

/// The model's files, in dependency order (as `formal/coq/_CoqProject` lists them).
pub const MODEL: [(&str, &str); 6] = [
    ("Keel/Values.v", include_str!("../coq/Keel/Values.v")),
    ("Keel/Semantics.v", include_str!("../coq/Keel/Semantics.v")),
    ("Keel/Bound.v", include_str!("../coq/Keel/Bound.v")),
    ("Keel/Hosts.v", include_str!("../coq/Keel/Hosts.v")),
    ("Keel/Features.v", include_str!("../coq/Keel/Features.v")),
    ("Keel/Symex.v", include_str!("../coq/Keel/Symex.v")),
];

/// The generated file's name inside the project.
pub const CONTRACT_FILE: &str = "Contract.v";
/// The file that prints each proved lemma's assumptions.
pub const AUDIT_FILE: &str = "Audit.v";

/// Every `.v` file of a project, in the order coqc must compile them.
pub fn files() -> Vec<&'static str> {
    let mut v: Vec<&str> = MODEL.iter().map(|(p, _)| *p).collect();
    v.push(CONTRACT_FILE);
    v.push(AUDIT_FILE);
    v
}

/// `Audit.v` for the lemmas named in `proved`.
pub fn audit(proved: &[String]) -> String {
    let mut s = String::from(
        "From Keel Require Import Values Semantics Bound Hosts Features Symex.\nFrom Top Require Import Contract.\n",
    );
    for name in proved {
        s.push_str(&format!("Print Assumptions {name}.\n"));
    }
    s
}

fn write(path: PathBuf, text: &str) -> Result<(), FormalError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| FormalError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(&path, text).map_err(|source| FormalError::Io { path, source })
}

/// Writes the project into `dir` (created if missing; files of the same names replaced).
pub fn write_project(dir: &Path, contract: &str, audit_v: &str) -> Result<(), FormalError> {
    for (path, text) in MODEL {
        write(dir.join(path), text)?;
    }
    write(dir.join(CONTRACT_FILE), contract)?;
    write(dir.join(AUDIT_FILE), audit_v)?;
    let mut project = String::from("-Q . Top\n-Q Keel Keel\n");
    for f in files() {
        project.push_str(f);
        project.push('\n');
    }
    write(dir.join("_CoqProject"), &project)
}
