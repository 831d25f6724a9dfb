//! The `server_session` target: fuzzed frame sequences through the server's session rules and a
//! real room, without sockets (`server::fuzzing`, behind the server's `fuzzing` feature).
//!
//! Each input is one connection: its frames and byte blobs, cut into reads as the input says, go
//! through a `FrameDecoder` into the session's sans-IO rules, and what the rules decide is carried
//! out against one shared in-process room whose history lives in memory. The harness panics when an
//! invariant breaks (see `server::fuzzing`): a line said only after `Hello` was accepted, every frame
//! sent decodes, ids only go up, each accepted line comes back to its sender once, closes use the
//! protocol's codes, and every session ends with its member out of the room. Every
//! [`HEALTH_EVERY`] inputs a well-behaved client must still join, say a line and get its receipt.
//! No QUIC and no runtime: thousands of inputs a second where a live connection allowed ten.
//!
//! `Input` implements `Arbitrary` by hand, reading front to back, so that seed files can be written
//! byte by byte (`tools/gen_corpus.rs`); see [`Input::to_bytes`].

use std::{
    cell::RefCell,
    sync::atomic::{AtomicU64, Ordering},
};

use arbitrary::{Arbitrary, Unstructured};
use server::fuzzing::{Report, SessionHarness};
use wire::ClientFrame;

/// The default room of a server with default settings: where the fuzzed client speaks.
const DEFAULT_ROOM: &str = "#general";

fn general() -> wire::Conversation {
    wire::Conversation::Room(DEFAULT_ROOM.into())
}

/// Inputs between two checks that a well-behaved client is still served.
pub const HEALTH_EVERY: u64 = 50;

/// One thing the fuzzed client does on its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A `Hello`; `version` `None` is the current protocol version.
    Hello {
        version: Option<u16>,
        user: String,
        resume_after: Option<u64>,
    },
    Say {
        nonce: u64,
        text: String,
    },
    ListUsers,
    Bye,
    /// Bytes written as they are.
    Raw(Vec<u8>),
    /// A break between two reads of the stream.
    Pause,
}

/// One connection's worth of client behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Finish our direction of the stream after the last op (else just stop sending).
    pub finish: bool,
    /// One write per op (else everything in one write).
    pub write_per_op: bool,
    pub ops: Vec<Op>,
}

/// Most ops taken from one input, to keep each run short.
const MAX_OPS: usize = 64;

fn take_str(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    let len = usize::from(u8::arbitrary(u)?);
    let bytes = u.bytes(len.min(u.len()))?;
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

fn take_u64(u: &mut Unstructured<'_>) -> arbitrary::Result<u64> {
    let mut b = [0u8; 8];
    let got = u.bytes(8.min(u.len()))?;
    b[..got.len()].copy_from_slice(got);
    Ok(u64::from_le_bytes(b))
}

impl<'a> Arbitrary<'a> for Input {
    /// Format, front to back: a flags byte (bit 0: finish, bit 1: one write per op), then ops until
    /// the data runs out, each a tag byte (mod 6) and its fields:
    /// 0 Hello: version byte (0: current, else that value), name (length byte + bytes),
    ///   resume flag byte (odd: 8 more bytes of `resume_after`, little endian);
    /// 1 Say: nonce (8 bytes, little endian), text (length byte + bytes);
    /// 2 ListUsers; 3 Bye; 4 Raw: length byte + bytes; 5 Pause.
    /// Text that is not UTF-8 is replaced lossily (Raw carries invalid UTF-8).
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let flags = u8::arbitrary(u)?;
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_OPS {
            let op = match u8::arbitrary(u)? % 6 {
                0 => {
                    let v = u8::arbitrary(u)?;
                    let user = take_str(u)?;
                    let resume_after = if u8::arbitrary(u)? % 2 == 1 {
                        Some(take_u64(u)?)
                    } else {
                        None
                    };
                    Op::Hello {
                        version: (v != 0).then_some(u16::from(v)),
                        user,
                        resume_after,
                    }
                }
                1 => Op::Say {
                    nonce: take_u64(u)?,
                    text: take_str(u)?,
                },
                2 => Op::ListUsers,
                3 => Op::Bye,
                4 => {
                    let len = usize::from(u8::arbitrary(u)?);
                    Op::Raw(u.bytes(len.min(u.len()))?.to_vec())
                }
                _ => Op::Pause,
            };
            ops.push(op);
        }
        Ok(Self {
            finish: flags & 1 == 1,
            write_per_op: flags & 2 == 2,
            ops,
        })
    }
}

