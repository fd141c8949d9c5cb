//! A ring's connection slots: user_data encoding and per-connection state.

use crate::session::Session;

pub(super) const TAG_ACCEPT: u64 = 1;
pub(super) const TAG_RECV: u64 = 2;
pub(super) const TAG_SEND: u64 = 3;
pub(super) const TAG_CLOSE: u64 = 4;
pub(super) const TAG_WAKE: u64 = 5;
pub(super) const TAG_TICK: u64 = 6;
pub(super) const TAG_CANCEL: u64 = 7;
/// The owner's cancel-everything request at teardown.
pub(super) const TAG_TEARDOWN: u64 = 8;

/// user_data: tag (8 bits) | slot (24 bits) | generation (32 bits). The generation makes late
/// completions of a closed connection harmless when its slot is reused.
pub(super) fn user_data(tag: u64, slot: u32, generation: u32) -> u64 {
    (tag << 56) | (u64::from(slot & 0x00FF_FFFF) << 32) | u64::from(generation)
}

pub(super) fn split_user_data(ud: u64) -> (u64, u32, u32) {
    (ud >> 56, ((ud >> 32) & 0x00FF_FFFF) as u32, ud as u32)
}

pub(super) struct Conn {
    pub(super) generation: u32,
    pub(super) session: Session,
    /// Frames queued for sending.
    pub(super) out: Vec<u8>,
    /// The buffer the kernel is sending from while `send_active`.
    pub(super) sending: Vec<u8>,
    pub(super) sent: usize,
    pub(super) send_active: bool,
    pub(super) recv_active: bool,
    /// Stop reading, flush, close.
    pub(super) closing: bool,
    /// The peer finished sending: answer what is in flight, then close.
    pub(super) eof: bool,
    /// Close now, dropping unsent output.
    pub(super) force: bool,
    pub(super) cancel_sent: bool,
    pub(super) dirty: bool,
}

pub(super) fn lookup(conns: &mut [Option<Conn>], slot: u32, generation: u32) -> Option<&mut Conn> {
    match conns.get_mut(slot as usize) {
        Some(Some(c)) if c.generation == generation => Some(c),
        _ => None,
    }
}

/// Queues the connection for `flush_dirty` at the end of this loop iteration (once).
pub(super) fn mark(conn: &mut Conn, dirty: &mut Vec<u32>, slot: u32) {
    if !conn.dirty {
        conn.dirty = true;
        dirty.push(slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_round_trips_tag_slot_and_generation() {
        let ud = user_data(TAG_SEND, 0x12_3456, 0xDEAD_BEEF);
        assert_eq!(split_user_data(ud), (TAG_SEND, 0x12_3456, 0xDEAD_BEEF));
    }
}
