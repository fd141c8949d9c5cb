//! The frame decoder property, shared by the proptest (`tests/decoder_property.rs`) and the
//! cargo-fuzz target (`fuzz/fuzz_targets/frame_decoder.rs`).
//!
//! For any bytes cut into any chunks: the decoder never panics, never yields a body over its
//! limit, and every frame whose body decodes as a message re-encodes to exactly the same bytes
//! (the encoding is canonical, so two validators can never disagree on a message's bytes).

use keel_protocol::{FrameDecoder, Request, Response};

/// `data[0]` picks the body limit, `data[1]` the chunk size; the rest is the stream.
pub fn check(data: &[u8]) {
    let (max_body, chunk, stream) = match data {
        [a, b, rest @ ..] => (u32::from(*a) * 4, usize::from(*b).max(1), rest),
        _ => return,
    };
    let mut decoder = FrameDecoder::new(max_body);
    for piece in stream.chunks(chunk) {
        decoder.push(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    assert!(frame.body.len() <= max_body as usize, "body over the limit");
                    let mut original = Vec::new();
                    keel_protocol::frame::write_frame(
                        &mut original,
                        frame.kind,
                        frame.request_id,
                        &frame.body,
                    )
                    .expect("a decoded frame re-encodes");
                    if let Ok(request) = Request::decode(frame.kind, &frame.body) {
                        let mut again = Vec::new();
                        request
                            .encode(frame.request_id, &mut again)
                            .expect("encodes");
                        assert_eq!(again, original, "request encoding is not canonical");
                    }
                    if let Ok(response) = Response::decode(frame.kind, &frame.body) {
                        let mut again = Vec::new();
                        response
                            .encode(frame.request_id, &mut again)
                            .expect("encodes");
                        assert_eq!(again, original, "response encoding is not canonical");
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    assert!(decoder.is_failed());
                    return;
                }
            }
        }
    }
}
