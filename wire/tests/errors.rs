//! Each way the bytes can be wrong yields its own typed error, and never a panic.

use proptest::prelude::*;
use wire::{
    ClientFrame, DecodeError, Device, EncodeError, FrameDecoder, LENGTH_PREFIX, ProblemCode, Reply,
    Request, ServerFrame, encode,
};

fn framed(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn decode_one(bytes: &[u8]) -> Result<Option<ClientFrame>, DecodeError> {
    let mut dec = FrameDecoder::new(64 * 1024);
    dec.push(bytes);
    dec.next_frame()
}

#[test]
fn oversized_prefix_is_rejected_before_the_body_arrives() {
    let mut dec = FrameDecoder::new(1024);
    dec.push(&u32::MAX.to_be_bytes());
    assert_eq!(
        dec.next_frame::<ClientFrame>(),
        Err(DecodeError::FrameTooLarge {
            len: u64::from(u32::MAX),
            max: 1024
        })
    );
    // Nothing was reserved for the announced body: the buffer's allocation is still the size of
    // what was pushed (a few bytes), nowhere near the 4 GiB announced or even the 1 KiB limit.
    assert_eq!(dec.buffered(), 4);
    assert!(
        dec.capacity() < 64,
        "the decoder reserved {} bytes after a 4 GiB prefix",
        dec.capacity()
    );
}

#[test]
fn a_prefix_just_over_the_limit_reserves_nothing_either() {
    let mut dec = FrameDecoder::new(1024);
    dec.push(&1025u32.to_be_bytes());
    assert_eq!(
        dec.next_frame::<ClientFrame>(),
        Err(DecodeError::FrameTooLarge {
            len: 1025,
            max: 1024
        })
    );
    assert!(
        dec.capacity() < 64,
        "the decoder reserved {} bytes for a refused body",
        dec.capacity()
    );
}

#[test]
fn a_prefix_within_the_limit_reserves_its_body_in_one_allocation() {
    // The counterpart: an accepted length is reserved up front, so `capacity()` does see
    // reservations (the assertions above are not vacuous).
    let mut dec = FrameDecoder::new(64 * 1024);
    dec.push(&(60 * 1024u32).to_be_bytes());
    assert_eq!(dec.next_frame::<ClientFrame>(), Ok(None));
    assert!(
        dec.capacity() >= LENGTH_PREFIX + 60 * 1024,
        "reserved only {}",
        dec.capacity()
    );
}

#[test]
fn empty_frame_is_rejected() {
    assert_eq!(decode_one(&framed(&[])), Err(DecodeError::EmptyFrame));
}

#[test]
fn unknown_variant_is_rejected() {
    assert_eq!(
        decode_one(&framed(&[0x7f])),
        Err(DecodeError::UnknownVariant)
    );
}

#[test]
fn invalid_utf8_is_rejected() {
    // Say { nonce: 1, to: Room("#g"), text: [0xff, 0xfe] }
    assert_eq!(
        decode_one(&framed(&[1, 1, 0, 2, b'#', b'g', 2, 0xff, 0xfe])),
        Err(DecodeError::InvalidUtf8)
    );
}

#[test]
fn truncated_body_is_rejected() {
    // Say { nonce: 1, to: Room("#g"), text: <10 bytes announced, 1 present> }
    assert_eq!(
        decode_one(&framed(&[1, 1, 0, 2, b'#', b'g', 10, b'a'])),
        Err(DecodeError::Truncated)
    );
}

#[test]
fn trailing_bytes_are_rejected() {
    // Bye followed by two stray bytes inside the same frame.
    assert_eq!(
        decode_one(&framed(&[3, 0, 0])),
        Err(DecodeError::TrailingBytes(2))
    );
}

#[test]
fn stream_ending_inside_a_frame_is_reported() {
    let mut dec = FrameDecoder::new(1024);
    dec.push(&[0, 0, 0, 9, 1]);
    assert_eq!(dec.next_frame::<ClientFrame>(), Ok(None));
    assert_eq!(dec.finish(), Err(DecodeError::UnexpectedEof(5)));
}

#[test]
fn encoder_refuses_frames_over_the_limit() {
    let frame = ClientFrame::Say {
        nonce: 1,
        to: wire::Conversation::Room("#general".into()),
        text: "x".repeat(100),
    };
    assert!(matches!(
        encode(&frame, 50),
        Err(EncodeError::FrameTooLarge { max: 50, .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)) {
        let mut client = FrameDecoder::new(256);
        let mut server = FrameDecoder::new(256);
        for chunk in &chunks {
            client.push(chunk);
            server.push(chunk);
            // Drain until the decoder wants more bytes or reports an error.
            for _ in 0..1000 {
                match client.next_frame::<ClientFrame>() { Ok(Some(_)) => {}, _ => break }
            }
            for _ in 0..1000 {
                match server.next_frame::<ServerFrame>() { Ok(Some(_)) => {}, _ => break }
            }
        }
    }

    #[test]
    fn arbitrary_framed_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 1..200)) {
        let bytes = framed(&body);
        let _ = decode_one(&bytes);
        let mut dec = FrameDecoder::new(1024);
        dec.push(&bytes);
        let _ = dec.next_frame::<ServerFrame>();
    }

    #[test]
    fn say_round_trips_for_any_text(nonce in any::<u64>(), text in ".{0,200}") {
        let frame = ClientFrame::Say { nonce, to: wire::Conversation::Direct("bob".into()), text };
        let bytes = encode(&frame, 64 * 1024).expect("encodes");
        prop_assert_eq!(decode_one(&bytes), Ok(Some(frame)));
    }
}

// ---------------------------------------------------------------------------------------------------
// Version 4's frames (Redeem, Request, Reply, Removed): the same typed errors.

fn server_body(frame: &ServerFrame) -> Vec<u8> {
    encode(frame, wire::MAX_SERVER_FRAME).expect("encodes")[LENGTH_PREFIX..].to_vec()
}

fn client_body(frame: &ClientFrame) -> Vec<u8> {
    encode(frame, wire::MAX_CLIENT_FRAME).expect("encodes")[LENGTH_PREFIX..].to_vec()
}

fn decode_server(body: &[u8]) -> Result<Option<ServerFrame>, DecodeError> {
    let mut dec = FrameDecoder::new(wire::MAX_SERVER_FRAME);
    dec.push(&framed(body));
    dec.next_frame()
}

/// Replaces the bytes of `placeholder` in `body` with invalid UTF-8 of the same length.
fn spoil_utf8(mut body: Vec<u8>, placeholder: &str) -> Vec<u8> {
    let at = body
        .windows(placeholder.len())
        .position(|w| w == placeholder.as_bytes())
        .expect("placeholder");
    body[at..at + placeholder.len()].fill(0xff);
    body
}

fn account_frames() -> (Vec<ClientFrame>, Vec<ServerFrame>) {
    let client = vec![
        ClientFrame::Redeem {
            code: "7K2QD-M9XAT-4HC1R-ZP0WE".into(),
        },
        ClientFrame::Request {
            id: 300,
            request: Request::Ban {
                user: "mallory".into(),
                reason: "r".repeat(1000),
            },
        },
        ClientFrame::Request {
            id: 1,
            request: Request::Revoke {
                fingerprint: "3f2a:91c0:5be7:d410".into(),
            },
        },
    ];
    let server = vec![
        ServerFrame::Reply {
            id: 7,
            reply: Reply::Identity {
                fingerprint: [0xab; 32],
                operator: true,
                names: vec!["alice".into(), "al".into()],
            },
        },
        ServerFrame::Reply {
            id: 8,
            reply: Reply::Devices {
                list: vec![Device {
                    fingerprint: [1; 32],
                    first_seen_ms: 1,
                    last_seen_ms: u64::MAX,
                    this_device: true,
                }],
            },
        },
        ServerFrame::Reply {
            id: 9,
            reply: Reply::Failed {
                code: ProblemCode::NotAllowed,
                detail: "no".into(),
            },
        },
        ServerFrame::Removed {
            by: "opal".into(),
            reason: "spam".into(),
            banned: true,
        },
    ];
    (client, server)
}

#[test]
fn every_cut_of_a_version_4_frame_is_a_typed_error() {
    let (client, server) = account_frames();
    for frame in &client {
        let body = client_body(frame);
        assert_eq!(decode_one(&framed(&body)), Ok(Some(frame.clone())));
        for cut in 1..body.len() {
            let got = decode_one(&framed(&body[..cut]));
            assert!(got.is_err(), "{frame:?} cut at {cut} decoded as {got:?}");
        }
    }
    for frame in &server {
        let body = server_body(frame);
        assert_eq!(decode_server(&body), Ok(Some(frame.clone())));
        for cut in 1..body.len() {
            let got = decode_server(&body[..cut]);
            assert!(got.is_err(), "{frame:?} cut at {cut} decoded as {got:?}");
        }
    }
}

#[test]
fn unknown_requests_and_replies_are_unknown_variants() {
    // Request { id: 1, request: <variant 0x7f> }
    let mut body = client_body(&ClientFrame::Request {
        id: 1,
        request: Request::WhoAmI,
    });
    assert_eq!(body.len(), 3);
    body[2] = 0x7f;
    assert_eq!(decode_one(&framed(&body)), Err(DecodeError::UnknownVariant));
    // Reply { id: 1, reply: <variant 0x7f> }
    let mut body = server_body(&ServerFrame::Reply {
        id: 1,
        reply: Reply::Done { detail: "".into() },
    });
    body[2] = 0x7f;
    assert_eq!(decode_server(&body), Err(DecodeError::UnknownVariant));
    // A problem code nobody knows inside a Failed reply.
    let mut body = server_body(&ServerFrame::Reply {
        id: 1,
        reply: Reply::Failed {
            code: ProblemCode::TooLong,
            detail: "".into(),
        },
    });
    body[3] = 0x7f;
    assert_eq!(decode_server(&body), Err(DecodeError::UnknownVariant));
}

#[test]
fn invalid_utf8_in_version_4_frames_is_rejected() {
    let redeem = client_body(&ClientFrame::Redeem {
        code: "PLACEHOLDER".into(),
    });
    assert_eq!(
        decode_one(&framed(&spoil_utf8(redeem, "PLACEHOLDER"))),
        Err(DecodeError::InvalidUtf8)
    );
    let kick = client_body(&ClientFrame::Request {
        id: 2,
        request: Request::Kick {
            user: "bob".into(),
            reason: "PLACEHOLDER".into(),
        },
    });
    assert_eq!(
        decode_one(&framed(&spoil_utf8(kick, "PLACEHOLDER"))),
        Err(DecodeError::InvalidUtf8)
    );
    let removed = server_body(&ServerFrame::Removed {
        by: "opal".into(),
        reason: "PLACEHOLDER".into(),
        banned: false,
    });
    assert_eq!(
        decode_server(&spoil_utf8(removed, "PLACEHOLDER")),
        Err(DecodeError::InvalidUtf8)
    );
    let names = server_body(&ServerFrame::Reply {
        id: 3,
        reply: Reply::Identity {
            fingerprint: [0; 32],
            operator: false,
            names: vec!["PLACEHOLDER".into()],
        },
    });
    assert_eq!(
        decode_server(&spoil_utf8(names, "PLACEHOLDER")),
        Err(DecodeError::InvalidUtf8)
    );
}

#[test]
fn a_request_larger_than_the_client_limit_is_refused_both_ways() {
    let frame = ClientFrame::Request {
        id: 1,
        request: Request::Ban {
            user: "bob".into(),
            reason: "x".repeat(wire::MAX_CLIENT_FRAME),
        },
    };
    assert!(matches!(
        encode(&frame, wire::MAX_CLIENT_FRAME),
        Err(EncodeError::FrameTooLarge { .. })
    ));
    let bytes = encode(&frame, 2 * wire::MAX_CLIENT_FRAME).expect("encodes");
    let mut dec = FrameDecoder::new(wire::MAX_CLIENT_FRAME);
    dec.push(&bytes[..LENGTH_PREFIX]);
    assert!(matches!(
        dec.next_frame::<ClientFrame>(),
        Err(DecodeError::FrameTooLarge { .. })
    ));
}
