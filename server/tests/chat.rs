//! People chatting: joining, saying, listing, in order, with receipts.

mod support;

use support::{TestServer, chats, closed_with, next, say, until};
use wire::{ClientFrame, LeaveReason, RefuseReason, ServerFrame};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_chat_and_each_gets_a_receipt() {
    let server = TestServer::start().await;
    let (mut alice, welcome) = server.join("alice").await;
    assert_eq!(welcome.you, "alice");
    assert_eq!(welcome.users(), vec!["alice"]);
    let (mut bob, welcome) = server.join("bob").await;
    assert_eq!(welcome.users(), vec!["alice", "bob"]);
    assert_eq!(
        next(&mut alice).await,
        ServerFrame::Joined { user: "bob".into() }
    );

    say(&mut alice, 7, "hello bob").await;
    for conn in [&mut alice, &mut bob] {
        let got = chats(conn, 1).await;
        assert_eq!(got[0].from, "alice");
        assert_eq!(got[0].text, "hello bob");
        assert_eq!(got[0].nonce, 7, "the sender's nonce is echoed");
        assert_eq!(got[0].id, 1);
        assert!(got[0].at_ms > 1_700_000_000_000, "stamped with server time");
    }
    say(&mut bob, 1, "hi alice").await;
    for conn in [&mut alice, &mut bob] {
        let got = chats(conn, 1).await;
        assert_eq!((got[0].id, got[0].from.as_str()), (2, "bob"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_users_all_receive_every_message_in_one_order() {
    const USERS: usize = 10;
    const EACH: usize = 20;
    let server = TestServer::start().await;
    let mut conns = Vec::new();
    for i in 0..USERS {
        conns.push(server.join(&format!("user{i}")).await.0);
    }
    // Everyone talks at once.
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for conn in conns {
        let (w, r, q) = conn.split();
        writers.push(w);
        readers.push((r, q));
    }
    let senders: Vec<_> = writers
        .into_iter()
        .enumerate()
        .map(|(i, mut w)| {
            tokio::spawn(async move {
                for n in 0..EACH {
                    w.send(&ClientFrame::Say {
                        to: wire::Conversation::Room("#general".into()),
                        nonce: n as u64,
                        text: format!("{i}:{n}"),
                    })
                    .await
                    .expect("sent");
                }
                w
            })
        })
        .collect();
    let receivers: Vec<_> = readers
        .into_iter()
        .map(|(mut r, q)| {
            tokio::spawn(async move {
                let mut got = Vec::new();
                while got.len() < USERS * EACH {
                    let frame = tokio::time::timeout(support::WAIT, r.next())
                        .await
                        .expect("in time")
                        .expect("readable")
                        .expect("open");
                    if let ServerFrame::Chat { message: m, .. } = frame {
                        got.push(m);
                    }
                }
                drop(q);
                got
            })
        })
        .collect();
    let mut _keep = Vec::new();
    for s in senders {
        _keep.push(s.await.expect("sender"));
    }
    let mut all = Vec::new();
    for r in receivers {
        all.push(r.await.expect("receiver"));
    }

    let reference: Vec<u64> = all[0].iter().map(|m| m.id).collect();
    assert_eq!(
        reference,
        (1..=(USERS * EACH) as u64).collect::<Vec<_>>(),
        "ids increase by one with no gap"
    );
    for got in &all {
        assert_eq!(
            got.iter().map(|m| (m.id, &m.text)).collect::<Vec<_>>(),
            all[0].iter().map(|m| (m.id, &m.text)).collect::<Vec<_>>(),
            "everyone sees the same sequence"
        );
        // Each sender's own lines arrive in the order it said them.
        for i in 0..USERS {
            let from: Vec<&str> = got
                .iter()
                .filter(|m| m.from == format!("user{i}"))
                .map(|m| m.text.as_str())
                .collect();
            let expected: Vec<String> = (0..EACH).map(|n| format!("{i}:{n}")).collect();
            assert_eq!(from, expected);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_name_is_refused_to_another_key_whatever_its_case() {
    let server = TestServer::start().await;
    let (_alice, _) = server.join("alice").await;
    for name in ["alice", "ALICE", "Alice"] {
        match server.try_join_as_stranger(name).await {
            Err(client::ClientError::Refused(RefuseReason::NameOwned)) => {}
            other => panic!("{name}: expected NameOwned, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_signing_in_again_replaces_its_old_connection() {
    let server = TestServer::start().await;
    let (mut old, _) = server.join("alice").await;
    let (mut bob, _) = server.join("bob").await;
    // The same key (another device linked to the name would do the same): the old connection is
    // told, with the newcomer's key, and closed; the new one is welcomed.
    let (mut new, welcome) = server.join("Alice").await;
    assert_eq!(welcome.you, "Alice");
    let me = client::Identity::for_this_process().expect("identity");
    match until(&mut old, |f| matches!(f, ServerFrame::Replaced { .. })).await {
        ServerFrame::Replaced { fingerprint } => {
            assert_eq!(&fingerprint, me.fingerprint().as_bytes());
        }
        other => unreachable!("{other:?}"),
    }
    assert_eq!(closed_with(&old).await.0, wire::close_code::REPLACED);
    // The others see the old connection leave and the name come back.
    let left = until(&mut bob, |f| {
        matches!(
            f,
            ServerFrame::Left {
                why: LeaveReason::Replaced,
                ..
            }
        )
    })
    .await;
    assert!(matches!(left, ServerFrame::Left { user, .. } if user == "alice"));
    until(
        &mut bob,
        |f| matches!(f, ServerFrame::Joined { user } if user == "Alice"),
    )
    .await;
    // The new connection speaks under the name.
    say(&mut new, 1, "back").await;
    until(
        &mut bob,
        |f| matches!(f, ServerFrame::Chat { message: m, .. } if m.from == "Alice" && m.text == "back"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_names_are_refused_with_the_reason() {
    let server = TestServer::start().await;
    for (name, why) in [
        ("", "blank"),
        ("   ", "blank"),
        ("bad\nname", "control"),
        (" padded", "white space"),
        ("a-name-that-is-far-too-long-for-us", "longer than 32"),
    ] {
        match server.try_join(name).await {
            Err(client::ClientError::Refused(RefuseReason::InvalidName(text))) => {
                assert!(text.contains(why), "{name:?}: {text}");
            }
            other => panic!("{name:?}: expected InvalidName, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_list_follows_joins_and_leaves() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.join("alice").await;
    let (bob, _) = server.join("Bob").await;
    let (carol, _) = server.join("carol").await;
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
            list: vec!["alice".into(), "Bob".into(), "carol".into()]
        }
    );
    let mut bob = bob;
    bob.send(&ClientFrame::Bye).await.expect("bye");
    until(
        &mut alice,
        |f| matches!(f, ServerFrame::Left { user, .. } if user == "Bob"),
    )
    .await;
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
            list: vec!["alice".into(), "carol".into()]
        }
    );
    drop(carol);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_gets_recent_history_and_can_reuse_a_freed_name() {
    let server = TestServer::start_with(|c| c.welcome_history = 3).await;
    let (mut alice, _) = server.join("alice").await;
    for n in 0..5 {
        say(&mut alice, n, &format!("line {n}")).await;
    }
    chats(&mut alice, 5).await;
    let (mut bob, welcome) = server.join("bob").await;
    let history: Vec<_> = welcome.history().iter().map(|m| m.text.as_str()).collect();
    assert_eq!(history, ["line 2", "line 3", "line 4"]);

    bob.send(&ClientFrame::Bye).await.expect("bye");
    until(&mut alice, |f| matches!(f, ServerFrame::Left { .. })).await;
    let (_bob_again, welcome) = server.join("bob").await;
    assert_eq!(welcome.users(), vec!["alice", "bob"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_loopback_works_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = server::Config::new(
        "[::1]:0".parse().expect("addr"),
        server::TlsSource::DevCerts {
            dir: dir.path().to_path_buf(),
        },
    );
    let Ok(srv) = server::Server::bind(config) else {
        // A machine without IPv6 loopback cannot run this test; say so rather than pass silently.
        eprintln!("skipped: no IPv6 loopback here");
        return;
    };
    let addr = srv.local_addr().expect("addr");
    let ca = srv.dev_ca().expect("ca").to_path_buf();
    let stop = srv.shutdown_handle();
    let task = tokio::spawn(srv.run());
    let connector = client::Connector::new(
        &client::Trust::CaFile(ca),
        &client::Identity::for_this_process().expect("identity"),
        addr,
    )
    .expect("connector");
    let server_addr: client::ServerAddr = format!("[::1]:{}", addr.port()).parse().expect("addr");
    let (_conn, welcome) = connector
        .connect(&server_addr, addr, "six", &[])
        .await
        .expect("joins over IPv6");
    assert_eq!(welcome.you, "six");
    stop.shutdown("done");
    task.await.expect("joined").expect("clean exit");
}

/// QUIC connection migration: the client's socket changes (new port, as after a NAT rebinding or a
/// network switch) and the session carries on, without a reconnect and without anyone seeing it leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_address_changes_keeps_its_session() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.join("alice").await;
    let bob_connector = server.connector();
    let (mut bob, _) = bob_connector
        .connect(&server.server_addr(), server.addr, "bob", &[])
        .await
        .expect("bob joins");
    until(&mut alice, |f| matches!(f, ServerFrame::Joined { .. })).await;

    let before = bob_connector.endpoint().local_addr().expect("addr");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("new socket");
    bob_connector.endpoint().rebind(socket).expect("rebind");
    let after = bob_connector.endpoint().local_addr().expect("addr");
    assert_ne!(
        before.port(),
        after.port(),
        "bob now sends from another port"
    );

    say(&mut bob, 1, "from my new address").await;
    assert_eq!(chats(&mut bob, 1).await[0].text, "from my new address");
    say(&mut alice, 2, "got you").await;
    let seen_by_alice = chats(&mut alice, 2).await;
    assert_eq!(
        seen_by_alice
            .iter()
            .map(|m| m.from.as_str())
            .collect::<Vec<_>>(),
        ["bob", "alice"]
    );
    assert_eq!(chats(&mut bob, 1).await[0].text, "got you");
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
            list: vec!["alice".into(), "bob".into()]
        },
        "no Left, no reconnect: the same session"
    );
}

/// Reads until the `Chat` saying `marker`, applying every join and leave on the way to `known`:
/// a join must be new to it (not the reader itself, not already listed in its `Welcome`, not told
/// twice), a leave must be of somebody it knows.
async fn follow_presence(
    conn: &mut client::Connection,
    me: &str,
    known: &mut std::collections::BTreeSet<String>,
    marker: &str,
) {
    loop {
        match next(conn).await {
            ServerFrame::Joined { user } => {
                assert_ne!(user, me, "{me} was told of its own join");
                assert!(known.insert(user.clone()), "{me} was told twice of {user}");
            }
            ServerFrame::Left { user, .. } => {
                assert!(
                    known.remove(&user),
                    "{me} was told {user} left, unknown to it"
                );
            }
            ServerFrame::Chat { message: m, .. } if m.text == marker => return,
            _ => {}
        }
    }
}

/// Joins and leaves close together are gathered into shared `Presence` frames; people who join
/// while earlier joins are still waiting to be sent must skip exactly the ones their `Welcome`
/// already lists. Everyone ends up with the same, right, list, each change told once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_joins_and_leaves_reaches_everyone_once() {
    const USERS: usize = 40;
    let server = TestServer::start().await;
    let mut joining = tokio::task::JoinSet::new();
    for i in 0..USERS {
        let (connector, addr, at) = (server.connector(), server.server_addr(), server.addr);
        joining.spawn(async move {
            let name = format!("user{i:02}");
            let joined = connector.connect(&addr, at, &name, &[]).await;
            (name, joined.expect("joins"), connector)
        });
    }
    let mut people = Vec::new();
    while let Some(joined) = joining.join_next().await {
        let (name, (conn, welcome), connector) = joined.expect("join task");
        let known: std::collections::BTreeSet<String> = welcome.users().iter().cloned().collect();
        assert!(known.contains(&name), "{name}'s Welcome lists {name}");
        people.push((name, conn, known, connector));
    }
    people.sort_by(|a, b| a.0.cmp(&b.0));
    let everyone: std::collections::BTreeSet<String> = people.iter().map(|p| p.0.clone()).collect();

    say(&mut people[0].1, 1, "all in").await;
    for (name, conn, known, _) in &mut people {
        follow_presence(conn, name, known, "all in").await;
        assert_eq!(*known, everyone, "{name} knows everyone");
    }

    // Every other one leaves, close together.
    let leaving: Vec<_> = people.split_off(0).into_iter().enumerate().collect();
    let mut staying = Vec::new();
    for (i, (name, mut conn, known, connector)) in leaving {
        if i % 2 == 1 {
            conn.send(&ClientFrame::Bye).await.expect("Bye sent");
            // The server has let go of us when it ends the stream, so our leave is in the room
            // before the line below.
            let drained = async { while let Ok(Some(_)) = conn.next().await {} };
            tokio::time::timeout(support::WAIT, drained)
                .await
                .expect("the server ends the stream after Bye");
            drop(connector);
        } else {
            staying.push((name, conn, known));
        }
    }
    let remaining: std::collections::BTreeSet<String> =
        staying.iter().map(|p| p.0.clone()).collect();
    say(&mut staying[0].1, 2, "half gone").await;
    for (name, conn, known) in &mut staying {
        follow_presence(conn, name, known, "half gone").await;
        assert_eq!(*known, remaining, "{name} knows who stayed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_an_invite_only_server_an_operator_registers_without_an_invite_and_others_need_one() {
    let me = client::Identity::for_this_process().expect("identity");
    let server = TestServer::start_with(|config| {
        config.invite_only = true;
        config.operators = vec![me.fingerprint()];
    })
    .await;
    let (_op, welcome) = server.join("op").await;
    assert_eq!(welcome.you, "op");
    match server.try_join_as_stranger("newcomer").await {
        Err(client::ClientError::Refused(RefuseReason::InviteRequired)) => {}
        other => panic!("expected InviteRequired, got {other:?}"),
    }
}
