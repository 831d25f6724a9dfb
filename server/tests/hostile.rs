//! Hostile input against a running server: random and mutated frames, absurd length prefixes, frames
//! cut in half, Hello storms, extra streams, invalid UTF-8, floods, handshakes that never finish, and
//! version 4's Redeem and Request frames out of place, oversized and in bursts.
//!
//! Every test runs a few well-behaved clients ([`Chatters`]) that chat throughout the attack and, at
//! the end, must have received every line said in the room, once each, in order (consecutive ids),
//! each of their own lines within a bounded time. Every attack gets its typed answer (a `Refused`, a
//! `Problem` or an application close code) and never touches anybody else.
//!
//! Every loop is bounded, every wait has a timeout, and the inputs come from a seeded RNG, so a failure
//! reproduces with the same seed.

mod support;

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use client::Connection;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use support::{TestServer, WAIT, chats, say, until, why_left};
use tokio::{net::UdpSocket, sync::Semaphore, task::JoinHandle, time::timeout};
use wire::{
    ClientFrame, DecodeError, FrameDecoder, LeaveReason, ProblemCode, RefuseReason, ServerFrame,
    close_code,
};

// ---------------------------------------------------------------------------------------------------
// Well-behaved clients that chat during every attack.

/// How many well-behaved clients chat during each attack.
const CHATTERS: usize = 3;
/// Each chatter says a line this often: slow enough for any sensible per-client rate limit.
const CHAT_EVERY: Duration = Duration::from_millis(300);
/// Every chatter line must reach every chatter within this long, attack or not.
const LATENCY: Duration = WAIT;

#[derive(Debug, Clone)]
struct Seen {
    id: u64,
    from: String,
    nonce: u64,
    at: Instant,
}

#[derive(Default)]
struct Log {
    /// (from, nonce) -> when it was sent.
    sent: BTreeMap<(String, u64), Instant>,
    /// Every `Chat` each chatter received, in arrival order.
    seen: Vec<Vec<Seen>>,
    /// Anything that went wrong for a chatter (its connection broke, it was told to leave...).
    trouble: Vec<String>,
}

/// A few clients that join, then chat until [`Chatters::finish`], which checks that each of them
/// received everything, in order, in time.
struct Chatters {
    names: Vec<String>,
    log: Arc<Mutex<Log>>,
    stop: tokio::sync::watch::Sender<bool>,
    /// Each returns its writer: dropping it would end the chatter's stream.
    writers: Vec<JoinHandle<Option<client::FrameWriter>>>,
    readers: Vec<JoinHandle<()>>,
}

fn lock(log: &Mutex<Log>) -> std::sync::MutexGuard<'_, Log> {
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Chatters {
    async fn start(server: &TestServer) -> Self {
        let log = Arc::new(Mutex::new(Log {
            seen: vec![Vec::new(); CHATTERS],
            ..Log::default()
        }));
        let (stop, _) = tokio::sync::watch::channel(false);
        let mut names = Vec::new();
        let mut conns = Vec::new();
        for i in 0..CHATTERS {
            let name = format!("chatter{i}");
            let (conn, _) = server.join(&name).await;
            names.push(name);
            conns.push(conn);
        }
        let mut writers = Vec::new();
        let mut readers = Vec::new();
        for (i, conn) in conns.into_iter().enumerate() {
            let (mut writer, mut reader, _quic) = conn.split();
            let name = names[i].clone();
            let wlog = log.clone();
            let mut wstop = stop.subscribe();
            writers.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(CHAT_EVERY);
                // Bounded: the test stops us long before this many lines.
                for nonce in 0..10_000u64 {
                    tokio::select! {
                        _ = wstop.changed() => return Some(writer),
                        _ = tick.tick() => {}
                    }
                    lock(&wlog)
                        .sent
                        .insert((name.clone(), nonce), Instant::now());
                    let frame = ClientFrame::Say {
                        to: wire::Conversation::Room("#general".into()),
                        nonce,
                        text: format!("{name} says line {nonce}"),
                    };
                    if let Err(e) = timeout(WAIT, writer.send(&frame))
                        .await
                        .map_err(|_| client::ClientError::Closed("send timed out".into()))
                        .and_then(|r| r)
                    {
                        lock(&wlog).trouble.push(format!("{name} cannot send: {e}"));
                        return None;
                    }
                }
                Some(writer)
            }));
            let rlog = log.clone();
            let me = names[i].clone();
            readers.push(tokio::spawn(async move {
                // Ends when the test aborts it or the stream ends.
                loop {
                    match reader.next().await {
                        Ok(Some(ServerFrame::Chat { message: m, .. })) => {
                            lock(&rlog).seen[i].push(Seen {
                                id: m.id,
                                from: m.from,
                                nonce: m.nonce,
                                at: Instant::now(),
                            })
                        }
                        Ok(Some(ServerFrame::Left { user, why }))
                            if user.starts_with("chatter") =>
                        {
                            lock(&rlog)
                                .trouble
                                .push(format!("{me} saw {user} leave: {why}"));
                        }
                        Ok(Some(
                            frame @ (ServerFrame::Problem { .. }
                            | ServerFrame::Refused { .. }
                            | ServerFrame::ShuttingDown { .. }),
                        )) => {
                            lock(&rlog).trouble.push(format!("{me} was told {frame:?}"));
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => {
                            lock(&rlog).trouble.push(format!("{me}: stream ended"));
                            return;
                        }
                        Err(e) => {
                            lock(&rlog).trouble.push(format!("{me}: {e}"));
                            return;
                        }
                    }
                }
            }));
        }
        Self {
            names,
            log,
            stop,
            writers,
            readers,
        }
    }

    /// A snapshot of the trouble so far, for tests that want to fail early.
    fn trouble(&self) -> Vec<String> {
        lock(&self.log).trouble.clone()
    }

    /// Stops chatting, waits for the last lines to arrive, and checks that every chatter received
    /// every line said in the room once, in order, and each chatter line within [`LATENCY`].
    /// Returns how many lines the chatters said.
    async fn finish(mut self) -> usize {
        let _ = self.stop.send(true);
        let mut keep = Vec::new();
        for w in std::mem::take(&mut self.writers) {
            keep.push(
                timeout(WAIT, w)
                    .await
                    .expect("chatter writer stops in time")
                    .expect("chatter writer did not panic"),
            );
        }
        // Wait, bounded, until every chatter has every chatter line.
        let deadline = Instant::now() + LATENCY + WAIT;
        loop {
            let complete = {
                let log = lock(&self.log);
                log.seen.iter().all(|seen| {
                    let got: HashSet<(&str, u64)> =
                        seen.iter().map(|s| (s.from.as_str(), s.nonce)).collect();
                    log.sent
                        .keys()
                        .all(|(from, nonce)| got.contains(&(from.as_str(), *nonce)))
                })
            };
            if complete || Instant::now() > deadline || !self.trouble().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for r in &self.readers {
            r.abort();
        }
        drop(keep);
        let log = lock(&self.log);
        assert!(
            log.trouble.is_empty(),
            "well-behaved clients were affected: {:?}",
            log.trouble
        );
        assert!(
            log.sent.len() >= CHATTERS,
            "the chatters said only {} lines",
            log.sent.len()
        );
        for (i, seen) in log.seen.iter().enumerate() {
            let name = &self.names[i];
            for pair in seen.windows(2) {
                assert_eq!(
                    pair[1].id,
                    pair[0].id + 1,
                    "{name} saw a gap or a reordering in the room: {} then {}",
                    pair[0].id,
                    pair[1].id
                );
            }
            let mut got = BTreeMap::new();
            for s in seen {
                let again = got.insert((s.from.clone(), s.nonce), s.at);
                assert!(
                    again.is_none() || !s.from.starts_with("chatter"),
                    "{name} got {}'s line {} twice",
                    s.from,
                    s.nonce
                );
            }
            for (key, sent_at) in &log.sent {
                let at = got
                    .get(key)
                    .unwrap_or_else(|| panic!("{name} never got {key:?}"));
                let took = at.saturating_duration_since(*sent_at);
                assert!(took <= LATENCY, "{name} got {key:?} only after {took:?}");
            }
        }
        log.sent.len()
    }
}

