//! Length-prefixed framing: [`encode`] for the sending side, [`FrameDecoder`] for the receiving side.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Serialize, de::DeserializeOwned};

use crate::{DecodeError, EncodeError};

/// Bytes of the big-endian `u32` length in front of every frame body.
pub const LENGTH_PREFIX: usize = 4;

/// Encodes one frame (prefix and body) into its own buffer. The server encodes a room message once and
/// hands the same `Bytes` to every recipient.
pub fn encode<T: Serialize>(frame: &T, max: usize) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::new();
    encode_into(frame, max, &mut buf)?;
    Ok(buf.freeze())
}

/// Appends one frame (prefix and body) to `buf`. On error `buf` is left as it was.
pub fn encode_into<T: Serialize>(
    frame: &T,
    max: usize,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let start = buf.len();
    // Serialise straight after a placeholder prefix, then patch the prefix: one pass over the frame.
    buf.put_u32(0);
    if let Err(e) = postcard::to_io(frame, (&mut *buf).writer()) {
        buf.truncate(start);
        return Err(EncodeError::Serialize(e.to_string()));
    }
    let body_len = buf.len() - start - LENGTH_PREFIX;
    match u32::try_from(body_len) {
        Ok(len) if body_len <= max => {
            buf[start..start + LENGTH_PREFIX].copy_from_slice(&len.to_be_bytes());
            Ok(())
        }
        _ => {
            buf.truncate(start);
            Err(EncodeError::FrameTooLarge { len: body_len, max })
        }
    }
}

/// A streaming decoder: push bytes as they arrive, in pieces of any size, and take whole frames out.
///
/// The length prefix is checked against the limit before a byte of the body is buffered, so a peer
/// that announces 4 GiB costs nothing. The buffer never holds more than one partial frame plus the
/// last chunk pushed.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    max: usize,
}

impl FrameDecoder {
    /// A decoder that rejects frame bodies longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max,
        }
    }

    /// Adds bytes received from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed, or why the bytes are wrong.
    /// After an error the stream is not trustworthy any more and the caller should drop the connection.
    pub fn next_frame<T: DeserializeOwned>(&mut self) -> Result<Option<T>, DecodeError> {
        if self.buf.len() < LENGTH_PREFIX {
            return Ok(None);
        }
        let mut prefix = [0u8; LENGTH_PREFIX];
        prefix.copy_from_slice(&self.buf[..LENGTH_PREFIX]);
        let len = u32::from_be_bytes(prefix);
        let len_usize = usize::try_from(len).map_err(|_| DecodeError::FrameTooLarge {
            len: u64::from(len),
            max: self.max,
        })?;
        if len_usize > self.max {
            return Err(DecodeError::FrameTooLarge {
                len: u64::from(len),
                max: self.max,
            });
        }
        if len_usize == 0 {
            return Err(DecodeError::EmptyFrame);
        }
        if self.buf.len() < LENGTH_PREFIX + len_usize {
            // Ask for the rest of the body up front so it lands in one allocation.
            self.buf.reserve(LENGTH_PREFIX + len_usize - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(LENGTH_PREFIX);
        let body = self.buf.split_to(len_usize);
        let (frame, rest) = postcard::take_from_bytes::<T>(&body)?;
        if !rest.is_empty() {
            return Err(DecodeError::TrailingBytes(rest.len()));
        }
        Ok(Some(frame))
    }

    /// Call when the peer has finished its stream: an error if it stopped inside a frame.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::UnexpectedEof(self.buf.len()))
        }
    }

    /// Bytes buffered and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes the buffer has allocated room for, used or not: what a peer's announced length has
    /// made us reserve. Read-only, for tests and diagnostics.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}
