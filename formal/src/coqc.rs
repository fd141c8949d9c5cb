//! Running `coqc`: checking a project as written, and evaluating terms (`Eval vm_compute`).

use crate::error::FormalError;
use crate::project;
use std::path::Path;
use std::process::Command;

/// Whether `coqc` can be run here.
pub fn available() -> bool {
    Command::new("coqc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Compiles `file` (relative to `dir`) with the project's load path; returns its output.
pub fn compile(dir: &Path, file: &str) -> Result<String, FormalError> {
    let out = Command::new("coqc")
        .current_dir(dir)
        .args(["-q", "-Q", ".", "Top", "-Q", "Keel", "Keel", file])
        .output()
        .map_err(FormalError::CoqcMissing)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(FormalError::CoqcRejected {
            file: file.to_string(),
            output: text,
        });
    }
    Ok(text)
}

/// What checking a project found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Lemmas coqc accepted whose proofs rely on no axiom.
    pub closed: Vec<String>,
}

/// Checks the project in `dir` as written: every file compiles, and each lemma in `proved`
/// depends on no axiom (`Print Assumptions`), so an `Admitted` slipped into a file claimed
/// proved is caught.
pub fn check(dir: &Path, proved: &[String]) -> Result<Checked, FormalError> {
    let mut audit_out = String::new();
    for f in project::files() {
        let out = compile(dir, f)?;
        if f == project::AUDIT_FILE {
            audit_out = out;
        }
    }
    let closed = audit_out.matches("Closed under the global context").count();
    if closed != proved.len() {
        return Err(FormalError::CoqcRejected {
            file: project::AUDIT_FILE.into(),
            output: format!(
                "{} of {} lemmas claimed proved depend on no axiom:\n{audit_out}",
                closed,
                proved.len()
            ),
        });
    }
    Ok(Checked {
        closed: proved.to_vec(),
    })
}

/// Parses every `= [a; b; …]` list of integers in coqc's output, in order (the answers of
/// `Eval vm_compute in (summary …)`).
pub fn z_lists(output: &str) -> Result<Vec<Vec<i128>>, FormalError> {
    let mut lists = Vec::new();
    let mut rest = output;
    while let Some(start) = rest.find("= [") {
        let after = rest.get(start.saturating_add(3)..).unwrap_or("");
        let end = after
            .find(']')
            .ok_or_else(|| FormalError::CoqcOutput(output.to_string()))?;
        let body = after.get(..end).unwrap_or("");
        let nums = body
            .split(';')
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.trim_matches(|c| c == '(' || c == ')')
                    .parse::<i128>()
                    .map_err(|_| FormalError::CoqcOutput(format!("not an integer: {t}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        lists.push(nums);
        rest = after.get(end..).unwrap_or("");
    }
    Ok(lists)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z_lists_reads_every_answer_in_order() {
        let out = "     = [0; 1234; 255; (-3)]\n     : list Z\n     = [8; 99]\n     : list Z\n";
        let lists = z_lists(out).expect("parsed");
        assert_eq!(lists, vec![vec![0, 1234, 255, -3], vec![8, 99]]);
    }

    #[test]
    fn z_lists_refuses_what_is_not_an_integer() {
        assert!(z_lists("= [0; x]").is_err());
        assert!(z_lists("= [0; 1").is_err());
    }
}
