//! The client library's promises, against a real server: a burst over a low rate is paced to the
//! server's advertised limits and said once, and the user is not bothered with refusals; a session whose server was killed reconnects when it is back, and the lines
//! said meanwhile (in flight at the kill, or typed while disconnected) are said once.

mod support;

use std::time::Duration;

use client::{Backoff, Event, ServerAddr, Session, SessionConfig, Trust};
use client::{Line, ProblemCode};
use support::{TestServer, WAIT, chats, spawn_chat_server_in, until};
use wire::{ClientFrame, ServerFrame};

/// What a session event means to these tests. The one place that knows the shape of
/// `client::Event`, so a change of that enum is adapted here alone.
#[derive(Debug)]
enum Happened {
    /// A line of the room (our own: its receipt).
    Line(Line),
    /// A request of ours was not carried out.
    Problem(ProblemCode),
    Joined(String),
    Disconnected,
    /// Back; the lines missed meanwhile follow as `Line`s.
    Reconnected,
    Closed(String),
    Other,
}

fn happened(event: Event) -> Happened {
    match event {
        Event::Line(m) | Event::Receipt(m) => Happened::Line(m),
        Event::Problem { code, .. } => Happened::Problem(code),
        Event::UserJoined { user, .. } => Happened::Joined(user),
        Event::Disconnected { .. } => Happened::Disconnected,
        Event::Reconnected { .. } => Happened::Reconnected,
        Event::Closed(reason) => Happened::Closed(reason.to_string()),
        _ => Happened::Other,
    }
}

/// The next event (`recv` is the receiver's `recv()`), failing the test if none comes within
/// `limit`.
async fn next_event<E: std::fmt::Debug>(
    recv: impl Future<Output = Result<Event, E>>,
    limit: Duration,
) -> Happened {
    let event = tokio::time::timeout(limit, recv)
        .await
        .expect("a session event in time")
        .expect("session alive");
    happened(event)
}

fn fast_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(500),
        enabled: true,
    }
}

/// A burst well over a low rate: the library paces the lines to the limits the server announced
/// (since protocol 3; before, the server answered `TooFast` and the library sent them again), no
/// refusal reaches the user, and every line is said exactly once. That the lines were held to the
/// rate is seen in the time it takes: at 4 a second after a burst of 3, 12 lines need more than two
/// seconds, where an unlimited server takes milliseconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_held_back_by_too_fast_are_sent_again_and_said_once() {
    const LINES: usize = 12;
    let server = TestServer::start_with(|c| {
        // 3 at once, then 4 a second: most of the burst is refused at first. Fewer refusals in a
        // row than the strikes that would disconnect (20).
        c.limits.messages_per_sec = 4;
        c.limits.message_burst = 3;
    })
    .await;
    let (mut watcher, _) = server.join("watcher").await;
    let config = SessionConfig {
        server: server.server_addr(),
        user: "burster".into(),
        trust: Trust::CaFile(server.ca.clone()),
        identity: client::Identity::for_this_process().expect("identity"),
        code: None,
    };
    let (session, _, events) = Session::connect_with(config, fast_backoff())
        .await
        .expect("joins");
    until(
        &mut watcher,
        |f| matches!(f, ServerFrame::Joined { user } if user == "burster"),
    )
    .await;
    let started = std::time::Instant::now();
    let mut nonces = Vec::new();
    for n in 0..LINES {
        nonces.push(session.say(format!("line {n}")).expect("session alive"));
    }

    // The session's side: every line's receipt, and no refusal shown to the user.
    let mut receipts = Vec::new();
    let deadline = tokio::time::Instant::now() + 3 * WAIT;
    while receipts.len() < LINES {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next_event(events.recv(), left).await {
            Happened::Problem(code) => panic!("the user was told of a refusal: {code:?}"),
            Happened::Line(m) if m.from == "burster" => receipts.push(m.nonce),
            Happened::Closed(reason) => panic!("session closed: {reason}"),
            Happened::Disconnected => panic!("disconnected: the strikes ran out?"),
            _ => {}
        }
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "the server held lines back at 4/s: all receipts came in {took:?}"
    );
    let mut sorted = receipts.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, nonces, "each line's receipt once: {receipts:?}");

    // The room's side: the watcher sees each line once, ids without a gap. Its own line after them
    // marks the end, so a line said twice would show before it.
    let mut seen = chats(&mut watcher, LINES).await;
    watcher
        .send(&ClientFrame::Say {
            to: wire::Conversation::Room("#general".into()),
            nonce: 1,
            text: "end".into(),
        })
        .await
        .expect("sent");
    loop {
        let m = chats(&mut watcher, 1).await.remove(0);
        if m.from == "watcher" {
            break;
        }
        seen.push(m);
    }
    let mut texts: Vec<String> = seen.iter().map(|m| m.text.clone()).collect();
    texts.sort_unstable();
    let mut expected: Vec<String> = (0..LINES).map(|n| format!("line {n}")).collect();
    expected.sort_unstable();
    assert_eq!(texts, expected, "every line once");
    let ids: Vec<u64> = seen.iter().map(|m| m.id).collect();
    assert!(ids.windows(2).all(|w| w[0] + 1 == w[1]), "{ids:?}");
    let farewell = session.quit().await;
    assert!(farewell.all_accepted(), "{farewell:?}");
    assert_eq!(farewell.too_fast, 0, "paced: the server never refused");
}

