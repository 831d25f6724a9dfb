//! What the fuzz targets check, as plain functions shared by the targets.

use std::fmt::Debug;

use serde::{Serialize, de::DeserializeOwned};
use wire::{DecodeError, FrameDecoder, LENGTH_PREFIX};

pub mod session;

/// What a decoder made of a whole stream: the frames, then how it ended (`Ok(())` on a frame
/// boundary, or the first error, including `UnexpectedEof` from `finish`).
#[derive(Debug, PartialEq)]
struct Outcome<T> {
    frames: Vec<T>,
    end: Result<(), DecodeError>,
}

/// The decoder property checked by `decode_client` and `decode_server`.
///
/// `data[0]` picks the chunk sizes, the rest is the byte stream. The stream is decoded once in one
/// piece and once pushed in chunks; both must give the same frames and the same end. No panic, the
/// buffer never holds more than one partial frame, and every decoded frame re-encodes to bytes that
/// decode to the same frame.
pub fn check_decoder<T>(data: &[u8], max: usize)
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let Some((&mode, stream)) = data.split_first() else {
        return;
    };
    let whole = decode_all::<T>(stream, max, &mut std::iter::empty());
    // A small xorshift generator seeded by `mode`: sizes from 1 byte up to 1 + (mode % 64) bytes.
    let mut state = u32::from(mode).wrapping_mul(0x9e37_79b9) | 1;
    let biggest = 1 + usize::from(mode % 64);
    let mut sizes = std::iter::from_fn(move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        Some(1 + (state as usize) % biggest)
    });
    let chunked = decode_all::<T>(stream, max, &mut sizes);
    assert_eq!(whole, chunked, "chunking changed what the decoder saw");
}

/// Pushes `stream` into a decoder in pieces of the sizes given (the rest at once when they run out)
/// and takes out every frame after each push.
fn decode_all<T>(stream: &[u8], max: usize, sizes: &mut dyn Iterator<Item = usize>) -> Outcome<T>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let mut decoder = FrameDecoder::new(max);
    let mut frames = Vec::new();
    let mut rest = stream;
    loop {
        loop {
            match decoder.next_frame::<T>() {
                Ok(Some(frame)) => {
                    check_round_trip(&frame, max);
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(e) => {
                    return Outcome {
                        frames,
                        end: Err(e),
                    };
                }
            }
        }
        // Drained: what is left is less than one frame.
        assert!(
            decoder.buffered() < LENGTH_PREFIX + max,
            "{} bytes buffered with a frame limit of {max}",
            decoder.buffered()
        );
        if rest.is_empty() {
            return Outcome {
                frames,
                end: decoder.finish(),
            };
        }
        let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        decoder.push(&rest[..n]);
        rest = &rest[n..];
    }
}

fn check_round_trip<T>(frame: &T, max: usize)
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let bytes = match wire::encode(frame, max) {
        Ok(bytes) => bytes,
        Err(e) => panic!("a decoded frame does not re-encode: {e}: {frame:?}"),
    };
    let mut decoder = FrameDecoder::new(max);
    decoder.push(&bytes);
    match decoder.next_frame::<T>() {
        Ok(Some(again)) => assert_eq!(&again, frame, "re-encoded frame decodes differently"),
        other => panic!("re-encoded frame does not decode: {other:?}: {frame:?}"),
    }
    assert_eq!(decoder.buffered(), 0, "re-encoding left bytes over");
}
