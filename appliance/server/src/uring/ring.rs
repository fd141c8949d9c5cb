//! One io_uring with an exact count of the operations the kernel still holds, and the
//! bounded submission helper.
//!
//! Counting rule: every SQE pushed produces exactly one final CQE (one without
//! `IORING_CQE_F_MORE`; multishot operations post more CQEs before it, cancelled ones post it
//! with `-ECANCELED`). So `in_flight` = SQEs pushed − final CQEs reaped, and when it is 0 no
//! operation can touch memory an SQE pointed to. The owner's teardown waits for that.

use std::io;
use std::time::Duration;

use io_uring::register::Restriction;
use io_uring::types::{CancelBuilder, SubmitArgs, Timespec};
use io_uring::{IoUring, Submitter, cqueue, opcode, squeue};

/// The operations the event loop submits, and nothing else (see `restrict_and_enable`).
pub(super) const ALLOWED_OPS: [u8; 9] = [
    opcode::AcceptMulti::CODE,
    opcode::RecvMulti::CODE,
    opcode::Send::CODE,
    opcode::Close::CODE,
    opcode::Read::CODE,
    opcode::Timeout::CODE,
    opcode::AsyncCancel::CODE,
    opcode::PollAdd::CODE,
    opcode::Nop::CODE,
];

/// Register operations still needed once the ring runs: updating the connection table
/// (`IORING_REGISTER_FILES_UPDATE`, 6) and removing the buffer ring at teardown
/// (`IORING_UNREGISTER_PBUF_RING`, 23); numbers from the kernel's uapi `io_uring.h`, which the
/// `io-uring` crate does not export.
pub(super) const ALLOWED_REGISTER_OPS: [u8; 2] = [6, 23];
use thiserror::Error;

/// A reaped completion: (user_data, result, flags).
pub(super) type Cqe = (u64, i32, u32);

/// Attempts [`Ring::push`] makes on a full submission queue before giving up.
pub(super) const PUSH_ATTEMPTS: u32 = 8;
/// The first back-off pause; it doubles per attempt (50 µs … 6.4 ms, under 13 ms in all).
const BACKOFF_START: Duration = Duration::from_micros(50);

/// Why an SQE could not be queued.
#[derive(Debug, Error)]
pub(crate) enum SubmitError {
    /// `io_uring_enter` failed with an error that reaping completions cannot clear.
    #[error("io_uring submission failed: {0}")]
    Submit(#[source] io::Error),
    /// The queue stayed full through every attempt (transient errors that did not clear).
    #[error("io_uring submission queue still full after {attempts} attempts")]
    Stuck {
        /// Attempts made.
        attempts: u32,
    },
}

impl From<SubmitError> for io::Error {
    fn from(e: SubmitError) -> io::Error {
        io::Error::other(e)
    }
}

fn tag_index(user_data: u64) -> usize {
    (user_data >> 56) as usize % TAGS
}

/// Errors after which submitting again can succeed once completions are reaped
/// (EBUSY: CQ overflow backlog; EAGAIN: kernel short of resources; EINTR: a signal).
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINTR | libc::EBUSY | libc::EAGAIN)
    )
}

/// Distinct tags (user_data's top byte) whose operations are counted apart.
const TAGS: usize = 16;

pub(super) struct Ring {
    uring: IoUring,
    in_flight: usize,
    /// `in_flight` by tag (user_data >> 56, modulo [`TAGS`]).
    by_tag: [usize; TAGS],
    /// Completions reaped by `push` to clear a transient error, for the loop's next batch.
    backlog: Vec<Cqe>,
}