/// The server process is killed and started again on the same port and data: the session says so
/// (`Disconnected`), comes back by itself (`Reconnected`), and the line in flight at the kill and
/// the line typed while disconnected are each said exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_reconnects_when_the_server_is_back_and_says_what_was_pending_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = testkit::ports::free_udp_port().expect("a free UDP port");
    let mut server = spawn_chat_server_in(dir.path(), port, &[]).await;
    let server_addr = ServerAddr {
        host: "127.0.0.1".into(),
        port,
    };
    let ca = dir.path().join("certs").join("ca.pem");
    let config = SessionConfig {
        server: server_addr.clone(),
        user: "sam".into(),
        trust: Trust::CaFile(ca.clone()),
        identity: client::Identity::for_this_process().expect("identity"),
        code: None,
    };
    let (session, _, events) = Session::connect_with(config, fast_backoff())
        .await
        .expect("joins");
    let before = session.say("before").expect("session alive");
    loop {
        match next_event(events.recv(), WAIT).await {
            Happened::Line(m) if m.nonce == before => break,
            _ => {}
        }
    }

    server.start_kill().expect("SIGKILL");
    server.wait().await.expect("reaped");
    let in_flight = session.say("in flight").expect("session alive");
    // The client notices within its idle timeout (10 s).
    loop {
        match next_event(events.recv(), 2 * WAIT).await {
            Happened::Disconnected => break,
            Happened::Closed(reason) => panic!("session closed: {reason}"),
            _ => {}
        }
    }
    let while_away = session.say("while away").expect("session alive");
    server = spawn_chat_server_in(dir.path(), port, &[]).await;

    // Back: the Welcome, then the receipts of both pending lines.
    let mut receipts: Vec<Line> = Vec::new();
    let mut reconnects = 0;
    let deadline = tokio::time::Instant::now() + 2 * WAIT;
    while !(receipts.iter().any(|m| m.nonce == in_flight)
        && receipts.iter().any(|m| m.nonce == while_away))
    {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next_event(events.recv(), left).await {
            Happened::Reconnected => reconnects += 1,
            Happened::Line(m) => {
                assert!(reconnects > 0, "a line before the reconnect: {m:?}");
                receipts.push(m);
            }
            Happened::Closed(reason) => panic!("session closed: {reason}"),
            Happened::Disconnected => {}
            _ => {}
        }
    }
    assert_eq!(reconnects, 1, "one reconnect");

    // Someone who joins now gets the whole history: each line once, ids without a gap.
    let addr = ([127, 0, 0, 1], port).into();
    let (_checker, welcome) = client::Connector::new(
        &Trust::CaFile(ca),
        &client::Identity::for_this_process().expect("identity"),
        addr,
    )
    .expect("connector")
    .connect(&server_addr, addr, "checker", &[])
    .await
    .expect("checker joins");
    let said: Vec<(u64, &str)> = welcome
        .history()
        .iter()
        .map(|m| (m.id, m.text.as_str()))
        .collect();
    assert_eq!(
        said,
        [(1, "before"), (2, "in flight"), (3, "while away")],
        "each line once, in the order said"
    );
    // Sam's session sees checker join after everything it said: no receipt came twice.
    loop {
        match next_event(events.recv(), WAIT).await {
            Happened::Joined(user) if user == "checker" => break,
            Happened::Line(m) => receipts.push(m),
            _ => {}
        }
    }
    let ids: Vec<u64> = receipts.iter().map(|m| m.id).collect();
    assert_eq!(ids, [2, 3], "after the reconnect, each pending line once");
    session.quit().await;
    server.start_kill().expect("kill");
}
