//! The `server_session` target: fuzzed frame sequences against a real server in this process.
//!
//! The server's session is tied to quinn, so there is no way to feed it frames without a connection.
//! One server (and one client endpoint) is started lazily on a private tokio runtime; each input is
//! one fresh QUIC connection that sends the input's frames and byte blobs on its stream, reads
//! whatever comes back until the server closes (or a short timeout), and checks:
//!
//! - the server only ever sends well-formed `ServerFrame`s and ends its stream on a frame boundary;
//! - it ends connections with application close codes, never a transport error;
//! - every [`HEALTH_EVERY`] inputs, a fresh well-behaved client can still join, say a line and get
//!   its receipt: whatever the inputs did, the server still serves.
//!
//! `Input` implements `Arbitrary` by hand, reading front to back, so that seed files can be written
//! byte by byte (`examples/gen_corpus.rs`); see [`Input::to_bytes`].

use std::{
    net::SocketAddr,
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use arbitrary::{Arbitrary, Unstructured};
use wire::{ClientFrame, FrameDecoder, ServerFrame};

/// Inputs between two checks that a well-behaved client is still served.
pub const HEALTH_EVERY: u64 = 50;
/// How long we wait for the server to close after our last byte.
const REPLY_WAIT: Duration = Duration::from_millis(500);
/// How long a health check may take.
const HEALTH_WAIT: Duration = Duration::from_secs(10);

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
    /// Let the server catch up (a few milliseconds) before the next op.
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
                    resume_after: *resume_after,
                },
                Op::Say { nonce, text } => ClientFrame::Say {
                    nonce: *nonce,
                    text: text.clone(),
                },
                Op::ListUsers => ClientFrame::ListUsers,
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

struct Harness {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    connector: client::Connector,
    runs: AtomicU64,
    /// Held so that the server never sees its shutdown handle dropped.
    _shutdown: server::ShutdownHandle,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let dir = std::env::temp_dir().join(format!("wire-fuzz-server-{}", std::process::id()));
        let (addr, connector, shutdown) = runtime.block_on(async {
            let mut config = server::Config::new(
                "127.0.0.1:0".parse().expect("addr"),
                server::TlsSource::DevCerts {
                    dir: dir.join("certs"),
                },
            );
            // An input that stops before Hello costs at most this long.
            config.limits.hello_timeout = Duration::from_secs(2);
            let server = server::Server::bind(config).expect("server binds");
            let addr = server.local_addr().expect("local addr");
            let ca = server.dev_ca().expect("dev certs").to_path_buf();
            let shutdown = server.shutdown_handle();
            tokio::spawn(server.run());
            let connector =
                client::Connector::new(&client::Trust::CaFile(ca), addr).expect("client endpoint");
            (addr, connector, shutdown)
        });
        Harness {
            runtime,
            addr,
            connector,
            runs: AtomicU64::new(0),
            _shutdown: shutdown,
        }
    })
}

/// Runs one input against the shared server; panics (a crash for libFuzzer) if the server
/// misbehaves or stops serving.
pub fn run(input: &Input) {
    let h = harness();
    let n = h.runs.fetch_add(1, Ordering::Relaxed);
    h.runtime.block_on(async {
        one_connection(h, input).await;
        if n % HEALTH_EVERY == 0 {
            health_check(h, n).await;
        }
    });
}

async fn one_connection(h: &Harness, input: &Input) {
    let connecting = h
        .connector
        .endpoint()
        .connect(h.addr, "127.0.0.1")
        .expect("connect");
    let conn = match tokio::time::timeout(HEALTH_WAIT, connecting).await {
        Ok(Ok(conn)) => conn,
        other => panic!("the server no longer completes handshakes: {other:?}"),
    };
    let (mut send, mut recv) = match conn.open_bi().await {
        Ok(stream) => stream,
        Err(e) => panic!("cannot open the stream: {e}"),
    };
    let writes = input.writes();
    let finish = input.finish;
    let writer = async move {
        for w in writes {
            match w {
                Some(bytes) => {
                    if send.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                None => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
        if finish {
            let _ = send.finish();
        }
        // Keep the stream until the reader is done.
        std::future::pending::<()>().await;
    };
    let reader = async {
        let mut decoder = FrameDecoder::new(wire::MAX_SERVER_FRAME);
        let mut frames = 0usize;
        loop {
            match recv.read_chunk(64 * 1024, true).await {
                Ok(Some(chunk)) => {
                    decoder.push(&chunk.bytes);
                    loop {
                        match decoder.next_frame::<ServerFrame>() {
                            Ok(Some(_)) => frames += 1,
                            Ok(None) => break,
                            Err(e) => panic!("the server sent a malformed frame: {e}"),
                        }
                    }
                }
                Ok(None) => {
                    if let Err(e) = decoder.finish() {
                        panic!("the server ended its stream inside a frame: {e}");
                    }
                    return frames;
                }
                Err(_) => return frames,
            }
        }
    };
    let wait = if finish {
        REPLY_WAIT * 4
    } else {
        REPLY_WAIT / 10
    };
    let _ = tokio::time::timeout(wait, async {
        tokio::select! {
            _ = writer => {}
            _ = reader => {}
        }
        // Give the close a moment to arrive.
        let _ = tokio::time::timeout(REPLY_WAIT, conn.closed()).await;
    })
    .await;
    match conn.close_reason() {
        None
        | Some(
            quinn::ConnectionError::ApplicationClosed(_)
            | quinn::ConnectionError::LocallyClosed
            | quinn::ConnectionError::TimedOut,
        ) => {}
        Some(other) => panic!("the server ended the connection at the transport level: {other}"),
    }
    conn.close(0u32.into(), b"fuzz input done");
}

async fn health_check(h: &Harness, n: u64) {
    let name = format!("health{n}");
    let server = client::ServerAddr {
        host: "127.0.0.1".into(),
        port: h.addr.port(),
    };
    let check = async {
        let (mut conn, _) = h
            .connector
            .connect(&server, h.addr, &name, None)
            .await
            .unwrap_or_else(|e| panic!("a well-behaved client cannot join after {n} inputs: {e}"));
        conn.send(&ClientFrame::Say {
            nonce: n,
            text: "still there?".into(),
        })
        .await
        .expect("send");
        loop {
            match conn.next().await {
                Ok(Some(ServerFrame::Chat(m))) if m.from == name && m.nonce == n => break,
                Ok(Some(_)) => {}
                other => panic!("health check after {n} inputs: {other:?}"),
            }
        }
        conn.send(&ClientFrame::Bye).await.expect("bye");
    };
    if tokio::time::timeout(HEALTH_WAIT, check).await.is_err() {
        panic!("a well-behaved client was not served in time after {n} inputs");
    }
}
