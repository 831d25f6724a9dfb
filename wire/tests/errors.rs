//! Each way the bytes can be wrong yields its own typed error, and never a panic.

use proptest::prelude::*;
use wire::{
    ClientFrame, DecodeError, EncodeError, FrameDecoder, LENGTH_PREFIX, ServerFrame, encode,
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
