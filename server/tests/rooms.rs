//! Rooms and direct messages (protocol 5), on a real server over real QUIC: who sees what, what a
//! reconnect and a restart keep, and the limits' problems. Every wait is bounded.

mod support;

use client::{Connection, Welcome};
use support::{
    TestServer, WAIT, general, join_process, next_whole as next, spawn_chat_server_in,
    until_whole as until,
};
use wire::{ClientFrame, Conversation, ProblemCode, ResumePoint, RoomState, ServerFrame};

fn room(name: &str) -> Conversation {
    Conversation::Room(name.into())
}

fn direct(name: &str) -> Conversation {
    Conversation::Direct(name.into())
}

async fn send(conn: &mut Connection, frame: ClientFrame) {
    conn.send(&frame).await.expect("sent");
}

async fn say_to(conn: &mut Connection, to: Conversation, nonce: u64, text: &str) {
    send(
        conn,
        ClientFrame::Say {
            nonce,
            to,
            text: text.into(),
        },
    )
    .await;
}

/// Joins `name` and returns the `RoomJoined` answer.
async fn join_room(conn: &mut Connection, name: &str) -> RoomState {
    send(conn, ClientFrame::JoinRoom { room: name.into() }).await;
    match until(conn, |f| {
        matches!(f, ServerFrame::RoomJoined(_) | ServerFrame::Problem { .. })
    })
    .await
    {
        ServerFrame::RoomJoined(state) => state,
        other => panic!("joining {name}: {other:?}"),
    }
}

/// The code of the next `Problem`, skipping anything else.
async fn problem(conn: &mut Connection) -> ProblemCode {
    match until(conn, |f| matches!(f, ServerFrame::Problem { .. })).await {
        ServerFrame::Problem { code, .. } => code,
        _ => unreachable!(),
    }
}

/// Every `Chat` until the sender's own line `nonce` comes back in `to`, that one included: what
/// the reader was sent in between, in order.
async fn chats_until_receipt(
    conn: &mut Connection,
    to: &Conversation,
    nonce: u64,
) -> Vec<(Conversation, String)> {
    let mut got = Vec::new();
    loop {
        if let ServerFrame::Chat {
            conversation,
            message,
        } = until(conn, |f| matches!(f, ServerFrame::Chat { .. })).await
        {
            let done = conversation == *to && message.nonce == nonce;
            got.push((conversation, message.text));
            if done {
                return got;
            }
        }
    }
}

#[tokio::test]
async fn users_in_different_rooms_see_only_their_own_rooms() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.join("alice").await;
    let (mut bob, _) = server.join("bob").await;
    let joined = join_room(&mut alice, "#apples").await;
    assert_eq!(joined.room, "#apples");
    assert_eq!(joined.users, ["alice"]);
    join_room(&mut bob, "#bananas").await;

    // Bob speaks in his room first; then Alice in hers. Whatever Bob's line reached, it reached
    // before Alice's own receipt: she must not have it.
    say_to(&mut bob, room("#bananas"), 1, "yellow").await;
    let bob_saw = chats_until_receipt(&mut bob, &room("#bananas"), 1).await;
    assert_eq!(bob_saw, [(room("#bananas"), "yellow".to_owned())]);
    say_to(&mut alice, room("#apples"), 1, "red").await;
    let alice_saw = chats_until_receipt(&mut alice, &room("#apples"), 1).await;
    assert_eq!(alice_saw, [(room("#apples"), "red".to_owned())]);

    // Both still share the default room, and see each other there.
    say_to(&mut alice, general(), 2, "hello all").await;
    let bob_saw = chats_until_receipt(&mut bob, &general(), 2).await;
    assert_eq!(
        bob_saw,
        [(general(), "hello all".to_owned())],
        "bob sees the default room, and nothing of #apples"
    );

    // A room's user list is its own; one cannot speak in a room one is not in.
    send(
        &mut alice,
        ClientFrame::ListUsers {
            room: "#APPLES".into(),
        },
    )
    .await;
    match until(&mut alice, |f| matches!(f, ServerFrame::Users { .. })).await {
        ServerFrame::Users { room, list } => {
            assert_eq!((room.as_str(), list), ("#apples", vec!["alice".to_owned()]));
        }
        _ => unreachable!(),
    }
    say_to(&mut bob, room("#apples"), 3, "sneaking in").await;
    assert_eq!(problem(&mut bob).await, ProblemCode::NotInRoom);
}

