//! The room: who is in it, what was said, and fan-out.
//!
//! The room's state sits behind one `std::sync::Mutex`. Every critical section is short, never
//! awaits and does no disk I/O: a message is stamped, encoded once and its bytes handed to every
//! member's bounded queue with a push that never waits (a reference-count increment each; see
//! `queue`). Holding the lock across the fan-out is what gives every member the same order of
//! messages, joins and leaves, and it is what lets a join hand a newcomer a history that meets the
//! live stream with no gap and no duplicate.
//!
//! Why no I/O under that lock: every session, the presence timer and (in a cluster) the stream
//! follower take it, so a disk sync inside it (a SQLite commit, a read of old history) stalled them
//! all. On a single node the history database has a lock of its own, the *sequencer*
//! (`Room::store`): it is held from the moment lines get their ids until they are stored and
//! broadcast, so ids still go up by one with no gap, every line is stored before anyone sees it,
//! and everyone sees one order; the room's lock is taken only briefly inside it. Lock order is
//! always sequencer, then room. A resume older than the cache reads the store under the sequencer
//! alone, then continues from the cache under the room's lock (`history`), as the cluster path does
//! with the stream.
//!
//! One module per concern: `membership` (joining, leaving, names), `lines` (ids, storing, saying),
//! `history` (the cache, re-send de-duplication, replay), `presence` (joins and leaves sent in
//! batches), `fanout` (queues, congestion, slow members), `remote` (users of other nodes) and
//! `peers` (what the room needs from the other nodes, as a trait: the room never names the
//! cluster that implements it). Nothing here is global, so a registry of rooms can hold several.

mod fanout;
mod history;
mod lines;
mod membership;
mod peers;
mod presence;
mod remote;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use wire::{PresenceChange, ProblemCode};

use crate::{
    config::{Config, LiveLimits},
    metrics::Metrics,
    queue,
    store::{Store, StoreError},
};

use history::History;
use membership::Member;
pub(crate) use membership::{Eviction, Membership, Removal};
pub(crate) use peers::{Claim, PeerError, Peers, Pending, Published};
use remote::Remote;

/// Identifies one connection, so that a stale session cannot remove a newer one with the same name.
pub(crate) type ConnId = u64;

/// What became of one line: its nonce, and its id or why it was not said.
pub(crate) type Said = (u64, Result<u64, Rejection>);

/// Why a `Say` was not carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Tell the sender with a `Problem`.
    Problem { code: ProblemCode, detail: String },
    /// The sender is no longer in the room (disconnected while its frame was in flight).
    NotMember,
    /// Already said (same sender and nonce): a re-send after a reconnect. The sender finds the
    /// original in its replay.
    Duplicate,
}

struct State {
    /// Keyed by `name_key`, so iteration is in name order and lookups ignore case.
    members: BTreeMap<String, Member>,
    /// The newest lines, the next id, and who said what (re-sends).
    history: History,
    closed: bool,
    /// Cluster only: users on other nodes, and names being claimed by sessions of this node.
    remote: Remote,
    /// The longest member queue, and the oldest frame waiting in any, as last seen (see `fanout`).
    backlog: queue::Backlog,
    /// Joins and leaves not yet sent, oldest first.
    pending: Vec<PresenceChange>,
}

impl State {
    fn new(history: History) -> Self {
        Self {
            members: BTreeMap::new(),
            history,
            closed: false,
            remote: Remote::default(),
            backlog: queue::Backlog::default(),
            pending: Vec::new(),
        }
    }
}

/// The limits a room works within, from the server's configuration; those that can change while it
/// runs are in [`Room::limits`].
struct Sizes {
    queue_frames: usize,
    queue_delay: Duration,
    welcome_history: usize,
    max_replay: usize,
}

pub(crate) struct Room {
    /// The room's name (`--default-room`), as every frame about it says it.
    pub(crate) name: String,
    /// The room's topic (kept and changed by the registry of rooms, told in `Welcome`).
    pub(crate) topic: Mutex<String>,
    state: Mutex<State>,
    /// The history database and the sequencer lock (single node only; in a cluster the stream is
    /// the history and orders the lines). Taken before `state`, never after.
    store: Option<Mutex<Store>>,
    /// Told when a presence change starts waiting; see [`Room::tell_presence`].
    presence_due: Notify,
    /// Told when a queue that speakers wait on makes progress; see [`Room::wait_uncongested`].
    progress: Arc<Notify>,
    /// The other nodes (cluster only).
    peers: Option<Arc<dyn Peers>>,
    sizes: Sizes,
    /// The limits in force (room size, message length), shared with the listener and sessions.
    pub(crate) limits: Arc<LiveLimits>,
    /// What the server counts; the room holds it so that everything that uses the room reaches it.
    pub(crate) metrics: Arc<Metrics>,
}

impl Room {
    /// A room that continues the history in `store`: ids go on from the last one stored.
    pub(crate) fn new(config: &Config, store: Store) -> Result<Self, StoreError> {
        let cached = store.recent(config.history_len)?;
        let next_id = store.last_id()? + 1;
        let history = History::new(next_id, cached, config.history_len);
        let room = Self::with_state(config, State::new(history), Some(store), None);
        if let Some(store) = room.sequencer() {
            room.metrics.history_lines.set(store.lines() as i64);
        }
        Ok(room)
    }

    /// A room of a cluster node: ids and history come from the stream, which the node applies from
    /// `first_id` on (the start of the cache it wants).
    pub(crate) fn with_peers(config: &Config, peers: Arc<dyn Peers>, first_id: u64) -> Self {
        let history = History::new(first_id.max(1), Vec::new(), config.history_len);
        Self::with_state(config, State::new(history), None, Some(peers))
    }

    fn with_state(
        config: &Config,
        state: State,
        store: Option<Store>,
        peers: Option<Arc<dyn Peers>>,
    ) -> Self {
        Self {
            name: config.default_room.clone(),
            topic: Mutex::new(String::new()),
            state: Mutex::new(state),
            store: store.map(Mutex::new),
            presence_due: Notify::new(),
            progress: Arc::new(Notify::new()),
            peers,
            sizes: Sizes {
                queue_frames: config.limits.queue_frames.max(1),
                queue_delay: config.limits.queue_delay,
                welcome_history: config.welcome_history,
                max_replay: config.max_replay,
            },
            limits: Arc::new(LiveLimits::new(config.limits.clone())),
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// This room as a conversation, for the frames that name it.
    pub(crate) fn conversation(&self) -> wire::Conversation {
        wire::Conversation::Room(self.name.clone())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The sequencer: the store, held while lines get ids, are stored and broadcast (single node).
    fn sequencer(&self) -> Option<MutexGuard<'_, Store>> {
        self.store.as_ref().map(lock)
    }
}

/// A panic while holding a lock cannot leave the state half-updated in a way that matters more
/// than stopping the whole room would, so keep serving.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