impl Ring {
    /// The production ring. DEFER_TASKRUN (6.1+): completions are produced only when this
    /// thread enters the ring, in one batch; it requires SINGLE_ISSUER (only the creating
    /// thread touches the ring). TASKRUN_FLAG makes the kernel raise `IORING_SQ_TASKRUN` in
    /// shared memory when such work is waiting, so [`work_pending`](Self::work_pending) sees it
    /// without a syscall. Older kernels get a plain ring.
    ///
    /// The ring is created disabled: the owner registers its files and buffers, then
    /// [`restrict_and_enable`](Self::restrict_and_enable) locks the ring to the operations the
    /// event loop submits before anything can be submitted.
    pub(super) fn new(entries: u32) -> io::Result<Ring> {
        let uring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag()
            .setup_r_disabled()
            .setup_cqsize(entries * 4)
            .build(entries)
            .or_else(|_| {
                IoUring::builder()
                    .setup_r_disabled()
                    .setup_cqsize(entries * 4)
                    .build(entries)
            })?;
        Ok(Ring::with(uring))
    }

    /// Registers the ring's restrictions (`IORING_REGISTER_RESTRICTIONS`: the opcodes of
    /// [`ALLOWED_OPS`], the register operations of [`ALLOWED_REGISTER_OPS`], the implicit SQE
    /// flags) and enables it. From then on any other operation — `IORING_OP_OPENAT`, `CONNECT`,
    /// `SOCKET`... — completes with `-EACCES`: the ring cannot be used to go around the
    /// seccomp filter of its thread. Must run on the thread that submits (SINGLE_ISSUER binds
    /// the ring to the thread that enables it). Errors: the kernel refused either step.
    pub(super) fn restrict_and_enable(&self) -> io::Result<()> {
        let mut rules: Vec<Restriction> = ALLOWED_OPS
            .iter()
            .map(|&op| Restriction::sqe_op(op))
            .chain(
                ALLOWED_REGISTER_OPS
                    .iter()
                    .map(|&op| Restriction::register_op(op)),
            )
            .collect();
        rules.push(Restriction::sqe_flags_allowed(
            (squeue::Flags::FIXED_FILE | squeue::Flags::BUFFER_SELECT).bits(),
        ));
        let submitter = self.uring.submitter();
        submitter.register_restrictions(&mut rules)?;
        submitter.register_enable_rings()
    }

    /// Wraps a ring with nothing in flight.
    pub(super) fn with(uring: IoUring) -> Ring {
        Ring {
            uring,
            in_flight: 0,
            by_tag: [0; TAGS],
            backlog: Vec::new(),
        }
    }

    /// Operations pushed whose final completion has not been reaped.
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Operations in flight whose user_data carries `tag` in its top byte.
    pub(super) fn in_flight_tagged(&self, tag: u64) -> usize {
        self.by_tag[tag_index(tag << 56)]
    }

