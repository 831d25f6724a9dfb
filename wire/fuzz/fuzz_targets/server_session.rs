//! Fuzzed frame sequences (valid frames with arbitrary fields, mixed with raw byte blobs) sent to a
//! real server running in this process, over a real QUIC connection. See `wire_fuzz::session`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: wire_fuzz::session::Input| {
    wire_fuzz::session::run(&input);
});
