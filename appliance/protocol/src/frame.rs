//! The frame: a fixed 20-byte header followed by a body.
//!
//! ```text
//! offset size field
//!      0    4 magic       b"KEEL"
//!      4    1 version     PROTOCOL_VERSION (1)
//!      5    1 kind        message kind (requests 0x01.., responses 0x81..)
//!      6    2 flags       reserved, u16 little-endian, must be 0
//!      8    8 request_id  u64 little-endian
//!     16    4 body_len    u32 little-endian
//!     20    n body        body_len bytes, borsh encoding of the kind's fields
//! ```

use crate::error::FrameError;

/// The four bytes that open every frame.
pub const MAGIC: [u8; 4] = *b"KEEL";

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u8 = 1;

/// Length of the frame header in bytes.
pub const HEADER_LEN: usize = 20;

/// The largest body any receiver accepts, whatever its configuration (64 MiB): keeps every
/// buffer size representable and bounded.
pub const ABSOLUTE_MAX_BODY: u32 = 64 * 1024 * 1024;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The message kind byte.
    pub kind: u8,
    /// The request id (0 is reserved for connection-level messages from the server).
    pub request_id: u64,
    /// The body length in bytes.
    pub body_len: u32,
}

impl FrameHeader {
    /// Parses and validates a header. Errors if the magic, version or flags are wrong or if the
    /// body is longer than `max_body` (or [`ABSOLUTE_MAX_BODY`]).
    pub fn parse(bytes: &[u8; HEADER_LEN], max_body: u32) -> Result<FrameHeader, FrameError> {
        let [m0, m1, m2, m3, version, kind, f0, f1, rest @ ..] = *bytes;
        let magic = [m0, m1, m2, m3];
        if magic != MAGIC {
            return Err(FrameError::BadMagic(magic));
        }
        if version != PROTOCOL_VERSION {
            return Err(FrameError::UnsupportedVersion(version));
        }
        let flags = u16::from_le_bytes([f0, f1]);
        if flags != 0 {
            return Err(FrameError::ReservedFlags(flags));
        }
        let [i0, i1, i2, i3, i4, i5, i6, i7, l0, l1, l2, l3] = rest;
        let request_id = u64::from_le_bytes([i0, i1, i2, i3, i4, i5, i6, i7]);
        let body_len = u32::from_le_bytes([l0, l1, l2, l3]);
        let max = max_body.min(ABSOLUTE_MAX_BODY);
        if body_len > max {
            return Err(FrameError::TooLarge { len: body_len, max });
        }
        Ok(FrameHeader {
            kind,
            request_id,
            body_len,
        })
    }

    /// The 20 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4] = PROTOCOL_VERSION;
        out[5] = self.kind;
        out[8..16].copy_from_slice(&self.request_id.to_le_bytes());
        out[16..20].copy_from_slice(&self.body_len.to_le_bytes());
        out
    }
}

/// A complete frame: header fields and the raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The message kind byte.
    pub kind: u8,
    /// The request id.
    pub request_id: u64,
    /// The body bytes (not yet decoded).
    pub body: Vec<u8>,
}

/// Appends a frame (header + `body`) to `out`. The caller keeps bodies under
/// [`ABSOLUTE_MAX_BODY`]; a longer body is reported as [`FrameError::TooLarge`] and nothing is
/// appended.
pub fn write_frame(
    out: &mut Vec<u8>,
    kind: u8,
    request_id: u64,
    body: &[u8],
) -> Result<(), FrameError> {
    let len = body_len(body.len())?;
    out.reserve(HEADER_LEN + body.len());
    out.extend_from_slice(
        &FrameHeader {
            kind,
            request_id,
            body_len: len,
        }
        .to_bytes(),
    );
    out.extend_from_slice(body);
    Ok(())
}

/// Appends a frame whose body is produced by `write_body` directly into `out` (no intermediate
/// buffer); the length field is patched afterwards. On error `out` is left as it was.
pub(crate) fn write_frame_with<E>(
    out: &mut Vec<u8>,
    kind: u8,
    request_id: u64,
    write_body: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), FrameError>
where
    E: std::fmt::Debug,
{
    let start = out.len();
    out.extend_from_slice(
        &FrameHeader {
            kind,
            request_id,
            body_len: 0,
        }
        .to_bytes(),
    );
    let written = write_body(out);
    let len = out.len() - start - HEADER_LEN;
    match (written, body_len(len)) {
        (Ok(()), Ok(len)) => {
            out[start + 16..start + HEADER_LEN].copy_from_slice(&len.to_le_bytes());
            Ok(())
        }
        (_, Err(e)) => {
            out.truncate(start);
            Err(e)
        }
        // Writing into a Vec cannot fail; keep `out` consistent anyway.
        (Err(_), Ok(len)) => {
            out.truncate(start);
            Err(FrameError::TooLarge {
                len,
                max: ABSOLUTE_MAX_BODY,
            })
        }
    }
}

fn body_len(len: usize) -> Result<u32, FrameError> {
    match u32::try_from(len) {
        Ok(l) if l <= ABSOLUTE_MAX_BODY => Ok(l),
        _ => Err(FrameError::TooLarge {
            len: u32::MAX,
            max: ABSOLUTE_MAX_BODY,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_through_bytes() {
        let h = FrameHeader {
            kind: 0x81,
            request_id: 0x0102_0304_0506_0708,
            body_len: 77,
        };
        let bytes = h.to_bytes();
        assert_eq!(&bytes[..4], b"KEEL");
        assert_eq!(bytes[8], 0x08, "request id is little-endian");
        assert_eq!(FrameHeader::parse(&bytes, 100), Ok(h));
    }

    #[test]
    fn header_with_a_body_over_the_limit_is_rejected() {
        let bytes = FrameHeader {
            kind: 1,
            request_id: 1,
            body_len: 101,
        }
        .to_bytes();
        assert_eq!(
            FrameHeader::parse(&bytes, 100),
            Err(FrameError::TooLarge { len: 101, max: 100 })
        );
    }

    #[test]
    fn header_with_wrong_version_or_flags_is_rejected() {
        let mut bytes = FrameHeader {
            kind: 1,
            request_id: 1,
            body_len: 0,
        }
        .to_bytes();
        bytes[4] = 2;
        assert_eq!(
            FrameHeader::parse(&bytes, 100),
            Err(FrameError::UnsupportedVersion(2))
        );
        bytes[4] = PROTOCOL_VERSION;
        bytes[7] = 1;
        assert_eq!(
            FrameHeader::parse(&bytes, 100),
            Err(FrameError::ReservedFlags(0x0100))
        );
    }
}
