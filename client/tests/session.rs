//! The session's events against a real server on loopback: what the library makes of the
//! protocol's frames (batched presence, receipts, problems, `TooFast`), as a UI receives them.

mod support;

use std::{collections::HashSet, time::Duration};

use client::{Event, LeaveReason, Line, ProblemCode, Session, SessionConfig, SignedIn, Trust};

use support::{Server, start_server};

const WAIT: Duration = Duration::from_secs(15);

async fn join(server: &Server, user: &str) -> (Session, SignedIn, async_channel::Receiver<Event>) {
    let config = SessionConfig {
        server: server.addr.to_string().parse().expect("server address"),
        user: user.into(),
        trust: Trust::CaFile(server.ca.clone()),
        identity: client::Identity::for_this_process().expect("identity"),
        code: None,
    };
    tokio::time::timeout(WAIT, Session::connect(config))
        .await
        .expect("joins in time")
        .expect("joins")
}

/// The next event that `pick` accepts; the others are passed over (and returned for checks).
async fn until<T>(
    events: &async_channel::Receiver<Event>,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> (T, Vec<Event>) {
    let mut passed = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("session alive");
            if let Some(found) = pick(&event) {
                return found;
            }
            passed.push(event);
        }
    })
    .await
    .expect("the event arrives in time");
    (found, passed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_and_leaves_arrive_as_one_event_each_whatever_the_batching() {
    let server = start_server(|_| {});
    let (ann, _, ann_events) = join(&server, "ann").await;
    // Joining together: the server gathers these into one Presence frame (or a few).
    let (bob, _, _bob_events) = join(&server, "bob").await;
    let (carol, _, _carol_events) = join(&server, "carol").await;
    let mut joined = Vec::new();
    until(&ann_events, |e| match e {
        Event::UserJoined { user, .. } => {
            joined.push(user.clone());
            (joined.len() == 2).then_some(())
        }
        _ => None,
    })
    .await;
    assert_eq!(joined, ["bob", "carol"], "one event per join, in order");

    bob.quit().await;
    let ((user, why), _) = until(&ann_events, |e| match e {
        Event::UserLeft { user, why, .. } => Some((user.clone(), *why)),
        _ => None,
    })
    .await;
    assert_eq!((user.as_str(), why), ("bob", LeaveReason::Quit));

    ann.list_users().expect("asks");
    let (users, _) = until(&ann_events, |e| match e {
        Event::Users { list, .. } => Some(list.clone()),
        _ => None,
    })
    .await;
    assert_eq!(users, ["ann", "carol"]);
    carol.quit().await;
    ann.quit().await;
    server.shutdown.shutdown("test over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_line_comes_back_as_its_receipt_and_to_others_as_a_line() {
    let server = start_server(|_| {});
    let (ann, _, ann_events) = join(&server, "ann").await;
    let (bob, _, bob_events) = join(&server, "bob").await;

    let nonce = ann.say("hello bob").expect("says");
    let (receipt, passed) = until(&ann_events, |e| match e {
        Event::Receipt(line) => Some(line.clone()),
        _ => None,
    })
    .await;
    assert_eq!(receipt.nonce, nonce, "the receipt names the line we said");
    assert!(receipt.mine);
    assert_eq!(
        (receipt.from.as_str(), receipt.text.as_str()),
        ("ann", "hello bob")
    );
    assert!(
        !passed.iter().any(|e| matches!(e, Event::Line(_))),
        "our own line is not also handed out as somebody's line: {passed:?}"
    );

    let (seen, _) = until(&bob_events, |e| match e {
        Event::Line(line) => Some(line.clone()),
        _ => None,
    })
    .await;
    assert_eq!(seen.id, receipt.id);
    assert!(!seen.mine);
    assert_eq!(seen.from, "ann");

    // A line longer than the server's Welcome allows is refused before it is sent.
    assert_eq!(ann.longest_line(), 4096);
    assert!(matches!(
        ann.say("x".repeat(5000)),
        Err(client::ClientError::LineTooLong {
            bytes: 5000,
            longest: 4096
        })
    ));
    // A line the server refuses is a problem about that line, and never gets a receipt.
    let blank = ann.say("   ").expect("says");
    let ((code, about), passed) = until(&ann_events, |e| match e {
        Event::Problem { code, nonce, .. } => Some((*code, *nonce)),
        _ => None,
    })
    .await;
    assert_eq!((code, about), (ProblemCode::Empty, Some(blank)));
    assert!(passed.iter().all(|e| !matches!(e, Event::Receipt(_))));

    // Signed in again, our earlier line is in the history: ours, but not a receipt of this session.
    ann.quit().await;
    let (again, signed_in, _events) = join(&server, "ann").await;
    let earlier: Vec<&Line> = signed_in
        .history
        .iter()
        .filter(|l| l.text == "hello bob")
        .collect();
    assert_eq!(earlier.len(), 1);
    assert!(earlier[0].mine && earlier[0].nonce == nonce);
    again.quit().await;
    bob.quit().await;
    server.shutdown.shutdown("test over");
}

/// The library paces itself: a line the server answers `TooFast` is held back and sent again, so
/// every line gets its receipt exactly once and the user never hears of the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_refused_as_too_fast_are_sent_again_and_each_arrives_once() {
    const LINES: usize = 12;
    let server = start_server(|config| {
        config.limits.messages_per_sec = 5;
        config.limits.message_burst = 2;
        config.limits.too_fast_strikes = 1000;
    });
    let (ann, _, ann_events) = join(&server, "ann").await;
    let (bob, _, bob_events) = join(&server, "bob").await;
    let started = std::time::Instant::now();
    let said: HashSet<u64> = (0..LINES)
        .map(|n| ann.say(format!("burst {n}")).expect("says"))
        .collect();

    let mut receipts = Vec::new();
    let (_, passed) = until(&ann_events, |e| match e {
        Event::Receipt(line) => {
            receipts.push(line.nonce);
            (receipts.len() == LINES).then_some(())
        }
        _ => None,
    })
    .await;
    assert!(
        !passed.iter().any(|e| matches!(e, Event::Problem { .. })),
        "TooFast stays inside the library: {passed:?}"
    );
    assert_eq!(receipts.iter().copied().collect::<HashSet<_>>(), said);
    // At 5 a second after a burst of 2, the server cannot have taken them all at once: the limit
    // did bite, and the lines it refused were held back (1 s) and sent again.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    let mut texts = Vec::new();
    until(&bob_events, |e| match e {
        Event::Line(line) => {
            texts.push(line.text.clone());
            (texts.len() == LINES).then_some(())
        }
        _ => None,
    })
    .await;
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), LINES, "each line once");
    ann.quit().await;
    bob.quit().await;
    server.shutdown.shutdown("test over");
}

