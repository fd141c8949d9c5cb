//! `KEEL_ROUTINE_ENGINE` picks the routine engine of a node opened or created in-process; an
//! unknown or unmetered engine is refused before anything is created. One test in its own
//! binary: it sets a process-wide environment variable.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::init_chain;
use keel_chain::chain::ROUTINE_ENGINE_ENV;
use keel_chain::*;
use keel_ebpf_bridge::Engine;

fn set(value: &str) {
    // SAFETY: this binary has this one test, so no other thread reads the environment now.
    unsafe { std::env::set_var(ROUTINE_ENGINE_ENV, value) };
}

#[test]
fn the_routine_engine_env_var_forces_the_interpreter_and_refuses_bad_engines() {
    for bad in ["kernel", "gpu"] {
        set(bad);
        let dir = tempfile::tempdir().unwrap();
        assert!(
            matches!(init_chain(dir.path()), Err(ChainError::RoutineEngine(_))),
            "{bad} was accepted"
        );
        assert!(!dir.path().join(keel_state::DB_FILE_NAME).exists());
    }
    set("interp");
    let dir = tempfile::tempdir().unwrap();
    let chain = init_chain(dir.path()).unwrap();
    assert_eq!(chain.routine_engine(), Engine::Interpreter);
    drop(chain);
    set("jit");
    let reopened = Chain::open(dir.path(), Box::new(keel_crypto::SingleVerifier)).unwrap();
    assert_eq!(reopened.routine_engine(), Engine::Jit);
}