    pub(super) fn submitter(&self) -> Submitter<'_> {
        self.uring.submitter()
    }

    pub(super) fn params(&self) -> &io_uring::Parameters {
        self.uring.params()
    }

    /// Queues `sqe`, submitting to make room when the queue is full. Bounded: transient
    /// errors reap completions (into the backlog) and back off; after [`PUSH_ATTEMPTS`] it
    /// returns [`SubmitError::Stuck`], and any other error returns at once.
    ///
    /// # Safety
    /// Pointers in `sqe` must satisfy the SQE lifetime invariant in `event_loop`'s docs.
    pub(super) unsafe fn push(&mut self, sqe: &squeue::Entry) -> Result<(), SubmitError> {
        let mut pause = BACKOFF_START;
        for _ in 0..PUSH_ATTEMPTS {
            // SAFETY: forwarded from the caller.
            if unsafe { self.uring.submission().push(sqe) }.is_ok() {
                self.in_flight = self.in_flight.saturating_add(1);
                let tagged = &mut self.by_tag[tag_index(sqe.get_user_data())];
                *tagged = tagged.saturating_add(1);
                return Ok(());
            }
            match self.uring.submit() {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) if is_transient(&e) => self.reap_into_backlog(),
                Err(e) => return Err(SubmitError::Submit(e)),
            }
            std::thread::sleep(pause);
            pause = pause.saturating_mul(2);
        }
        Err(SubmitError::Stuck {
            attempts: PUSH_ATTEMPTS,
        })
    }

    /// Submits what is queued and waits for completions (not when the backlog already holds
    /// some, nor when `wait` is false). Interruptions and timeouts are not errors.
    ///
    /// Without waiting, it makes no syscall at all when nothing is queued and the kernel has no
    /// deferred work (the completions already posted are read from shared memory); with
    /// deferred work it runs it (an enter carrying GETEVENTS, which `submit` adds when
    /// `IORING_SQ_TASKRUN` is set).
    pub(super) fn enter(&mut self, min_wait_us: Option<u32>, wait: bool) -> io::Result<()> {
        let r = match min_wait_us {
            _ if !wait => {
                if self.uring.submission().is_empty() && !self.uring.submission().taskrun() {
                    return Ok(());
                }
                self.uring.submit()
            }
            _ if !self.backlog.is_empty() => self.uring.submit(),
            Some(us) => {
                let args = SubmitArgs::new().min_wait_usec(us);
                self.uring.submitter().submit_with_args(64, &args)
            }
            None => self.uring.submit_and_wait(1),
        };
        match r {
            Err(e) if !is_transient(&e) && e.raw_os_error() != Some(libc::ETIME) => Err(e),
            _ => Ok(()),
        }
    }

    /// Whether a non-waiting [`enter`](Self::enter) would find something to reap: completions
    /// in the backlog or the completion queue, or deferred work the kernel flagged
    /// (`IORING_SQ_TASKRUN`). Reads shared memory only: no syscall.
    pub(super) fn work_pending(&mut self) -> bool {
        !self.backlog.is_empty()
            || self.uring.submission().taskrun()
            || !self.uring.completion().is_empty()
    }

    /// SQEs queued but not yet submitted.
    pub(super) fn queued(&mut self) -> bool {
        !self.uring.submission().is_empty()
    }

    /// Submits what is queued without waiting. Transient errors are not errors: the loop's
    /// next `enter` submits again.
    pub(super) fn submit_now(&mut self) -> io::Result<()> {
        match self.uring.submit() {
            Err(e) if !is_transient(&e) => Err(e),
            _ => Ok(()),
        }
    }

    /// Moves the backlog, then every completion the kernel has posted, into `into`.
    pub(super) fn reap(&mut self, into: &mut Vec<Cqe>) {
        into.append(&mut self.backlog);
        self.take_completions(into);
    }

    /// Puts completions the loop did not process back in front of the backlog.
    pub(super) fn requeue(&mut self, rest: &[Cqe]) {
        let mut v = rest.to_vec();
        v.append(&mut self.backlog);
        self.backlog = v;
    }

    fn reap_into_backlog(&mut self) {
        let mut backlog = std::mem::take(&mut self.backlog);
        self.take_completions(&mut backlog);
        self.backlog = backlog;
    }

    fn take_completions(&mut self, into: &mut Vec<Cqe>) {
        for c in self.uring.completion() {
            if !cqueue::more(c.flags()) {
                self.in_flight = self.in_flight.saturating_sub(1);
                let tagged = &mut self.by_tag[tag_index(c.user_data())];
                *tagged = tagged.saturating_sub(1);
            }
            into.push((c.user_data(), c.result(), c.flags()));
        }
    }

    /// Cancels every operation (`IORING_ASYNC_CANCEL_ANY`, tagged `cancel_ud`) and reaps
    /// until nothing is in flight or `rounds` waits of at most `wait` have passed. Every
    /// completion, backlog first, goes to `on_cqe`. Afterwards `in_flight` says whether it
    /// finished.
    pub(super) fn cancel_all_and_drain(
        &mut self,
        cancel_ud: u64,
        rounds: u32,
        wait: Duration,
        mut on_cqe: impl FnMut(Cqe),
    ) {
        let mut batch = std::mem::take(&mut self.backlog);
        let mut cancel_pending = false;
        for _ in 0..rounds {
            batch.drain(..).for_each(&mut on_cqe);
            if self.in_flight == 0 {
                return;
            }
            // Re-sent while operations remain: a send or close may have started after it ran.
            if !cancel_pending {
                let sqe = opcode::AsyncCancel2::new(CancelBuilder::any())
                    .build()
                    .user_data(cancel_ud);
                // SAFETY: no pointers.
                cancel_pending = unsafe { self.push(&sqe) }.is_ok();
            }
            let ts = Timespec::from(wait);
            let args = SubmitArgs::new().timespec(&ts);
            if let Err(e) = self.uring.submitter().submit_with_args(1, &args) {
                tracing::debug!(error = %e, "io_uring wait during teardown");
            }
            batch.append(&mut self.backlog);
            self.take_completions(&mut batch);
            if batch
                .iter()
                .any(|&(ud, _, flags)| ud == cancel_ud && !cqueue::more(flags))
            {
                cancel_pending = false;
            }
        }
        batch.drain(..).for_each(&mut on_cqe);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::fd::AsRawFd;
    use std::sync::mpsc;

    use super::*;

    fn ring_or_skip(builder: &io_uring::Builder, entries: u32) -> Option<IoUring> {
        match builder.build(entries) {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("SKIPPED: io_uring unavailable ({e}); the submission test did not run");
                None
            }
        }
    }

    fn nop(ud: u64) -> squeue::Entry {
        opcode::Nop::new().build().user_data(ud)
    }

    /// Submits one SQE on `ring` and returns its completion's result.
    fn complete_one(ring: &mut Ring, sqe: &squeue::Entry) -> i32 {
        // SAFETY: the entries used below point at a static C string or at nothing.
        unsafe { ring.push(sqe) }.unwrap();
        ring.enter(None, true).unwrap();
        let mut cqes = Vec::new();
        while cqes.is_empty() {
            ring.enter(None, true).unwrap();
            ring.reap(&mut cqes);
        }
        cqes[0].1
    }

    #[test]
    fn a_restricted_ring_refuses_openat_but_runs_the_operations_the_loop_uses() {
        let Ok(ring) = Ring::new(8) else {
            eprintln!("SKIPPED[io_uring]: io_uring unavailable; the restriction test did not run");
            return;
        };
        ring.submitter().register_files_sparse(4).unwrap();
        ring.restrict_and_enable().unwrap();
        let mut ring = ring;
        assert_eq!(complete_one(&mut ring, &nop(1)), 0);
        let path = c"/etc/hostname";
        let open = opcode::OpenAt::new(io_uring::types::Fd(libc::AT_FDCWD), path.as_ptr())
            .build()
            .user_data(2);
        assert_eq!(complete_one(&mut ring, &open), -libc::EACCES);
        // Registering more (e.g. new buffers) is refused too; the loop's own update is not.
        let refused = ring.submitter().register_probe(&mut io_uring::Probe::new());
        assert_eq!(refused.unwrap_err().raw_os_error(), Some(libc::EACCES));
        ring.submitter().register_files_update(0, &[-1]).unwrap();
    }

    #[test]
    fn deferred_work_is_seen_in_shared_memory_and_run_by_a_non_waiting_enter() {
        // Declared before the ring: locals drop in reverse order, so these outlive it.
        let (reader, mut writer) = std::io::pipe().unwrap();
        let mut buf = [0u8; 8];
        let Ok(ring) = Ring::new(8) else {
            eprintln!("SKIPPED[io_uring]: io_uring unavailable; the taskrun test did not run");
            return;
        };
        ring.restrict_and_enable().unwrap();
        let mut ring = ring;
        let read = opcode::Read::new(io_uring::types::Fd(reader.as_raw_fd()), buf.as_mut_ptr(), 8);
        unsafe { ring.push(&read.build().user_data(1)) }.unwrap();
        assert!(ring.queued());
        ring.enter(None, false).unwrap();
        assert!(
            !ring.queued() && !ring.work_pending(),
            "the read waits for data"
        );
        std::io::Write::write_all(&mut writer, b"ready").unwrap();
        // No syscall on this side: the kernel's IORING_SQ_TASKRUN flag announces the work.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !ring.work_pending() {
            assert!(
                std::time::Instant::now() < deadline,
                "the deferred read was never flagged"
            );
            std::thread::yield_now();
        }
        ring.enter(None, false).unwrap();
        let mut cqes = Vec::new();
        ring.reap(&mut cqes);
        assert_eq!(
            cqes.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(),
            [(1, 5)]
        );
        assert_eq!((ring.in_flight(), ring.in_flight_tagged(0)), (0, 0));
    }

    #[test]
    fn a_submission_that_keeps_failing_returns_a_typed_error_instead_of_spinning() {
        // A disabled ring refuses every io_uring_enter (EBADFD): the queue can never drain.
        let Some(uring) = ring_or_skip(IoUring::builder().setup_r_disabled(), 2) else {
            return;
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut ring = Ring::with(uring);
            let results: Vec<_> = (0..3)
                .map(|i| unsafe { ring.push(&nop(i)) }.map_err(|e| e.to_string()))
                .collect();
            let _ = tx.send((results, ring.in_flight()));
        });
        let (results, in_flight) = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("push kept retrying a submission that cannot succeed");
        assert!(results[0].is_ok() && results[1].is_ok());
        let err = results[2].as_ref().unwrap_err();
        assert!(err.starts_with("io_uring submission failed"), "{err}");
        assert_eq!(in_flight, 2, "a refused SQE is not counted in flight");
    }

    #[test]
    fn transient_errors_are_retried_and_the_others_are_not() {
        for code in [libc::EINTR, libc::EBUSY, libc::EAGAIN] {
            assert!(is_transient(&io::Error::from_raw_os_error(code)));
        }
        for code in [libc::EBADFD, libc::EEXIST, libc::EINVAL, libc::EFAULT] {
            assert!(!is_transient(&io::Error::from_raw_os_error(code)));
        }
        let total: Duration = (0..PUSH_ATTEMPTS).map(|i| BACKOFF_START * (1 << i)).sum();
        assert!(
            total < Duration::from_millis(20),
            "push gives up within {total:?}"
        );
    }

    #[test]
    fn every_pushed_operation_is_counted_until_its_final_completion() {
        let Some(uring) = ring_or_skip(IoUring::builder().setup_cqsize(4), 2) else {
            return;
        };
        let mut ring = Ring::with(uring);
        // Ten times the queue, never reaped by the caller: push submits (and the completion
        // queue overflows) to make room.
        for ud in 0..20 {
            unsafe { ring.push(&nop(ud)) }.unwrap();
        }
        let mut seen = Vec::new();
        for _ in 0..100 {
            if ring.in_flight() == 0 {
                break;
            }
            ring.enter(None, true).unwrap();
            ring.reap(&mut seen);
        }
        assert_eq!(ring.in_flight(), 0);
        let mut uds: Vec<u64> = seen.iter().map(|c| c.0).collect();
        uds.sort_unstable();
        assert_eq!(uds, (0..20).collect::<Vec<u64>>());
    }

    #[test]
    fn the_drain_cancels_operations_that_would_never_finish() {
        // Declared before the ring: locals drop in reverse order, so these outlive it.
        let (reader, _writer) = std::io::pipe().unwrap();
        let mut buf = [0u8; 8];
        let forever = Timespec::new().sec(3600);
        let Some(uring) = ring_or_skip(&IoUring::builder(), 8) else {
            return;
        };
        let mut ring = Ring::with(uring);
        let read = opcode::Read::new(io_uring::types::Fd(reader.as_raw_fd()), buf.as_mut_ptr(), 8);
        unsafe {
            ring.push(&read.build().user_data(1)).unwrap();
            ring.push(&opcode::Timeout::new(&forever).build().user_data(2))
                .unwrap();
            ring.push(
                &opcode::PollAdd::new(io_uring::types::Fd(reader.as_raw_fd()), 1)
                    .multi(true)
                    .build()
                    .user_data(3),
            )
            .unwrap();
        }
        ring.submitter().submit().unwrap();
        let mut seen = Vec::new();
        ring.cancel_all_and_drain(9, 100, Duration::from_millis(10), |c| seen.push(c));
        assert_eq!(ring.in_flight(), 0);
        for ud in [1, 2, 3] {
            let c = seen.iter().find(|c| c.0 == ud).unwrap();
            assert_eq!(c.1, -libc::ECANCELED, "operation {ud}");
        }
        assert!(seen.iter().any(|c| c.0 == 9), "the cancel reports too");
    }
}
