//! What a [`Session`](crate::Session) tells its user: the library's own events, not protocol frames.
//!
//! A UI wants to know what happened in the chat (a line, a receipt for its own line, somebody came or
//! went) and how the connection is doing; it should not have to know that joins arrive batched in
//! `Presence` frames, that protocol 1 sent them one by one, or how lines are paced to the server's
//! limits. The session absorbs those details and hands out only these types, so a change
//! of the protocol changes the session, not every client.

use std::time::Duration;

use certs::Fingerprint;
use wire::{ChatMessage, Conversation, ServerFrame};

use crate::ClientError;

/// One line said in a conversation, stamped by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Where it was said: a room (`#general`) or a direct conversation (named by the other end).
    pub conversation: Conversation,
    /// Increases by one per line in the conversation.
    pub id: u64,
    /// Who said it (the server stamps it: nobody speaks under another name).
    pub from: String,
    pub text: String,
    /// Server time, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The sender's nonce; for our own lines, what [`Session::say`](crate::Session::say) returned.
    pub nonce: u64,
    /// Said under our name (by this session or an earlier one of ours).
    pub mine: bool,
}

impl Line {
    pub(crate) fn from_wire(conversation: Conversation, m: ChatMessage, you: &str) -> Self {
        Self {
            conversation,
            mine: m.from == you,
            id: m.id,
            from: m.from,
            text: m.text,
            at_ms: m.at_ms,
            nonce: m.nonce,
        }
    }
}

/// What the server said when it let us in the first time: the default room, which everybody is
/// in. The other rooms we are in follow as [`Event::RoomJoined`], direct messages we have not seen
/// as [`Event::Line`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The name the server registered for us.
    pub you: String,
    /// The default room's name (`#general`).
    pub room: String,
    /// Its topic (empty when none was set).
    pub topic: String,
    /// Who is here, including us.
    pub users: Vec<String>,
    /// The recent lines, oldest first.
    pub history: Vec<Line>,
}

/// A room as we enter it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    pub room: String,
    pub topic: String,
    /// Who is in it now, including us.
    pub users: Vec<String>,
    /// Its recent lines, or what we missed in it, oldest first.
    pub history: Vec<Line>,
}

/// Why somebody left the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// Said goodbye.
    Quit,
    /// Went silent until the server's idle timeout.
    TimedOut,
    /// The connection broke.
    Dropped,
    /// Could not keep up with the room and was disconnected.
    TooSlow,
    /// Broke the protocol and was disconnected.
    Misbehaved,
    /// Disconnected by an operator.
    Kicked,
    /// Banned by an operator.
    Banned,
    /// Signed in again elsewhere (another device, or the same one reconnecting).
    Replaced,
}

impl From<wire::LeaveReason> for LeaveReason {
    fn from(why: wire::LeaveReason) -> Self {
        match why {
            wire::LeaveReason::Quit => Self::Quit,
            wire::LeaveReason::TimedOut => Self::TimedOut,
            wire::LeaveReason::Dropped => Self::Dropped,
            wire::LeaveReason::TooSlow => Self::TooSlow,
            wire::LeaveReason::Misbehaved => Self::Misbehaved,
            wire::LeaveReason::Kicked => Self::Kicked,
            wire::LeaveReason::Banned => Self::Banned,
            wire::LeaveReason::Replaced => Self::Replaced,
        }
    }
}

impl LeaveReason {
    /// The name `chat-cli --json` prints (the protocol's name for it).
    pub fn name(self) -> &'static str {
        match self {
            Self::Quit => "Quit",
            Self::TimedOut => "TimedOut",
            Self::Dropped => "Dropped",
            Self::TooSlow => "TooSlow",
            Self::Misbehaved => "Misbehaved",
            Self::Kicked => "Kicked",
            Self::Banned => "Banned",
            Self::Replaced => "Replaced",
        }
    }
}

impl std::fmt::Display for LeaveReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Quit => "quit",
            Self::TimedOut => "timed out",
            Self::Dropped => "connection dropped",
            Self::TooSlow => "too slow to keep up",
            Self::Misbehaved => "protocol violation",
            Self::Kicked => "kicked by an operator",
            Self::Banned => "banned by an operator",
            Self::Replaced => "signed in again elsewhere",
        })
    }
}

