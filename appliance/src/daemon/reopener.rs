//! The thread that reopens the state store after a disk error.
//!
//! Request workers run under a seccomp filter without `open`: the one thing they used it for,
//! reopening the store, runs here instead, on a thread of the `store` class (allowed to open
//! files; Landlock keeps writes inside the data directory). Requests wait for its answer.

use crate::daemon::store::Opener;
use keel_chain::Chain;
use std::sync::mpsc;

type Reply = mpsc::SyncSender<anyhow::Result<Chain>>;

/// Starts the reopen thread around `open` and returns an opener that runs `open` there.
pub fn spawn(open: Opener) -> anyhow::Result<Opener> {
    let (tx, rx) = mpsc::sync_channel::<Reply>(1);
    std::thread::Builder::new()
        .name("keel-store".into())
        .spawn(move || {
            keel_sandbox::enter(keel_sandbox::ThreadClass::Store);
            while let Ok(reply) = rx.recv() {
                keel_sandbox::checkpoint();
                let _ = reply.send(open());
            }
        })?;
    Ok(Box::new(move || {
        let (reply, answer) = mpsc::sync_channel(1);
        tx.send(reply)
            .map_err(|_| anyhow::anyhow!("the store thread is gone"))?;
        answer
            .recv()
            .map_err(|_| anyhow::anyhow!("the store thread is gone"))?
    }))
}
