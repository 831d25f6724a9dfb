//! Golden byte vectors: the exact bytes of each frame on the wire. If one of these changes, old peers
//! can no longer talk to new ones: bump `PROTOCOL_VERSION` and update the vectors deliberately.

use wire::{
    ChatMessage, ClientFrame, Device, LeaveReason, Limits, MAX_SERVER_FRAME, PresenceChange,
    ProblemCode, RefuseReason, Reply, Request, ServerFrame, encode,
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
            "00 00 00 06 00 04 02 61 6c 00",
        ),
        (ClientFrame::ListUsers, "00 00 00 01 02"),
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
    ];
    for (frame, bytes) in cases {
        assert_eq!(hex(frame), *bytes, "{frame:?}");
    }
}