/// Why the server did not carry out a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemCode {
    /// The line is longer than the server allows.
    TooLong,
    /// The line is empty or only white space.
    Empty,
    /// We send faster than the server allows. The session paces its lines by the server's limits,
    /// so this should not happen; a line refused for it anyway goes back to the queue and is sent
    /// again: this only reaches the user about a line the session no longer holds.
    TooFast,
    /// Signed in twice on one connection (a bug of ours).
    AlreadyJoined,
    /// The server failed through no fault of ours; trying later may work.
    ServerError,
    /// Only operators may do that.
    NotAllowed,
    /// Nobody has that name.
    NoSuchUser,
    /// No device of the name matches that fingerprint.
    NoSuchDevice,
    /// Several devices match: more of the fingerprint is needed.
    AmbiguousDevice,
    /// The name's only device cannot be revoked.
    LastDevice,
    /// Nobody made that room.
    NoSuchRoom,
    /// We are not in that room.
    NotInRoom,
    /// Not a room's name (`#` and a name).
    InvalidRoomName,
    /// We are in as many rooms as one name may be.
    TooManyRooms,
    /// The server has as many rooms as it may.
    ServerRoomsFull,
    /// The room has as many members as it may.
    RoomFull,
    /// The topic is longer than the server allows.
    TopicTooLong,
    /// The server does not do that (a cluster node, for anything but the default room).
    Unsupported,
}

impl From<wire::ProblemCode> for ProblemCode {
    fn from(code: wire::ProblemCode) -> Self {
        match code {
            wire::ProblemCode::TooLong => Self::TooLong,
            wire::ProblemCode::Empty => Self::Empty,
            wire::ProblemCode::TooFast => Self::TooFast,
            wire::ProblemCode::AlreadyJoined => Self::AlreadyJoined,
            wire::ProblemCode::ServerError => Self::ServerError,
            wire::ProblemCode::NotAllowed => Self::NotAllowed,
            wire::ProblemCode::NoSuchUser => Self::NoSuchUser,
            wire::ProblemCode::NoSuchDevice => Self::NoSuchDevice,
            wire::ProblemCode::AmbiguousDevice => Self::AmbiguousDevice,
            wire::ProblemCode::LastDevice => Self::LastDevice,
            wire::ProblemCode::NoSuchRoom => Self::NoSuchRoom,
            wire::ProblemCode::NotInRoom => Self::NotInRoom,
            wire::ProblemCode::InvalidRoomName => Self::InvalidRoomName,
            wire::ProblemCode::TooManyRooms => Self::TooManyRooms,
            wire::ProblemCode::ServerRoomsFull => Self::ServerRoomsFull,
            wire::ProblemCode::RoomFull => Self::RoomFull,
            wire::ProblemCode::TopicTooLong => Self::TopicTooLong,
            wire::ProblemCode::Unsupported => Self::Unsupported,
        }
    }
}

impl ProblemCode {
    /// The name `chat-cli --json` prints (the protocol's name for it).
    pub fn name(self) -> &'static str {
        match self {
            Self::TooLong => "TooLong",
            Self::Empty => "Empty",
            Self::TooFast => "TooFast",
            Self::AlreadyJoined => "AlreadyJoined",
            Self::ServerError => "ServerError",
            Self::NotAllowed => "NotAllowed",
            Self::NoSuchUser => "NoSuchUser",
            Self::NoSuchDevice => "NoSuchDevice",
            Self::AmbiguousDevice => "AmbiguousDevice",
            Self::LastDevice => "LastDevice",
            Self::NoSuchRoom => "NoSuchRoom",
            Self::NotInRoom => "NotInRoom",
            Self::InvalidRoomName => "InvalidRoomName",
            Self::TooManyRooms => "TooManyRooms",
            Self::ServerRoomsFull => "ServerRoomsFull",
            Self::RoomFull => "RoomFull",
            Self::TopicTooLong => "TopicTooLong",
            Self::Unsupported => "Unsupported",
        }
    }
}

impl std::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TooLong => "message too long",
            Self::Empty => "empty message",
            Self::TooFast => "sending too fast",
            Self::AlreadyJoined => "already joined",
            Self::ServerError => "server error",
            Self::NotAllowed => "only operators may do that",
            Self::NoSuchUser => "no such user",
            Self::NoSuchDevice => "no such device",
            Self::AmbiguousDevice => "several devices match; type more of the fingerprint",
            Self::LastDevice => "that is your only device; /release gives the name up",
            Self::NoSuchRoom => "no such room",
            Self::NotInRoom => "you are not in that room",
            Self::InvalidRoomName => "not a room's name",
            Self::TooManyRooms => "you are in too many rooms; leave one first",
            Self::ServerRoomsFull => "the server has as many rooms as it may",
            Self::RoomFull => "the room is full",
            Self::TopicTooLong => "topic too long",
            Self::Unsupported => "this server does not do that",
        })
    }
}

