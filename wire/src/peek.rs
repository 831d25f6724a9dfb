//! Looking at a server frame without decoding all of it, for readers that skip most frames (the
//! load tool reads thousands of `Presence` frames in a big room and looks only at `Chat`).
//!
//! postcard writes an enum's variant index first, as a varint: below 128 that is one byte, equal to
//! the index. So the first byte of a frame body says which [`ServerFrame`] it holds, and this module
//! is the one place that knows the numbers. `ServerFrame::kind` matches every variant (adding one
//! without a kind does not compile) and `tests/peek.rs` checks each kind against a real encoding,
//! so reordering the enum fails there as well as in the golden vectors.

use serde::Deserialize;

use crate::{ChatMessage, DecodeError, DirectState, Limits, ServerFrame};

/// Which variant of [`ServerFrame`] a frame body holds. The discriminant is postcard's variant index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ServerFrameKind {
    Welcome = 0,
    Refused = 1,
    Chat = 2,
    Joined = 3,
    Left = 4,
    Users = 5,
    Problem = 6,
    ShuttingDown = 7,
    Presence = 8,
    Reply = 9,
    Removed = 10,
    Replaced = 11,
    RoomJoined = 12,
    RoomLeft = 13,
    Rooms = 14,
    Topic = 15,
}

impl ServerFrameKind {
    /// Every kind, in variant order.
    pub const ALL: [Self; 16] = [
        Self::Welcome,
        Self::Refused,
        Self::Chat,
        Self::Joined,
        Self::Left,
        Self::Users,
        Self::Problem,
        Self::ShuttingDown,
        Self::Presence,
        Self::Reply,
        Self::Removed,
        Self::Replaced,
        Self::RoomJoined,
        Self::RoomLeft,
        Self::Rooms,
        Self::Topic,
    ];

    /// The kind of a frame body (without its length prefix), read from its first byte; `None` for an
    /// empty body or an unknown variant. Only the first byte is read: the rest may still be malformed.
    pub fn of(body: &[u8]) -> Option<Self> {
        let first = *body.first()?;
        Self::ALL.get(usize::from(first)).copied()
    }

    /// postcard's variant index of this kind (what serde calls `variant_index`).
    pub const fn index(self) -> u32 {
        self as u32
    }
}

impl ServerFrame {
    /// This frame's kind.
    pub fn kind(&self) -> ServerFrameKind {
        match self {
            Self::Welcome { .. } => ServerFrameKind::Welcome,
            Self::Refused { .. } => ServerFrameKind::Refused,
            Self::Chat { .. } => ServerFrameKind::Chat,
            Self::Joined { .. } => ServerFrameKind::Joined,
            Self::Left { .. } => ServerFrameKind::Left,
            Self::Users { .. } => ServerFrameKind::Users,
            Self::Problem { .. } => ServerFrameKind::Problem,
            Self::ShuttingDown { .. } => ServerFrameKind::ShuttingDown,
            Self::Presence { .. } => ServerFrameKind::Presence,
            Self::Reply { .. } => ServerFrameKind::Reply,
            Self::Removed { .. } => ServerFrameKind::Removed,
            Self::Replaced { .. } => ServerFrameKind::Replaced,
            Self::RoomJoined(_) => ServerFrameKind::RoomJoined,
            Self::RoomLeft { .. } => ServerFrameKind::RoomLeft,
            Self::Rooms { .. } => ServerFrameKind::Rooms,
            Self::Topic { .. } => ServerFrameKind::Topic,
        }
    }
}

/// Decodes one whole frame body (without its length prefix), rejecting trailing bytes, as
/// [`FrameDecoder`](crate::FrameDecoder) does. Borrowing types (`&str`) borrow from `body`.
pub fn decode_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, DecodeError> {
    if body.is_empty() {
        return Err(DecodeError::EmptyFrame);
    }
    let (frame, rest) = postcard::take_from_bytes::<T>(body)?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    Ok(frame)
}

/// A `Welcome` with its names borrowed from the frame body. In a room of thousands, allocating
/// every name of every newcomer's `Welcome` was a large part of the load tool's own work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WelcomeRef<'a> {
    pub you: &'a str,
    pub rooms: Vec<RoomStateFields<'a>>,
    pub direct: Vec<DirectState>,
    pub limits: Limits,
}

/// A `RoomState` with its names borrowed from the frame body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RoomStateFields<'a> {
    #[serde(borrow)]
    pub room: &'a str,
    #[serde(borrow)]
    pub topic: &'a str,
    #[serde(borrow)]
    pub users: Vec<&'a str>,
    pub history: Vec<ChatMessage>,
}

/// The fields of `ServerFrame::Welcome`, in order, after the variant index.
#[derive(Deserialize)]
struct WelcomeFields<'a> {
    #[serde(borrow)]
    you: &'a str,
    #[serde(borrow)]
    rooms: Vec<RoomStateFields<'a>>,
    direct: Vec<DirectState>,
    limits: Limits,
}

impl<'a> WelcomeRef<'a> {
    /// Decodes a body of kind [`ServerFrameKind::Welcome`]; any other kind is
    /// [`DecodeError::UnknownVariant`].
    pub fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        match ServerFrameKind::of(body) {
            Some(ServerFrameKind::Welcome) => {}
            None if body.is_empty() => return Err(DecodeError::EmptyFrame),
            _ => return Err(DecodeError::UnknownVariant),
        }
        // The index of `Welcome` is one byte (see the module docs); its fields follow.
        let fields: WelcomeFields<'a> = decode_body(&body[1..]).map_err(|e| match e {
            DecodeError::EmptyFrame => DecodeError::Truncated,
            e => e,
        })?;
        Ok(Self {
            you: fields.you,
            rooms: fields.rooms,
            direct: fields.direct,
            limits: fields.limits,
        })
    }
}
