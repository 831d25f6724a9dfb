//! What the registry needs from a cluster, as a trait, so that imports run one way: the cluster
//! module implements it (a JetStream stream and key-value buckets) and the registry knows only this.
//!
//! The shared log has one channel per room (its lines), per pair of names (their direct lines),
//! and per room for membership changes and topics. A line is appended with the position the
//! sender's node believes is the channel's last ([`SharedLog::append`] with `expected`): of two
//! nodes racing on one room only one wins, the other learns the new tail and tries again, so every
//! conversation has one order and ids that go up by one. Every node follows the whole log and hands
//! each event to [`super::Registry::apply`].

use serde::{Deserialize, Serialize};
use wire::ChatMessage;

use crate::room::{PeerError, Pending};

/// A channel of the shared log, by the key it is about (not yet encoded for NATS).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Channel<'a> {
    /// A room's lines, by room key.
    Room(&'a str),
    /// A pair's direct lines, by pair key.
    Direct(&'a str),
    /// Joins and parts of a room, by room key.
    Members(&'a str),
    /// Topic changes of a room (the default room's too), by room key.
    Topic(&'a str),
}

/// One end of a direct conversation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Party {
    /// `names::name_key` of the name.
    pub(crate) key: String,
    pub(crate) name: String,
}

/// What the shared log holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Event {
    /// The first event of a line channel, so that every later line can name the one before it
    /// (an expected position of 0 would mean "no check" to some servers).
    Opened,
    Line {
        /// The room's name as its maker typed it.
        room: String,
        /// The sender's name key (re-sends are recognised by it and the nonce).
        sender: String,
        message: ChatMessage,
    },
    Direct {
        from: Party,
        to: Party,
        message: ChatMessage,
    },
    Member {
        room: String,
        key: String,
        name: String,
        joined: bool,
        /// The registry that made the change (it has applied it already).
        origin: u64,
    },
    Topic {
        room: String,
        topic: String,
        by: String,
    },
}

impl Event {
    /// The conversation id a line channel's last event stands for (0: none yet).
    pub(crate) fn line_id(&self) -> u64 {
        match self {
            Event::Line { message, .. } | Event::Direct { message, .. } => message.id,
            _ => 0,
        }
    }
}

/// How an append is told apart from another node's (JetStream's duplicate window).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dedup<'a> {
    /// A line: the sender's name key and its nonce.
    Line(&'a str, u64),
    /// The channel's `Opened` event: one per channel.
    Open,
}

/// What became of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Stored at log position `seq`; `duplicate`: the same line was stored before.
    Done { seq: u64, duplicate: bool },
    /// The channel moved on since the expected position: read its tail and try again.
    Behind,
}

/// A room in the shared registry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RoomRecord {
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) topic: String,
    pub(crate) by: String,
}

/// A membership in the shared registry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MemberRecord {
    pub(crate) room: String,
    pub(crate) room_name: String,
    pub(crate) user: String,
    pub(crate) user_name: String,
}

/// One end's view of a direct conversation: who the other is, and the last id handed to one of
/// this end's connections.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DirectRecord {
    pub(crate) user: String,
    pub(crate) other: String,
    pub(crate) other_name: String,
    pub(crate) delivered: u64,
}

/// The registry and memberships as a node finds them when it starts, and where to follow from.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// The log's last position before the buckets were read: follow from the next one.
    pub(crate) last_seq: u64,
    pub(crate) rooms: Vec<RoomRecord>,
    pub(crate) members: Vec<MemberRecord>,
}

/// The shared log and registry of a cluster.
pub(crate) trait SharedLog: Send + Sync {
    /// The rooms and memberships now, and the log's position just before they were read.
    fn load(&self) -> Pending<'_, Result<Loaded, PeerError>>;

    /// Creates a room atomically; returns the record stored (ours, or the one made first).
    fn create_room<'a>(
        &'a self,
        record: &'a RoomRecord,
    ) -> Pending<'a, Result<RoomRecord, PeerError>>;

    /// Replaces a room's record (a new topic).
    fn put_room<'a>(&'a self, record: &'a RoomRecord) -> Pending<'a, Result<(), PeerError>>;

    fn put_member<'a>(&'a self, record: &'a MemberRecord) -> Pending<'a, Result<(), PeerError>>;

    fn delete_member<'a>(
        &'a self,
        room: &'a str,
        user: &'a str,
    ) -> Pending<'a, Result<(), PeerError>>;

    /// Appends an event; with `expected`, only if the channel's last event is at that position.
    fn append<'a>(
        &'a self,
        channel: Channel<'a>,
        event: &'a Event,
        expected: Option<u64>,
        dedup: Option<Dedup<'a>>,
    ) -> Pending<'a, Result<Appended, PeerError>>;

    /// The channel's last event and its position, if it has one.
    fn last<'a>(
        &'a self,
        channel: Channel<'a>,
    ) -> Pending<'a, Result<Option<(u64, Event)>, PeerError>>;

    /// Every event of a channel, oldest first.
    fn read<'a>(
        &'a self,
        channel: Channel<'a>,
    ) -> Pending<'a, Result<Vec<(u64, Event)>, PeerError>>;

    /// A name's direct conversations.
    fn directs<'a>(&'a self, user: &'a str) -> Pending<'a, Result<Vec<DirectRecord>, PeerError>>;

    /// Writes one end's record; with `create_only`, only if there is none yet.
    fn put_direct<'a>(
        &'a self,
        record: &'a DirectRecord,
        create_only: bool,
    ) -> Pending<'a, Result<(), PeerError>>;
}