#[tokio::test]
async fn joins_leaves_topics_and_the_room_list_reach_the_members() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.join("alice").await;
    let (mut bob, _) = server.join("bob").await;
    join_room(&mut alice, "#rust").await;
    // The same room under another spelling: one room, named as its maker named it.
    let state = join_room(&mut bob, "#RUST").await;
    assert_eq!(state.room, "#rust");
    assert_eq!(state.users, ["alice", "bob"]);
    match until(
        &mut alice,
        |f| matches!(f, ServerFrame::Presence { room, .. } if room == "#rust"),
    )
    .await
    {
        ServerFrame::Presence { changes, .. } => assert_eq!(
            changes,
            [wire::PresenceChange::Joined { user: "bob".into() }]
        ),
        _ => unreachable!(),
    }
    send(
        &mut bob,
        ClientFrame::SetTopic {
            room: "#rust".into(),
            topic: "crabs".into(),
        },
    )
    .await;
    let topic = until(&mut alice, |f| matches!(f, ServerFrame::Topic { .. })).await;
    assert_eq!(
        topic,
        ServerFrame::Topic {
            room: "#rust".into(),
            topic: "crabs".into(),
            by: "bob".into()
        }
    );
    send(&mut alice, ClientFrame::ListRooms).await;
    match until(&mut alice, |f| matches!(f, ServerFrame::Rooms { .. })).await {
        ServerFrame::Rooms { list } => {
            let rooms: Vec<(&str, &str, u32)> = list
                .iter()
                .map(|r| (r.room.as_str(), r.topic.as_str(), r.members))
                .collect();
            assert_eq!(rooms, [("#general", "", 2), ("#rust", "crabs", 2)]);
        }
        _ => unreachable!(),
    }
    send(
        &mut bob,
        ClientFrame::PartRoom {
            room: "#rust".into(),
        },
    )
    .await;
    assert_eq!(
        until(&mut bob, |f| matches!(f, ServerFrame::RoomLeft { .. })).await,
        ServerFrame::RoomLeft {
            room: "#rust".into()
        }
    );
    match until(
        &mut alice,
        |f| matches!(f, ServerFrame::Presence { room, .. } if room == "#rust"),
    )
    .await
    {
        ServerFrame::Presence { changes, .. } => assert!(
            matches!(&changes[..], [wire::PresenceChange::Left { user, .. }] if user == "bob"),
            "{changes:?}"
        ),
        _ => unreachable!(),
    }
    // Nobody leaves the default room.
    send(
        &mut bob,
        ClientFrame::PartRoom {
            room: "#general".into(),
        },
    )
    .await;
    assert_eq!(problem(&mut bob).await, ProblemCode::NotAllowed);
}

