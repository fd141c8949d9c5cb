//! Frames between Keel and the plug-in host process (stdin/stdout pipes). Every frame is
//! `u32le length ‖ payload`; every decoded size is bounded before memory is reserved.
//!
//! - host → Keel, once: hello = `u8 status ‖ text` (0: text is the plug-in's name, `max_batch`
//!   as `name\nmax_batch`; else the error message).
//! - Keel → host: request = `u32le n ‖ n × (u32le len ‖ pk, u32le len ‖ msg, u32le len ‖ sig)`.
//! - host → Keel: response = `u8 status ‖ n verdict bytes` (status 0) or `u8 status ‖ text`.

use std::io::{self, Read, Write};

use crate::vectors::RawTriple;

/// Largest frame either side accepts.
pub const MAX_FRAME: usize = 64 << 20;
/// Largest key or signature field (well-formed ones are 48 and 96 bytes).
pub const MAX_POINT: usize = 4096;
/// Largest message.
pub const MAX_MSG: usize = 1 << 20;

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| l as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(payload)?;
    w.flush()
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    Ok(Some(buf))
}

/// Encodes a request.
pub fn encode_request(triples: &[RawTriple]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(triples.len() as u32).to_le_bytes());
    for t in triples {
        for field in [&t.pk, &t.msg, &t.sig] {
            out.extend_from_slice(&(field.len() as u32).to_le_bytes());
            out.extend_from_slice(field);
        }
    }
    out
}

/// Decodes a request, refusing oversized fields and counts that the frame cannot hold.
pub fn decode_request(frame: &[u8]) -> Result<Vec<RawTriple>, String> {
    let mut rest = frame;
    let mut take = |n: usize| -> Result<&[u8], String> {
        if rest.len() < n {
            return Err("truncated request".into());
        }
        let (a, b) = rest.split_at(n);
        rest = b;
        Ok(a)
    };
    let count = u32::from_le_bytes(take(4)?.try_into().map_err(|_| "bad count")?) as usize;
    // Each item needs at least 12 bytes of length fields: bound the count by the frame.
    if count > frame.len() / 12 {
        return Err(format!("count {count} exceeds what the frame can hold"));
    }
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        let mut field = |max: usize| -> Result<Vec<u8>, String> {
            let len = u32::from_le_bytes(take(4)?.try_into().map_err(|_| "bad length")?) as usize;
            if len > max {
                return Err(format!("field of {len} bytes (at most {max})"));
            }
            Ok(take(len)?.to_vec())
        };
        let pk = field(MAX_POINT)?;
        let msg = field(MAX_MSG)?;
        let sig = field(MAX_POINT)?;
        items.push(RawTriple { pk, msg, sig });
    }
    if !rest.is_empty() {
        return Err("trailing bytes after the request".into());
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_hostile_ones_are_refused_before_allocating() {
        let t = vec![RawTriple {
            pk: vec![1; 48],
            msg: vec![],
            sig: vec![2; 96],
        }];
        assert_eq!(decode_request(&encode_request(&t)).unwrap(), t);
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(&[0; 12]);
        assert!(decode_request(&huge).unwrap_err().contains("exceeds"));
        let mut long = 1u32.to_le_bytes().to_vec();
        long.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_request(&long).is_err());
        let mut frame = Vec::new();
        write_frame(&mut frame, b"abc").unwrap();
        assert_eq!(read_frame(&mut frame.as_slice()).unwrap().unwrap(), b"abc");
        assert_eq!(read_frame(&mut &[][..]).unwrap(), None);
        assert!(read_frame(&mut &u32::MAX.to_le_bytes()[..]).is_err());
    }
}
