//! Fuzzed frame sequences (valid frames with arbitrary fields, mixed with raw byte blobs) through the
//! server's session rules into a real room, without sockets. See `wire_fuzz::session`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: wire_fuzz::session::Input| {
    let _ = wire_fuzz::session::run(&input);
});