/// Something that happened in the session, in the order it happened.
#[derive(Debug)]
pub enum Event {
    /// A line said in one of our conversations by anyone, including lines replayed after
    /// [`Event::Reconnected`] and our own lines that this session did not send (said by an
    /// earlier session of ours).
    Line(Line),
    /// A line this session sent was accepted: the server stamped it with its id and time. `line.nonce`
    /// is what [`Session::say`](crate::Session::say) returned, so a UI turns exactly that pending
    /// row into a sent one. Comes once per line, also when the line was re-sent after a reconnect.
    Receipt(Line),
    /// Somebody entered a room we are in (or came online in it).
    UserJoined { room: String, user: String },
    /// Somebody left a room we are in (or went offline).
    UserLeft {
        room: String,
        user: String,
        why: LeaveReason,
    },
    /// Who is in a room (sorted), the answer to [`Session::list_users`](crate::Session::list_users).
    Users { room: String, list: Vec<String> },
    /// We are in this room: we joined it (here or on another device), or, right after signing in
    /// or reconnecting, one we were in already.
    RoomJoined(RoomView),
    /// We are no longer in this room.
    RoomLeft { room: String },
    /// Every room of the server, the answer to [`Session::list_rooms`](crate::Session::list_rooms).
    Rooms(Vec<wire::RoomInfo>),
    /// A room's topic changed.
    Topic {
        room: String,
        topic: String,
        by: String,
    },
    /// A request was not carried out; the session goes on. With a `nonce`, it is about that line of
    /// ours, which will not be sent again.
    Problem {
        code: ProblemCode,
        nonce: Option<u64>,
        detail: String,
    },
    /// The server announced it is about to close every connection; `Disconnected` or `Closed`
    /// follows.
    ServerShuttingDown { reason: String },
    /// The connection was lost; the session tries again after `retry_in` (attempt `attempt`, from 1).
    /// Lines said meanwhile are queued and sent after the resume.
    Disconnected {
        error: String,
        attempt: u32,
        retry_in: Duration,
    },
    /// Connected again: `users` is who is in the default room now. The `missed` lines said there
    /// while we were away follow as [`Event::Line`]s (and receipts of ours as
    /// [`Event::Receipt`]s); then our other rooms as [`Event::RoomJoined`] with what we missed in
    /// each, and the direct messages we missed.
    Reconnected { users: Vec<String>, missed: usize },
    /// The answer to a request about names, devices or moderation, with the id it was sent with.
    Reply { id: u32, reply: wire::Reply },
    /// An operator disconnected us (kicked, or banned when `banned`); `Closed` follows.
    Removed {
        by: String,
        reason: String,
        banned: bool,
    },
    /// Our name signed in again on another connection, with the key `fingerprint` (another of our
    /// devices, or this one from another process); this session ends (`Closed` follows) and does
    /// not reconnect, or the two would take turns.
    Replaced { fingerprint: Fingerprint },
    /// The session is over; no more events follow.
    Closed(CloseReason),
}

/// Why a session ended.
#[derive(Debug)]
pub enum CloseReason {
    /// We said `Bye` and the server closed the connection.
    Quit,
    /// The server ended the session (shut down, or disconnected us); the text says why.
    ByServer(String),
    /// The connection broke.
    Lost(ClientError),
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Quit => f.write_str("left the chat"),
            Self::ByServer(why) => write!(f, "closed by the server: {why}"),
            Self::Lost(e) => write!(f, "connection lost: {e}"),
        }
    }
}

