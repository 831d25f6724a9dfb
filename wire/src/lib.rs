//! The chat protocol, sans-IO.
//!
//! A client opens one QUIC connection (ALPN [`ALPN`]) and one bidirectional stream. Each direction of that
//! stream is a sequence of frames: a 4-byte big-endian length, then a postcard body of that length
//! ([`ClientFrame`] from client to server, [`ServerFrame`] back). Nothing here touches a socket: the
//! server and the client feed bytes to a [`FrameDecoder`] as they arrive and send what [`encode`] returns.
//!
//! The encoding is pinned by golden byte vectors in `tests/golden.rs`: changing it means bumping
//! [`PROTOCOL_VERSION`].

mod account;
mod borrowed;
mod codec;
mod error;
mod frame;
mod peek;

pub use account::{Device, Reply, Request};
pub use borrowed::{RoomStateRef, ServerFrameRef};
pub use codec::{FrameDecoder, LENGTH_PREFIX, encode, encode_into};
pub use error::{DecodeError, EncodeError};
pub use frame::{
    ChatMessage, ClientFrame, Conversation, DirectState, LeaveReason, Limits, PresenceChange,
    ProblemCode, RefuseReason, ResumePoint, RoomInfo, RoomName, RoomState, ServerFrame, UserName,
};
pub use peek::{RoomStateFields, ServerFrameKind, WelcomeRef, decode_body};

/// The QUIC application protocol negotiated in the TLS handshake.
pub const ALPN: &[u8] = b"chat/1";

/// Bumped whenever the golden vectors change.
pub const PROTOCOL_VERSION: u16 = 5;

/// The largest frame body a server accepts from a client. Client frames are small (a line of text), so a
/// tight bound keeps what one connection can make the server buffer small.
pub const MAX_CLIENT_FRAME: usize = 64 * 1024;

/// The largest frame body a client accepts from a server. Larger than [`MAX_CLIENT_FRAME`] because
/// `Welcome` and `Users` carry the whole user list (10,000 names of up to [`MAX_NAME_BYTES`] fit).
pub const MAX_SERVER_FRAME: usize = 1024 * 1024;

/// Longest user name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 32;

/// What starts a room's name (protocol 5): `#general`. The rest follows the rules of a user name.
pub const ROOM_PREFIX: char = '#';

/// Application error codes used when a peer closes the connection.
pub mod close_code {
    /// The client said `Bye`, or the server finished a graceful shutdown.
    pub const NORMAL: u32 = 0;
    /// A frame could not be decoded, or frames came in an order the protocol forbids.
    pub const PROTOCOL_ERROR: u32 = 1;
    /// A length prefix above the frame limit.
    pub const FRAME_TOO_LARGE: u32 = 2;
    /// The client could not keep up with the room and its queue overflowed.
    pub const TOO_SLOW: u32 = 3;
    /// The server is shutting down.
    pub const SHUTTING_DOWN: u32 = 4;
    /// `Hello` was refused (the `Refused` frame says why).
    pub const REFUSED: u32 = 5;
    /// The client did not say `Hello` in time.
    pub const HELLO_TIMEOUT: u32 = 6;
    /// The client kept sending faster than the rate limit after being told (`Problem(TooFast)`).
    pub const TOO_FAST: u32 = 7;
    /// An operator kicked or banned the client (the `Removed` frame says which and why).
    pub const REMOVED: u32 = 8;
    /// The same name signed in on another connection (the `Replaced` frame says with which key).
    pub const REPLACED: u32 = 9;
}
