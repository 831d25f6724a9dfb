//! Golden byte vectors: the exact bytes of each frame on the wire. If one of these changes, old peers
//! can no longer talk to new ones: bump `PROTOCOL_VERSION` and update the vectors deliberately.

use wire::{
    ChatMessage, ClientFrame, LeaveReason, Limits, MAX_SERVER_FRAME, PresenceChange, ProblemCode,
    RefuseReason, ServerFrame, encode,
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
        (
            ClientFrame::Hello {
                version: 1,
                user: "al".into(),
                resume_after: None,
            },
            "00 00 00 06 00 01 02 61 6c 00",
        ),
        (
            ClientFrame::Hello {
                version: 1,
                user: "al".into(),
                resume_after: Some(300),
            },
            "00 00 00 08 00 01 02 61 6c 01 ac 02",
        ),
        (
            ClientFrame::Say {
                nonce: 5,
                text: "hi".into(),
            },
            "00 00 00 05 01 05 02 68 69",
        ),
        (
            ClientFrame::Hello {
                version: wire::PROTOCOL_VERSION,
                user: "al".into(),
                resume_after: None,
            },
            "00 00 00 06 00 03 02 61 6c 00",
        ),
        (ClientFrame::ListUsers, "00 00 00 01 02"),
        (ClientFrame::Bye, "00 00 00 01 03"),
    ];
    for (frame, bytes) in cases {
        assert_eq!(hex(frame), *bytes, "{frame:?}");
    }
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
                users: vec!["al".into()],
                history: vec![msg.clone()],
                limits: Limits {
                    lines_per_sec: 20,
                    burst: 40,
                    max_line_bytes: 4096,
                    max_frame_bytes: 65536,
                    strikes_allowed: 20,
                },
            },
            "00 00 00 1b 00 02 61 6c 01 02 61 6c 01 01 02 61 6c 05 02 68 69 e8 07 \
             14 28 80 20 80 80 04 14",
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
            ServerFrame::Chat(msg),
            "00 00 00 0b 02 01 02 61 6c 05 02 68 69 e8 07",
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
                list: vec!["a".into(), "b".into()],
            },
            "00 00 00 06 05 02 01 61 01 62",
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
                changes: vec![
                    PresenceChange::Joined { user: "al".into() },
                    PresenceChange::Left {
                        user: "al".into(),
                        why: LeaveReason::Quit,
                    },
                ],
            },
            "00 00 00 0b 08 02 00 02 61 6c 01 02 61 6c 00",
        ),
    ];
    for (frame, bytes) in cases {
        assert_eq!(hex(frame), *bytes, "{frame:?}");
    }
}
