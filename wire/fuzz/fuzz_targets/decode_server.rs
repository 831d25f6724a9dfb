//! Arbitrary bytes, pushed in arbitrary chunks into the client's decoder for `ServerFrame`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wire_fuzz::check_decoder::<wire::ServerFrame>(data, wire::MAX_SERVER_FRAME);
});
