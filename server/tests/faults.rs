//! Bad input, bad peers and leaving: each gets its typed answer and only the offender is affected.

mod support;

use std::time::Duration;

use support::{TestServer, WAIT, app_close, chats, closed_with, next, say, until};
use wire::{ClientFrame, LeaveReason, ProblemCode, RefuseReason, ServerFrame, close_code};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bye_tells_the_others_quit() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.join("alice").await;
    let (mut bob, _) = server.join("bob").await;
    bob.send(&ClientFrame::Bye).await.expect("bye");
    assert_eq!(
        until(&mut alice, |f| matches!(f, ServerFrame::Left { .. })).await,
        ServerFrame::Left {
            user: "bob".into(),
            why: LeaveReason::Quit
        }
    );
    // The server ends bob's stream after Bye and closes with the normal code.
    assert!(matches!(
        tokio::time::timeout(WAIT, bob.next())
            .await
            .expect("in time"),
        Ok(None)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_without_bye_tells_the_others_dropped() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.join("alice").await;
    let (bob, _) = server.join("bob").await;
    bob.quic().close(quinn::VarInt::from_u32(99), b"gone");
    assert_eq!(
        until(&mut alice, |f| matches!(f, ServerFrame::Left { .. })).await,
        ServerFrame::Left {
            user: "bob".into(),
            why: LeaveReason::Dropped
        }
    );
}

/// A client that vanishes (no close, no packets) is noticed by the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_client_times_out_and_leaves_no_ghost() {
    let server =
        // Above the client's 3 s keep-alive, so only the vanished client times out.
        TestServer::start_with(|c| c.limits.idle_timeout = Duration::from_secs(4)).await;
    let (mut alice, _) = server.join("alice").await;

    // Bob talks to the server through a UDP relay that we can cut.
    let relay = testkit::Relay::start(server.addr)
        .await
        .expect("the relay starts");
    let connector = server.connector();
    let (_bob, _) = connector
        .connect(&server.server_addr(), relay.addr, "bob", &[])
        .await
        .expect("bob joins through the relay");
    until(&mut alice, |f| matches!(f, ServerFrame::Joined { .. })).await;
    relay.cut();

    assert_eq!(
        until(&mut alice, |f| matches!(f, ServerFrame::Left { .. })).await,
        ServerFrame::Left {
            user: "bob".into(),
            why: LeaveReason::TimedOut
        }
    );
    alice
        .send(&ClientFrame::ListUsers {
            room: "#general".into(),
        })
        .await
        .expect("sent");
    assert_eq!(
        until(&mut alice, |f| matches!(f, ServerFrame::Users { .. })).await,
        ServerFrame::Users {
            room: "#general".into(),
            list: vec!["alice".into()]
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_too_long_message_gets_a_problem_and_the_connection_stays() {
    let server = TestServer::start_with(|c| c.limits.max_message_bytes = 100).await;
    let (mut alice, _) = server.join("alice").await;
    say(&mut alice, 41, &"x".repeat(101)).await;
    match next(&mut alice).await {
        ServerFrame::Problem {
            code: ProblemCode::TooLong,
            nonce: Some(41),
            detail,
        } => assert!(detail.contains("100"), "{detail}"),
        other => panic!("expected Problem, got {other:?}"),
    }
    say(&mut alice, 42, &"y".repeat(100)).await;
    let got = chats(&mut alice, 1).await;
    assert_eq!((got[0].nonce, got[0].text.len()), (42, 100));

    say(&mut alice, 43, "   ").await;
    assert!(matches!(
        next(&mut alice).await,
        ServerFrame::Problem {
            code: ProblemCode::Empty,
            nonce: Some(43),
            ..
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_frame_closes_only_that_connection() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.join("alice").await;
    let (mallory, _) = server.join("mallory").await;
    until(&mut alice, |f| matches!(f, ServerFrame::Joined { .. })).await;

    // A frame whose body names a variant that does not exist.
    let (mut w, _r, conn) = mallory.split();
    w.send_raw(&[0, 0, 0, 1, 0x7f]).await.expect("sent");
    assert_eq!(app_close(&conn).await.0, close_code::PROTOCOL_ERROR);
    assert_eq!(
        until(&mut alice, |f| matches!(f, ServerFrame::Left { .. })).await,
        ServerFrame::Left {
            user: "mallory".into(),
            why: LeaveReason::Misbehaved
        }
    );
    // Alice carries on.
    say(&mut alice, 1, "still here").await;
    assert_eq!(chats(&mut alice, 1).await[0].text, "still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_length_prefix_closes_only_that_connection() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.join("alice").await;
    let (mallory, _) = server.join("mallory").await;
    until(&mut alice, |f| matches!(f, ServerFrame::Joined { .. })).await;
    let (mut w, _r, q) = mallory.split();
    // 4 GiB announced; nothing else sent.
    w.send_raw(&u32::MAX.to_be_bytes()).await.expect("sent");
    let (code, reason) = app_close(&q).await;
    assert_eq!(code, close_code::FRAME_TOO_LARGE);
    assert!(reason.contains("exceeds the limit"), "{reason}");
    say(&mut alice, 1, "unaffected").await;
    assert_eq!(chats(&mut alice, 1).await[0].text, "unaffected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_trusts_another_ca_fails_verification() {
    let server = TestServer::start().await;
    let other = tempfile::tempdir().expect("tempdir");
    let (other_certs, _) = certs::ensure(other.path()).expect("other CA");
    let connector = client::Connector::new(
        &client::Trust::CaFile(other_certs.ca_cert),
        &client::Identity::for_this_process().expect("identity"),
        server.addr,
    )
    .expect("connector");
    match connector
        .connect(&server.server_addr(), server.addr, "eve", &[])
        .await
    {
        Err(client::ClientError::Certificate(detail)) => {
            assert!(detail.contains("UnknownIssuer"), "{detail}");
            let shown = client::ClientError::Certificate(detail).to_string();
            assert!(
                shown.contains("--ca"),
                "the message says what to do: {shown}"
            );
        }
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_bidirectional_stream_is_refused_by_the_transport() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.join("alice").await;
    // The server grants exactly one bidirectional stream and no unidirectional ones, so opening
    // another cannot complete while the first is open.
    let second = tokio::time::timeout(Duration::from_millis(500), alice.quic().open_bi()).await;
    assert!(second.is_err(), "a second stream was granted");
    let uni = tokio::time::timeout(Duration::from_millis(500), alice.quic().open_uni()).await;
    assert!(uni.is_err(), "a unidirectional stream was granted");
    say(&mut alice, 1, "first stream still works").await;
    assert_eq!(chats(&mut alice, 1).await[0].nonce, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_refuses_with_server_full() {
    let server = TestServer::start_with(|c| c.limits.max_connections = 2).await;
    let (_a, _) = server.join("a").await;
    let (_b, _) = server.join("b").await;
    match server.try_join("c").await {
        Err(client::ClientError::Refused(RefuseReason::ServerFull)) => {}
        other => panic!("expected ServerFull, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_says_hello_is_closed() {
    let server =
        TestServer::start_with(|c| c.limits.hello_timeout = Duration::from_millis(300)).await;
    let conn = server.raw_connect(&server.connector()).await;
    let (_send, _recv) = conn.open_bi().await.expect("stream");
    assert_eq!(app_close(&conn).await.0, close_code::HELLO_TIMEOUT);
}

/// A client from before `Presence` (version 1) and one from the future are both told which version
/// the server speaks, instead of getting frames they cannot decode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrong_protocol_version_is_refused() {
    let server = TestServer::start().await;
    let connector = server.connector();
    for version in [1, 99] {
        let conn = server.raw_connect(&connector).await;
        let (mut send, mut recv) = conn.open_bi().await.expect("stream");
        let hello = wire::encode(
            &ClientFrame::Hello {
                version,
                user: "other".into(),
                resume: Vec::new(),
            },
            wire::MAX_CLIENT_FRAME,
        )
        .expect("encodes");
        send.write_all(&hello).await.expect("sent");
        let bytes = tokio::time::timeout(WAIT, recv.read_to_end(1024))
            .await
            .expect("in time")
            .expect("read");
        let mut dec = wire::FrameDecoder::new(wire::MAX_SERVER_FRAME);
        dec.push(&bytes);
        assert_eq!(
            dec.next_frame::<ServerFrame>(),
            Ok(Some(ServerFrame::Refused {
                reason: RefuseReason::UnsupportedVersion {
                    supported: wire::PROTOCOL_VERSION
                }
            })),
            "version {version}"
        );
    }
}

/// A client that stops reading is disconnected as too slow; the others never wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_the_others_carry_on() {
    const LINES: u64 = 1000;
    /// Alice keeps at most this many of her lines unconfirmed, as a well-behaved client would.
    const IN_FLIGHT: u64 = 8;
    let server = TestServer::start_with(|c| {
        c.limits.queue_frames = 32;
        c.limits.messages_per_sec = 0;
    })
    .await;
    let (mut alice, _) = server.join("alice").await;
    let (sloth, _) = server.join("sloth").await;
    until(&mut alice, |f| matches!(f, ServerFrame::Joined { .. })).await;
    // Sloth never reads. Each line is big, so its flow-control window fills after a few hundred
    // lines, the server's writes to it block, and its queue overflows.
    let big = "z".repeat(4000);
    let mut sent = 0;
    let mut received = Vec::new();
    let mut sloth_left = None;
    while received.len() < LINES as usize || sloth_left.is_none() {
        while sent < LINES && sent < received.len() as u64 + IN_FLIGHT {
            say(&mut alice, sent, &big).await;
            sent += 1;
        }
        match next(&mut alice).await {
            ServerFrame::Chat { message: m, .. } => received.push(m.nonce),
            ServerFrame::Left { user, why } => sloth_left = Some((user, why)),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(sloth_left, Some(("sloth".into(), LeaveReason::TooSlow)));
    assert_eq!(
        received,
        (0..LINES).collect::<Vec<_>>(),
        "alice got every line once, in order"
    );
    assert_eq!(closed_with(&sloth).await.0, close_code::TOO_SLOW);

    // The slow client can come back and resume: its name is free and the replay starts where it
    // stopped reading (it saw nothing, so from the first line).
    let (mut sloth, welcome) = server
        .connector()
        .connect(
            &server.server_addr(),
            server.addr,
            "sloth",
            &support::resume_after(0),
        )
        .await
        .expect("sloth resumes");
    let first = welcome.history().first().map(|m| m.id);
    let mut last = welcome.history().last().map_or(0, |m| m.id);
    assert_eq!(first, Some(1), "the replay starts at the first line");
    while last < LINES {
        last = chats(&mut sloth, 1).await[0].id;
    }
}

/// Clients that say lines as fast as they can, all at once, are slowed down to the pace at which they
/// read the room, instead of filling everyone's queue until the readers are dropped as too slow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_speed_speakers_are_slowed_not_dropped() {
    const SPEAKERS: usize = 3;
    const LINES: u64 = 1000;
    let server = TestServer::start_with(|c| {
        // A queue far smaller than what the speakers send together.
        c.limits.queue_frames = 256;
        c.limits.messages_per_sec = 0;
    })
    .await;
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for i in 0..SPEAKERS {
        let (conn, _) = server.join(&format!("speaker{i}")).await;
        let (w, r, q) = conn.split();
        writers.push(w);
        readers.push((r, q));
    }
    // Everyone has seen everyone join before the first line, so the reads below are only lines.
    // Speaker i was welcomed with the i before it and is told of the ones after it.
    for (i, (r, _)) in readers.iter_mut().enumerate() {
        let mut joined = 0;
        while joined < SPEAKERS - 1 - i {
            match tokio::time::timeout(WAIT, r.next()).await {
                Ok(Ok(Some(ServerFrame::Joined { .. }))) => joined += 1,
                Ok(Ok(Some(_))) => {}
                other => panic!("before the lines: {other:?}"),
            }
        }
    }
    let mut sending = tokio::task::JoinSet::new();
    for (i, mut w) in writers.into_iter().enumerate() {
        sending.spawn(async move {
            for nonce in 0..LINES {
                let line = ClientFrame::Say {
                    to: wire::Conversation::Room("#general".into()),
                    nonce,
                    text: format!("{i}:{nonce}"),
                };
                w.send(&line).await.expect("sent");
            }
            w
        });
    }
    // Everyone reads at once, as real clients do: a reader paused here would rightly be dropped.
    let total = SPEAKERS * LINES as usize;
    let mut reading = tokio::task::JoinSet::new();
    for (mut r, q) in readers {
        reading.spawn(async move {
            let mut next_from = [0u64; SPEAKERS];
            for _ in 0..total {
                let frame = tokio::time::timeout(WAIT, r.next())
                    .await
                    .expect("a line in time");
                let Ok(Some(ServerFrame::Chat { message: m, .. })) = frame else {
                    panic!(
                        "expected a line, got {frame:?}; closed: {:?}",
                        q.close_reason()
                    );
                };
                let (from, nonce) = m.text.split_once(':').expect("payload");
                let from: usize = from.parse().expect("speaker index");
                assert_eq!(
                    nonce.parse::<u64>().ok(),
                    Some(next_from[from]),
                    "in order, once"
                );
                next_from[from] += 1;
            }
            assert!(q.close_reason().is_none(), "nobody was disconnected");
            next_from
        });
    }
    while let Some(seen) = reading.join_next().await {
        assert_eq!(
            seen.expect("reader"),
            [LINES; SPEAKERS],
            "every line of every speaker"
        );
    }
    let mut finished = 0;
    while let Some(done) = sending.join_next().await {
        done.expect("sender");
        finished += 1;
    }
    assert_eq!(finished, SPEAKERS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_everyone_and_the_server_exits_cleanly() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.join("alice").await;
    let (mut bob, _) = server.join("bob").await;
    until(&mut alice, |f| matches!(f, ServerFrame::Joined { .. })).await;
    server.shutdown.shutdown("maintenance");
    for conn in [&mut alice, &mut bob] {
        assert_eq!(
            until(conn, |f| matches!(f, ServerFrame::ShuttingDown { .. })).await,
            ServerFrame::ShuttingDown {
                reason: "maintenance".into()
            }
        );
        assert!(
            matches!(
                tokio::time::timeout(WAIT, conn.next())
                    .await
                    .expect("in time"),
                Ok(None)
            ),
            "the stream ends after ShuttingDown"
        );
    }
    assert_eq!(closed_with(&alice).await.0, close_code::SHUTTING_DOWN);
    tokio::time::timeout(WAIT, server.task)
        .await
        .expect("server stops in time")
        .expect("task")
        .expect("clean exit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_answered_too_fast_then_disconnected() {
    let server = TestServer::start_with(|c| {
        c.limits.messages_per_sec = 5;
        c.limits.message_burst = 10;
        c.limits.too_fast_strikes = 30;
    })
    .await;
    let (mut alice, _) = server.join("alice").await;
    let (flooder, _) = server.join("flooder").await;
    until(&mut alice, |f| matches!(f, ServerFrame::Joined { .. })).await;
    let (mut w, mut r, q) = flooder.split();
    for n in 0..100u64 {
        if w.send(&ClientFrame::Say {
            to: wire::Conversation::Room("#general".into()),
            nonce: n,
            text: format!("spam {n}"),
        })
        .await
        .is_err()
        {
            break;
        }
    }
    // The burst passes, then each extra line is answered with TooFast naming its nonce, then the
    // connection is closed with its own code.
    let mut accepted = Vec::new();
    let mut too_fast = Vec::new();
    while let Ok(Some(frame)) = tokio::time::timeout(WAIT, r.next()).await.expect("in time") {
        match frame {
            ServerFrame::Chat { message: m, .. } => accepted.push(m.nonce),
            ServerFrame::Problem {
                code: ProblemCode::TooFast,
                nonce: Some(n),
                ..
            } => too_fast.push(n),
            _ => {}
        }
    }
    assert!(
        (10..=12).contains(&accepted.len()),
        "the burst: {accepted:?}"
    );
    assert_eq!(
        too_fast.len(),
        30,
        "one TooFast per refused line until the strikes run out"
    );
    assert_eq!(app_close(&q).await.0, close_code::TOO_FAST);
    assert_eq!(
        until(&mut alice, |f| matches!(f, ServerFrame::Left { .. })).await,
        ServerFrame::Left {
            user: "flooder".into(),
            why: LeaveReason::Misbehaved
        }
    );
    say(&mut alice, 1, "calm again").await;
    until(
        &mut alice,
        |f| matches!(f, ServerFrame::Chat { message: m, .. } if m.text == "calm again"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alike_and_reserved_names_are_refused() {
    let server = TestServer::start().await;
    let (_alice, _) = server.join("alice").await;
    for fake in ["\u{430}lice", "ＡＬＩＣＥ", "ali\u{200B}ce"] {
        match server.try_join_as_stranger(fake).await {
            Err(client::ClientError::Refused(
                RefuseReason::NameOwned | RefuseReason::InvalidName(_),
            )) => {}
            other => panic!("{fake:?}: expected a refusal, got {other:?}"),
        }
    }
    match server.try_join("System").await {
        Err(client::ClientError::Refused(RefuseReason::InvalidName(why))) => {
            assert!(why.contains("reserved"), "{why}");
        }
        other => panic!("expected reserved, got {other:?}"),
    }
}

/// With the Retry threshold at zero every client must first prove its address (a QUIC Retry round
/// trip); honest clients notice nothing. Each client's socket counts the Retry packets it receives,
/// so the test sees that the Retry really happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_pass_address_validation_when_retry_is_demanded() {
    let server = TestServer::start_with(|c| c.limits.retry_above_handshakes = 0).await;
    let (mut alice, _, alice_retries) = retry_counting::join(&server, "alice").await;
    let (_bob, welcome, bob_retries) = retry_counting::join(&server, "bob").await;
    assert_eq!(welcome.users(), vec!["alice", "bob"]);
    assert_eq!(
        retry_counting::count(&alice_retries),
        1,
        "alice got one Retry"
    );
    assert_eq!(retry_counting::count(&bob_retries), 1, "bob got one Retry");
    say(&mut alice, 1, "validated").await;
    assert_eq!(chats(&mut alice, 1).await[0].text, "validated");
}

/// Below the threshold nobody is asked for a Retry (the counter above counts Retries, nothing else).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_retry_is_demanded_below_the_threshold() {
    let server = TestServer::start().await;
    let (_alice, _, retries) = retry_counting::join(&server, "alice").await;
    assert_eq!(retry_counting::count(&retries), 0, "a Retry without load");
}

mod retry_counting {
    //! A client whose UDP socket counts the QUIC Retry packets it receives. A Retry is a long
    //! header packet of type Retry: in QUIC v1 its first byte's top four bits are `1111` (header
    //! protection leaves them alone), and it is never coalesced with other packets.

    use std::{
        io::{self, IoSliceMut},
        net::SocketAddr,
        pin::Pin,
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        task::{Context, Poll},
    };

    use client::{Connection, Welcome};
    use quinn::{
        AsyncUdpSocket, Runtime, TokioRuntime, UdpPoller,
        udp::{RecvMeta, Transmit},
    };

    use crate::support::TestServer;

    #[derive(Debug)]
    struct RetryCounter {
        inner: Arc<dyn AsyncUdpSocket>,
        retries: Arc<AtomicUsize>,
    }

    impl AsyncUdpSocket for RetryCounter {
        fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
            self.inner.clone().create_io_poller()
        }

        fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
            self.inner.try_send(transmit)
        }

        fn poll_recv(
            &self,
            cx: &mut Context<'_>,
            bufs: &mut [IoSliceMut<'_>],
            meta: &mut [RecvMeta],
        ) -> Poll<io::Result<usize>> {
            let polled = self.inner.poll_recv(cx, bufs, meta);
            if let Poll::Ready(Ok(n)) = &polled {
                for (buf, m) in bufs.iter().zip(meta.iter()).take(*n) {
                    // Several datagrams may arrive in one buffer, one every `stride` bytes.
                    for datagram in buf[..m.len].chunks(m.stride.max(1)) {
                        if datagram.first().is_some_and(|b| b & 0xf0 == 0xf0) {
                            self.retries.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            polled
        }

        fn local_addr(&self) -> io::Result<SocketAddr> {
            self.inner.local_addr()
        }

        fn max_transmit_segments(&self) -> usize {
            self.inner.max_transmit_segments()
        }

        fn max_receive_segments(&self) -> usize {
            self.inner.max_receive_segments()
        }

        fn may_fragment(&self) -> bool {
            self.inner.may_fragment()
        }
    }

    /// Joins as `user` through a socket that counts the Retry packets received.
    pub async fn join(server: &TestServer, user: &str) -> (Connection, Welcome, Arc<AtomicUsize>) {
        let connector = server.connector();
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let retries = Arc::new(AtomicUsize::new(0));
        let counter = RetryCounter {
            inner: TokioRuntime.wrap_udp_socket(socket).expect("wrap"),
            retries: retries.clone(),
        };
        connector
            .endpoint()
            .rebind_abstract(Arc::new(counter))
            .expect("rebind");
        let (conn, welcome) = connector
            .connect(&server.server_addr(), server.addr, user, &[])
            .await
            .expect("joins");
        (conn, welcome, retries)
    }

    pub fn count(retries: &AtomicUsize) -> usize {
        retries.load(Ordering::Relaxed)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finishing_the_stream_without_bye_closes_normally() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.join("alice").await;
    let (bob, _) = server.join("bob").await;
    until(&mut alice, |f| matches!(f, ServerFrame::Joined { .. })).await;
    let (mut w, _r, q) = bob.split();
    w.finish();
    assert_eq!(
        until(&mut alice, |f| matches!(f, ServerFrame::Left { .. })).await,
        ServerFrame::Left {
            user: "bob".into(),
            why: LeaveReason::Dropped
        }
    );
    let (code, reason) = app_close(&q).await;
    assert_eq!(code, close_code::NORMAL, "not a shutdown: {reason}");
}
