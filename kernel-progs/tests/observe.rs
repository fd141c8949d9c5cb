//! The observability histograms move when the appliance does the work they watch. Root only;
//! skips loudly otherwise or when the kernel lacks io_uring.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use io_uring::{IoUring, opcode, types};
use keel_kernel_progs::{KernelError, ObserveConfig, Observer};
use nix::sched::{CpuSet, sched_setaffinity};
use nix::unistd::{Pid, gettid};

fn attach_or_skip(test: &str) -> Option<Observer> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED[root]: {test} because it needs root (BPF tracepoint programs)");
        return None;
    }
    match Observer::attach(&ObserveConfig::default(), None) {
        Ok(o) => Some(o),
        Err(e @ (KernelError::Unsupported { .. } | KernelError::NotPermitted { .. })) => {
            eprintln!(
                "SKIPPED[bpf]: {test} because the kernel refused the tracepoint programs: {e}"
            );
            None
        }
        Err(e) => panic!("attach: {e}"),
    }
}

#[test]
fn io_uring_histograms_count_requests_and_waits_of_this_process_apart() {
    let test = "io_uring_histograms_count_requests_and_waits_of_this_process_apart";
    let Some(obs) = attach_or_skip(test) else {
        return;
    };
    if !obs.skipped().is_empty() {
        eprintln!("SKIPPED[bpf]: {test} because the kernel lacks io_uring tracepoints");
        return;
    }
    let mut ring = match IoUring::new(64) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("SKIPPED[io_uring]: {test} because io_uring is unavailable: {e}");
            return;
        }
    };
    let before = obs.snapshot().unwrap();
    let file = std::fs::File::open("/proc/self/stat").unwrap();
    let mut buf = vec![0u8; 4096];
    const NOPS: u64 = 48;
    for i in 0..NOPS {
        let nop = opcode::Nop::new().build().user_data(i);
        // SAFETY: a NOP references no memory.
        unsafe { ring.submission().push(&nop).unwrap() };
    }
    use std::os::fd::AsRawFd;
    let read = opcode::Read::new(types::Fd(file.as_raw_fd()), buf.as_mut_ptr(), 4096)
        .build()
        .user_data(1000);
    // SAFETY: `buf` and `file` outlive the wait below, which reaps this request.
    unsafe { ring.submission().push(&read).unwrap() };
    ring.submit_and_wait(NOPS as usize + 1).unwrap();
    let reaped = ring.completion().count() as u64;
    assert_eq!(reaped, NOPS + 1);

    let after = obs.snapshot().unwrap();
    let submitted = after.counters.io_uring_submitted - before.counters.io_uring_submitted;
    let completed = after.counters.io_uring_completed - before.counters.io_uring_completed;
    let requests = after.io_uring_latency.count() - before.io_uring_latency.count();
    let waits = after.io_uring_waits.count() - before.io_uring_waits.count();
    assert!(submitted > NOPS, "submitted {submitted}");
    assert!(completed > NOPS, "completed {completed}");
    assert_eq!(
        requests + waits,
        completed,
        "every matched completion lands in one of the two histograms"
    );
    // The NOPs are the process's own operations; the read is a wait, kept apart.
    assert!(requests >= NOPS, "requests {requests}");
    assert!(waits >= 1, "waits {waits}");
}

/// Spins on `cpu` until `stop`; sends its tid first.
fn spinner(
    cpu: usize,
    stop: Arc<AtomicBool>,
    tid: std::sync::mpsc::Sender<u32>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut set = CpuSet::new();
        // On failure the thread still spins unpinned; the test's bounded wait then reports it.
        let _ = set.set(cpu);
        let _ = sched_setaffinity(Pid::from_raw(0), &set);
        let _ = tid.send(gettid().as_raw() as u32);
        let mut x = 0u64;
        while !stop.load(Ordering::Relaxed) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    })
}

#[test]
fn preemption_histogram_moves_when_a_pinned_worker_shares_its_cpu() {
    let test = "preemption_histogram_moves_when_a_pinned_worker_shares_its_cpu";
    let Some(obs) = attach_or_skip(test) else {
        return;
    };
    let before = obs.snapshot().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    // Two busy threads on one CPU: the scheduler must preempt the watched one to run the other.
    let worker = spinner(0, stop.clone(), tx.clone());
    let worker_tid = rx.recv().unwrap();
    obs.watch_threads(&[worker_tid]).unwrap();
    let rival = spinner(0, stop.clone(), tx);
    let _ = rx.recv().unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut after = obs.snapshot().unwrap();
    while Instant::now() < deadline
        && (after.counters.preemptions == before.counters.preemptions
            || after.preemption_delay.count() == before.preemption_delay.count())
    {
        std::thread::sleep(Duration::from_millis(100));
        after = obs.snapshot().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    rival.join().unwrap();
    obs.unwatch_threads(&[worker_tid]).unwrap();

    assert!(
        after.counters.preemptions > before.counters.preemptions,
        "the watched worker was preempted"
    );
    assert!(after.preemption_delay.count() > before.preemption_delay.count());
    assert!(after.preemption_delay.sum_ns > before.preemption_delay.sum_ns);
}
