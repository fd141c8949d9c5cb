//! The streaming frame decoder.

use crate::error::FrameError;
use crate::frame::{Frame, FrameHeader, HEADER_LEN};

/// Buffer capacity kept between frames; a larger buffer is freed once it has been consumed.
const RETAINED_CAPACITY: usize = 256 * 1024;

/// A frame whose body is borrowed from the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// The message kind byte.
    pub kind: u8,
    /// The request id.
    pub request_id: u64,
    /// The body bytes.
    pub body: &'a [u8],
}

/// Reassembles frames from a byte stream cut at arbitrary points.
///
/// Feed bytes with [`push`](Self::push) as they arrive and take complete frames with
/// [`next_frame`](Self::next_frame). A header is validated as soon as its 20 bytes are in, so an
/// oversized length is rejected before its body is buffered. After an error the decoder stays
/// failed (a byte stream has no resynchronisation point) and returns that error forever.
///
/// Promise: no input, in any chunking, makes the decoder panic or buffer more than one header
/// plus `max_body` bytes beyond what the caller pushed in a single call.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`; consumed bytes are dropped lazily (compaction).
    start: usize,
    max_body: u32,
    header: Option<FrameHeader>,
    failed: Option<FrameError>,
}

impl FrameDecoder {
    /// A decoder that rejects bodies longer than `max_body` bytes.
    pub fn new(max_body: u32) -> FrameDecoder {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            max_body,
            header: None,
            failed: None,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        // Consumed bytes are dropped here rather than in `next_frame_ref`, whose result
        // borrows the buffer.
        self.compact();
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed, or the stream's error.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        Ok(self.next_frame_ref()?.map(|f| Frame {
            kind: f.kind,
            request_id: f.request_id,
            body: f.body.to_vec(),
        }))
    }

    /// Like [`next_frame`](Self::next_frame), but borrows the body from the decoder's buffer
    /// (no allocation); the borrow ends before the next `push`.
    pub fn next_frame_ref(&mut self) -> Result<Option<FrameRef<'_>>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let header = match self.header {
            Some(h) => h,
            None => {
                let Some(bytes) = self.buf.get(self.start..self.start + HEADER_LEN) else {
                    return Ok(None);
                };
                let mut raw = [0u8; HEADER_LEN];
                raw.copy_from_slice(bytes);
                match FrameHeader::parse(&raw, self.max_body) {
                    Ok(h) => {
                        self.start += HEADER_LEN;
                        self.header = Some(h);
                        h
                    }
                    Err(e) => {
                        self.failed = Some(e.clone());
                        self.buf = Vec::new();
                        self.start = 0;
                        return Err(e);
                    }
                }
            }
        };
        // `body_len` is at most 64 MiB, so this cannot overflow on any supported target.
        let begin = self.start;
        let end = begin + header.body_len as usize;
        if end > self.buf.len() {
            return Ok(None);
        }
        self.start = end;
        self.header = None;
        Ok(Some(FrameRef {
            kind: header.kind,
            request_id: header.request_id,
            body: &self.buf[begin..end],
        }))
    }

    /// Bytes received but not yet returned as frames (including a parsed pending header).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start + if self.header.is_some() { HEADER_LEN } else { 0 }
    }

    /// Whether a frame has started arriving but is not complete.
    pub fn has_partial_frame(&self) -> bool {
        self.buffered() > 0
    }

    /// Changes the largest accepted body (e.g. raised once a peer has authenticated). Applies
    /// to headers not yet parsed.
    pub fn set_max_body(&mut self, max_body: u32) {
        self.max_body = max_body;
    }

    /// Bytes the decoder's buffer currently holds allocated (what it costs in memory).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Whether the stream has failed.
    pub fn is_failed(&self) -> bool {
        self.failed.is_some()
    }

    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        if self.start == self.buf.len() {
            // Give a large frame's buffer back rather than pin it for the connection's life.
            if self.buf.capacity() > RETAINED_CAPACITY {
                self.buf = Vec::new();
            } else {
                self.buf.clear();
            }
            self.start = 0;
        } else if self.start >= 64 * 1024 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::write_frame;
    use proptest::prelude::*;

    #[test]
    fn a_large_frame_buffer_is_freed_once_consumed() {
        let bytes = stream(&[(1, 1, vec![5; 1 << 20])]);
        let mut d = FrameDecoder::new(2 << 20);
        d.push(&bytes);
        assert!(d.capacity() >= 1 << 20);
        assert_eq!(d.next_frame().unwrap().unwrap().body.len(), 1 << 20);
        d.push(&[]);
        assert!(d.capacity() <= RETAINED_CAPACITY, "{}", d.capacity());
    }

    #[test]
    fn a_raised_body_limit_applies_to_the_next_header() {
        let bytes = stream(&[(1, 1, vec![0; 2000])]);
        let mut d = FrameDecoder::new(1000);
        d.set_max_body(4000);
        d.push(&bytes);
        assert_eq!(d.next_frame().unwrap().unwrap().body.len(), 2000);
    }

    fn stream(frames: &[(u8, u64, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, id, body) in frames {
            write_frame(&mut out, *kind, *id, body).unwrap();
        }
        out
    }

    #[test]
    fn several_frames_in_one_push_come_out_in_order() {
        let bytes = stream(&[(1, 1, vec![1, 2]), (2, 2, vec![]), (3, 3, vec![9; 300])]);
        let mut d = FrameDecoder::new(1024);
        d.push(&bytes);
        let ids: Vec<u64> = std::iter::from_fn(|| d.next_frame().unwrap())
            .map(|f| f.request_id)
            .collect();
        assert_eq!(ids, [1, 2, 3]);
        assert!(!d.has_partial_frame());
    }

    #[test]
    fn a_frame_fed_byte_by_byte_completes_on_its_last_byte() {
        let bytes = stream(&[(4, 42, vec![7; 10])]);
        let mut d = FrameDecoder::new(1024);
        for (i, b) in bytes.iter().enumerate() {
            assert_eq!(
                d.next_frame().unwrap(),
                None,
                "complete too early at byte {i}"
            );
            d.push(&[*b]);
        }
        let f = d.next_frame().unwrap().unwrap();
        assert_eq!((f.kind, f.request_id, f.body), (4, 42, vec![7; 10]));
    }

    #[test]
    fn an_oversized_length_is_rejected_from_the_header_alone() {
        let bytes = stream(&[(1, 1, vec![0; 2000])]);
        let mut d = FrameDecoder::new(1000);
        d.push(&bytes[..HEADER_LEN]);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge {
                len: 2000,
                max: 1000
            })
        );
        d.push(&bytes[HEADER_LEN..]);
        assert!(d.next_frame().is_err(), "the decoder stays failed");
        assert_eq!(d.buffered(), 0);
    }

    fn split_points(len: usize) -> impl Strategy<Value = Vec<usize>> {
        proptest::collection::vec(0..=len, 0..8).prop_map(|mut v| {
            v.sort_unstable();
            v
        })
    }

    proptest! {
        #[test]
        fn valid_frames_survive_any_chunking(
            frames in proptest::collection::vec((any::<u8>(), any::<u64>(), proptest::collection::vec(any::<u8>(), 0..64)), 0..6),
            cuts in split_points(600),
        ) {
            let bytes = stream(&frames);
            let mut d = FrameDecoder::new(64);
            let mut out = Vec::new();
            let mut prev = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                let cut = cut.min(bytes.len()).max(prev);
                d.push(&bytes[prev..cut]);
                prev = cut;
                while let Some(f) = d.next_frame().unwrap() {
                    out.push((f.kind, f.request_id, f.body));
                }
            }
            prop_assert_eq!(out, frames);
            prop_assert!(!d.has_partial_frame());
        }
    }
}
