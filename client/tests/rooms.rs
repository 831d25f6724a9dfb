//! The library's rooms against a real server: after the server restarts, a session resumes each of
//! its conversations exactly where it was (the default room, a room, a direct conversation).

use std::{path::Path, time::Duration};

use client::{
    Backoff, Connector, Conversation, Event, ServerAddr, Session, SessionConfig, SignedIn, Trust,
};
use wire::{ClientFrame, ServerFrame};

const WAIT: Duration = Duration::from_secs(15);

/// A server on `port` keeping its certificates and history in `dir`, started again after a
/// shutdown (binding waits until the old one let go of the port).
async fn serve(dir: &Path, port: u16) -> server::ShutdownHandle {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut config = server::Config::new(
            ([127, 0, 0, 1], port).into(),
            server::TlsSource::DevCerts {
                dir: dir.join("certs"),
            },
        );
        config.history_db = Some(dir.join("history.sqlite3"));
        match server::Server::bind(config) {
            Ok(srv) => {
                let shutdown = srv.shutdown_handle();
                tokio::spawn(srv.run());
                return shutdown;
            }
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("not yet: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the server does not start again: {e}"),
        }
    }
}

async fn join(
    dir: &Path,
    port: u16,
    user: &str,
    backoff: Backoff,
) -> (Session, SignedIn, async_channel::Receiver<Event>) {
    let config = SessionConfig {
        server: format!("127.0.0.1:{port}").parse().expect("address"),
        user: user.into(),
        trust: Trust::CaFile(dir.join("certs").join("ca.pem")),
        identity: client::Identity::for_this_process().expect("identity"),
        code: None,
    };
    tokio::time::timeout(WAIT, Session::connect_with(config, backoff))
        .await
        .expect("joins in time")
        .expect("joins")
}

/// The next event that `pick` accepts; the others are returned too, for checks.
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

fn room(name: &str) -> Conversation {
    Conversation::Room(name.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_resumes_each_conversation_exactly_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = testkit::ports::free_udp_port().expect("a free UDP port");
    let shutdown = serve(dir.path(), port).await;
    // Alice comes back slowly (after 1.5 to 3 s), so that what Bob says meanwhile is missed.
    let slow = Backoff {
        initial: Duration::from_secs(3),
        max: Duration::from_secs(3),
        enabled: true,
    };
    let (alice, _, alice_events) = join(dir.path(), port, "alice", slow).await;
    let (bob, _, bob_events) = join(dir.path(), port, "bob", Backoff::never()).await;
    alice.join_room("#a").expect("asked");
    until(&alice_events, |e| {
        matches!(e, Event::RoomJoined(r) if r.room == "#a").then_some(())
    })
    .await;
    bob.join_room("#a").expect("asked");
    until(&bob_events, |e| {
        matches!(e, Event::RoomJoined(r) if r.room == "#a").then_some(())
    })
    .await;
    bob.say_to(room("#a"), "a1").expect("said");
    let (line, _) = until(&alice_events, |e| match e {
        Event::Line(l) if l.text == "a1" => Some(l.clone()),
        _ => None,
    })
    .await;
    assert_eq!(line.conversation, room("#a"));

    shutdown.shutdown("restart");
    until(&alice_events, |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    })
    .await;
    let shutdown = serve(dir.path(), port).await;

    // Bob, back at once on a plain connection (still in #a: memberships are kept), says one line
    // in each conversation and one more in #a while Alice waits to reconnect.
    let addr = ([127, 0, 0, 1], port).into();
    let (mut conn, _) = Connector::new(
        &Trust::CaFile(dir.path().join("certs").join("ca.pem")),
        &client::Identity::for_this_process().expect("identity"),
        addr,
    )
    .expect("connector")
    .connect(
        &ServerAddr {
            host: "127.0.0.1".into(),
            port,
        },
        addr,
        "bob",
        &[],
    )
    .await
    .expect("bob is back");
    let lines = [
        (room("#a"), "a2"),
        (room("#general"), "g1"),
        (Conversation::Direct("alice".into()), "d1"),
        (room("#a"), "a3"),
    ];
    for (nonce, (to, text)) in lines.iter().enumerate() {
        let frame = ClientFrame::Say {
            nonce: 100 + nonce as u64,
            to: to.clone(),
            text: (*text).into(),
        };
        conn.send(&frame).await.expect("sent");
    }
    let mut receipts = 0;
    while receipts < lines.len() {
        let frame = tokio::time::timeout(WAIT, conn.next_whole())
            .await
            .expect("in time")
            .expect("readable")
            .expect("open");
        if let ServerFrame::Chat { message, .. } = frame
            && message.from == "bob"
            && message.nonce >= 100
        {
            receipts += 1;
        }
    }

    // Alice reconnects: exactly what she missed, in each conversation, once.
    let (missed, _) = until(&alice_events, |e| match e {
        Event::Reconnected { missed, .. } => Some(*missed),
        _ => None,
    })
    .await;
    assert_eq!(missed, 1, "the default room: g1");
    let mut got = Vec::new();
    let (_, before) = until(&alice_events, |e| match e {
        Event::Line(l) if l.text == "d1" => Some(()),
        _ => None,
    })
    .await;
    for event in before {
        match event {
            Event::Line(l) => got.push((l.conversation, l.text)),
            Event::RoomJoined(r) => {
                for l in r.history {
                    got.push((l.conversation, l.text));
                }
            }
            _ => {}
        }
    }
    got.push((Conversation::Direct("bob".into()), "d1".into()));
    assert_eq!(
        got,
        [
            (room("#general"), "g1".to_owned()),
            (room("#a"), "a2".to_owned()),
            (room("#a"), "a3".to_owned()),
            (Conversation::Direct("bob".into()), "d1".to_owned()),
        ]
    );
    // Nothing after: her own line is the next line she gets.
    alice.say("back").expect("said");
    let (_, between) = until(&alice_events, |e| {
        matches!(e, Event::Receipt(l) if l.text == "back").then_some(())
    })
    .await;
    assert!(
        !between.iter().any(|e| matches!(e, Event::Line(_))),
        "a line twice: {between:?}"
    );
    let _ = alice.quit_within(Duration::ZERO).await;
    shutdown.shutdown("test over");
}
