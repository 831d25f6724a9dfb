//! Server frames built from borrowed data. A server holds its room's names already; cloning every
//! one of them into a `ServerFrame` for each newcomer's `Welcome` was most of the cost of a join in
//! a big room. These encode to exactly the bytes of the owned frames (`tests/borrowed.rs` checks).

use serde::ser::{Serialize, SerializeStructVariant, Serializer};

use crate::{ChatMessage, Limits, ServerFrameKind};

/// The frames of [`ServerFrame`](crate::ServerFrame) that carry the user list, over borrowed names.
#[derive(Debug, Clone, Copy)]
pub enum ServerFrameRef<'a> {
    /// Encodes as `ServerFrame::Welcome`.
    Welcome {
        you: &'a str,
        users: &'a [&'a str],
        history: &'a [ChatMessage],
        limits: Limits,
    },
    /// Encodes as `ServerFrame::Users`.
    Users { list: &'a [&'a str] },
}

/// Variant indices in `ServerFrame`, which the golden vectors pin.
const WELCOME: u32 = ServerFrameKind::Welcome.index();
const USERS: u32 = ServerFrameKind::Users.index();

impl Serialize for ServerFrameRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Welcome {
                you,
                users,
                history,
                limits,
            } => {
                let mut v =
                    serializer.serialize_struct_variant("ServerFrame", WELCOME, "Welcome", 4)?;
                v.serialize_field("you", you)?;
                v.serialize_field("users", users)?;
                v.serialize_field("history", history)?;
                v.serialize_field("limits", limits)?;
                v.end()
            }
            Self::Users { list } => {
                let mut v =
                    serializer.serialize_struct_variant("ServerFrame", USERS, "Users", 1)?;
                v.serialize_field("list", list)?;
                v.end()
            }
        }
    }
}
