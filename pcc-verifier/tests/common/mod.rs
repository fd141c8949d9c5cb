//! Runs a linked image through the bridge's own loader and engines
//! (`keel_ebpf_bridge::sbpf::run_linked`): what is tested is what the bridge executes.

#![allow(dead_code)]

use keel_ebpf_bridge::BridgeError;
use keel_ebpf_bridge::link::LinkedImage;
use keel_ebpf_bridge::sbpf::{SbpfMode, run_linked};
use keel_pcc::Image;

/// Outcome of one run: `Ok((status, instructions))` or the run-time error's text.
pub type Outcome = Result<(u64, u64), String>;

/// Runs `image` on `input` with an output of `out_len` bytes and `budget` instructions, on the
/// interpreter and (where available) the JIT, which must agree. `Err` if the bridge's loader
/// refuses the program (solana-sbpf's verifier) or the engines disagree.
pub fn run(image: &Image, input: &[u8], out_len: usize, budget: u64) -> Result<Outcome, String> {
    let once = |mode| {
        let mut output = vec![0u8; out_len];
        let linked = LinkedImage {
            text: image.text.clone(),
            rodata: image.rodata.clone(),
        };
        run_linked(linked, mode, input, &mut output, budget)
    };
    let outcome = |r: Result<keel_ebpf_bridge::sbpf::Execution, BridgeError>| match r {
        Ok(e) => Ok(Ok((e.status, e.instructions))),
        Err(e @ BridgeError::Load { .. }) => Err(format!("the bridge refuses to load it: {e}")),
        Err(e) => Ok(Err(e.to_string())),
    };
    let interpreted = outcome(once(SbpfMode::Interpreter))?;
    match once(SbpfMode::Jit) {
        Err(BridgeError::EngineUnavailable(_)) => {}
        jit => {
            let jit = outcome(jit)?;
            if jit != interpreted {
                return Err(format!(
                    "interpreter {interpreted:?} and JIT {jit:?} disagree"
                ));
            }
        }
    }
    Ok(interpreted)
}
