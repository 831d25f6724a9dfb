//! Requests about names, devices and moderation (version 4), and their replies.
//!
//! They travel in `ClientFrame::Request { id, request }` and come back in `ServerFrame::Reply { id,
//! reply }` with the same `id`, so a client can have several outstanding and match each answer.
//! The order of variants and fields is the encoding: append, never reorder.

use serde::{Deserialize, Serialize};

use crate::{ProblemCode, UserName};

/// What a signed-in client may ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Who the server takes this connection for: `Reply::Identity`.
    WhoAmI,
    /// A single-use code that links another device to this name: `Reply::Code`.
    LinkCode,
    /// The keys of this name: `Reply::Devices`.
    Devices,
    /// Removes a key of this name, named by its fingerprint or a prefix of at least 16 hex digits.
    Revoke { fingerprint: String },
    /// Operators: disconnects a user; the others see `Left { why: Kicked }`.
    Kick { user: UserName, reason: String },
    /// Operators: disconnects a user and refuses the keys of the name from then on.
    Ban { user: UserName, reason: String },
    /// Operators: lifts a ban.
    Unban { user: UserName },
    /// Operators: forgets who owns a name, so that anybody may take it.
    Release { user: UserName },
    /// Operators: a single-use code with which a new name may be registered on an invite-only
    /// server: `Reply::Code`.
    Invite,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The key this connection proved it holds (SHA-256 of its SubjectPublicKeyInfo), whether it is
    /// an operator's, and the names it owns.
    Identity {
        fingerprint: [u8; 32],
        operator: bool,
        names: Vec<UserName>,
    },
    /// A link or invite code, valid for `valid_secs` and one use.
    Code { code: String, valid_secs: u32 },
    /// The keys of a name, oldest first.
    Devices { list: Vec<Device> },
    /// Carried out; `detail` says what happened, for the user.
    Done { detail: String },
    /// Not carried out, and why.
    Failed { code: ProblemCode, detail: String },
}

/// One key of a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// SHA-256 of the key's SubjectPublicKeyInfo.
    pub fingerprint: [u8; 32],
    /// When the key was bound to the name, and when it last signed in (ms since the Unix epoch).
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// The key of the connection that asked.
    pub this_device: bool,
}
