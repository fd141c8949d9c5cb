//! How connections and the ring wind down: sending queued output and the close protocol
//! (`flush_dirty`), the tick's timeouts, and the start of a graceful stop.

use std::time::Instant;

use io_uring::opcode;
use io_uring::types::{CancelBuilder, Fixed};

use super::event_loop::State;
use super::ring::{Ring, SubmitError};
use super::slots::{TAG_ACCEPT, TAG_CANCEL, TAG_CLOSE, TAG_SEND, mark, user_data};
use crate::session::Flow;

impl State {
    /// Runs every connection's timers and, once the shutdown grace is over, forces closes.
    pub(super) fn on_tick(&mut self, ring: &mut Ring, now: Instant) -> Result<(), SubmitError> {
        if self.shared.is_shutting_down() && self.stopping.is_none() {
            self.begin_stop(ring, now)?;
        }
        let grace_over = self
            .stopping
            .is_some_and(|t| now.duration_since(t) > self.shared.config.shutdown_grace());
        let State {
            conns,
            shared,
            dirty,
            ..
        } = self;
        for (slot, conn) in conns.iter_mut().enumerate() {
            let Some(conn) = conn else { continue };
            if grace_over {
                conn.force = true;
            } else if conn.session.on_tick(now, shared, &mut conn.out) == Flow::Close {
                conn.closing = true;
            }
            mark(conn, dirty, slot as u32);
        }
        Ok(())
    }

    /// Stops accepting: cancels every armed multishot accept.
    pub(super) fn begin_stop(&mut self, ring: &mut Ring, now: Instant) -> Result<(), SubmitError> {
        self.stopping = Some(now);
        for (i, l) in self.listeners.iter().enumerate() {
            if l.active {
                let sqe = opcode::AsyncCancel::new(user_data(TAG_ACCEPT, i as u32, 0))
                    .build()
                    .user_data(user_data(TAG_CANCEL, 0, 0));
                // SAFETY: no pointers.
                unsafe { ring.push(&sqe) }?;
            }
        }
        Ok(())
    }

    /// Sends queued output and advances the close protocol of every connection touched in
    /// this iteration.
    pub(super) fn flush_dirty(&mut self, ring: &mut Ring) -> Result<(), SubmitError> {
        let mut dirty = std::mem::take(&mut self.dirty);
        let result = dirty
            .iter()
            .try_for_each(|&slot| self.flush_one(ring, slot));
        // Reuse the allocation.
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
        result
    }

    fn flush_one(&mut self, ring: &mut Ring, slot: u32) -> Result<(), SubmitError> {
        let max_out = self.shared.config.max_write_buffer_bytes;
        let Some(Some(conn)) = self.conns.get_mut(slot as usize) else {
            return Ok(());
        };
        conn.dirty = false;
        if conn.out.len() > max_out {
            tracing::debug!(slot, "peer does not read its responses; closing");
            conn.force = true;
        }
        if conn.force {
            conn.out.clear();
        }
        if !conn.send_active && !conn.force {
            if conn.sending.is_empty() {
                std::mem::swap(&mut conn.out, &mut conn.sending);
                conn.sent = 0;
            }
            if let Some(rest) = conn.sending.get(conn.sent..).filter(|r| !r.is_empty()) {
                let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
                let sqe = opcode::Send::new(Fixed(slot), rest.as_ptr(), len)
                    .flags(libc::MSG_NOSIGNAL)
                    .build()
                    .user_data(user_data(TAG_SEND, slot, conn.generation));
                // SAFETY: `sending` is not touched until this send completes, and the
                // connection is not dropped while `send_active`.
                unsafe { ring.push(&sqe) }?;
                conn.send_active = true;
            }
        }
        let flushed = !conn.send_active && conn.out.is_empty() && conn.sending.is_empty();
        let done = conn.force
            || (conn.closing && flushed)
            || (conn.eof && flushed && conn.session.in_flight() == 0);
        if !done {
            return Ok(());
        }
        if conn.recv_active || conn.send_active {
            if !conn.cancel_sent {
                let sqe = opcode::AsyncCancel2::new(CancelBuilder::fd(Fixed(slot)).all())
                    .build()
                    .user_data(user_data(TAG_CANCEL, slot, conn.generation));
                // SAFETY: no pointers.
                unsafe { ring.push(&sqe) }?;
                conn.cancel_sent = true;
            }
            return Ok(());
        }
        let sqe = opcode::Close::new(Fixed(slot))
            .build()
            .user_data(user_data(TAG_CLOSE, slot, 0));
        // SAFETY: no pointers.
        unsafe { ring.push(&sqe) }?;
        self.conns[slot as usize] = None;
        self.open -= 1;
        self.shared.release_connection();
        self.balance.release(self.index);
        Ok(())
    }
}
