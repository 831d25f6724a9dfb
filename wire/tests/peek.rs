//! `ServerFrameKind` against real encodings: the kind read from a body's first byte is the variant
//! that was encoded, for every variant, and the numbers are pinned so that reordering `ServerFrame`
//! fails here.

use wire::{
    ChatMessage, Conversation, DecodeError, DirectState, LeaveReason, Limits, PresenceChange,
    ProblemCode, RefuseReason, RoomInfo, RoomState, ServerFrame, ServerFrameKind, WelcomeRef,
    decode_body,
};

const LIMITS: Limits = Limits {
    lines_per_sec: 20,
    burst: 40,
    max_line_bytes: 4096,
    max_frame_bytes: 65536,
    strikes_allowed: 20,
    max_rooms_per_user: 50,
    max_topic_bytes: 300,
};

fn msg() -> ChatMessage {
    ChatMessage {
        id: 7,
        from: "al".into(),
        nonce: 5,
        text: "hi".into(),
        at_ms: 1000,
    }
}

/// One frame of every variant, in declaration order.
fn one_of_each() -> Vec<ServerFrame> {
    vec![
        ServerFrame::Welcome {
            you: "al".into(),
            rooms: vec![general(vec!["al".into(), "bo".into()])],
            direct: vec![DirectState {
                with: "bo".into(),
                history: vec![msg()],
            }],
            limits: LIMITS,
        },
        ServerFrame::Refused {
            reason: RefuseReason::UnsupportedVersion { supported: 2 },
        },
        ServerFrame::Chat {
            conversation: Conversation::Room("#general".into()),
            message: msg(),
        },
        ServerFrame::Joined { user: "al".into() },
        ServerFrame::Left {
            user: "al".into(),
            why: LeaveReason::Dropped,
        },
        ServerFrame::Users {
            room: "#general".into(),
            list: vec!["al".into()],
        },
        ServerFrame::Problem {
            code: ProblemCode::TooFast,
            nonce: None,
            detail: "slow down".into(),
        },
        ServerFrame::ShuttingDown {
            reason: "bye".into(),
        },
        ServerFrame::Presence {
            room: "#general".into(),
            changes: vec![PresenceChange::Joined { user: "al".into() }],
        },
        ServerFrame::Reply {
            id: 1,
            reply: wire::Reply::Done {
                detail: "ok".into(),
            },
        },
        ServerFrame::Removed {
            by: "op".into(),
            reason: "spam".into(),
            banned: false,
        },
        ServerFrame::Replaced {
            fingerprint: [7; 32],
        },
        ServerFrame::RoomJoined(general(vec!["al".into()])),
        ServerFrame::RoomLeft {
            room: "#general".into(),
        },
        ServerFrame::Rooms {
            list: vec![RoomInfo {
                room: "#general".into(),
                topic: "t".into(),
                members: 2,
            }],
        },
        ServerFrame::Topic {
            room: "#general".into(),
            topic: "t".into(),
            by: "al".into(),
        },
    ]
}

fn general(users: Vec<String>) -> RoomState {
    RoomState {
        room: "#general".into(),
        topic: "t".into(),
        users,
        history: vec![msg()],
    }
}

fn body(frame: &ServerFrame) -> Vec<u8> {
    let framed = wire::encode(frame, wire::MAX_SERVER_FRAME).expect("encodes");
    framed[wire::LENGTH_PREFIX..].to_vec()
}

#[test]
fn every_variant_is_read_as_its_own_kind() {
    let frames = one_of_each();
    assert_eq!(
        frames.len(),
        ServerFrameKind::ALL.len(),
        "a kind per variant"
    );
    for (frame, kind) in frames.iter().zip(ServerFrameKind::ALL) {
        assert_eq!(frame.kind(), kind, "{frame:?}");
        assert_eq!(ServerFrameKind::of(&body(frame)), Some(kind), "{frame:?}");
    }
}

