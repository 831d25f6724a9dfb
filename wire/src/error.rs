//! Every way bytes from a peer can be wrong, as types.

use thiserror::Error;

/// Why a byte stream could not be decoded into frames. Any of these ends the connection: after a bad
/// frame the stream's framing can no longer be trusted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge { len: u64, max: usize },
    #[error("empty frame")]
    EmptyFrame,
    #[error("unknown frame or field variant")]
    UnknownVariant,
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
    #[error("frame body ends early")]
    Truncated,
    #[error("{0} trailing bytes after the frame body")]
    TrailingBytes(usize),
    #[error("stream ended inside a frame ({0} bytes unread)")]
    UnexpectedEof(usize),
    #[error("malformed frame body: {0}")]
    Malformed(String),
}

impl From<postcard::Error> for DecodeError {
    fn from(e: postcard::Error) -> Self {
        use postcard::Error as P;
        match e {
            // serde's derived enums report an unknown variant index through a custom error; none of
            // our frame types has another source of custom errors.
            P::DeserializeBadEnum | P::SerdeDeCustom => Self::UnknownVariant,
            P::DeserializeBadUtf8 => Self::InvalidUtf8,
            P::DeserializeUnexpectedEnd => Self::Truncated,
            other => Self::Malformed(other.to_string()),
        }
    }
}

/// Why a frame could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("encoded frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge { len: usize, max: usize },
    #[error("serialisation failed: {0}")]
    Serialize(String),
}
