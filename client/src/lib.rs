//! The chat client library: everything a program needs to talk to `chat-server`.
//!
//! - [`Connector`] / [`Connection`]: one QUIC connection with its stream, framed. For programs that
//!   want every frame in their own hands (the load tool, protocol tests).
//! - [`Session`]: one user's session on a background task, driven by method calls and read as a
//!   stream of [`Event`]s: the library's own types (lines, receipts, joins and leaves, connection
//!   state), never protocol frames. What `chat-cli` and the GNOME client use.
//! - [`Trust`]: which certificates the client accepts. There is no unverified mode.
//! - [`Identity`]: who the user is: a key pair and its certificate, presented on every connection.

mod address;
mod backoff;
pub mod commands;
mod connection;
mod error;
mod event;
mod outbox;
mod pacing;
pub mod render;
mod session;
mod split;
mod trust;

pub use address::ServerAddr;
pub use backoff::Backoff;
pub use certs::{Fingerprint, Identity, IdentityOutcome, default_identity_dir};
pub use connection::{Connection, Connector, FrameReader, FrameWriter, Welcome};
pub use error::ClientError;
pub use event::{CloseReason, Event, LeaveReason, Line, ProblemCode, RoomView, SignedIn};
pub use outbox::{Farewell, QueueState};
pub use session::{Session, SessionConfig};
pub use split::split_line;
pub use trust::Trust;
pub use wire;
pub use wire::{Conversation, ResumePoint, RoomInfo};
