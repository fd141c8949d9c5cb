//! A node opened or created in-process runs contracts on the tier `KEEL_VM_ENGINE` names, and
//! on the tiered engine (wasmi until a module's JIT compilation is ready) when it is unset; an
//! unknown tier is refused before anything is created. One test in its own binary: it sets a
//! process-wide environment variable.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::init_chain;
use keel_chain::*;
use keel_vm::engine::choice::VM_ENGINE_ENV;

#[test]
fn a_node_runs_the_tiered_engine_unless_the_env_var_names_another() {
    // SAFETY: this binary has this one test, so no other thread reads the environment now.
    unsafe { std::env::remove_var(VM_ENGINE_ENV) };
    let dir = tempfile::tempdir().unwrap();
    let chain = init_chain(dir.path()).unwrap();
    assert_eq!(chain.vm().engine_name(), "tiered");
    assert!(chain.vm().jit_stats().is_some(), "no JIT tier by default");
    assert!(dir.path().join("vm-cache").is_dir(), "no artifact cache");
    drop(chain);

    // SAFETY: as above.
    unsafe { std::env::set_var(VM_ENGINE_ENV, "wasmi") };
    let reopened = Chain::open(dir.path(), Box::new(keel_crypto::SingleVerifier)).unwrap();
    assert_eq!(reopened.vm().engine_name(), "wasmi");
    assert!(reopened.vm().jit_stats().is_none());
    drop(reopened);

    // SAFETY: as above.
    unsafe { std::env::set_var(VM_ENGINE_ENV, "cranelift") };
    let fresh = tempfile::tempdir().unwrap();
    let refused = init_chain(fresh.path());
    assert!(
        matches!(&refused, Err(ChainError::Vm(_))),
        "an unknown tier was accepted: {:?}",
        refused.err()
    );
    assert!(!fresh.path().join(keel_state::DB_FILE_NAME).exists());
}
