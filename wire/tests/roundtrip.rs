//! Every frame survives encode → decode, however the bytes are split on the way.

use wire::{
    ChatMessage, ClientFrame, Conversation, DirectState, FrameDecoder, LeaveReason, Limits,
    MAX_CLIENT_FRAME, MAX_SERVER_FRAME, PresenceChange, ProblemCode, RefuseReason, ResumePoint,
    RoomInfo, RoomState, ServerFrame, encode,
};

fn client_frames() -> Vec<ClientFrame> {
    vec![
        ClientFrame::Hello {
            version: 1,
            user: "alice".into(),
            resume: Vec::new(),
        },
        ClientFrame::Hello {
            version: 7,
            user: "Zoë 🦀".into(),
            resume: vec![
                ResumePoint {
                    conversation: Conversation::Room("#general".into()),
                    last_id: u64::MAX,
                },
                ResumePoint {
                    conversation: Conversation::Direct("bob".into()),
                    last_id: 0,
                },
            ],
        },
        ClientFrame::Say {
            nonce: 42,
            to: Conversation::Room("#general".into()),
            text: "hello, world".into(),
        },
        ClientFrame::Say {
            nonce: 0,
            to: Conversation::Direct("bob".into()),
            text: String::new(),
        },
        ClientFrame::ListUsers {
            room: "#general".into(),
        },
        ClientFrame::Bye,
        ClientFrame::JoinRoom {
            room: "#rust".into(),
        },
        ClientFrame::PartRoom {
            room: "#rust".into(),
        },
        ClientFrame::ListRooms,
        ClientFrame::SetTopic {
            room: "#rust".into(),
            topic: "crabs ✓".into(),
        },
    ]
}

fn server_frames() -> Vec<ServerFrame> {
    let msg = ChatMessage {
        id: 9,
        from: "bob".into(),
        nonce: 3,
        text: "hi ✓".into(),
        at_ms: 1_764_000_000_000,
    };
    let mut frames = vec![
        ServerFrame::Welcome {
            you: "alice".into(),
            rooms: vec![RoomState {
                room: "#general".into(),
                topic: "hello".into(),
                users: vec!["alice".into(), "bob".into()],
                history: vec![msg.clone()],
            }],
            direct: vec![DirectState {
                with: "bob".into(),
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
        ServerFrame::Chat {
            conversation: Conversation::Room("#general".into()),
            message: msg.clone(),
        },
        ServerFrame::Chat {
            conversation: Conversation::Direct("bob".into()),
            message: msg.clone(),
        },
        ServerFrame::RoomJoined(RoomState {
            room: "#rust".into(),
            topic: String::new(),
            users: vec!["alice".into()],
            history: vec![msg],
        }),
        ServerFrame::RoomLeft {
            room: "#rust".into(),
        },
        ServerFrame::Rooms {
            list: vec![RoomInfo {
                room: "#rust".into(),
                topic: "crabs".into(),
                members: 3,
            }],
        },
        ServerFrame::Topic {
            room: "#rust".into(),
            topic: "crabs".into(),
            by: "alice".into(),
        },
        ServerFrame::Joined {
            user: "carol".into(),
        },
        ServerFrame::Users {
            room: "#general".into(),
            list: vec!["a".into(), "b".into()],
        },
        ServerFrame::Problem {
            code: ProblemCode::TooLong,
            nonce: Some(5),
            detail: "limit is 4096 bytes".into(),
        },
        ServerFrame::Problem {
            code: ProblemCode::TooFast,
            nonce: None,
            detail: String::new(),
        },
        ServerFrame::ShuttingDown {
            reason: "maintenance".into(),
        },
        ServerFrame::Presence {
            room: "#general".into(),
            changes: vec![],
        },
        ServerFrame::Presence {
            room: "#general".into(),
            changes: vec![
                PresenceChange::Joined {
                    user: "erin".into(),
                },
                PresenceChange::Left {
                    user: "erin".into(),
                    why: LeaveReason::TooSlow,
                },
            ],
        },
    ];
    for reason in [
        RefuseReason::NameTaken,
        RefuseReason::InvalidName("blank".into()),
        RefuseReason::ServerFull,
        RefuseReason::UnsupportedVersion { supported: 1 },
    ] {
        frames.push(ServerFrame::Refused { reason });
    }
    for why in [
        LeaveReason::Quit,
        LeaveReason::TimedOut,
        LeaveReason::Dropped,
        LeaveReason::TooSlow,
        LeaveReason::Misbehaved,
    ] {
        frames.push(ServerFrame::Left {
            user: "dave".into(),
            why,
        });
    }
    for code in [ProblemCode::Empty, ProblemCode::AlreadyJoined] {
        frames.push(ServerFrame::Problem {
            code,
            nonce: None,
            detail: "x".into(),
        });
    }
    frames
}

#[test]
fn every_client_frame_round_trips() {
    for frame in client_frames() {
        let bytes = encode(&frame, MAX_CLIENT_FRAME).expect("encodes");
        let mut dec = FrameDecoder::new(MAX_CLIENT_FRAME);
        dec.push(&bytes);
        assert_eq!(dec.next_frame::<ClientFrame>(), Ok(Some(frame)));
        assert_eq!(dec.next_frame::<ClientFrame>(), Ok(None));
        assert_eq!(dec.finish(), Ok(()));
    }
}

#[test]
fn every_server_frame_round_trips() {
    for frame in server_frames() {
        let bytes = encode(&frame, MAX_SERVER_FRAME).expect("encodes");
        let mut dec = FrameDecoder::new(MAX_SERVER_FRAME);
        dec.push(&bytes);
        assert_eq!(dec.next_frame::<ServerFrame>(), Ok(Some(frame)));
        assert_eq!(dec.next_frame::<ServerFrame>(), Ok(None));
    }
}

#[test]
fn frames_split_byte_by_byte_and_batched_decode_alike() {
    let frames = server_frames();
    let mut stream = Vec::new();
    for f in &frames {
        stream.extend_from_slice(&encode(f, MAX_SERVER_FRAME).expect("encodes"));
    }

    // One byte at a time.
    let mut dec = FrameDecoder::new(MAX_SERVER_FRAME);
    let mut got = Vec::new();
    for b in &stream {
        dec.push(std::slice::from_ref(b));
        while let Some(f) = dec.next_frame::<ServerFrame>().expect("valid") {
            got.push(f);
        }
    }
    assert_eq!(got, frames);

    // Everything in one push.
    let mut dec = FrameDecoder::new(MAX_SERVER_FRAME);
    dec.push(&stream);
    let mut got = Vec::new();
    while let Some(f) = dec.next_frame::<ServerFrame>().expect("valid") {
        got.push(f);
    }
    assert_eq!(got, frames);
    assert_eq!(dec.buffered(), 0);
}