/// Waits for `Closed`, failing if the session tried to reconnect before it.
async fn closes_without_reconnecting(events: &async_channel::Receiver<Event>) {
    let (_, between) = until(events, |e| matches!(e, Event::Closed(_)).then_some(())).await;
    assert!(
        !between
            .iter()
            .any(|e| matches!(e, Event::Disconnected { .. } | Event::Reconnected { .. })),
        "{between:?}"
    );
}

/// A session told `Removed` (an operator's kick) or `Replaced` (its name signed in elsewhere) ends
/// there: reconnecting would undo the kick, and two devices would take turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kicked_or_replaced_session_ends_without_reconnecting() {
    let me = client::Identity::for_this_process().expect("identity");
    let server = start_server(|config| config.operators = vec![me.fingerprint()]);
    let bob_key = std::sync::Arc::new(client::Identity::ephemeral().expect("identity"));
    let as_bob = || SessionConfig {
        server: server.addr.to_string().parse().expect("server address"),
        user: "bob".into(),
        trust: Trust::CaFile(server.ca.clone()),
        identity: bob_key.clone(),
        code: None,
    };
    let (op, _, _op_events) = join(&server, "op").await;

    // Kicked.
    let (_bob, _, bob_events) = tokio::time::timeout(WAIT, Session::connect(as_bob()))
        .await
        .expect("in time")
        .expect("bob joins");
    op.request(wire::Request::Kick {
        user: "bob".into(),
        reason: "spam".into(),
    })
    .expect("asked");
    let (removed, _) = until(&bob_events, |e| match e {
        Event::Removed { by, reason, .. } => Some((by.clone(), reason.clone())),
        _ => None,
    })
    .await;
    assert_eq!(removed, ("op".to_owned(), "spam".to_owned()));
    closes_without_reconnecting(&bob_events).await;
    assert!(bob_events.recv().await.is_err(), "nothing after Closed");

    // Replaced by the same key signing in again.
    let (_bob, _, bob_events) = tokio::time::timeout(WAIT, Session::connect(as_bob()))
        .await
        .expect("in time")
        .expect("bob joins again");
    let (_bob_again, _, _) = tokio::time::timeout(WAIT, Session::connect(as_bob()))
        .await
        .expect("in time")
        .expect("bob signs in again");
    let (device, _) = until(&bob_events, |e| match e {
        Event::Replaced { fingerprint } => Some(*fingerprint),
        _ => None,
    })
    .await;
    assert_eq!(device, bob_key.fingerprint());
    closes_without_reconnecting(&bob_events).await;
}
