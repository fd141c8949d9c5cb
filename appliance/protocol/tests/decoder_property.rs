//! The fuzz target's property (see `support/decoder_property.rs`), run by proptest in CI.

#[path = "support/decoder_property.rs"]
mod property;

use keel_protocol::{Request, Response};
use proptest::prelude::*;

/// Streams that are mostly valid frames (so the body decoders get exercised), with garbage
/// spliced in.
fn framed_stream() -> impl Strategy<Value = Vec<u8>> {
    let frame = (
        any::<u8>(),
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..40),
        0u8..4,
    )
        .prop_map(|(kind_pick, id, bytes, shape)| {
            let mut out = Vec::new();
            let _ = match shape {
                0 => Request::Ping { payload: bytes }.encode(id, &mut out),
                1 => Request::QueryState {
                    key: bytes,
                    with_proof: kind_pick % 2 == 0,
                }
                .encode(id, &mut out),
                2 => Response::StateValue {
                    value: Some(bytes),
                    proof: None,
                }
                .encode(id, &mut out),
                _ => keel_protocol::frame::write_frame(&mut out, kind_pick, id, &bytes),
            };
            out
        });
    proptest::collection::vec(frame, 0..6).prop_map(|frames| frames.concat())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        property::check(&data);
    }

    #[test]
    fn framed_streams_decode_canonically_in_any_chunking(
        limit in any::<u8>(), chunk in any::<u8>(), stream in framed_stream(),
    ) {
        let mut data = vec![limit, chunk];
        data.extend(stream);
        property::check(&data);
    }
}
