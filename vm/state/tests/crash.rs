//! Crash safety: SIGKILL a committing process at random moments, reopen, and check that every
//! acknowledged version survived with its root and that no partially written version is
//! visible.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use keel_state::workload::pseudo_random_writes;
use keel_state::{DB_FILE_NAME, StateDb};
use rand::Rng;

const TRIALS: usize = 60;
const SEED: u64 = 7;
const WRITES_PER_BLOCK: usize = 50;
const KEY_SPACE: u64 = 3_000;
const MAX_KILL_DELAY_MS: u64 = 300;

/// When to kill the child.
#[derive(Clone, Copy, Debug)]
enum KillMoment {
    /// This long after spawning: often during open / crash recovery.
    AfterSpawn(Duration),
    /// This long after the first acknowledgement: during steady-state commits.
    AfterFirstAck(Duration),
}

/// Runs the commit loop until `moment`, SIGKILLs it and returns the acknowledged
/// `(version, root)` pairs it printed.
fn run_and_kill(dir: &Path, moment: KillMoment) -> Vec<(u64, [u8; 32])> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel-state-commit-loop"))
        .arg(dir)
        .args([SEED.to_string(), u64::MAX.to_string()])
        .args([WRITES_PER_BLOCK.to_string(), KEY_SPACE.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            tx.send(line).unwrap();
        }
    });
    let mut lines = Vec::new();
    match moment {
        KillMoment::AfterSpawn(delay) => thread::sleep(delay),
        KillMoment::AfterFirstAck(delay) => {
            if let Ok(first) = rx.recv_timeout(Duration::from_secs(30)) {
                lines.push(first);
            }
            thread::sleep(delay);
        }
    }
    if let Some(status) = child.try_wait().unwrap() {
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        panic!("commit loop exited by itself ({status}): {stderr}");
    }
    child.kill().unwrap(); // SIGKILL on unix
    child.wait().unwrap();
    // Everything the child wrote before dying is still in the pipe.
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    lines
        .into_iter()
        .map(|line| {
            let mut parts = line.split(' ');
            assert_eq!(parts.next(), Some("committed"), "unexpected line {line:?}");
            let version = parts.next().unwrap().parse().unwrap();
            let root = hex::decode(parts.next().unwrap())
                .unwrap()
                .try_into()
                .unwrap();
            (version, root)
        })
        .collect()
}

#[test]
fn sigkill_during_commits_never_loses_an_acknowledged_version_nor_shows_a_partial_one() {
    let dir = tempfile::tempdir().unwrap();
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = StateDb::create(reference_dir.path()).unwrap();
    let mut acknowledged: BTreeMap<u64, [u8; 32]> = BTreeMap::new();
    let mut rng = rand::rng();
    let mut kills_after_progress = 0;
    let mut durable_but_unacknowledged = std::collections::BTreeSet::new();

    for trial in 0..TRIALS {
        let delay = Duration::from_millis(rng.random_range(0..=MAX_KILL_DELAY_MS));
        let moment = if trial % 4 == 0 {
            KillMoment::AfterSpawn(delay)
        } else {
            KillMoment::AfterFirstAck(delay)
        };
        let acks = run_and_kill(dir.path(), moment);
        for (version, root) in acks.iter().copied() {
            // A version acknowledged twice (never expected) must at least agree.
            let previous = acknowledged.insert(version, root);
            assert!(
                previous.is_none_or(|p| p == root),
                "version {version} changed root"
            );
        }
        kills_after_progress += usize::from(!acks.is_empty());

        if !dir.path().join(DB_FILE_NAME).exists() {
            assert!(acknowledged.is_empty(), "trial {trial}: database vanished");
            continue;
        }
        let db = StateDb::open(dir.path()).unwrap();
        let latest = db.latest_version().unwrap();
        let last_ack = acknowledged.keys().next_back().copied();
        assert!(
            latest >= last_ack,
            "trial {trial}: latest {latest:?} < acknowledged {last_ack:?}"
        );
        for (version, root) in &acknowledged {
            assert_eq!(
                &db.root(*version).unwrap().0,
                root,
                "trial {trial}: version {version}"
            );
        }

        // Every visible version, acknowledged or not, is the whole block: its root equals the
        // reference root and the latest index agrees with the reference on the last block.
        let Some(latest) = latest else { continue };
        let mut next = reference.next_version().unwrap();
        while next <= latest {
            let writes = pseudo_random_writes(SEED, next, WRITES_PER_BLOCK, KEY_SPACE);
            reference.commit_block(next, writes).unwrap();
            next += 1;
        }
        for version in last_ack.map_or(0, |a| a + 1)..=latest {
            durable_but_unacknowledged.insert(version);
            assert_eq!(
                db.root(version).unwrap(),
                reference.root(version).unwrap(),
                "trial {trial}: unacknowledged version {version} differs from the full block"
            );
        }
        for key in pseudo_random_writes(SEED, latest, WRITES_PER_BLOCK, KEY_SPACE).keys() {
            assert_eq!(db.get(key).unwrap(), reference.get_at(key, latest).unwrap());
        }
        assert!(db.get_at(b"any", latest + 1).is_err());
    }
    assert!(
        kills_after_progress >= TRIALS / 2,
        "only {kills_after_progress} of {TRIALS} trials got past the first commit"
    );
    assert!(!acknowledged.is_empty());
    eprintln!(
        "{} versions acknowledged over {TRIALS} kills; {} more were durable but not yet \
         acknowledged when killed (and were checked against the full block)",
        acknowledged.len(),
        durable_but_unacknowledged.len()
    );
}
