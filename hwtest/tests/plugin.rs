//! Plug-ins through the C ABI in a separate process: the reference plug-in (C over blst)
//! qualifies; one that lies fails qualification; one that crashes and one that hangs are
//! contained (this test process carries on, and later calls fail fast).

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keel_hwtest::paths::Verdict;
use keel_hwtest::paths::bls::{
    BlsContext, BlsSubject, ConformancePlan, PerfPlan, RandomSets, SubjectError, run_subject,
};
use keel_hwtest::plugin::{BUNDLED_BLST_PLUGIN, HostCommand, PluginError, PluginSubject};
use keel_hwtest::vectors::{RawTriple, py_ecc_vectors};
use keel_offload::Topology;

fn host() -> HostCommand {
    HostCommand {
        program: env!("CARGO_BIN_EXE_keel-plugin-host").into(),
        args: Vec::new(),
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("KEEL_OFFLOAD_FIXTURES")).join(format!("libkeel_offload_{name}.so"))
}

fn start(path: &Path) -> PluginSubject {
    PluginSubject::start(&host(), path, Duration::from_secs(2)).unwrap()
}

fn qualify(subject: &dyn BlsSubject) -> keel_hwtest::paths::PathResult {
    let vectors = py_ecc_vectors().unwrap();
    let valid = RandomSets::new(3, 8, Vec::new()).valid(8, false);
    let topology = Topology::discover();
    let ctx = BlsContext {
        vectors: &vectors,
        conformance: ConformancePlan {
            random_sets: 6,
            max_set: 16,
            seed: 5,
        },
        perf: PerfPlan {
            batch_sizes: vec![1, 8],
            min_time: Duration::ZERO,
            min_calls: 1,
            max_calls: 2,
        },
        valid: &valid,
        worker_counts: vec![1],
        topology: &topology,
    };
    run_subject(subject, &ctx)
}

#[test]
fn the_reference_blst_plugin_passes_qualification_through_the_c_abi() {
    let p = start(Path::new(BUNDLED_BLST_PLUGIN));
    assert!(p.name().contains("blst-cpu"), "{}", p.name());
    let r = qualify(&p);
    assert_eq!(
        r.conformance.verdict,
        Verdict::Pass,
        "{:?}",
        r.conformance.failures
    );
    assert_eq!(
        r.performance.verdict,
        Verdict::Pass,
        "{:?}",
        r.performance.failures
    );
}

#[test]
fn a_plugin_returning_wrong_verdicts_fails_qualification() {
    let r = qualify(&start(&fixture("lie")));
    assert_eq!(r.conformance.verdict, Verdict::Fail);
    assert!(
        r.conformance
            .failures
            .iter()
            .any(|f| f.contains("wrong verdict")),
        "{:?}",
        r.conformance.failures
    );
    assert_eq!(r.performance.verdict, Verdict::Skipped);
}

#[test]
fn a_crashing_plugin_is_contained_and_fails_qualification() {
    let p = start(&fixture("crash"));
    let t = vec![RawTriple {
        pk: vec![0; 48],
        msg: vec![],
        sig: vec![0; 96],
    }];
    let err = p.verify(&t).unwrap_err();
    assert!(
        matches!(&err, SubjectError::Crashed(s) if s.contains("signal")),
        "{err:?}"
    );
    assert_eq!(
        p.verify(&t).unwrap_err(),
        err,
        "later calls fail fast with the same error"
    );
    let r = qualify(&p);
    assert_eq!(r.conformance.verdict, Verdict::Fail);
}

#[test]
fn a_hanging_plugin_is_killed_after_the_timeout() {
    let p = PluginSubject::start(&host(), &fixture("hang"), Duration::from_millis(500)).unwrap();
    let t = vec![RawTriple {
        pk: vec![0; 48],
        msg: vec![],
        sig: vec![0; 96],
    }];
    let start = Instant::now();
    assert_eq!(p.verify(&t).unwrap_err(), SubjectError::Timeout(500));
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(p.verify(&t).unwrap_err(), SubjectError::Timeout(500));
}

#[test]
fn a_file_that_is_not_a_plugin_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.so");
    std::fs::write(&bogus, b"not an ELF object").unwrap();
    let err = PluginSubject::start(&host(), &bogus, Duration::from_secs(2))
        .err()
        .unwrap();
    assert!(
        matches!(err, PluginError::Refused(ref m) if m.contains("cannot load")),
        "{err:?}"
    );
}

