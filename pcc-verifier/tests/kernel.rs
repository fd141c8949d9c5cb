//! Cross-check with the Linux verifier: every bridge routine the checker accepts must also be
//! accepted by the kernel as a BPF_PROG_TYPE_SYSCALL program (its kernel build, loaded through
//! the bridge's libbpf loader). Needs root; skips loudly otherwise.

use keel_pcc::{certify_object, check_object, objects::builtin_routines};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn every_routine_the_checker_accepts_the_kernel_verifier_accepts() {
    if !is_root() {
        println!(
            "SKIPPED[root]: kernel cross-check because the test is not running as root (CAP_BPF)"
        );
        return;
    }
    let mut compared = 0;
    for r in builtin_routines().unwrap() {
        let accepted = certify_object(r.elf, &r.params)
            .map_err(|e| e.to_string())
            .and_then(|c| check_object(r.elf, &c).map_err(|e| e.to_string()));
        let kernel = keel_pcc::bench::kernel_load_time(r.name);
        println!(
            "{}: checker {:?}; kernel {:?}",
            r.name,
            accepted.as_ref().map(|_| "accepts"),
            kernel
        );
        if accepted.is_ok() {
            compared += 1;
            assert!(
                kernel.is_ok(),
                "{}: checker accepts, kernel refuses: {kernel:?}",
                r.name
            );
        }
    }
    if compared == 0 {
        println!(
            "SKIPPED[bpf]: kernel acceptance comparison because the checker accepts none of the \
             bridge routines (reasons above); kernel load results are reported only"
        );
    }
}