// ---------------------------------------------------------------------------------------------------
// Helpers.

/// Resident memory of this test process, which embeds the server, in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

/// Growth of resident memory allowed across one attack. Generous on purpose (the test binary runs
/// other tests in parallel threads and the allocator keeps freed pages): what it catches is per-input
/// buffering without a bound, e.g. a decoder that reserves a peer-announced length (4 GiB) or keeps
/// every half-open connection or every partial frame forever (a reservation that touches no page
/// is not seen here: wire/tests/errors.rs checks the decoder's capacity itself).
/// Measured growth with the whole file's tests in parallel on 2 cores: at most 22 MiB.
const RSS_GROWTH_LIMIT: u64 = 100 * 1024 * 1024;

fn assert_rss_bounded(before: u64, what: &str) {
    let after = rss_bytes();
    let growth = after.saturating_sub(before);
    eprintln!("{what}: VmRSS {} MiB -> {} MiB", before >> 20, after >> 20);
    assert!(
        growth < RSS_GROWTH_LIMIT,
        "{what}: memory grew by {} MiB",
        growth >> 20
    );
}

/// How the server ended a connection: its application close code, or what else happened.
async fn end_of(conn: &quinn::Connection) -> Result<u32, String> {
    match timeout(WAIT, conn.closed()).await {
        Err(_) => Err("still open".into()),
        Ok(quinn::ConnectionError::ApplicationClosed(c)) => {
            u32::try_from(c.error_code.into_inner()).map_err(|_| format!("huge code {c}"))
        }
        Ok(other) => Err(other.to_string()),
    }
}

/// A `Say` whose text is four bytes of invalid UTF-8.
fn say_with_invalid_utf8(nonce: u64) -> Vec<u8> {
    let placeholder = "BBBB";
    let mut bytes = encode(&ClientFrame::Say {
        to: wire::Conversation::Room("#general".into()),
        nonce,
        text: placeholder.into(),
    });
    let at = bytes
        .windows(4)
        .position(|w| w == placeholder.as_bytes())
        .expect("placeholder");
    bytes[at..at + 4].copy_from_slice(b"\xff\xff\xff\xff");
    bytes
}

fn encode(frame: &ClientFrame) -> Vec<u8> {
    wire::encode(frame, wire::MAX_CLIENT_FRAME)
        .expect("encodes")
        .to_vec()
}

fn hello(user: &str) -> ClientFrame {
    ClientFrame::Hello {
        version: wire::PROTOCOL_VERSION,
        user: user.into(),
        resume: Vec::new(),
    }
}

/// The close codes the server may answer `bytes` with, sent on a fresh stream (`joined` false) or
/// after a welcomed `Hello`, followed by the end of the stream. Worked out with the same decoder
/// the server uses, so the test knows the typed answer for each random input.
fn expected_codes(bytes: &[u8], mut joined: bool) -> Vec<u32> {
    let mut allowed = Vec::new();
    // One Redeem may come before Hello; the code is not looked at for a name this key owns or
    // registers (every client of this test is one key), so it changes nothing else.
    let mut redeemed = false;
    let mut decoder = FrameDecoder::new(wire::MAX_CLIENT_FRAME);
    decoder.push(bytes);
    loop {
        match decoder.next_frame::<ClientFrame>() {
            Err(DecodeError::FrameTooLarge { .. }) => {
                allowed.push(close_code::FRAME_TOO_LARGE);
                return allowed;
            }
            Err(_) => {
                allowed.push(close_code::PROTOCOL_ERROR);
                return allowed;
            }
            Ok(None) if decoder.buffered() > 0 => {
                // The stream ends inside a frame.
                allowed.push(close_code::PROTOCOL_ERROR);
                return allowed;
            }
            Ok(None) if joined => {
                // Ended the stream without Bye: the server flushes and closes normally.
                allowed.push(close_code::NORMAL);
                return allowed;
            }
            Ok(None) => {
                // Nothing to answer: the server drops the connection (implicit code 0).
                allowed.push(close_code::NORMAL);
                return allowed;
            }
            Ok(Some(ClientFrame::Bye)) if joined => {
                allowed.push(close_code::NORMAL);
                return allowed;
            }
            // After Hello a Redeem is answered with a Problem and a Request with a Reply: the
            // connection goes on.
            Ok(Some(_)) if joined => {}
            Ok(Some(ClientFrame::Redeem { .. })) if !redeemed => redeemed = true,
            Ok(Some(ClientFrame::Hello { version, user, .. })) => {
                // A name the server takes may still be taken or reserved: Refused is always possible.
                allowed.push(close_code::REFUSED);
                if version != wire::PROTOCOL_VERSION || server::validate_name(&user).is_err() {
                    return allowed;
                }
                joined = true;
            }
            Ok(Some(_)) => {
                allowed.push(close_code::PROTOCOL_ERROR);
                return allowed;
            }
        }
    }
}

