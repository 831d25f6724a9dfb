//! The frames of the protocol. The order of variants and fields is the encoding: append, never reorder.

use serde::{Deserialize, Serialize};

use crate::{Reply, Request};

/// A user name as the server announced it (already validated and unique in the room).
pub type UserName = String;

/// A room's name as the server announced it: `#` and then a name with the rules of a user name
/// (protocol 5). Two room names that look alike are one room.
pub type RoomName = String;

/// Where a line, a receipt, a presence change or a user list belongs (protocol 5): a room, or the
/// direct conversation with another user, named by the other end as the receiving end sees it (so
/// alice's and bob's direct conversation is `Direct("bob")` to alice and `Direct("alice")` to bob).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Conversation {
    Room(RoomName),
    Direct(UserName),
}

impl std::fmt::Display for Conversation {
    /// `#general` for a room, the other end's name for a direct conversation.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Room(room) | Self::Direct(room) => f.write_str(room),
        }
    }
}

/// The last message id a client saw in one conversation, for `Hello` (protocol 5): ids increase by
/// one per conversation, so the server replays exactly what came after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    pub conversation: Conversation,
    pub last_id: u64,
}

/// A room as a member sees it when it enters (in `Welcome`, and `RoomJoined`) (protocol 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomState {
    pub room: RoomName,
    /// Empty when nobody set one.
    pub topic: String,
    /// Who is in the room now, including you, in name order.
    pub users: Vec<UserName>,
    /// The room's recent lines (or what came after the client's resume point), oldest first.
    pub history: Vec<ChatMessage>,
}

/// A direct conversation's lines that a client has not seen (protocol 5): everything after its resume
/// point, or, without one, the recent lines (among them those sent while it was offline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectState {
    /// The other end.
    pub with: UserName,
    pub history: Vec<ChatMessage>,
}

/// One entry of `Rooms` (protocol 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub room: RoomName,
    pub topic: String,
    /// Names that belong to the room (online or not).
    pub members: u32,
}

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientFrame {
    /// First frame on the stream. `resume` holds, per conversation, the id of the last `Chat` the
    /// client saw, if it has been connected before: the server replays what came after each, and the
    /// recent lines of conversations not named (protocol 5; before, one `resume_after: Option<u64>`).
    Hello {
        version: u16,
        user: String,
        resume: Vec<ResumePoint>,
    },
    /// A line for a room the client is in, or for another user. `nonce` is unique per user and
    /// echoed in the resulting `Chat` (the receipt).
    Say {
        nonce: u64,
        to: Conversation,
        text: String,
    },
    /// Ask for `Users` of a room the client is in.
    ListUsers { room: RoomName },
    /// Leaving: the server tells the others and closes the stream.
    Bye,
    /// Only before `Hello` (version 4): a link code, which adds this connection's key to the name in
    /// `Hello`, or an invite, which lets it register a new name on an invite-only server. A wrong
    /// code refuses the `Hello` (`BadCode`); guesses are limited per connection and per address.
    Redeem { code: String },
    /// About names, devices or moderation (version 4); answered by `Reply` with the same `id`.
    Request { id: u32, request: Request },
    /// Enter a room, creating it if nobody has (protocol 5); answered by `RoomJoined`, which the
    /// name's other connections get too. Joining a room you are in answers `RoomJoined` again.
    JoinRoom { room: RoomName },
    /// Leave a room (protocol 5); answered by `RoomLeft`, also on the name's other connections.
    PartRoom { room: RoomName },
    /// Ask for `Rooms` (protocol 5).
    ListRooms,
    /// Set the topic of a room you are in (protocol 5); every member gets `Topic`.
    SetTopic { room: RoomName, topic: String },
}