/// The events for a frame, without the session's bookkeeping (receipts and `TooFast` need it: see
/// `session.rs`, which calls this for everything else). `Presence` comes out as one event per
/// change, in its order; protocol 1's single `Joined` / `Left` frames (and `FrameReader`, which
/// unpacks `Presence` into them for the raw API) give the same events.
pub(crate) fn frame_events(frame: ServerFrame, you: &str, default_room: &str) -> Vec<Event> {
    match frame {
        ServerFrame::Chat {
            conversation,
            message,
        } => vec![Event::Line(Line::from_wire(conversation, message, you))],
        // Protocol 1's frames, which `FrameReader` also makes of a `Presence` (it drops the room).
        ServerFrame::Joined { user } => vec![Event::UserJoined {
            room: default_room.to_owned(),
            user,
        }],
        ServerFrame::Left { user, why } => vec![Event::UserLeft {
            room: default_room.to_owned(),
            user,
            why: why.into(),
        }],
        ServerFrame::Presence { room, changes } => changes
            .into_iter()
            .map(|change| match change {
                wire::PresenceChange::Joined { user } => Event::UserJoined {
                    room: room.clone(),
                    user,
                },
                wire::PresenceChange::Left { user, why } => Event::UserLeft {
                    room: room.clone(),
                    user,
                    why: why.into(),
                },
            })
            .collect(),
        ServerFrame::Users { room, list } => vec![Event::Users { room, list }],
        ServerFrame::RoomJoined(state) => vec![Event::RoomJoined(room_view(state, you))],
        ServerFrame::RoomLeft { room } => vec![Event::RoomLeft { room }],
        ServerFrame::Rooms { list } => vec![Event::Rooms(list)],
        ServerFrame::Topic { room, topic, by } => vec![Event::Topic { room, topic, by }],
        ServerFrame::Problem {
            code,
            nonce,
            detail,
        } => vec![Event::Problem {
            code: code.into(),
            nonce,
            detail,
        }],
        ServerFrame::ShuttingDown { reason } => vec![Event::ServerShuttingDown { reason }],
        ServerFrame::Reply { id, reply } => vec![Event::Reply { id, reply }],
        ServerFrame::Removed { by, reason, banned } => {
            vec![Event::Removed { by, reason, banned }]
        }
        ServerFrame::Replaced { fingerprint } => vec![Event::Replaced {
            fingerprint: Fingerprint::from_bytes(fingerprint),
        }],
        // Only an answer to `Hello`, which the connector reads; once welcomed, nothing to tell.
        ServerFrame::Welcome { .. } | ServerFrame::Refused { .. } => {
            tracing::warn!("the server sent Welcome or Refused after welcoming us; ignored");
            Vec::new()
        }
    }
}

/// A room as the library hands it out.
pub(crate) fn room_view(state: wire::RoomState, you: &str) -> RoomView {
    let conversation = Conversation::Room(state.room.clone());
    RoomView {
        history: state
            .history
            .into_iter()
            .map(|m| Line::from_wire(conversation.clone(), m, you))
            .collect(),
        room: state.room,
        topic: state.topic,
        users: state.users,
    }
}

#[cfg(test)]
mod tests {
    use wire::PresenceChange;

    use super::*;

    #[test]
    fn presence_is_one_event_per_change_in_order() {
        let events = frame_events(
            ServerFrame::Presence {
                room: "#r".into(),
                changes: vec![
                    PresenceChange::Joined { user: "bob".into() },
                    PresenceChange::Left {
                        user: "cy".into(),
                        why: wire::LeaveReason::TimedOut,
                    },
                ],
            },
            "ann",
            "#general",
        );
        assert!(
            matches!(&events[..], [Event::UserJoined { room, user }, Event::UserLeft { user: left, why: LeaveReason::TimedOut, .. }] if user == "bob" && left == "cy" && room == "#r"),
            "{events:?}"
        );
    }

    #[test]
    fn protocol_1_joins_and_leaves_give_the_same_events() {
        let joined = frame_events(ServerFrame::Joined { user: "bob".into() }, "ann", "#g");
        assert!(
            matches!(&joined[..], [Event::UserJoined { room, user }] if user == "bob" && room == "#g")
        );
        let left = frame_events(
            ServerFrame::Left {
                user: "bob".into(),
                why: wire::LeaveReason::Quit,
            },
            "ann",
            "#g",
        );
        assert!(
            matches!(&left[..], [Event::UserLeft { user, why: LeaveReason::Quit, .. }] if user == "bob")
        );
    }

    #[test]
    fn a_second_welcome_is_not_handed_out() {
        let events = frame_events(
            ServerFrame::Welcome {
                you: "ann".into(),
                rooms: Vec::new(),
                direct: Vec::new(),
                limits: crate::pacing::tests::limits(20, 40),
            },
            "ann",
            "#g",
        );
        assert!(events.is_empty());
    }

    #[test]
    fn lines_know_whether_they_are_ours() {
        let line = |from: &str| ChatMessage {
            id: 3,
            from: from.into(),
            nonce: 7,
            text: "hi".into(),
            at_ms: 5,
        };
        let room = || Conversation::Room("#g".into());
        assert!(Line::from_wire(room(), line("ann"), "ann").mine);
        assert!(!Line::from_wire(room(), line("bob"), "ann").mine);
    }
}