impl Input {
    /// The bytes that [`Arbitrary`] reads back as this input (strings and blobs of at most 255
    /// bytes, versions below 256).
    pub fn to_bytes(&self) -> Vec<u8> {
        fn str_bytes(out: &mut Vec<u8>, s: &[u8]) {
            let s = &s[..s.len().min(255)];
            out.push(u8::try_from(s.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(s);
        }
        let mut out = vec![u8::from(self.finish) | (u8::from(self.write_per_op) << 1)];
        for op in &self.ops {
            match op {
                Op::Hello {
                    version,
                    user,
                    resume_after,
                } => {
                    out.push(0);
                    out.push(version.map_or(0, |v| u8::try_from(v).unwrap_or(u8::MAX)));
                    str_bytes(&mut out, user.as_bytes());
                    match resume_after {
                        Some(id) => {
                            out.push(1);
                            out.extend_from_slice(&id.to_le_bytes());
                        }
                        None => out.push(0),
                    }
                }
                Op::Say { nonce, text } => {
                    out.push(1);
                    out.extend_from_slice(&nonce.to_le_bytes());
                    str_bytes(&mut out, text.as_bytes());
                }
                Op::ListUsers => out.push(2),
                Op::Bye => out.push(3),
                Op::Raw(bytes) => {
                    out.push(4);
                    str_bytes(&mut out, bytes);
                }
                Op::Pause => out.push(5),
            }
        }
        out
    }

    /// What goes on the stream: one buffer per write.
    fn writes(&self) -> Vec<Option<Vec<u8>>> {
        let mut writes = Vec::new();
        for op in &self.ops {
            let frame = match op {
                Op::Hello {
                    version,
                    user,
                    resume_after,
                } => ClientFrame::Hello {
                    version: version.unwrap_or(wire::PROTOCOL_VERSION),
                    user: user.clone(),
                    // Protocol 5: the one id of the input format is the default room's.
                    resume: resume_after
                        .map(|last_id| wire::ResumePoint {
                            conversation: general(),
                            last_id,
                        })
                        .into_iter()
                        .collect(),
                },
                Op::Say { nonce, text } => ClientFrame::Say {
                    nonce: *nonce,
                    to: general(),
                    text: text.clone(),
                },
                Op::ListUsers => ClientFrame::ListUsers {
                    room: DEFAULT_ROOM.into(),
                },
                Op::Bye => ClientFrame::Bye,
                Op::Raw(bytes) => {
                    writes.push(Some(bytes.clone()));
                    continue;
                }
                Op::Pause => {
                    writes.push(None);
                    continue;
                }
            };
            let bytes = wire::encode(&frame, wire::MAX_CLIENT_FRAME).expect("small frames encode");
            writes.push(Some(bytes.to_vec()));
        }
        if !self.write_per_op {
            let all: Vec<u8> = writes.iter().flatten().flatten().copied().collect();
            return vec![Some(all)];
        }
        writes
    }
}

thread_local! {
    /// One room for every input of this process, as one server would serve them.
    static HARNESS: RefCell<SessionHarness> = RefCell::new(SessionHarness::new());
}

static RUNS: AtomicU64 = AtomicU64::new(0);

/// Runs one input against the shared room; panics (a crash for libFuzzer) if the session or the
/// room misbehaves or stops serving.
pub fn run(input: &Input) -> Report {
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let writes = input.writes();
    HARNESS.with(|harness| {
        let mut harness = harness.borrow_mut();
        // One read per write; a pause only separates reads.
        let chunks: Vec<&[u8]> = writes.iter().flatten().map(Vec::as_slice).collect();
        let report = harness.run(&chunks, input.finish);
        if n % HEALTH_EVERY == 0 {
            harness.health_check(n);
        }
        report
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed seeds, and a few thousand inputs made from random bytes, on stable Rust.
    #[test]
    fn the_corpus_and_random_inputs_keep_every_invariant() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/server_session");
        let mut seeds = 0;
        for entry in std::fs::read_dir(&dir).expect("the seed corpus") {
            let bytes = std::fs::read(entry.expect("an entry").path()).expect("a seed");
            if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(&bytes)) {
                run(&input);
                seeds += 1;
            }
        }
        assert!(seeds >= 6, "only {seeds} seeds ran");
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let started = std::time::Instant::now();
        let runs: u32 = 5_000;
        let (mut joined, mut receipts) = (0, 0);
        for n in 0..runs {
            // Most inputs start with a good Hello (flags, tag 0, current version, name "al", no
            // resume), so that the random ops behind it reach a member's rules.
            let mut bytes = if n % 4 == 0 {
                Vec::new()
            } else {
                vec![(n % 4) as u8, 0, 0, 2, b'a', b'l', 0]
            };
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let len = (next() % 256) as usize;
            bytes.extend((0..len).map(|_| next() as u8));
            if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(&bytes)) {
                let report = run(&input);
                joined += usize::from(report.joined);
                receipts += report.receipts;
            }
        }
        let took = started.elapsed().as_secs_f64();
        assert!(
            joined > runs as usize / 2,
            "only {joined} of {runs} inputs joined"
        );
        assert!(
            receipts > runs as usize / 20,
            "only {receipts} lines were said"
        );
        println!(
            "{runs} inputs ({joined} joined, {receipts} lines said) in {took:.2} s: {:.0} per second",
            f64::from(runs) / took
        );
    }
}