#[tokio::test]
async fn a_direct_message_reaches_only_its_two_ends_also_when_the_receiver_was_offline() {
    let server = TestServer::start().await;
    // Bob owns his name (he signed in once), then goes offline.
    let (bob, _) = server.join("bob").await;
    drop(bob);
    let (mut alice, _) = server.join("alice").await;
    let (mut carol, _) = server.join("carol").await;
    // Bob's old connection may still be in the room for a moment: that does not matter, the
    // message is stored either way and handed over at his next sign-in.
    say_to(&mut alice, direct("bob"), 1, "psst, bob").await;
    let alice_saw = chats_until_receipt(&mut alice, &direct("bob"), 1).await;
    assert_eq!(alice_saw, [(direct("bob"), "psst, bob".to_owned())]);

    // Carol sees nothing of it: her next line is the first thing she gets.
    say_to(&mut carol, general(), 1, "anyone?").await;
    let carol_saw = chats_until_receipt(&mut carol, &general(), 1).await;
    assert_eq!(carol_saw, [(general(), "anyone?".to_owned())]);

    // Bob signs in again: the message is his, right after Welcome, once.
    let (mut bob, _) = server.join("bob").await;
    match until(&mut bob, |f| matches!(f, ServerFrame::Chat { .. })).await {
        ServerFrame::Chat {
            conversation,
            message,
        } => {
            assert_eq!(conversation, direct("alice"));
            assert_eq!((message.id, message.text.as_str()), (1, "psst, bob"));
        }
        _ => unreachable!(),
    }
    // Answering goes to Alice (named as she spells it), who gets it live.
    say_to(&mut bob, direct("ALICE"), 9, "hi alice").await;
    let bob_saw = chats_until_receipt(&mut bob, &direct("alice"), 9).await;
    assert_eq!(bob_saw, [(direct("alice"), "hi alice".to_owned())]);
    // (Alice also has Carol's line in the default room on its way.)
    match until(
        &mut alice,
        |f| matches!(f, ServerFrame::Chat { conversation, .. } if *conversation != general()),
    )
    .await
    {
        ServerFrame::Chat {
            conversation,
            message,
        } => {
            assert_eq!(conversation, direct("bob"));
            assert_eq!((message.id, message.text.as_str()), (2, "hi alice"));
        }
        _ => unreachable!(),
    }
    bye(bob).await;
    // Delivered once: after Bye, a new sign-in without a resume point does not get it again.
    let (mut bob, _) = server.join("bob").await;
    say_to(&mut bob, general(), 10, "back").await;
    let bob_saw = chats_until_receipt(&mut bob, &general(), 10).await;
    assert_eq!(bob_saw, [(general(), "back".to_owned())]);

    // Nobody owns "nobody": the line is refused with its nonce.
    say_to(&mut alice, direct("nobody"), 5, "hello?").await;
    match until(&mut alice, |f| matches!(f, ServerFrame::Problem { .. })).await {
        ServerFrame::Problem { code, nonce, .. } => {
            assert_eq!((code, nonce), (ProblemCode::NoSuchUser, Some(5)));
        }
        _ => unreachable!(),
    }
}

/// Says `Bye` and reads to the end of the stream: the server has let go of the session.
async fn bye(mut conn: Connection) {
    send(&mut conn, ClientFrame::Bye).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, conn.next_whole())
        .await
        .expect("the stream ends in time")
    {}
}

