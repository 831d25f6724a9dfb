//! Arbitrary bytes, pushed in arbitrary chunks into the server's decoder for `ClientFrame`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wire_fuzz::check_decoder::<wire::ClientFrame>(data, wire::MAX_CLIENT_FRAME);
});