/// What a server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerFrame {
    /// `Hello` accepted: the name the server registered, the rooms the name is in (each with who is
    /// there and its recent history or what came after the resume point), the direct conversations
    /// with lines the client has not seen, and (since version 3) the limits this client must keep to.
    Welcome {
        you: UserName,
        rooms: Vec<RoomState>,
        direct: Vec<DirectState>,
        limits: Limits,
    },
    /// `Hello` refused; the server closes the connection after this frame.
    Refused { reason: RefuseReason },
    /// A line said in a conversation, stamped by the server. The sender gets it too: that is its
    /// receipt. In a direct conversation, the sender's copy names the receiver and the receiver's
    /// the sender.
    Chat {
        conversation: Conversation,
        message: ChatMessage,
    },
    /// Somebody entered the room. Since version 2 the server sends joins inside `Presence`; the
    /// client library hands each one out as this frame.
    Joined { user: UserName },
    /// Somebody left the room. Sent inside `Presence` since version 2, like `Joined`.
    Left { user: UserName, why: LeaveReason },
    /// The answer to `ListUsers`: who is in the room now, sorted.
    Users { room: RoomName, list: Vec<UserName> },
    /// A request was not carried out; the connection stays usable. `nonce` names the `Say` it is about.
    Problem {
        code: ProblemCode,
        nonce: Option<u64>,
        detail: String,
    },
    /// The server is about to close every connection.
    ShuttingDown { reason: String },
    /// Joins and leaves, in the order they happened (version 2). The server gathers the changes of
    /// a short moment into one frame: in a room filling up, each member then gets one frame per
    /// burst of newcomers instead of one per newcomer.
    Presence {
        room: RoomName,
        changes: Vec<PresenceChange>,
    },
    /// The answer to the `Request` with this `id` (version 4).
    Reply { id: u32, reply: Reply },
    /// An operator disconnected you (version 4): kicked, or banned when `banned`. The connection
    /// closes after this frame (`close_code::REMOVED`).
    Removed {
        by: UserName,
        reason: String,
        banned: bool,
    },
    /// Your name signed in again on another connection, with the key `fingerprint` (another of your
    /// devices, or this one reconnecting) (version 4): this connection closes after this frame
    /// (`close_code::REPLACED`) and should not come back by itself, or the two would take turns.
    Replaced { fingerprint: [u8; 32] },
    /// You are in this room now (protocol 5): the answer to `JoinRoom`, also sent to the name's other
    /// connections, so that every device is in the same rooms.
    RoomJoined(RoomState),
    /// You are no longer in this room (protocol 5): the answer to `PartRoom`, also sent to the
    /// name's other connections.
    RoomLeft { room: RoomName },
    /// The answer to `ListRooms`: every room of the server, in name order.
    Rooms { list: Vec<RoomInfo> },
    /// A room's topic changed (protocol 5), set by `by`; every member gets it.
    Topic {
        room: RoomName,
        topic: String,
        by: UserName,
    },
}

/// What the server allows one client, told in `Welcome` (version 3) so that a client paces itself
/// instead of guessing: a client that keeps to these never hears `TooFast`.
///
/// `Say` and `ListUsers` spend from one token bucket: it holds `burst` tokens, starts full and
/// refills at `lines_per_sec`; a frame that finds it empty is refused with `Problem(TooFast)`, and
/// after `strikes_allowed` such answers in a row the connection is closed (`close_code::TOO_FAST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Sustained `Say` + `ListUsers` frames per second; 0 means no rate limit.
    pub lines_per_sec: u32,
    /// Frames allowed at once above the sustained rate (the bucket's size).
    pub burst: u32,
    /// Longest `Say` text, in bytes of UTF-8; longer is refused with `Problem(TooLong)`.
    pub max_line_bytes: u32,
    /// Largest client frame body; a larger one closes the connection.
    pub max_frame_bytes: u32,
    /// `TooFast` answers in a row after which the connection is closed.
    pub strikes_allowed: u32,
    /// Rooms one name may be in at once (protocol 5); one more is `Problem(TooManyRooms)`.
    pub max_rooms_per_user: u32,
    /// Longest topic, in bytes of UTF-8 (protocol 5); longer is `Problem(TopicTooLong)`.
    pub max_topic_bytes: u32,
}

impl Limits {
    /// The longest `Say` text that fits both limits: the line limit and the frame limit less the
    /// frame's own overhead (variant index, nonce and length varints).
    pub fn longest_line(&self) -> usize {
        /// One byte of variant index, up to ten of nonce, up to five of text length, and the
        /// conversation: one byte of variant, one of length and a name of at most
        /// `MAX_NAME_BYTES + 1` (the `#`).
        const SAY_OVERHEAD: u32 = 16 + 2 + crate::MAX_NAME_BYTES as u32 + 1;
        self.max_line_bytes
            .min(self.max_frame_bytes.saturating_sub(SAY_OVERHEAD)) as usize
    }
}

/// One entry of `Presence` (the room is the frame's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PresenceChange {
    Joined { user: UserName },
    Left { user: UserName, why: LeaveReason },
}

impl From<PresenceChange> for ServerFrame {
    /// The frame a version 1 server sent for the same change.
    fn from(change: PresenceChange) -> Self {
        match change {
            PresenceChange::Joined { user } => Self::Joined { user },
            PresenceChange::Left { user, why } => Self::Left { user, why },
        }
    }
}

