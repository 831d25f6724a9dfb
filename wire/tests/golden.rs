//! Golden byte vectors: the exact bytes of each frame on the wire. If one of these changes, old peers
//! can no longer talk to new ones: bump `PROTOCOL_VERSION` and update the vectors deliberately.

use wire::{
    ChatMessage, ClientFrame, Conversation, Device, DirectState, LeaveReason, Limits,
    MAX_SERVER_FRAME, PresenceChange, ProblemCode, RefuseReason, Reply, Request, ResumePoint,
    RoomInfo, RoomState, ServerFrame, encode,
};

fn hex(frame: &impl serde::Serialize) -> String {
    encode(frame, MAX_SERVER_FRAME)
        .expect("encodes")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn client_frames_are_pinned() {
    let cases: &[(ClientFrame, &str)] = &[
        // Version 5: conversations.
        (
            ClientFrame::Hello {
                version: wire::PROTOCOL_VERSION,
                user: "al".into(),
                resume: Vec::new(),
            },
            "00 00 00 06 00 05 02 61 6c 00",
        ),
        (
            ClientFrame::Hello {
                version: 5,
                user: "al".into(),
                resume: vec![
                    ResumePoint {
                        conversation: Conversation::Room("#g".into()),
                        last_id: 300,
                    },
                    ResumePoint {
                        conversation: Conversation::Direct("bo".into()),
                        last_id: 1,
                    },
                ],
            },
            "00 00 00 11 00 05 02 61 6c 02 00 02 23 67 ac 02 01 02 62 6f 01",
        ),
        (
            ClientFrame::Say {
                nonce: 5,
                to: Conversation::Room("#g".into()),
                text: "hi".into(),
            },
            "00 00 00 09 01 05 00 02 23 67 02 68 69",
        ),
        (
            ClientFrame::Say {
                nonce: 5,
                to: Conversation::Direct("bo".into()),
                text: "hi".into(),
            },
            "00 00 00 09 01 05 01 02 62 6f 02 68 69",
        ),
        (
            ClientFrame::ListUsers { room: "#g".into() },
            "00 00 00 04 02 02 23 67",
        ),
        (ClientFrame::Bye, "00 00 00 01 03"),
        // Version 4: codes and requests.
        (
            ClientFrame::Redeem { code: "AB".into() },
            "00 00 00 04 04 02 41 42",
        ),
        (
            ClientFrame::Request {
                id: 1,
                request: Request::WhoAmI,
            },
            "00 00 00 03 05 01 00",
        ),
        (
            ClientFrame::Request {
                id: 2,
                request: Request::Kick {
                    user: "al".into(),
                    reason: "x".into(),
                },
            },
            "00 00 00 08 05 02 04 02 61 6c 01 78",
        ),
        (
            ClientFrame::Request {
                id: 3,
                request: Request::Revoke {
                    fingerprint: "ab".into(),
                },
            },
            "00 00 00 06 05 03 03 02 61 62",
        ),
        (
            ClientFrame::Request {
                id: 300,
                request: Request::Invite,
            },
            "00 00 00 04 05 ac 02 08",
        ),
        // Version 5: rooms.
        (
            ClientFrame::JoinRoom { room: "#g".into() },
            "00 00 00 04 06 02 23 67",
        ),
        (
            ClientFrame::PartRoom { room: "#g".into() },
            "00 00 00 04 07 02 23 67",
        ),
        (ClientFrame::ListRooms, "00 00 00 01 08"),
        (
            ClientFrame::SetTopic {
                room: "#g".into(),
                topic: "t".into(),
            },
            "00 00 00 06 09 02 23 67 01 74",
        ),
    ];
    let mut wrong = Vec::new();
    for (frame, bytes) in cases {
        if hex(frame) != *bytes {
            wrong.push(format!("{frame:?}\n  is   {}\n  want {bytes}", hex(frame)));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn server_frames_are_pinned() {
    let msg = ChatMessage {
        id: 1,
        from: "al".into(),
        nonce: 5,
        text: "hi".into(),
        at_ms: 1000,
    };
    let cases: &[(ServerFrame, &str)] = &[
        (
            ServerFrame::Welcome {
                you: "al".into(),
                rooms: vec![RoomState {
                    room: "#g".into(),
                    topic: "t".into(),
                    users: vec!["al".into()],
                    history: vec![msg.clone()],
                }],
                direct: vec![DirectState {
                    with: "bo".into(),
                    history: vec![msg.clone()],
                }],
                limits: Limits {
                    lines_per_sec: 20,
                    burst: 40,
                    max_line_bytes: 4096,
                    max_frame_bytes: 65536,
                    strikes_allowed: 20,
                    max_rooms_per_user: 50,
                    max_topic_bytes: 300,
                },
            },
            "00 00 00 33 00 02 61 6c 01 02 23 67 01 74 01 02 61 6c 01 01 02 61 6c 05 02 68 69 e8 07 01 02 62 6f 01 01 02 61 6c 05 02 68 69 e8 07 14 28 80 20 80 80 04 14 32 ac 02",
        ),
        (
            ServerFrame::Refused {
                reason: RefuseReason::NameTaken,
            },
            "00 00 00 02 01 00",
        ),
        (
            ServerFrame::Refused {
                reason: RefuseReason::UnsupportedVersion { supported: 1 },
            },
            "00 00 00 03 01 03 01",
        ),
        (
            ServerFrame::Chat {
                conversation: Conversation::Room("#g".into()),
                message: msg.clone(),
            },
            "00 00 00 0f 02 00 02 23 67 01 02 61 6c 05 02 68 69 e8 07",
        ),
        (
            ServerFrame::Chat {
                conversation: Conversation::Direct("bo".into()),
                message: msg.clone(),
            },
            "00 00 00 0f 02 01 02 62 6f 01 02 61 6c 05 02 68 69 e8 07",
        ),
        (
            ServerFrame::Joined { user: "al".into() },
            "00 00 00 04 03 02 61 6c",
        ),
        (
            ServerFrame::Left {
                user: "al".into(),
                why: LeaveReason::TimedOut,
            },
            "00 00 00 05 04 02 61 6c 01",
        ),
        (
            ServerFrame::Users {
                room: "#g".into(),
                list: vec!["a".into(), "b".into()],
            },
            "00 00 00 09 05 02 23 67 02 01 61 01 62",
        ),
        (
            ServerFrame::Problem {
                code: ProblemCode::TooLong,
                nonce: Some(5),
                detail: "x".into(),
            },
            "00 00 00 06 06 00 01 05 01 78",
        ),
        (
            ServerFrame::ShuttingDown {
                reason: "bye".into(),
            },
            "00 00 00 05 07 03 62 79 65",
        ),
        (
            ServerFrame::Presence {
                room: "#g".into(),
                changes: vec![
                    PresenceChange::Joined { user: "al".into() },
                    PresenceChange::Left {
                        user: "al".into(),
                        why: LeaveReason::Quit,
                    },
                ],
            },
            "00 00 00 0e 08 02 23 67 02 00 02 61 6c 01 02 61 6c 00",
        ),
        // Version 4: owned names.
        (
            ServerFrame::Refused {
                reason: RefuseReason::NameOwned,
            },
            "00 00 00 02 01 05",
        ),
        (
            ServerFrame::Refused {
                reason: RefuseReason::Banned { reason: "x".into() },
            },
            "00 00 00 04 01 06 01 78",
        ),
        (
            ServerFrame::Refused {
                reason: RefuseReason::TooManyGuesses,
            },
            "00 00 00 02 01 0a",
        ),
        (
            ServerFrame::Left {
                user: "al".into(),
                why: LeaveReason::Kicked,
            },
            "00 00 00 05 04 02 61 6c 05",
        ),
        (
            ServerFrame::Reply {
                id: 1,
                reply: Reply::Identity {
                    fingerprint: [7; 32],
                    operator: true,
                    names: vec!["al".into()],
                },
            },
            "00 00 00 28 09 01 00 \
             07 07 07 07 07 07 07 07 07 07 07 07 07 07 07 07 \
             07 07 07 07 07 07 07 07 07 07 07 07 07 07 07 07 \
             01 01 02 61 6c",
        ),
        (
            ServerFrame::Reply {
                id: 2,
                reply: Reply::Code {
                    code: "AB".into(),
                    valid_secs: 600,
                },
            },
            "00 00 00 08 09 02 01 02 41 42 d8 04",
        ),
        (
            ServerFrame::Reply {
                id: 3,
                reply: Reply::Devices {
                    list: vec![Device {
                        fingerprint: [1; 32],
                        first_seen_ms: 1,
                        last_seen_ms: 2,
                        this_device: true,
                    }],
                },
            },
            "00 00 00 27 09 03 02 01 \
             01 01 01 01 01 01 01 01 01 01 01 01 01 01 01 01 \
             01 01 01 01 01 01 01 01 01 01 01 01 01 01 01 01 \
             01 02 01",
        ),
        (
            ServerFrame::Reply {
                id: 4,
                reply: Reply::Done {
                    detail: "ok".into(),
                },
            },
            "00 00 00 06 09 04 03 02 6f 6b",
        ),
        (
            ServerFrame::Reply {
                id: 5,
                reply: Reply::Failed {
                    code: ProblemCode::NotAllowed,
                    detail: String::new(),
                },
            },
            "00 00 00 05 09 05 04 05 00",
        ),
        (
            ServerFrame::Removed {
                by: "op".into(),
                reason: "x".into(),
                banned: true,
            },
            "00 00 00 07 0a 02 6f 70 01 78 01",
        ),
        (
            ServerFrame::Replaced {
                fingerprint: [2; 32],
            },
            "00 00 00 21 0b \
             02 02 02 02 02 02 02 02 02 02 02 02 02 02 02 02 \
             02 02 02 02 02 02 02 02 02 02 02 02 02 02 02 02",
        ),
        (
            ServerFrame::Left {
                user: "al".into(),
                why: LeaveReason::Replaced,
            },
            "00 00 00 05 04 02 61 6c 07",
        ),
        // Version 5: rooms and direct conversations.
        (
            ServerFrame::RoomJoined(RoomState {
                room: "#g".into(),
                topic: String::new(),
                users: vec!["al".into()],
                history: vec![msg],
            }),
            "00 00 00 14 0c 02 23 67 00 01 02 61 6c 01 01 02 61 6c 05 02 68 69 e8 07",
        ),
        (
            ServerFrame::RoomLeft { room: "#g".into() },
            "00 00 00 04 0d 02 23 67",
        ),
        (
            ServerFrame::Rooms {
                list: vec![RoomInfo {
                    room: "#g".into(),
                    topic: "t".into(),
                    members: 3,
                }],
            },
            "00 00 00 08 0e 01 02 23 67 01 74 03",
        ),
        (
            ServerFrame::Topic {
                room: "#g".into(),
                topic: "t".into(),
                by: "al".into(),
            },
            "00 00 00 09 0f 02 23 67 01 74 02 61 6c",
        ),
        (
            ServerFrame::Problem {
                code: ProblemCode::NoSuchRoom,
                nonce: None,
                detail: String::new(),
            },
            "00 00 00 04 06 0a 00 00",
        ),
        (
            ServerFrame::Problem {
                code: ProblemCode::Unsupported,
                nonce: Some(1),
                detail: String::new(),
            },
            "00 00 00 05 06 11 01 01 00",
        ),
    ];
    let mut wrong = Vec::new();
    for (frame, bytes) in cases {
        if hex(frame) != *bytes {
            wrong.push(format!("{frame:?}\n  is   {}\n  want {bytes}", hex(frame)));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
