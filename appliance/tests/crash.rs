//! Crash safety of block commits: a `keel` process committing blocks is killed with SIGKILL at
//! random moments, many times; every block it acknowledged must survive, and what is visible
//! after reopening must be a whole block (root, receipts and state of the same height).
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TRIALS: u32 = 50;

fn keel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keel"))
}

/// A small deterministic generator, seeded per run (the seed is printed for reproduction).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound.max(1)
    }
}

#[test]
fn sigkill_during_block_commits_never_loses_an_acknowledged_block() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("chain");
    let data = data.to_str().unwrap();
    let init = keel()
        .args(["chain", "init", "--data", data, "--accounts", "4"])
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    eprintln!("crash test seed {seed}");
    let mut rng = Lcg(seed);
    let mut acked: Option<(u64, String)> = None;
    let mut kills_mid_run = 0;
    for trial in 0..TRIALS {
        let mut child = keel()
            .args([
                "chain", "generate", "--data", data, "--blocks", "1000000", "--txs", "4",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Kill somewhere between start-up and a few commits in.
        let wait = Duration::from_millis(20 + rng.next(600));
        let start = Instant::now();
        let mut lines = Vec::new();
        while start.elapsed() < wait {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(5)) {
                lines.push(l);
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        if !lines.is_empty() {
            kills_mid_run += 1;
        }
        for l in &lines {
            let parts: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(parts.len(), 3, "unexpected output {l:?}");
            let h: u64 = parts[1].parse().unwrap();
            if acked.as_ref().is_none_or(|(a, _)| h > *a) {
                acked = Some((h, parts[2].to_string()));
            }
        }

        // Reopen: the acknowledged block is there with the acknowledged root, and the head is
        // a whole block.
        let db = keel_state::StateDb::open(data)
            .unwrap_or_else(|e| panic!("trial {trial}: reopen failed: {e}"));
        let head = db.latest_version().unwrap().unwrap();
        if let Some((h, root)) = &acked {
            assert!(
                head >= *h,
                "trial {trial}: head {head} is behind acknowledged block {h}"
            );
            assert_eq!(
                &hex::encode(db.root(*h).unwrap().0),
                root,
                "trial {trial}: root of acknowledged block {h} changed"
            );
        }
        if head > 0 {
            let aux = db
                .block_aux(head)
                .unwrap()
                .unwrap_or_else(|| panic!("trial {trial}: head {head} has no block record"));
            let record: serde_json::Value = serde_json::from_slice(&aux).unwrap();
            assert_eq!(
                record["height"], head,
                "trial {trial}: block record of another height"
            );
        }
        drop(db);
    }
    assert!(
        kills_mid_run >= TRIALS / 4,
        "only {kills_mid_run} of {TRIALS} kills happened after a commit"
    );
    // The binary itself still opens the chain and reports the head.
    let status = keel()
        .args(["chain", "status", "--data", data, "--json"])
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
}