/// One line of a conversation's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Increases by one per message in the conversation (protocol 5; before, in the one room): a
    /// client that sees a gap knows it missed something.
    pub id: u64,
    pub from: UserName,
    /// The sender's nonce from `Say`.
    pub nonce: u64,
    pub text: String,
    /// Server time, milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// Why a `Hello` was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefuseReason {
    /// Somebody in the room already has this name (compared case-insensitively).
    NameTaken,
    /// The name breaks a rule; the text says which.
    InvalidName(String),
    /// The server holds as many connections as it is allowed to.
    ServerFull,
    /// The server speaks another protocol version.
    UnsupportedVersion { supported: u16 },
    /// Too many connections from the client's address.
    TooManyConnections,
    /// The name belongs to another key (version 4): sign in with that identity, link this device
    /// with a code from it, or pick another name.
    NameOwned,
    /// The name, or this key, is banned (version 4).
    Banned { reason: String },
    /// This key was removed from the name with `Revoke` (version 4).
    Revoked,
    /// The server registers new names only with an invite (version 4).
    InviteRequired,
    /// The code given with `Redeem` is unknown, used or expired (version 4).
    BadCode,
    /// Too many wrong codes from this connection or address; wait (version 4).
    TooManyGuesses,
    /// The server cannot check who owns the name just now; try again in a moment (version 4).
    Unavailable,
}

/// Why somebody left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaveReason {
    /// Said `Bye`.
    Quit,
    /// Went silent until the idle timeout.
    TimedOut,
    /// The connection broke or was closed without `Bye`.
    Dropped,
    /// Could not keep up with the room and was disconnected.
    TooSlow,
    /// Broke the protocol and was disconnected.
    Misbehaved,
    /// Disconnected by an operator (version 4).
    Kicked,
    /// Banned by an operator (version 4).
    Banned,
    /// Signed in again on another connection, which took its place (version 4).
    Replaced,
}

/// What went wrong with a request that was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProblemCode {
    /// The message is longer than the server's limit.
    TooLong,
    /// The client sends faster than the server's limit.
    TooFast,
    /// The message is empty or only white space.
    Empty,
    /// `Hello` again after being welcomed.
    AlreadyJoined,
    /// The server could not carry it out through no fault of the client; trying later may work.
    ServerError,
    /// Only operators may do that (version 4).
    NotAllowed,
    /// Nobody has that name, or it is owned by nobody (version 4).
    NoSuchUser,
    /// No key of the name matches that fingerprint (version 4).
    NoSuchDevice,
    /// Several keys match that fingerprint prefix: type more of it (version 4).
    AmbiguousDevice,
    /// That is the name's only key: `Release` gives a name up (version 4).
    LastDevice,
    /// Nobody has made that room (protocol 5).
    NoSuchRoom,
    /// That needs you to be in the room, and you are not (protocol 5).
    NotInRoom,
    /// A room name breaks a rule: `#` and then a valid name (protocol 5); the detail says which.
    InvalidRoomName,
    /// You are in as many rooms as one name may be (protocol 5).
    TooManyRooms,
    /// The server holds as many rooms as it may (protocol 5).
    ServerRoomsFull,
    /// The room has as many members as it may (protocol 5).
    RoomFull,
    /// The topic is longer than the server's limit (protocol 5).
    TopicTooLong,
    /// The server does not do that in its set-up (protocol 5).
    Unsupported,
}

impl std::fmt::Display for RefuseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NameTaken => f.write_str("that name is already taken"),
            Self::InvalidName(why) => write!(f, "invalid name: {why}"),
            Self::ServerFull => f.write_str("the server is full"),
            Self::UnsupportedVersion { supported } => {
                write!(
                    f,
                    "unsupported protocol version (server speaks {supported})"
                )
            }
            Self::TooManyConnections => f.write_str("too many connections from your address"),
            Self::NameOwned => f.write_str("that name belongs to another identity"),
            Self::Banned { reason } => write!(f, "banned: {reason}"),
            Self::Revoked => f.write_str("this device was removed from that name"),
            Self::InviteRequired => {
                f.write_str("this server registers new names only with an invite code")
            }
            Self::BadCode => f.write_str("that code is unknown, used or expired"),
            Self::TooManyGuesses => f.write_str("too many wrong codes; wait ten minutes"),
            Self::Unavailable => f.write_str("the server cannot check names just now; try again"),
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

impl std::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TooLong => "message too long",
            Self::TooFast => "sending too fast",
            Self::Empty => "empty message",
            Self::AlreadyJoined => "already joined",
            Self::ServerError => "server error",
            Self::NotAllowed => "only operators may do that",
            Self::NoSuchUser => "no such user",
            Self::NoSuchDevice => "no such device",
            Self::AmbiguousDevice => "several devices match; type more of the fingerprint",
            Self::LastDevice => "that is the only device of the name",
            Self::NoSuchRoom => "no such room",
            Self::NotInRoom => "you are not in that room",
            Self::InvalidRoomName => "invalid room name",
            Self::TooManyRooms => "you are in too many rooms; leave one first",
            Self::ServerRoomsFull => "the server has as many rooms as it may",
            Self::RoomFull => "the room is full",
            Self::TopicTooLong => "topic too long",
            Self::Unsupported => "this server does not do that",
        })
    }
}