#[test]
fn the_variant_indices_are_pinned() {
    use ServerFrameKind as K;
    let pinned = [
        (K::Welcome, 0),
        (K::Refused, 1),
        (K::Chat, 2),
        (K::Joined, 3),
        (K::Left, 4),
        (K::Users, 5),
        (K::Problem, 6),
        (K::ShuttingDown, 7),
        (K::Presence, 8),
        (K::Reply, 9),
        (K::Removed, 10),
        (K::Replaced, 11),
        (K::RoomJoined, 12),
        (K::RoomLeft, 13),
        (K::Rooms, 14),
        (K::Topic, 15),
    ];
    assert_eq!(pinned.len(), K::ALL.len());
    for ((kind, index), listed) in pinned.into_iter().zip(K::ALL) {
        assert_eq!(kind, listed, "ALL is in variant order");
        assert_eq!(kind.index(), index, "{kind:?}");
        assert_eq!(K::of(&[index as u8]), Some(kind));
    }
}

#[test]
fn no_kind_for_empty_or_unknown_bodies() {
    assert_eq!(ServerFrameKind::of(&[]), None);
    assert_eq!(ServerFrameKind::of(&[16]), None);
    assert_eq!(ServerFrameKind::of(&[0x80, 0x01]), None, "a two-byte index");
    assert_eq!(ServerFrameKind::of(&[0xff]), None);
}

#[test]
fn a_body_decodes_strictly() {
    for frame in one_of_each() {
        let bytes = body(&frame);
        assert_eq!(decode_body::<ServerFrame>(&bytes), Ok(frame.clone()));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            decode_body::<ServerFrame>(&longer),
            Err(DecodeError::TrailingBytes(1))
        );
        assert_eq!(
            decode_body::<ServerFrame>(&bytes[..bytes.len() - 1]),
            Err(DecodeError::Truncated),
            "{frame:?}"
        );
    }
    assert_eq!(
        decode_body::<ServerFrame>(&[]),
        Err(DecodeError::EmptyFrame)
    );
}

#[test]
fn a_borrowed_welcome_reads_what_the_owned_one_encodes() {
    let welcome = body(&one_of_each()[0]);
    let read = WelcomeRef::decode(&welcome).expect("decodes");
    assert_eq!(read.you, "al");
    assert_eq!(read.rooms.len(), 1);
    assert_eq!(read.rooms[0].room, "#general");
    assert_eq!(read.rooms[0].topic, "t");
    assert_eq!(read.rooms[0].users, ["al", "bo"]);
    assert_eq!(read.rooms[0].history, [msg()]);
    assert_eq!(read.direct[0].with, "bo");
    assert_eq!(read.limits.max_line_bytes, 4096);
    assert_eq!(read.limits.max_topic_bytes, 300);

    let empty = body(&ServerFrame::Welcome {
        you: "x".into(),
        rooms: Vec::new(),
        direct: Vec::new(),
        limits: LIMITS,
    });
    assert_eq!(WelcomeRef::decode(&empty).expect("decodes").rooms.len(), 0);
}

#[test]
fn a_borrowed_welcome_refuses_anything_else() {
    for frame in &one_of_each()[1..] {
        assert_eq!(
            WelcomeRef::decode(&body(frame)),
            Err(DecodeError::UnknownVariant),
            "{frame:?}"
        );
    }
    let welcome = body(&one_of_each()[0]);
    assert_eq!(WelcomeRef::decode(&[]), Err(DecodeError::EmptyFrame));
    assert_eq!(WelcomeRef::decode(&[0]), Err(DecodeError::Truncated));
    assert_eq!(
        WelcomeRef::decode(&welcome[..welcome.len() - 1]),
        Err(DecodeError::Truncated)
    );
    let mut longer = welcome.clone();
    longer.extend([1, 2]);
    assert_eq!(
        WelcomeRef::decode(&longer),
        Err(DecodeError::TrailingBytes(2))
    );
}
