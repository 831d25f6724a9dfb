//! Server frames built from borrowed data. A server holds its rooms' names already; cloning every
//! one of them into a `ServerFrame` for each newcomer's `Welcome` was most of the cost of a join in
//! a big room. These encode to exactly the bytes of the owned frames (`tests/borrowed.rs` checks).

use serde::Serialize;
use serde::ser::{SerializeStructVariant, Serializer};

use crate::{ChatMessage, DirectState, Limits, ServerFrameKind};

/// A `RoomState` over borrowed names: encodes as [`RoomState`](crate::RoomState).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RoomStateRef<'a> {
    pub room: &'a str,
    pub topic: &'a str,
    pub users: &'a [&'a str],
    pub history: &'a [ChatMessage],
}

/// The frames of [`ServerFrame`](crate::ServerFrame) that carry user lists, over borrowed names.
#[derive(Debug, Clone, Copy)]
pub enum ServerFrameRef<'a> {
    /// Encodes as `ServerFrame::Welcome`.
    Welcome {
        you: &'a str,
        rooms: &'a [RoomStateRef<'a>],
        direct: &'a [DirectState],
        limits: Limits,
    },
    /// Encodes as `ServerFrame::Users`.
    Users { room: &'a str, list: &'a [&'a str] },
    /// Encodes as `ServerFrame::RoomJoined`.
    RoomJoined(RoomStateRef<'a>),
}

/// Variant indices in `ServerFrame`, which the golden vectors pin.
const WELCOME: u32 = ServerFrameKind::Welcome.index();
const USERS: u32 = ServerFrameKind::Users.index();
const ROOM_JOINED: u32 = ServerFrameKind::RoomJoined.index();

impl Serialize for ServerFrameRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Welcome {
                you,
                rooms,
                direct,
                limits,
            } => {
                let mut v =
                    serializer.serialize_struct_variant("ServerFrame", WELCOME, "Welcome", 4)?;
                v.serialize_field("you", you)?;
                v.serialize_field("rooms", rooms)?;
                v.serialize_field("direct", direct)?;
                v.serialize_field("limits", limits)?;
                v.end()
            }
            Self::Users { room, list } => {
                let mut v =
                    serializer.serialize_struct_variant("ServerFrame", USERS, "Users", 2)?;
                v.serialize_field("room", room)?;
                v.serialize_field("list", list)?;
                v.end()
            }
            Self::RoomJoined(state) => serializer.serialize_newtype_variant(
                "ServerFrame",
                ROOM_JOINED,
                "RoomJoined",
                state,
            ),
        }
    }
}
