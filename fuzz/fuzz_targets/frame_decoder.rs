//! The appliance frame decoder on arbitrary bytes in arbitrary chunks: see
//! `appliance/protocol/tests/support/decoder_property.rs` for the property.
#![no_main]

#[path = "../../appliance/protocol/tests/support/decoder_property.rs"]
mod property;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    property::check(data);
});