fn random_name(rng: &mut StdRng) -> String {
    let len = rng.random_range(1..=10);
    let mut name = String::from("r");
    for _ in 0..len {
        name.push(char::from(b'a' + rng.random_range(0..26u8)));
    }
    name
}

/// A code as typed: mostly the right shape, sometimes anything, sometimes huge.
fn random_code(rng: &mut StdRng) -> String {
    match rng.random_range(0..4) {
        0 => "-".repeat(rng.random_range(0..40_000)),
        1 => (0..rng.random_range(0..30))
            .map(|_| char::from(rng.random_range(b' '..=b'~')))
            .collect(),
        _ => (0..20)
            .map(|_| char::from(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"[rng.random_range(0..32)]))
            .collect(),
    }
}

/// Any request, with odd fields: names that are no names, reasons up to 40 KB.
fn random_request(rng: &mut StdRng) -> wire::Request {
    use wire::Request;
    let user = if rng.random_bool(0.5) {
        random_name(rng)
    } else {
        "\u{202e}".repeat(rng.random_range(0..100))
    };
    let reason = "x".repeat(if rng.random_bool(0.2) {
        rng.random_range(0..40_000)
    } else {
        rng.random_range(0..20)
    });
    match rng.random_range(0..9) {
        0 => Request::WhoAmI,
        1 => Request::LinkCode,
        2 => Request::Devices,
        3 => Request::Revoke {
            fingerprint: random_code(rng),
        },
        4 => Request::Kick { user, reason },
        5 => Request::Ban { user, reason },
        6 => Request::Unban { user },
        7 => Request::Release { user },
        _ => Request::Invite,
    }
}

fn random_frame(rng: &mut StdRng) -> ClientFrame {
    match rng.random_range(0..7) {
        5 => ClientFrame::Redeem {
            code: random_code(rng),
        },
        6 => ClientFrame::Request {
            id: rng.random(),
            request: random_request(rng),
        },
        0 => ClientFrame::Hello {
            version: if rng.random_bool(0.8) {
                wire::PROTOCOL_VERSION
            } else {
                rng.random()
            },
            user: random_name(rng),
            resume: if rng.random_bool(0.3) {
                support::resume_after(rng.random())
            } else {
                Vec::new()
            },
        },
        1 | 2 => {
            let len = rng.random_range(0..40);
            ClientFrame::Say {
                to: wire::Conversation::Room("#general".into()),
                nonce: rng.random(),
                text: (0..len)
                    .map(|_| char::from(rng.random_range(b' '..=b'~')))
                    .collect(),
            }
        }
        3 => ClientFrame::ListUsers {
            room: "#general".into(),
        },
        _ => ClientFrame::Bye,
    }
}

/// Valid frames with a few random edits: bit flips, overwritten, inserted and deleted bytes, a
/// truncation, a duplicated slice.
fn mutated_frames(rng: &mut StdRng, start_with_hello: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    if start_with_hello {
        bytes.extend(encode(&hello(&random_name(rng))));
    }
    for _ in 0..rng.random_range(1..=3) {
        bytes.extend(encode(&random_frame(rng)));
    }
    for _ in 0..rng.random_range(1..=4) {
        if bytes.is_empty() {
            bytes.push(rng.random());
        }
        let at = rng.random_range(0..bytes.len());
        match rng.random_range(0..6) {
            0 => bytes[at] ^= 1 << rng.random_range(0..8),
            1 => bytes[at] = rng.random(),
            2 => bytes.insert(at, rng.random()),
            3 => {
                bytes.remove(at);
            }
            4 => bytes.truncate(at.max(1)),
            _ => {
                let end = (at + rng.random_range(1..=8)).min(bytes.len());
                let slice = bytes[at..end].to_vec();
                let to = rng.random_range(0..=bytes.len());
                bytes.splice(to..to, slice);
            }
        }
    }
    bytes
}

fn random_input(rng: &mut StdRng, joined: bool) -> Vec<u8> {
    match rng.random_range(0..3) {
        // Random bytes, prefix included: mostly an absurd length.
        0 => {
            let mut b = vec![0u8; rng.random_range(1..=64)];
            rng.fill(&mut b[..]);
            b
        }
        // A correct prefix in front of a random body.
        1 => {
            let mut body = vec![0u8; rng.random_range(1..=64)];
            rng.fill(&mut body[..]);
            let mut b = u32::try_from(body.len())
                .expect("small")
                .to_be_bytes()
                .to_vec();
            b.extend(body);
            b
        }
        _ => {
            let hello_first = !joined && rng.random_bool(0.7);
            mutated_frames(rng, hello_first)
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The attacks.

/// A few hundred connections send random bytes and mutated valid frames, some before `Hello` and
/// some after being welcomed, then end their stream. Each is closed with exactly the code that
/// the server's own decoder predicts for its bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_mutated_frames_get_their_typed_close() {
    const SEED: u64 = 0x5eed_c4a7;
    const CONNECTIONS: usize = 300;
    const AT_ONCE: usize = 12;
    let server = TestServer::start().await;
    let chatters = Chatters::start(&server).await;
    let rss_before = rss_bytes();
    let connector = Arc::new(server.connector());
    let server = Arc::new(server);
    let gate = Arc::new(Semaphore::new(AT_ONCE));
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut tasks = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let joined = rng.random_bool(0.5);
        let bytes = random_input(&mut rng, joined);
        let allowed = expected_codes(&bytes, joined);
        let (server, connector, gate) = (server.clone(), connector.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.expect("gate");
            let result = if joined {
                let (conn, _) = connector
                    .connect(
                        &server.server_addr(),
                        server.addr,
                        &format!("hostile{i}"),
                        &[],
                    )
                    .await
                    .expect("hostile client joins");
                // Keep reading side open (`_r`) so that only our bytes decide the outcome.
                let (mut w, _r, quic) = conn.split();
                let _ = timeout(WAIT, w.send_raw(&bytes)).await;
                w.finish();
                end_of(&quic).await
            } else {
                let quic = server.raw_connect(&connector).await;
                let (mut send, _recv) = quic.open_bi().await.expect("stream");
                let _ = timeout(WAIT, send.write_all(&bytes)).await;
                let _ = send.finish();
                end_of(&quic).await
            };
            match result {
                Ok(code) if allowed.contains(&code) => Ok(()),
                other => Err(format!(
                    "input {i} (joined: {joined}, {bytes:02x?}): expected one of {allowed:?}, got {other:?}"
                )),
            }
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        if let Err(e) = timeout(WAIT * 3, t).await.expect("in time").expect("task") {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {CONNECTIONS} inputs got the wrong answer, e.g. {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_rss_bounded(rss_before, "random and mutated frames");
    // A newcomer is still served.
    let (mut late, _) = server.join("latecomer").await;
    say(&mut late, 1, "after the storm").await;
    assert_eq!(chats(&mut late, 1).await[0].text, "after the storm");
    chatters.finish().await;
}

/// A length prefix of 4 GiB, before and after `Hello`: closed with FRAME_TOO_LARGE at once, and
/// nothing near 4 GiB is ever allocated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4_gib_length_prefix_is_too_large_before_and_after_hello() {
    let server = TestServer::start().await;
    let chatters = Chatters::start(&server).await;
    let rss_before = rss_bytes();
    let connector = server.connector();
    for round in 0..20 {
        // Before Hello, then with a few body bytes after the prefix.
        let quic = server.raw_connect(&connector).await;
        let (mut send, _recv) = quic.open_bi().await.expect("stream");
        let mut bytes = u32::MAX.to_be_bytes().to_vec();
        bytes.extend(vec![0xab; round * 10]);
        let _ = send.write_all(&bytes).await;
        assert_eq!(end_of(&quic).await, Ok(close_code::FRAME_TOO_LARGE));

        // After Hello, and just above the limit.
        let (conn, _) = server.join(&format!("big{round}")).await;
        let (mut w, _r, quic) = conn.split();
        let len = if round % 2 == 0 {
            u32::MAX
        } else {
            u32::try_from(wire::MAX_CLIENT_FRAME + 1).expect("small")
        };
        w.send_raw(&len.to_be_bytes()).await.expect("sent");
        assert_eq!(end_of(&quic).await, Ok(close_code::FRAME_TOO_LARGE));
    }
    assert_rss_bounded(rss_before, "4 GiB prefixes");
    chatters.finish().await;
}

/// A frame cut in half: before `Hello` the hello timeout closes it; after `Hello` the server keeps
/// the half frame (the rest may still come: it does, for one client) and serves everybody else
/// meanwhile; a client that vanishes mid-frame is closed by the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_cut_in_half_and_abandoned_is_closed_by_the_timeouts() {
    let server = TestServer::start_with(|c| {
        // Above the clients' 3 s keep-alive, so that only a vanished client times out.
        c.limits.idle_timeout = Duration::from_secs(4);
        c.limits.hello_timeout = Duration::from_secs(2);
    })
    .await;
    let chatters = Chatters::start(&server).await;
    let (mut watcher, _) = server.join("watcher").await;
    let connector = server.connector();

    // 1. Half a Hello, then nothing (the connection itself stays alive with keep-alives).
    let half_hello = server.raw_connect(&connector).await;
    let (mut send, _recv) = half_hello.open_bi().await.expect("stream");
    let hello_bytes = encode(&hello("halfhello"));
    send.write_all(&hello_bytes[..hello_bytes.len() / 2])
        .await
        .expect("sent");

    // 2. A member that vanishes (through a relay we cut) in the middle of a Say.
    let relay = testkit::Relay::start(server.addr)
        .await
        .expect("the relay starts");
    let (vanisher, _) = connector
        .connect(&server.server_addr(), relay.addr, "vanisher", &[])
        .await
        .expect("joins through the relay");
    let (mut vw, _vr, vq) = vanisher.split();
    let say_bytes = encode(&ClientFrame::Say {
        to: wire::Conversation::Room("#general".into()),
        nonce: 7,
        text: "never finished".into(),
    });
    let streams_sent = vq.stats().frame_tx.stream;
    vw.send_raw(&say_bytes[..say_bytes.len() / 2])
        .await
        .expect("sent");

    // 3. A member that pauses in the middle of a Say and finishes it later.
    let (slow, _) = server.join("pauser").await;
    let (mut sw, mut sr, _sq) = slow.split();
    let pause_bytes = encode(&ClientFrame::Say {
        to: wire::Conversation::Room("#general".into()),
        nonce: 9,
        text: "finished after a pause".into(),
    });
    let cut = pause_bytes.len() / 2;
    sw.send_raw(&pause_bytes[..cut]).await.expect("sent");
    // Cut the relay once the server has the vanisher's half frame: the first acknowledgement
    // received after the packet carrying it left (the connection is otherwise quiet).
    let deadline = Instant::now() + WAIT;
    let mut acks_after_send = None;
    loop {
        let stats = vq.stats();
        match acks_after_send {
            None if stats.frame_tx.stream > streams_sent => {
                acks_after_send = Some(stats.frame_rx.acks);
            }
            Some(acks) if stats.frame_rx.acks > acks => break,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the half frame is acknowledged in time"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    relay.cut();

    // Meanwhile a newcomer is served.
    let (mut newcomer, _) = server.join("newcomer").await;
    say(&mut newcomer, 1, "hello despite the half frames").await;
    assert_eq!(
        chats(&mut newcomer, 1).await[0].text,
        "hello despite the half frames"
    );

    sw.send_raw(&pause_bytes[cut..]).await.expect("sent");
    let mut got = None;
    let deadline = Instant::now() + WAIT;
    while got.is_none() && Instant::now() < deadline {
        match timeout(WAIT, sr.next()).await {
            Ok(Ok(Some(ServerFrame::Chat { message: m, .. }))) if m.from == "pauser" => {
                got = Some(m.text)
            }
            Ok(Ok(Some(_))) => {}
            other => panic!("pauser's stream: {other:?}"),
        }
    }
    assert_eq!(got.as_deref(), Some("finished after a pause"));

    assert_eq!(end_of(&half_hello).await, Ok(close_code::HELLO_TIMEOUT));
    assert_eq!(
        why_left(&mut watcher, "vanisher").await,
        LeaveReason::TimedOut
    );
    chatters.finish().await;
}

/// `Hello` again and again on one welcomed connection: a `Problem(AlreadyJoined)` each time, and
/// the connection stays a member under its first name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_hellos_on_one_connection_each_get_already_joined() {
    const HELLOS: usize = 300;
    let server = TestServer::start().await;
    let chatters = Chatters::start(&server).await;
    let (conn, _) = server.join("repeater").await;
    let (mut w, mut r, _q) = conn.split();
    let sender = tokio::spawn(async move {
        for i in 0..HELLOS {
            let name = if i % 2 == 0 {
                "repeater".to_owned()
            } else {
                format!("other{i}")
            };
            w.send(&hello(&name)).await.expect("sent");
        }
        w.send(&ClientFrame::ListUsers {
            room: "#general".into(),
        })
        .await
        .expect("sent");
        w
    });
    let mut problems = 0;
    let deadline = Instant::now() + WAIT * 2;
    let users = loop {
        assert!(Instant::now() < deadline, "only {problems} answers in time");
        match timeout(WAIT, r.next()).await.expect("in time") {
            Ok(Some(ServerFrame::Problem {
                code: ProblemCode::AlreadyJoined,
                nonce: None,
                ..
            })) => problems += 1,
            Ok(Some(ServerFrame::Users { list, .. })) => break list,
            Ok(Some(
                ServerFrame::Chat { .. } | ServerFrame::Joined { .. } | ServerFrame::Left { .. },
            )) => {}
            other => panic!("unexpected {other:?} after {problems} answers"),
        }
    };
    assert_eq!(problems, HELLOS);
    assert!(users.contains(&"repeater".to_owned()), "{users:?}");
    assert!(!users.iter().any(|u| u.starts_with("other")), "{users:?}");
    let _w = timeout(WAIT, sender).await.expect("in time").expect("task");
    chatters.finish().await;
}

/// Thousands of `Hello`s on fresh connections, with another key than the chatters', with names
/// that are theirs or invalid: each is `Refused` with the right reason, and nobody else notices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_bad_hellos_are_each_refused() {
    const ATTEMPTS: usize = 2000;
    const AT_ONCE: usize = 16;
    let server = TestServer::start().await;
    let chatters = Chatters::start(&server).await;
    let rss_before = rss_bytes();
    let names: Vec<(String, bool)> = vec![
        // (name, taken rather than invalid)
        ("chatter0".into(), true),
        ("Chatter1".into(), true),
        ("CHATTER2".into(), true),
        (String::new(), false),
        ("   ".into(), false),
        (" leading".into(), false),
        ("trailing ".into(), false),
        ("bell\u{7}".into(), false),
        ("new\nline".into(), false),
        ("x".repeat(wire::MAX_NAME_BYTES + 1), false),
    ];
    let started = Instant::now();
    let stranger = client::Identity::ephemeral().expect("identity");
    let connector = Arc::new(server.connector_as(&stranger));
    let server = Arc::new(server);
    let gate = Arc::new(Semaphore::new(AT_ONCE));
    let mut tasks = Vec::with_capacity(ATTEMPTS);
    for i in 0..ATTEMPTS {
        let (name, taken) = names[i % names.len()].clone();
        let (server, connector, gate) = (server.clone(), connector.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.expect("gate");
            let got = connector
                .connect(&server.server_addr(), server.addr, &name, &[])
                .await;
            match (got, taken) {
                (Err(client::ClientError::Refused(RefuseReason::NameOwned)), true)
                | (Err(client::ClientError::Refused(RefuseReason::InvalidName(_))), false) => {
                    Ok(())
                }
                (other, _) => Err(format!("{name:?}: {other:?}")),
            }
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        if let Err(e) = timeout(WAIT * 3, t).await.expect("in time").expect("task") {
            failures.push(e);
        }
    }
    eprintln!("{ATTEMPTS} refused Hellos in {:?}", started.elapsed());
    assert!(
        failures.is_empty(),
        "{} of {ATTEMPTS} attempts not refused as expected, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_rss_bounded(rss_before, "bad Hellos");
    chatters.finish().await;
}

/// A second bidirectional stream and a unidirectional one, before and after `Hello`: the transport
/// never grants them, and the first stream keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_streams_are_refused_by_the_transport() {
    let server = TestServer::start().await;
    let chatters = Chatters::start(&server).await;
    let short = Duration::from_millis(500);

    let (mut member, _) = server.join("streamer").await;
    for _ in 0..3 {
        assert!(
            timeout(short, member.quic().open_bi()).await.is_err(),
            "a second bidirectional stream was granted"
        );
        assert!(
            timeout(short, member.quic().open_uni()).await.is_err(),
            "a unidirectional stream was granted"
        );
    }
    say(&mut member, 1, "my one stream still works").await;
    // Bystanders keep chatting, so wait for this member's own receipt among their lines.
    until(
        &mut member,
        |f| matches!(f, ServerFrame::Chat { message: m, .. } if m.from == "streamer" && m.nonce == 1),
    )
    .await;

    // Before Hello: a uni stream first is never granted; the bidi stream still works afterwards.
    let connector = server.connector();
    let quic = server.raw_connect(&connector).await;
    assert!(timeout(short, quic.open_uni()).await.is_err());
    let (mut send, mut recv) = quic.open_bi().await.expect("the one stream");
    send.write_all(&encode(&hello("late-streamer")))
        .await
        .expect("sent");
    assert!(timeout(short, quic.open_bi()).await.is_err());
    let mut decoder = FrameDecoder::new(wire::MAX_SERVER_FRAME);
    let deadline = Instant::now() + WAIT;
    let welcome = loop {
        if let Some(frame) = decoder.next_frame::<ServerFrame>().expect("decodes") {
            break frame;
        }
        assert!(Instant::now() < deadline, "no Welcome in time");
        let chunk = timeout(WAIT, recv.read_chunk(64 * 1024, true))
            .await
            .expect("in time")
            .expect("readable")
            .expect("open");
        decoder.push(&chunk.bytes);
    };
    assert!(
        matches!(&welcome, ServerFrame::Welcome { you, .. } if you == "late-streamer"),
        "{welcome:?}"
    );
    chatters.finish().await;
}

/// Invalid UTF-8 in a name (and in a line): closed with PROTOCOL_ERROR, the reason says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_closes_with_protocol_error() {
    let server = TestServer::start().await;
    let chatters = Chatters::start(&server).await;
    let (mut watcher, _) = server.join("watcher").await;
    let connector = server.connector();
    let bad_names: [&[u8]; 5] = [
        b"\xff\xfe\xfd\xfc",
        b"ab\xc3\x28",
        b"\xc0\x80bc",
        b"\xed\xa0\x80x",
        b"ok\xf4\x90\x80\x80",
    ];
    for bad in bad_names {
        // Encode a Hello with a placeholder name of the same length, then put the bytes in.
        let placeholder = "A".repeat(bad.len());
        let mut bytes = encode(&hello(&placeholder));
        let at = bytes
            .windows(bad.len())
            .position(|w| w == placeholder.as_bytes())
            .expect("placeholder");
        bytes[at..at + bad.len()].copy_from_slice(bad);

        let quic = server.raw_connect(&connector).await;
        let (mut send, _recv) = quic.open_bi().await.expect("stream");
        send.write_all(&bytes).await.expect("sent");
        match timeout(WAIT, quic.closed()).await.expect("closed in time") {
            quinn::ConnectionError::ApplicationClosed(c) => {
                assert_eq!(
                    c.error_code.into_inner(),
                    u64::from(close_code::PROTOCOL_ERROR),
                    "{bad:02x?}"
                );
                assert!(String::from_utf8_lossy(&c.reason).contains("UTF-8"), "{c}");
            }
            other => panic!("{bad:02x?}: closed otherwise: {other}"),
        }
    }

    // The same in a line from a member.
    let (member, _) = server.join("utf8").await;
    until(
        &mut watcher,
        |f| matches!(f, ServerFrame::Joined { user } if user == "utf8"),
    )
    .await;
    let (mut w, _r, q) = member.split();
    w.send_raw(&say_with_invalid_utf8(1)).await.expect("sent");
    assert_eq!(end_of(&q).await, Ok(close_code::PROTOCOL_ERROR));
    assert_eq!(
        why_left(&mut watcher, "utf8").await,
        LeaveReason::Misbehaved
    );
    chatters.finish().await;
}

/// Lines that arrive in one write are said together; a repeated nonce among them is said once, and
/// a malformed frame behind them closes the connection only after the lines before it were said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_written_together_are_all_said_before_a_broken_frame_closes() {
    let server = TestServer::start().await;
    let (mut watcher, _) = server.join("watcher").await;
    let (member, _) = server.join("batcher").await;
    until(
        &mut watcher,
        |f| matches!(f, ServerFrame::Joined { user } if user == "batcher"),
    )
    .await;
    let mut bytes = Vec::new();
    for nonce in [1, 2, 3, 2, 4] {
        bytes.extend(encode(&ClientFrame::Say {
            to: wire::Conversation::Room("#general".into()),
            nonce,
            text: format!("line {nonce}"),
        }));
    }
    bytes.extend(say_with_invalid_utf8(5));
    let (mut w, _r, q) = member.split();
    w.send_raw(&bytes).await.expect("sent");
    assert_eq!(end_of(&q).await, Ok(close_code::PROTOCOL_ERROR));
    let said: Vec<(String, u64, String)> = chats(&mut watcher, 4)
        .await
        .into_iter()
        .map(|m| (m.from, m.nonce, m.text))
        .collect();
    assert_eq!(
        said,
        [1, 2, 3, 4]
            .map(|n| ("batcher".to_owned(), n, format!("line {n}")))
            .to_vec()
    );
    assert_eq!(
        why_left(&mut watcher, "batcher").await,
        LeaveReason::Misbehaved
    );
}

/// One client says thousands of lines as fast as it can, ignoring the limits its `Welcome` told it
/// (the defaults). What the README
/// promises, exactly: the burst passes (its receipts), every line over the rate gets
/// `Problem(TooFast)` naming its nonce, and after `--too-fast-strikes` refusals in a row the flooder
/// is disconnected with close code 7 (TOO_FAST) and the others are told `Left(Misbehaved)`.
/// Meanwhile the other clients keep receiving everything in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_answered_and_the_others_keep_receiving() {
    const FLOOD: u64 = 3000;
    let server = TestServer::start().await;
    let chatters = Chatters::start(&server).await;
    let (mut watcher, _) = server.join("watcher").await;
    let rss_before = rss_bytes();
    let (flooder, welcome) = server.join("flooder").await;
    // The flooder was told the limits in its Welcome, and ignores them.
    let limits = server::Limits::default();
    assert_eq!(welcome.limits, limits.advertised());
    let burst = welcome.limits.burst as usize;
    let strikes = welcome.limits.strikes_allowed as usize;
    let (mut w, mut r, quic) = flooder.split();
    let writer = tokio::spawn(async move {
        for nonce in 0..FLOOD {
            let frame = ClientFrame::Say {
                to: wire::Conversation::Room("#general".into()),
                nonce,
                text: format!("flood line {nonce}"),
            };
            if timeout(WAIT, w.send(&frame))
                .await
                .map_or(true, |r| r.is_err())
            {
                return nonce;
            }
        }
        FLOOD
    });

    // Every answer in the order it came: (nonce, true for a receipt, false for TooFast).
    let mut answers: Vec<(u64, bool)> = Vec::new();
    let mut ended = None;
    let deadline = Instant::now() + WAIT * 2;
    while answers.len() < FLOOD as usize && ended.is_none() {
        assert!(
            Instant::now() < deadline,
            "the flooder got {} answers in time",
            answers.len()
        );
        match timeout(WAIT, r.next()).await.expect("an answer in time") {
            Ok(Some(ServerFrame::Chat { message: m, .. })) if m.from == "flooder" => {
                answers.push((m.nonce, true))
            }
            Ok(Some(ServerFrame::Problem {
                code: ProblemCode::TooFast,
                nonce: Some(n),
                ..
            })) => answers.push((n, false)),
            Ok(Some(
                frame @ (ServerFrame::Problem { .. }
                | ServerFrame::Refused { .. }
                | ServerFrame::ShuttingDown { .. }),
            )) => panic!("flooder was told {frame:?}"),
            Ok(Some(_)) => {}
            Ok(None) => ended = Some("stream ended".to_owned()),
            Err(e) => ended = Some(e.to_string()),
        }
    }
    let sent = timeout(WAIT, writer).await.expect("in time").expect("task");
    let receipts = answers.iter().filter(|(_, ok)| *ok).count();
    eprintln!(
        "flood: {sent} sent, {receipts} receipts, {} TooFast, ended: {ended:?}",
        answers.len() - receipts
    );
    assert!(ended.is_some(), "the flooder was never disconnected");
    // Each line answered once, in the order said, from the first on: nothing skipped.
    let nonces: Vec<u64> = answers.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        nonces,
        (0..answers.len() as u64).collect::<Vec<_>>(),
        "answers in the order said, each once"
    );
    assert!(
        answers.len() < FLOOD as usize,
        "every line answered, yet closed"
    );
    // The bucket starts full: the first `burst` lines pass.
    assert!(
        answers.iter().take(burst).all(|(_, ok)| *ok),
        "the burst of {burst} passes: {:?}",
        &answers[..answers.len().min(burst)]
    );
    // The end: `strikes` refusals in a row, each answered, after a line that passed (a longer run
    // would have ended the connection earlier); the next refusal closes instead of answering.
    assert!(answers.len() >= burst + strikes, "{answers:?}");
    let (before, last) = answers.split_at(answers.len() - strikes);
    assert!(
        last.iter().all(|(_, ok)| !*ok),
        "the last {strikes} answers are TooFast: {last:?}"
    );
    assert_eq!(
        before.last().map(|(_, ok)| *ok),
        Some(true),
        "a run of {} refusals would have closed earlier",
        strikes + 1
    );
    assert_eq!(end_of(&quic).await, Ok(close_code::TOO_FAST));
    assert_eq!(
        why_left(&mut watcher, "flooder").await,
        LeaveReason::Misbehaved
    );
    assert_rss_bounded(rss_before, "flood");
    chatters.finish().await;
}

/// Datagrams that never make a connection: random garbage, truncated and corrupted QUIC Initials,
/// unknown versions, and replays of a real Initial from many ports (each a handshake the server
/// starts and that never finishes). The server keeps serving; half-open handshakes are bounded by
/// the handshake timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_that_never_finish_do_not_stop_the_server() {
    const SOCKETS: usize = 200;
    const SEED: u64 = 0xdead_beef;
    let server =
        TestServer::start_with(|c| c.limits.handshake_timeout = Duration::from_secs(2)).await;
    let chatters = Chatters::start(&server).await;
    let rss_before = rss_bytes();

    // Real Initials from a real client, caught on a socket that never answers: one to truncate
    // and corrupt, and one for each replaying socket. Each replay needs its own: the server routes
    // an Initial by its destination connection id, so copies of one Initial (or a corrupted copy
    // sent first) would all land in a single handshake.
    let trap = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let connector = server.connector();
    let mut buf = vec![0u8; 65536];
    let mut initials: Vec<Vec<u8>> = Vec::new();
    let mut pending = Vec::new();
    while initials.len() < 1 + SOCKETS.div_ceil(4) {
        let connecting = connector
            .endpoint()
            .connect(trap.local_addr().expect("addr"), "127.0.0.1")
            .expect("connect");
        pending.push(tokio::spawn(async move {
            timeout(Duration::from_secs(1), connecting).await
        }));
        // The new attempt's first Initial (a retransmission of an earlier one is skipped).
        loop {
            let (n, _) = timeout(WAIT, trap.recv_from(&mut buf))
                .await
                .expect("an Initial in time")
                .expect("recv");
            let dcid = |d: &[u8]| d.get(6..6 + usize::from(d[5])).map(<[u8]>::to_vec);
            if !initials.iter().any(|i| dcid(i) == dcid(&buf[..n])) {
                initials.push(buf[..n].to_vec());
                break;
            }
        }
    }
    for p in pending {
        p.abort();
    }
    for initial in &initials {
        assert!(initial.len() >= 1200, "an Initial is padded to 1200 bytes");
        assert_eq!(initial[0] & 0xf0, 0xc0, "long header, Initial");
    }
    let mut replays = initials.split_off(1).into_iter();
    let initial = initials.remove(0);

    let mut rng = StdRng::seed_from_u64(SEED);
    let mut sockets = Vec::with_capacity(SOCKETS);
    for i in 0..SOCKETS {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let mut datagrams: Vec<Vec<u8>> = Vec::new();
        for len in [1usize, 7, 40, 1200, 1500] {
            let mut d = vec![0u8; len];
            rng.fill(&mut d[..]);
            datagrams.push(d);
        }
        // Truncated Initials.
        datagrams.push(initial[..initial.len() / 2].to_vec());
        datagrams.push(initial[..rng.random_range(1..60)].to_vec());
        // A corrupted one (fails decryption).
        let mut corrupt = initial.clone();
        let at = rng.random_range(30..corrupt.len());
        corrupt[at] ^= 0x55;
        datagrams.push(corrupt);
        // An unknown version (answered with version negotiation).
        let mut unknown = initial.clone();
        unknown[1..5].copy_from_slice(&[0x1a, 0x2a, 0x3a, 0x4a]);
        datagrams.push(unknown);
        // Every fourth socket replays the real Initial: a handshake that starts and never ends.
        if i % 4 == 0 {
            datagrams.push(replays.next().expect("an Initial for each replay"));
        }
        for d in &datagrams {
            let _ = socket.send_to(d, server.addr).await;
        }
        sockets.push(socket);
        if i % 20 == 0 {
            tokio::task::yield_now().await;
        }
    }
    // The replayed handshakes got an answer (the server's Initial/Handshake flight) and we never
    // answer back. Every socket also gets a Version Negotiation (for its unknown version), so only
    // a QUIC v1 Initial from the server counts.
    let mut answered = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    for s in sockets.iter().step_by(4) {
        if gets_a_server_initial(s, deadline).await {
            answered += 1;
        }
    }
    eprintln!("{answered} of {} replayed Initials answered", SOCKETS / 4);
    // Each replay is a handshake of its own that the server starts (below the Retry threshold)
    // and answers: the attack really reached the server. (Measured: 43 to 47 of 50 answered with
    // a v1 Initial within the 10 s; why a few are not was not traced. Before each replay had its
    // own Initial, 0 of 50 were: every copy went to the one handshake its connection id named.)
    let replays = SOCKETS.div_ceil(4);
    assert!(
        answered * 2 >= replays,
        "only {answered} of {replays} replayed Initials started a handshake"
    );

    // The server still takes newcomers while the half-open handshakes wait out their timeout.
    let (mut newcomer, _) = server.join("newcomer").await;
    say(&mut newcomer, 1, "still open for business").await;
    assert_eq!(
        chats(&mut newcomer, 1).await[0].text,
        "still open for business"
    );

    // Past the handshake timeout the half-open ones are gone; the server still serves.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (mut later, _) = server.join("later").await;
    say(&mut later, 1, "and later").await;
    assert_eq!(chats(&mut later, 1).await[0].text, "and later");
    drop(sockets);
    assert_rss_bounded(rss_before, "unfinished handshakes");
    chatters.finish().await;
    assert_eq!(closed_with_nothing(&newcomer), None);
}

/// Whether `socket` receives, by `deadline`, a QUIC v1 Initial: a long header of type Initial
/// (first byte `0b1100_xxxx`) with version 1. Other datagrams (Version Negotiation, version 0)
/// are skipped.
async fn gets_a_server_initial(socket: &UdpSocket, deadline: tokio::time::Instant) -> bool {
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await {
        if n >= 5 && buf[0] & 0xf0 == 0xc0 && buf[1..5] == [0, 0, 0, 1] {
            return true;
        }
    }
    false
}

/// The newcomer's connection is still open (nothing closed it during the attack).
fn closed_with_nothing(conn: &Connection) -> Option<quinn::ConnectionError> {
    conn.quic().close_reason()
}

/// Version 4's frames where they do not belong, with absurd fields: a Request before Hello, two
/// Redeems, a 40 KB code, every Request with 40 KB reasons and names that are no names, a burst of
/// link codes. Each gets its typed answer; the chatters notice nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_codes_out_of_place_get_their_typed_answer() {
    let server = TestServer::start().await;
    let chatters = Chatters::start(&server).await;
    let connector = server.connector();

    // Before Hello: a Request is a protocol error, and so is a second Redeem.
    let request = ClientFrame::Request {
        id: 1,
        request: wire::Request::WhoAmI,
    };
    let huge_code = ClientFrame::Redeem {
        code: "-".repeat(40_000),
    };
    for (what, bytes) in [
        ("a request before hello", encode(&request)),
        (
            "two redeems",
            [encode(&huge_code), encode(&huge_code)].concat(),
        ),
    ] {
        let quic = server.raw_connect(&connector).await;
        let (mut send, _recv) = quic.open_bi().await.expect("stream");
        send.write_all(&bytes).await.expect("written");
        assert_eq!(
            end_of(&quic).await,
            Ok(close_code::PROTOCOL_ERROR),
            "{what}"
        );
    }
    // A 40 KB code before the Hello of a name this key may take is never even looked at.
    let quic = server.raw_connect(&connector).await;
    let (mut send, recv) = quic.open_bi().await.expect("stream");
    send.write_all(&[encode(&huge_code), encode(&hello("hugecode"))].concat())
        .await
        .expect("written");
    let mut reader = FrameReaderOf::new(recv);
    assert!(matches!(
        reader.next().await,
        ServerFrame::Welcome { you, .. } if you == "hugecode"
    ));

    // After Hello: a Redeem is a Problem, each request gets the reply with its id.
    let (mut member, _) = server.join("asker").await;
    member.send(&huge_code).await.expect("sent");
    assert!(matches!(
        until(&mut member, |f| matches!(f, ServerFrame::Problem { .. })).await,
        ServerFrame::Problem {
            code: ProblemCode::AlreadyJoined,
            ..
        }
    ));
    let reason = "r".repeat(40_000);
    let odd = "\u{202e}\u{0}".repeat(500);
    let requests = [
        wire::Request::WhoAmI,
        wire::Request::LinkCode,
        wire::Request::Devices,
        wire::Request::Revoke {
            fingerprint: odd.clone(),
        },
        wire::Request::Kick {
            user: odd.clone(),
            reason: reason.clone(),
        },
        wire::Request::Ban {
            user: "chatter0".into(),
            reason: reason.clone(),
        },
        wire::Request::Unban { user: odd.clone() },
        wire::Request::Release {
            user: "chatter1".into(),
        },
        wire::Request::Invite,
    ];
    for (id, request) in (100u32..).zip(requests) {
        let operators_only = matches!(
            request,
            wire::Request::Kick { .. }
                | wire::Request::Ban { .. }
                | wire::Request::Unban { .. }
                | wire::Request::Release { .. }
                | wire::Request::Invite
        );
        member
            .send(&ClientFrame::Request { id, request })
            .await
            .expect("sent");
        let reply = match until(
            &mut member,
            |f| matches!(f, ServerFrame::Reply { id: got, .. } if *got == id),
        )
        .await
        {
            ServerFrame::Reply { reply, .. } => reply,
            other => unreachable!("{other:?}"),
        };
        if operators_only {
            assert!(
                matches!(
                    reply,
                    wire::Reply::Failed {
                        code: ProblemCode::NotAllowed,
                        ..
                    }
                ),
                "{id}: {reply:?}"
            );
        } else {
            assert!(
                !matches!(
                    reply,
                    wire::Reply::Failed {
                        code: ProblemCode::ServerError | ProblemCode::NotAllowed,
                        ..
                    }
                ),
                "{id}: {reply:?}"
            );
        }
    }

    // A burst of link codes spends the same rate as lines: it is cut off, not stored by the
    // thousand.
    let (mut writer, mut reader, quic) = member.split();
    let burst: Vec<u8> = (0..400u32)
        .flat_map(|id| {
            encode(&ClientFrame::Request {
                id,
                request: wire::Request::LinkCode,
            })
        })
        .collect();
    timeout(WAIT, writer.send_raw(&burst))
        .await
        .expect("sent in time")
        .expect("sent");
    let mut codes = 0;
    let mut too_fast = 0;
    // The chatters' lines keep coming: the whole wait is bounded, not each frame.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let next = tokio::time::timeout_at(deadline, reader.next()).await;
        let Ok(next) = next else {
            panic!("still open after {codes} codes and {too_fast} TooFast");
        };
        match next {
            Ok(Some(ServerFrame::Reply {
                reply: wire::Reply::Code { .. },
                ..
            })) => codes += 1,
            Ok(Some(ServerFrame::Problem {
                code: ProblemCode::TooFast,
                ..
            })) => too_fast += 1,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    assert_eq!(end_of(&quic).await, Ok(close_code::TOO_FAST));
    assert!(
        codes < 100 && too_fast > 0,
        "{codes} codes made, {too_fast} TooFast"
    );
    chatters.finish().await;
}

/// Reads whole frames from a bare stream.
struct FrameReaderOf {
    recv: quinn::RecvStream,
    decoder: FrameDecoder,
}

impl FrameReaderOf {
    fn new(recv: quinn::RecvStream) -> Self {
        Self {
            recv,
            decoder: FrameDecoder::new(wire::MAX_SERVER_FRAME),
        }
    }

    async fn next(&mut self) -> ServerFrame {
        loop {
            if let Some(frame) = self.decoder.next_frame().expect("decodes") {
                return frame;
            }
            let chunk = timeout(WAIT, self.recv.read_chunk(4096, true))
                .await
                .expect("in time")
                .expect("readable")
                .expect("stream open");
            self.decoder.push(&chunk.bytes);
        }
    }
}
