//! Writes the seed corpus: valid encoded frames of every kind, for each target.
//!
//! Run from `wire/`: `RUSTC_BOOTSTRAP=1 cargo fuzz build -O gen_corpus` then
//! `fuzz/target/x86_64-unknown-linux-gnu/release/gen_corpus`. The files are
//! committed; rerun after changing the frames.

use std::{fs, path::Path};

use wire::{
    ChatMessage, ClientFrame, LeaveReason, PROTOCOL_VERSION, PresenceChange, ProblemCode,
    RefuseReason, ServerFrame,
};
use wire_fuzz::session::{Input, Op};

fn general() -> wire::Conversation {
    wire::Conversation::Room("#general".into())
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let client_frames: Vec<(&str, ClientFrame)> = vec![
        (
            "hello",
            ClientFrame::Hello {
                version: PROTOCOL_VERSION,
                user: "alice".into(),
                resume: Vec::new(),
            },
        ),
        (
            "hello_resume",
            ClientFrame::Hello {
                version: PROTOCOL_VERSION,
                user: "Zoë 李".into(),
                resume: vec![
                    wire::ResumePoint {
                        conversation: general(),
                        last_id: 1234,
                    },
                    wire::ResumePoint {
                        conversation: wire::Conversation::Direct("bob".into()),
                        last_id: 3,
                    },
                ],
            },
        ),
        (
            "say",
            ClientFrame::Say {
                nonce: 7,
                to: general(),
                text: "hello, room".into(),
            },
        ),
        (
            "say_direct",
            ClientFrame::Say {
                nonce: 8,
                to: wire::Conversation::Direct("bob".into()),
                text: "psst".into(),
            },
        ),
        (
            "list_users",
            ClientFrame::ListUsers {
                room: "#general".into(),
            },
        ),
        ("bye", ClientFrame::Bye),
        (
            "join_room",
            ClientFrame::JoinRoom {
                room: "#rust".into(),
            },
        ),
        (
            "part_room",
            ClientFrame::PartRoom {
                room: "#rust".into(),
            },
        ),
        ("list_rooms", ClientFrame::ListRooms),
        (
            "set_topic",
            ClientFrame::SetTopic {
                room: "#rust".into(),
                topic: "crabs".into(),
            },
        ),
    ];
    let message = ChatMessage {
        id: 42,
        from: "alice".into(),
        nonce: 7,
        text: "hello, room".into(),
        at_ms: 1_700_000_000_000,
    };
    let server_frames: Vec<(&str, ServerFrame)> = vec![
        (
            "welcome",
            ServerFrame::Welcome {
                you: "bob".into(),
                rooms: vec![wire::RoomState {
                    room: "#general".into(),
                    topic: "hello".into(),
                    users: vec!["alice".into(), "bob".into()],
                    history: vec![message.clone()],
                }],
                direct: Vec::new(),
                limits: wire::Limits {
                    lines_per_sec: 20,
                    burst: 40,
                    max_line_bytes: 4096,
                    max_frame_bytes: 65536,
                    strikes_allowed: 20,
                    max_rooms_per_user: 50,
                    max_topic_bytes: 300,
                },
            },
        ),
        (
            "refused_taken",
            ServerFrame::Refused {
                reason: RefuseReason::NameTaken,
            },
        ),
        (
            "refused_invalid",
            ServerFrame::Refused {
                reason: RefuseReason::InvalidName("the name is empty or blank".into()),
            },
        ),
        (
            "refused_version",
            ServerFrame::Refused {
                reason: RefuseReason::UnsupportedVersion { supported: 1 },
            },
        ),
        (
            "chat",
            ServerFrame::Chat {
                conversation: general(),
                message: message.clone(),
            },
        ),
        (
            "chat_direct",
            ServerFrame::Chat {
                conversation: wire::Conversation::Direct("alice".into()),
                message: message.clone(),
            },
        ),
        (
            "room_joined",
            ServerFrame::RoomJoined(wire::RoomState {
                room: "#rust".into(),
                topic: String::new(),
                users: vec!["bob".into()],
                history: vec![message],
            }),
        ),
        (
            "room_left",
            ServerFrame::RoomLeft {
                room: "#rust".into(),
            },
        ),
        (
            "rooms",
            ServerFrame::Rooms {
                list: vec![wire::RoomInfo {
                    room: "#rust".into(),
                    topic: "crabs".into(),
                    members: 2,
                }],
            },
        ),
        (
            "topic",
            ServerFrame::Topic {
                room: "#rust".into(),
                topic: "crabs".into(),
                by: "alice".into(),
            },
        ),
        (
            "joined",
            ServerFrame::Joined {
                user: "carol".into(),
            },
        ),
        (
            "left",
            ServerFrame::Left {
                user: "carol".into(),
                why: LeaveReason::TimedOut,
            },
        ),
        (
            "presence",
            ServerFrame::Presence {
                room: "#general".into(),
                changes: vec![
                    PresenceChange::Joined {
                        user: "dave".into(),
                    },
                    PresenceChange::Left {
                        user: "carol".into(),
                        why: LeaveReason::Quit,
                    },
                ],
            },
        ),
        (
            "users",
            ServerFrame::Users {
                room: "#general".into(),
                list: vec!["alice".into(), "bob".into()],
            },
        ),
        (
            "problem",
            ServerFrame::Problem {
                code: ProblemCode::TooLong,
                nonce: Some(7),
                detail: "the message has 5000 bytes; the limit is 4096".into(),
            },
        ),
        (
            "shutting_down",
            ServerFrame::ShuttingDown {
                reason: "maintenance".into(),
            },
        ),
    ];

    // decode_*: a chunking byte, then the stream. One file per frame (in one piece and in 1-byte
    // chunks) and one with all frames in a row.
    write_decoder_seeds(
        &root.join("decode_client"),
        &client_frames,
        wire::MAX_CLIENT_FRAME,
    );
    write_decoder_seeds(
        &root.join("decode_server"),
        &server_frames,
        wire::MAX_SERVER_FRAME,
    );

    // server_session: typical conversations in the target's own input format.
    let dir = root.join("server_session");
    fs::create_dir_all(&dir).expect("corpus dir");
    let hello = |user: &str| Op::Hello {
        version: None,
        user: user.into(),
        resume_after: None,
    };
    let say = |nonce: u64, text: &str| Op::Say {
        nonce,
        text: text.into(),
    };
    let sessions: Vec<(&str, Input)> = vec![
        (
            "chat_and_bye",
            Input {
                finish: true,
                write_per_op: true,
                ops: vec![
                    hello("fuzzer"),
                    say(1, "hi"),
                    Op::ListUsers,
                    say(2, "bye now"),
                    Op::Bye,
                ],
            },
        ),
        (
            "hello_twice",
            Input {
                finish: true,
                write_per_op: false,
                ops: vec![hello("twice"), hello("twice"), Op::Pause, say(1, "x")],
            },
        ),
        (
            "resume",
            Input {
                finish: true,
                write_per_op: true,
                ops: vec![
                    Op::Hello {
                        version: None,
                        user: "back".into(),
                        resume_after: Some(3),
                    },
                    say(9, "I'm back"),
                    Op::Bye,
                ],
            },
        ),
        (
            "bad_version",
            Input {
                finish: true,
                write_per_op: true,
                ops: vec![Op::Hello {
                    version: Some(99),
                    user: "future".into(),
                    resume_after: None,
                }],
            },
        ),
        (
            "empty_and_blank",
            Input {
                finish: true,
                write_per_op: true,
                ops: vec![hello("blank"), say(1, ""), say(2, "   "), Op::ListUsers],
            },
        ),
        (
            "raw_after_hello",
            Input {
                finish: false,
                write_per_op: true,
                ops: vec![hello("rawer"), Op::Raw(vec![0, 0, 0, 3, 1, 1]), Op::Pause],
            },
        ),
    ];
    for (name, input) in sessions {
        fs::write(dir.join(name), input.to_bytes()).expect("write seed");
    }
    println!("seed corpus written to {}", root.display());
}

fn write_decoder_seeds<T: serde::Serialize>(dir: &Path, frames: &[(&str, T)], max: usize) {
    fs::create_dir_all(dir).expect("corpus dir");
    let mut all = vec![0u8];
    for (name, frame) in frames {
        let bytes = wire::encode(frame, max).expect("encodes");
        all.extend_from_slice(&bytes);
        for (mode, suffix) in [(0u8, ""), (64u8, "_bytewise")] {
            let mut seed = vec![mode];
            seed.extend_from_slice(&bytes);
            fs::write(dir.join(format!("{name}{suffix}")), seed).expect("write seed");
        }
    }
    fs::write(dir.join("all_in_a_row"), all).expect("write seed");
}
