//! The engines checked against each other on one input: the interpreter is the reference, the
//! JIT must give the identical result (output, instruction count and gas, or the same error),
//! and the kernel, where it can take the input, the same output. Shared by the bridge's
//! differential tests and `keel hwtest`.

use thiserror::Error;

use crate::error::BridgeError;
use crate::registry::{Engine, Routine, RunResult};

/// How the engines disagreed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Disagreement {
    /// Interpreter and JIT gave different results or errors.
    #[error("interpreter gave {interp:?}, JIT gave {jit:?}")]
    InterpreterJit {
        /// The interpreter's outcome.
        interp: Result<RunResult, BridgeError>,
        /// The JIT's outcome.
        jit: Result<RunResult, BridgeError>,
    },
    /// The kernel's output differs from the interpreter's.
    #[error("kernel output {kernel:02x?} differs from the interpreter's {interp:02x?}")]
    KernelOutput {
        /// The interpreter's output.
        interp: Vec<u8>,
        /// The kernel's output.
        kernel: Vec<u8>,
    },
    /// The kernel failed on an input the interpreter accepted.
    #[error("kernel failed where the interpreter succeeded: {0}")]
    KernelFailed(BridgeError),
}

/// The engines agreed; the interpreter's outcome, and whether the kernel took part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    /// The reference outcome (a routine's error is an outcome too).
    pub outcome: Result<RunResult, BridgeError>,
    /// The kernel ran this input (it was asked to, and the input fits its build).
    pub kernel_checked: bool,
}

/// Runs `input` on the interpreter and the JIT, and with `with_kernel` on the kernel when the
/// input fits its build; errors with the first disagreement.
///
/// # Errors
/// [`Disagreement`].
pub fn compare_engines(
    routine: &Routine,
    input: &[u8],
    gas_budget: u64,
    with_kernel: bool,
) -> Result<Agreement, Disagreement> {
    let out_len = routine.manifest().output_len;
    let interp = routine.run(input, out_len, Engine::Interpreter, gas_budget);
    let jit = routine.run(input, out_len, Engine::Jit, gas_budget);
    if interp != jit {
        return Err(Disagreement::InterpreterJit { interp, jit });
    }
    let fits = routine
        .kernel_max_input()
        .is_some_and(|max| input.len() <= max);
    let kernel_checked = with_kernel && fits;
    if kernel_checked && let Ok(reference) = &interp {
        match routine.run(input, out_len, Engine::Kernel, gas_budget) {
            Ok(k) if k.output != reference.output => {
                return Err(Disagreement::KernelOutput {
                    interp: reference.output.clone(),
                    kernel: k.output,
                });
            }
            Ok(_) => {}
            Err(e) => return Err(Disagreement::KernelFailed(e)),
        }
    }
    Ok(Agreement {
        outcome: interp,
        kernel_checked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Registry, SHA256};

    #[test]
    fn the_engines_agree_on_a_hash_and_on_a_refused_input_length() {
        let registry = Registry::builtin().expect("built-ins load");
        let sha = registry.get(SHA256).expect("registered");
        let ok = compare_engines(sha, b"abc", 10_000_000, false).expect("agree");
        assert!(ok.outcome.is_ok() && !ok.kernel_checked);
        // Too long for the manifest: both engines refuse it identically.
        let refused = compare_engines(sha, &[0; 5000], 10_000_000, true).expect("agree");
        assert!(matches!(
            refused.outcome,
            Err(BridgeError::InputSize { .. })
        ));
        assert!(
            !refused.kernel_checked,
            "the kernel build does not take 5000 bytes"
        );
    }
}