/// The plug-in host confined as the daemon confines it: `--sandbox MODE`, and as root the
/// `nobody` account (the fixture is copied somewhere that account can read).
mod sandboxed_host {
    use super::*;

    fn sandboxed(mode: &str) -> HostCommand {
        let mut args = vec!["--sandbox".to_string(), mode.to_string()];
        if keel_sandbox::is_root() {
            args.extend(["--user".to_string(), "nobody".to_string()]);
        }
        HostCommand {
            program: env!("CARGO_BIN_EXE_keel-plugin-host").into(),
            args,
        }
    }

    /// `src` copied into a fresh directory every account can read.
    fn readable_copy(src: &Path) -> (tempfile::TempDir, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let dst = dir.path().join(src.file_name().unwrap());
        std::fs::copy(src, &dst).unwrap();
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, dst)
    }

    fn one_triple() -> Vec<RawTriple> {
        vec![RawTriple {
            pk: vec![0; 48],
            msg: vec![],
            sig: vec![0; 96],
        }]
    }

    /// `NAME:\tVALUE` from /proc/PID/status.
    fn status_field(pid: u32, name: &str) -> String {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.strip_prefix(':'))
            .unwrap()
            .trim()
            .to_string()
    }

    #[test]
    fn unconfined_the_escape_fixture_gets_out() {
        // The positive control: the fixture's attempts work when nothing stops them.
        let (_dir, so) = readable_copy(&fixture("escape"));
        let err = start(&so).verify(&one_triple()).unwrap_err();
        let want = if keel_sandbox::is_root() { 7 } else { 6 };
        assert_eq!(
            err,
            SubjectError::Failed(format!("verify_batch returned {want}"))
        );
    }

    #[test]
    fn a_sandboxed_host_refuses_every_escape_and_keeps_answering() {
        let (_dir, so) = readable_copy(&fixture("escape"));
        let p = PluginSubject::start(&sandboxed("enforce"), &so, Duration::from_secs(5)).unwrap();
        for _ in 0..3 {
            assert_eq!(p.verify(&one_triple()).unwrap(), vec![true]);
        }
        let pid = p.host_pid().unwrap();
        assert_eq!(status_field(pid, "NoNewPrivs"), "1");
        assert_eq!(status_field(pid, "Seccomp"), "2");
        assert_eq!(status_field(pid, "CapEff"), "0000000000000000");
        assert_eq!(status_field(pid, "CapPrm"), "0000000000000000");
        if keel_sandbox::is_root() {
            let uid = status_field(pid, "Uid");
            assert!(!uid.split_whitespace().any(|u| u == "0"), "Uid: {uid}");
        }
    }

    #[test]
    fn a_thread_confined_as_the_daemons_bls_threads_kills_and_reaps_a_failed_host() {
        // The daemon drives plug-ins from its BLS and batcher threads, whose allowlist has no
        // kill(2) and no wait4: a hung host must still be killed and a crashed one reaped.
        use keel_sandbox::{Mode, ThreadClass};
        for (fixture_name, timeout_ms) in [("hang", 500), ("crash", 5000)] {
            let p = PluginSubject::start(
                &host(),
                &fixture(fixture_name),
                Duration::from_millis(timeout_ms),
            )
            .unwrap();
            let pid = p.host_pid().unwrap();
            let err = std::thread::spawn(move || {
                keel_sandbox::probe::confine_this_thread(ThreadClass::Bls, Mode::Enforce).unwrap();
                p.verify(&one_triple()).unwrap_err()
            })
            .join()
            .unwrap();
            match fixture_name {
                "hang" => assert_eq!(err, SubjectError::Timeout(500)),
                _ => assert!(
                    matches!(&err, SubjectError::Crashed(s) if s.contains("SIGSEGV")),
                    "{err:?}"
                ),
            }
            // Killed and reaped (a zombie would still have its /proc entry).
            assert!(
                !Path::new(&format!("/proc/{pid}")).exists(),
                "{fixture_name}: host {pid} left behind"
            );
        }
    }

    #[test]
    fn by_default_an_escape_attempt_kills_the_host_with_sigsys() {
        let (_dir, so) = readable_copy(&fixture("escape"));
        let default = keel_sandbox::Mode::default().name();
        let p = PluginSubject::start(&sandboxed(default), &so, Duration::from_secs(5)).unwrap();
        let err = p.verify(&one_triple()).unwrap_err();
        assert!(
            matches!(&err, SubjectError::Crashed(s) if s.contains("SIGSYS")),
            "{err:?}"
        );
    }

    #[test]
    fn the_reference_plugin_qualifies_inside_the_sandbox() {
        let (_dir, so) = readable_copy(Path::new(BUNDLED_BLST_PLUGIN));
        let default = keel_sandbox::Mode::default().name();
        let p = PluginSubject::start(&sandboxed(default), &so, Duration::from_secs(5)).unwrap();
        let r = qualify(&p);
        assert_eq!(
            r.conformance.verdict,
            Verdict::Pass,
            "{:?}",
            r.conformance.failures
        );
        assert!(p.host_pid().is_some(), "the host died under the sandbox");
    }
}

