//! `keel-state-commit-loop DIR SEED BLOCKS WRITES_PER_BLOCK KEY_SPACE`
//!
//! Commits deterministic pseudo-random blocks into the state database in DIR and prints
//! `committed <version> <root-hex>` after each durable commit. The crash test SIGKILLs it.

use std::path::PathBuf;
use std::process::ExitCode;

use keel_state::workload::{CommitLoop, run_commit_loop};

const USAGE: &str = "usage: keel-state-commit-loop DIR SEED BLOCKS WRITES_PER_BLOCK KEY_SPACE";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, seed, blocks, writes, key_space] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let parsed = (
        seed.parse(),
        blocks.parse(),
        writes.parse(),
        key_space.parse(),
    );
    let (Ok(seed), Ok(blocks), Ok(writes_per_block), Ok(key_space)) = parsed else {
        eprintln!("{USAGE}\n(SEED, BLOCKS, WRITES_PER_BLOCK and KEY_SPACE are integers)");
        return ExitCode::from(2);
    };
    let params = CommitLoop {
        seed,
        blocks,
        writes_per_block,
        key_space,
    };
    match run_commit_loop(&PathBuf::from(dir), params, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("keel-state-commit-loop: {err}");
            ExitCode::FAILURE
        }
    }
}