/// The direct lines `conn` gets before its own line in the default room comes back.
async fn direct_lines_before_own_line(conn: &mut Connection, nonce: u64) -> Vec<(u64, String)> {
    say_to(conn, general(), nonce, "here").await;
    let mut got = Vec::new();
    loop {
        match until(conn, |f| matches!(f, ServerFrame::Chat { .. })).await {
            ServerFrame::Chat {
                conversation: Conversation::Direct(_),
                message,
            } => got.push((message.id, message.text)),
            ServerFrame::Chat { message, .. } if message.nonce == nonce => return got,
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_direct_message_to_a_connection_that_vanished_is_handed_over_again() {
    let server = TestServer::start().await;
    let (mut bob, _) = server.join("bob").await;
    let (mut alice, _) = server.join("alice").await;
    say_to(&mut alice, direct("bob"), 1, "did you get this?").await;
    // It reaches Bob's connection live...
    match until(&mut bob, |f| matches!(f, ServerFrame::Chat { .. })).await {
        ServerFrame::Chat { conversation, .. } => assert_eq!(conversation, direct("alice")),
        _ => unreachable!(),
    }
    // ...which then vanishes without Bye: nobody knows whether the line was shown. A new
    // sign-in without a resume point is handed it again rather than never.
    drop(bob);
    let (mut bob, _) = server.join("bob").await;
    assert_eq!(
        direct_lines_before_own_line(&mut bob, 1).await,
        [(1, "did you get this?".to_owned())]
    );
    drop(bob);
    // A sign-in that names it in a resume point has it: delivered from then on.
    let seen = [ResumePoint {
        conversation: direct("alice"),
        last_id: 1,
    }];
    let (mut bob, _) = server
        .connector()
        .connect(&server.server_addr(), server.addr, "bob", &seen)
        .await
        .expect("bob resumes");
    assert_eq!(direct_lines_before_own_line(&mut bob, 2).await, []);
    drop(bob);
    let (mut bob, _) = server.join("bob").await;
    assert_eq!(direct_lines_before_own_line(&mut bob, 3).await, []);
}

#[tokio::test]
async fn resume_after_a_reconnect_is_exact_per_conversation() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.join("alice").await;
    let (mut bob, _) = server.join("bob").await;
    join_room(&mut alice, "#a").await;
    join_room(&mut bob, "#a").await;
    for n in 1..=3 {
        say_to(&mut bob, room("#a"), n, &format!("a{n}")).await;
    }
    say_to(&mut bob, general(), 4, "g1").await;
    say_to(&mut bob, direct("alice"), 5, "d1").await;
    let seen = chats_until_receipt(&mut bob, &direct("alice"), 5).await;
    assert_eq!(seen.len(), 5);
    // Alice read everything so far: where she is in each conversation.
    let mut last = std::collections::HashMap::new();
    while last.len() < 3 {
        if let ServerFrame::Chat {
            conversation,
            message,
        } = until(&mut alice, |f| matches!(f, ServerFrame::Chat { .. })).await
        {
            last.insert(conversation, message.id);
        }
    }
    assert_eq!(last[&room("#a")], 3);
    drop(alice);

    // While she is away: more in each conversation.
    say_to(&mut bob, room("#a"), 6, "a4").await;
    say_to(&mut bob, room("#a"), 7, "a5").await;
    say_to(&mut bob, general(), 8, "g2").await;
    say_to(&mut bob, direct("alice"), 9, "d2").await;
    chats_until_receipt(&mut bob, &direct("alice"), 9).await;

    let resume: Vec<ResumePoint> = last
        .into_iter()
        .map(|(conversation, last_id)| ResumePoint {
            conversation,
            last_id,
        })
        .collect();
    let (mut alice, welcome) = server
        .connector()
        .connect(&server.server_addr(), server.addr, "alice", &resume)
        .await
        .expect("alice resumes");
    let texts =
        |w: &Welcome| -> Vec<String> { w.history().iter().map(|m| m.text.clone()).collect() };
    assert_eq!(
        texts(&welcome),
        ["g2"],
        "the default room: exactly what was missed"
    );
    match next(&mut alice).await {
        ServerFrame::RoomJoined(state) => {
            let missed: Vec<&str> = state.history.iter().map(|m| m.text.as_str()).collect();
            assert_eq!((state.room.as_str(), missed), ("#a", vec!["a4", "a5"]));
        }
        other => panic!("expected #a back, got {other:?}"),
    }
    match next(&mut alice).await {
        ServerFrame::Chat {
            conversation,
            message,
        } => {
            assert_eq!((conversation, message.text.as_str()), (direct("bob"), "d2"));
        }
        other => panic!("expected the missed direct message, got {other:?}"),
    }
    // And nothing more: her own next line is the next frame with a line in it.
    say_to(&mut alice, general(), 1, "back").await;
    let rest = chats_until_receipt(&mut alice, &general(), 1).await;
    assert_eq!(rest, [(general(), "back".to_owned())]);
}

#[tokio::test]
async fn the_limits_give_their_problems() {
    let server = TestServer::start_with(|c| {
        c.limits.max_rooms_per_user = 3;
        c.limits.max_rooms = 4;
        c.limits.max_room_members = 1;
        c.limits.max_topic_bytes = 5;
    })
    .await;
    let (mut alice, welcome) = server.join("alice").await;
    assert_eq!(welcome.limits.max_rooms_per_user, 3);
    assert_eq!(welcome.limits.max_topic_bytes, 5);
    let (mut bob, _) = server.join("bob").await;
    join_room(&mut alice, "#one").await;
    join_room(&mut alice, "#two").await;
    // The default room counts: #general, #one and #two are three.
    send(&mut alice, ClientFrame::JoinRoom { room: "#x".into() }).await;
    assert_eq!(problem(&mut alice).await, ProblemCode::TooManyRooms);
    join_room(&mut bob, "#three").await;
    send(
        &mut bob,
        ClientFrame::JoinRoom {
            room: "#four".into(),
        },
    )
    .await;
    assert_eq!(problem(&mut bob).await, ProblemCode::ServerRoomsFull);
    send(
        &mut bob,
        ClientFrame::JoinRoom {
            room: "#one".into(),
        },
    )
    .await;
    assert_eq!(problem(&mut bob).await, ProblemCode::RoomFull);
    send(
        &mut alice,
        ClientFrame::SetTopic {
            room: "#one".into(),
            topic: "too long".into(),
        },
    )
    .await;
    assert_eq!(problem(&mut alice).await, ProblemCode::TopicTooLong);
    for bad in ["one", "#", "#a b", "##a"] {
        send(&mut alice, ClientFrame::JoinRoom { room: bad.into() }).await;
        assert_eq!(
            problem(&mut alice).await,
            ProblemCode::InvalidRoomName,
            "{bad}"
        );
    }
    send(
        &mut bob,
        ClientFrame::PartRoom {
            room: "#nope".into(),
        },
    )
    .await;
    assert_eq!(problem(&mut bob).await, ProblemCode::NoSuchRoom);
    send(
        &mut bob,
        ClientFrame::PartRoom {
            room: "#one".into(),
        },
    )
    .await;
    assert_eq!(problem(&mut bob).await, ProblemCode::NotInRoom);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_restart_keeps_rooms_topics_memberships_and_pending_direct_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = testkit::ports::free_udp_port().expect("a free UDP port");
    let ca = dir.path().join("certs").join("ca.pem");
    let mut server = spawn_chat_server_in(dir.path(), port, &[]).await;
    {
        let (bob, _) = join_process(port, &ca, "bob").await;
        drop(bob);
        let (mut alice, _) = join_process(port, &ca, "alice").await;
        join_room(&mut alice, "#kept").await;
        send(
            &mut alice,
            ClientFrame::SetTopic {
                room: "#kept".into(),
                topic: "still here".into(),
            },
        )
        .await;
        until(&mut alice, |f| matches!(f, ServerFrame::Topic { .. })).await;
        say_to(&mut alice, room("#kept"), 1, "before the kill").await;
        say_to(&mut alice, direct("bob"), 2, "for later").await;
        chats_until_receipt(&mut alice, &direct("bob"), 2).await;
    }
    server.start_kill().expect("SIGKILL");
    server.wait().await.expect("reaped");
    let _server = spawn_chat_server_in(dir.path(), port, &[]).await;

    // Alice is back in #kept, with its topic and its line.
    let (mut alice, _) = join_process(port, &ca, "alice").await;
    match tokio::time::timeout(WAIT, next(&mut alice))
        .await
        .expect("in time")
    {
        ServerFrame::RoomJoined(state) => {
            assert_eq!(
                (state.room.as_str(), state.topic.as_str()),
                ("#kept", "still here")
            );
            let lines: Vec<(u64, &str)> = state
                .history
                .iter()
                .map(|m| (m.id, m.text.as_str()))
                .collect();
            assert_eq!(lines, [(1, "before the kill")]);
        }
        other => panic!("expected #kept back, got {other:?}"),
    }
    // Ids go on in the room after the restart.
    say_to(&mut alice, room("#kept"), 3, "after").await;
    match until(&mut alice, |f| matches!(f, ServerFrame::Chat { .. })).await {
        ServerFrame::Chat { message, .. } => assert_eq!(message.id, 2),
        _ => unreachable!(),
    }
    // Bob gets the message sent while he was offline.
    let (mut bob, _) = join_process(port, &ca, "bob").await;
    match until(&mut bob, |f| matches!(f, ServerFrame::Chat { .. })).await {
        ServerFrame::Chat {
            conversation,
            message,
        } => assert_eq!(
            (conversation, message.text.as_str()),
            (direct("alice"), "for later")
        ),
        _ => unreachable!(),
    }
}