mod qualification {
    use super::*;
    use keel_crypto::{SecretKey, SignatureVerifier, SingleVerifier, VerifyItem};
    use keel_hwtest::plugin::{
        PluginVerifier, QualificationError, check_qualification, sha256_file,
    };
    use keel_hwtest::report::{Report, sign_report};
    use keel_hwtest::run::{Mode, RunConfig};
    use keel_offload::{Priority, PriorityVerifier};

    fn report_for(plugin: &Path, key: &SecretKey) -> (Report, String) {
        let mut r = qualify(&start(plugin));
        let sha = sha256_file(plugin).unwrap();
        r.artifact_sha256 = Some(sha.clone());
        let config = RunConfig {
            paths: vec![],
            mode: Mode::Tiny,
            soak_secs: None,
            seed: 1,
            plugins: vec![plugin.into()],
            plugin_timeout_ms: 2000,
        };
        let dir = tempfile::tempdir().unwrap();
        let probe = keel_hwtest::probe::Probe::collect(
            &keel_hwtest::probe::SysRoot::new(dir.path()),
            false,
        );
        let mut rep = Report::new("test", config, probe, vec![r]);
        sign_report(&mut rep, key);
        (rep, sha)
    }

    fn hex_pk(k: &SecretKey) -> String {
        hex::encode(k.public_key().to_bytes())
    }

    #[test]
    fn only_a_passing_report_signed_by_this_appliance_for_this_file_qualifies_a_plugin() {
        let key = SecretKey::from_seed(&[1; 32]).unwrap();
        let other = SecretKey::from_seed(&[2; 32]).unwrap();
        let (rep, sha) = report_for(Path::new(BUNDLED_BLST_PLUGIN), &key);
        assert_eq!(check_qualification(&rep, &sha, &hex_pk(&key)), Ok(()));
        assert!(matches!(
            check_qualification(&rep, &sha, &hex_pk(&other)),
            Err(QualificationError::Signer { .. })
        ));
        let lie_sha = sha256_file(&fixture("lie")).unwrap();
        assert_eq!(
            check_qualification(&rep, &lie_sha, &hex_pk(&key)),
            Err(QualificationError::NotQualified(lie_sha.clone()))
        );
        let (lie_rep, _) = report_for(&fixture("lie"), &key);
        assert!(matches!(
            check_qualification(&lie_rep, &lie_sha, &hex_pk(&key)),
            Err(QualificationError::NotQualified(_))
        ));
        let mut tampered = rep.clone();
        tampered.results[0].artifact_sha256 = Some(lie_sha.clone());
        assert!(matches!(
            check_qualification(&tampered, &lie_sha, &hex_pk(&key)),
            Err(QualificationError::Signature(_))
        ));
    }

    fn items() -> Vec<VerifyItem> {
        let k = SecretKey::from_seed(&[3; 32]).unwrap();
        (0..6u8)
            .map(|i| {
                let sig = k.sign(&[i]);
                // Every third item signs another message: invalid.
                VerifyItem::new(k.public_key(), vec![if i % 3 == 0 { 0xff } else { i }], sig)
            })
            .collect()
    }

    #[test]
    fn a_plugin_verifier_gives_the_reference_verdicts_and_falls_back_when_the_plugin_dies() {
        let good = PluginVerifier::new(start(Path::new(BUNDLED_BLST_PLUGIN)));
        let want = SingleVerifier.verify_batch(&items());
        assert!(want.iter().any(|v| !v.is_valid()) && want.iter().any(|v| v.is_valid()));
        assert_eq!(good.verify_at(Priority::Block, &items()), want);
        let crashing = PluginVerifier::new(start(&fixture("crash")));
        assert_eq!(
            crashing.verify_at(Priority::Client, &items()),
            want,
            "fallback to the reference"
        );
    }
}
