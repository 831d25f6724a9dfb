//! The room: who is in it, what was said, and fan-out.
//!
//! All of it sits behind one `std::sync::Mutex`. Every critical section is short and never awaits:
//! a message is stamped, encoded once and its bytes handed to every member's bounded queue with a
//! push that never waits (a reference-count increment each; see `queue`). Holding the lock across
//! the fan-out is what gives every member the same order of messages, joins and leaves, and it is
//! what lets `join` hand a newcomer a history that meets the live stream with no gap and no
//! duplicate.
//!
//! Joins and leaves are not sent one by one: they wait in `State::pending` for a moment
//! ([`presence_delay`]) and go out together as `Presence` frames, each encoded once for everyone.
//! Filling a room of N is N² changes to tell whatever we do; gathered, it is about N frames per
//! moment instead of N² frames, queue pushes and writer wake-ups. Anything else the room sends
//! (a line, a reply, shutdown) first sends what is pending, so every member still sees one order.
//!
//! In a cluster (`crate::cluster`) ids come from the JetStream stream instead of `next_id`: a
//! session publishes its line without the lock ([`Room::speak`]) and the task following the stream
//! applies every node's lines under it ([`Room::apply`]), in stream order. The single-node path is
//! the same code as before, with no await and no extra work.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, oneshot};
use wire::{
    ChatMessage, LeaveReason, PresenceChange, ProblemCode, RefuseReason, ServerFrame,
    ServerFrameRef,
};

use crate::{
    Config,
    cluster::{Claim, Cluster},
    names::name_key,
    queue::{self, PushError},
    store::{Store, StoreError, now_ms},
};

/// How long a member may stay more than half a queue behind while speakers wait for it.
const CONGESTION_GRACE: Duration = Duration::from_secs(2);
/// Most changes in one `Presence` frame: names are at most 32 bytes, so a frame stays near 10 KiB.
const PRESENCE_FRAME_CHANGES: usize = 256;
/// How long joins and leaves wait for company, at least; see [`presence_delay`].
const PRESENCE_DELAY: Duration = Duration::from_millis(25);
/// Added to that wait per member of the room.
const PRESENCE_DELAY_PER_MEMBER: Duration = Duration::from_micros(200);
/// The longest a join or leave waits.
const PRESENCE_DELAY_MAX: Duration = Duration::from_millis(500);

/// Identifies one connection, so that a stale session cannot remove a newer one with the same name.
pub(crate) type ConnId = u64;

struct Member {
    name: String,
    conn: ConnId,
    tx: queue::Sender,
    kick: Option<oneshot::Sender<()>>,
    /// The revision of this member's entry in the cluster's user list (0 on a single node).
    revision: u64,
    /// Since when its queue has been more than half full, as last seen by [`Room::congested`].
    congested_since: Option<Instant>,
    /// How many of the pending presence changes this member already knows: a newcomer's `Welcome`
    /// lists everyone, so it is sent only the changes after its own join.
    knows_pending: usize,
}

impl Member {
    fn queued(&self) -> usize {
        self.tx.len()
    }
}

/// A user connected to another node of the cluster.
struct RemoteUser {
    name: String,
    /// When this node learnt of them: a snapshot older than that does not remove them.
    since: Instant,
}

struct State {
    /// Keyed by `name_key`, so iteration is in name order and lookups ignore case.
    members: BTreeMap<String, Member>,
    next_id: u64,
    /// The newest messages, also in the store: newcomers and most resumes are served from here.
    history: VecDeque<ChatMessage>,
    /// (sender key, nonce) → id of every message in `history`, and of some just older ones until
    /// the next sweep: a `Say` re-sent after a reconnect is recognised and not said twice. Entries
    /// older than the history are swept in bulk, so that no line has to work out the name key of
    /// the message it pushes out of the history (Unicode folding, 10% of the CPU of fast chatter).
    said: HashMap<(String, u64), u64>,
    /// The history database; `None` in a cluster, where the stream is the history.
    store: Option<Store>,
    closed: bool,
    /// Cluster only: users on other nodes, by name key.
    remote: BTreeMap<String, RemoteUser>,
    /// Cluster only: when a remote user was last seen leaving, so an older snapshot does not bring
    /// them back.
    gone: HashMap<String, Instant>,
    /// Cluster only: names being claimed in the cluster's user list by sessions of this node.
    joining: HashSet<String>,
    /// The longest member queue after the last broadcast.
    max_queued: usize,
    /// Joins and leaves not yet sent, oldest first.
    pending: Vec<PresenceChange>,
}

/// What a session gets when its `Hello` is accepted.
pub(crate) struct Membership {
    pub(crate) name: String,
    pub(crate) key: String,
    /// Everything the room sends this member, `Welcome` first. Ends when the member leaves the room.
    pub(crate) rx: queue::Receiver,
    /// For replies to this member only; weak so that leaving the room ends `rx`.
    pub(crate) tx: queue::WeakSender,
    /// Fires when the room disconnects the member for falling behind.
    pub(crate) kicked: oneshot::Receiver<()>,
}

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

pub(crate) struct Room {
    state: Mutex<State>,
    /// Told when a presence change starts waiting; see [`Room::tell_presence`].
    presence_due: Notify,
    cluster: Option<Arc<Cluster>>,
    max_members: usize,
    max_message_bytes: usize,
    queue_frames: usize,
    history_len: usize,
    welcome_history: usize,
    max_replay: usize,
}

impl Room {
    /// A room that continues the history in `store`: ids go on from the last one stored.
    pub(crate) fn new(config: &Config, store: Store) -> Result<Self, StoreError> {
        let history: VecDeque<ChatMessage> = store.recent(config.history_len)?.into();
        let said = history
            .iter()
            .map(|m| ((name_key(&m.from), m.nonce), m.id))
            .collect();
        let next_id = store.last_id()? + 1;
        Ok(Self::with_state(
            config,
            State::new(next_id, history, said, Some(store)),
            None,
        ))
    }

    /// A room of a cluster node: ids and history come from the stream, which the node applies from
    /// `first_id` on (the start of the cache it wants).
    pub(crate) fn clustered(config: &Config, cluster: Arc<Cluster>, first_id: u64) -> Self {
        let state = State::new(first_id.max(1), VecDeque::new(), HashMap::new(), None);
        Self::with_state(config, state, Some(cluster))
    }

    fn with_state(config: &Config, state: State, cluster: Option<Arc<Cluster>>) -> Self {
        Self {
            state: Mutex::new(state),
            presence_due: Notify::new(),
            cluster,
            max_members: config.limits.max_connections,
            max_message_bytes: config.limits.max_message_bytes,
            queue_frames: config.limits.queue_frames.max(1),
            history_len: config.history_len,
            welcome_history: config.welcome_history,
            max_replay: config.max_replay,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated in a way that matters
        // more than stopping the whole room would, so keep serving.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a member whose name has already been validated.
    pub(crate) fn join(
        &self,
        conn: ConnId,
        name: &str,
        resume_after: Option<u64>,
    ) -> Result<Membership, RefuseReason> {
        let key = name_key(name);
        let mut state = self.lock();
        if state.closed || state.members.len() >= self.max_members {
            return Err(RefuseReason::ServerFull);
        }
        if state.members.contains_key(&key) {
            return Err(RefuseReason::NameTaken);
        }

        let oldest_cached = state.history.front().map_or(state.next_id, |m| m.id);
        let replay: Vec<ChatMessage> = match resume_after {
            // Older than the cache: the store has it (as far as retention allows).
            Some(last_seen) if last_seen + 1 < oldest_cached => {
                match state
                    .store
                    .as_ref()
                    .map(|s| s.after(last_seen, self.max_replay))
                {
                    Some(Ok(missed)) => missed,
                    None => state.history.iter().cloned().collect(),
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "cannot read history for a resume");
                        state.history.iter().cloned().collect()
                    }
                }
            }
            Some(last_seen) => state
                .history
                .iter()
                .filter(|m| m.id > last_seen)
                .take(self.max_replay)
                .cloned()
                .collect(),
            None => {
                let skip = state.history.len().saturating_sub(self.welcome_history);
                state.history.iter().skip(skip).cloned().collect()
            }
        };
        Ok(self.admit(&mut state, conn, name, key, replay, 0))
    }

    /// Registers a member and queues its `Welcome` and replay; tells the others.
    fn admit(
        &self,
        state: &mut State,
        conn: ConnId,
        name: &str,
        key: String,
        replay: Vec<ChatMessage>,
        revision: u64,
    ) -> Membership {
        let frames = welcome_frames(name, &state.names(Some((&key, name))), replay);

        // Room for the welcome and the replay on top of the normal queue, so that a long replay
        // does not count as falling behind.
        let (tx, rx) = queue::queue(self.queue_frames + frames.len());
        for frame in frames {
            // Cannot fail: the queue is new and sized for these frames.
            let _ = tx.push(frame);
        }
        self.announce(
            state,
            PresenceChange::Joined {
                user: name.to_owned(),
            },
        );
        let (kick, kicked) = oneshot::channel();
        let weak = tx.downgrade();
        let knows_pending = state.pending.len();
        state.members.insert(
            key.clone(),
            Member {
                name: name.to_owned(),
                conn,
                tx,
                kick: Some(kick),
                revision,
                congested_since: None,
                knows_pending,
            },
        );
        Membership {
            name: name.to_owned(),
            key,
            rx,
            tx: weak,
            kicked,
        }
    }

    /// Stamps one member's lines and sends them to everyone, the sender included, in order. Lines
    /// that arrived together are stored in one transaction: a transaction per line (its WAL write
    /// and shared-memory locks) was more than half of the server's CPU under fast chatter.
    pub(crate) fn say_all(&self, key: &str, lines: Vec<(u64, String)>) -> Vec<Said> {
        let mut state = self.lock();
        let Some(from) = state.members.get(key).map(|m| m.name.clone()) else {
            return lines
                .into_iter()
                .map(|(nonce, _)| (nonce, Err(Rejection::NotMember)))
                .collect();
        };
        let at_ms = now_ms();
        let mut outcomes = Vec::with_capacity(lines.len());
        let mut messages: Vec<ChatMessage> = Vec::with_capacity(lines.len());
        for (nonce, text) in lines {
            let outcome = if let Err(rejection) = self.check_text(&text) {
                Err(rejection)
            } else if state.already_said(key, nonce) || messages.iter().any(|m| m.nonce == nonce) {
                Err(Rejection::Duplicate)
            } else {
                let id = state.next_id + messages.len() as u64;
                messages.push(ChatMessage {
                    id,
                    from: from.clone(),
                    nonce,
                    text,
                    at_ms,
                });
                Ok(id)
            };
            outcomes.push((nonce, outcome));
        }
        if messages.is_empty() {
            return outcomes;
        }
        // Stored before anyone sees them: what was delivered survives a crash.
        if let Some(store) = state.store.as_mut()
            && let Err(e) = store.append_all(&messages)
        {
            tracing::error!(error = %e, lines = messages.len(), "cannot store messages");
            for (_, outcome) in &mut outcomes {
                if outcome.is_ok() {
                    *outcome = Err(Rejection::Problem {
                        code: ProblemCode::ServerError,
                        detail: "the server cannot store messages right now; try again later"
                            .into(),
                    });
                }
            }
            return outcomes;
        }
        for message in messages {
            self.record(&mut state, key.to_owned(), message);
        }
        outcomes
    }

    /// Sends a line to everyone and keeps it in the history (the caller holds the lock).
    fn record(&self, state: &mut State, key: String, message: ChatMessage) {
        state.next_id = message.id + 1;
        let frame = ServerFrame::Chat(message);
        self.broadcast(state, &frame);
        if let ServerFrame::Chat(message) = frame
            && self.history_len > 0
        {
            if state.history.len() >= self.history_len {
                state.history.pop_front();
            }
            state.said.insert((key, message.nonce), message.id);
            state.history.push_back(message);
            if state.said.len() >= 2 * self.history_len {
                state.forget_said_before_history();
            }
        }
    }

    /// Length and blank checks on a line, before anything else is done with it.
    fn check_text(&self, text: &str) -> Result<(), Rejection> {
        if text.len() > self.max_message_bytes {
            return Err(Rejection::Problem {
                code: ProblemCode::TooLong,
                detail: format!(
                    "the message has {} bytes; the limit is {}",
                    text.len(),
                    self.max_message_bytes
                ),
            });
        }
        if text.trim().is_empty() {
            return Err(Rejection::Problem {
                code: ProblemCode::Empty,
                detail: "the message is empty".into(),
            });
        }
        Ok(())
    }

    /// Removes the member if `conn` is still the connection holding that name, and tells the others.
    pub(crate) fn leave(&self, conn: ConnId, key: &str, why: LeaveReason) -> bool {
        let mut state = self.lock();
        if state.members.get(key).is_none_or(|m| m.conn != conn) {
            return false;
        }
        if let Some(member) = state.members.remove(key) {
            tracing::info!(user = %member.name, %why, "left");
            if let Some(cluster) = &self.cluster {
                let (cluster, key, name) = (cluster.clone(), key.to_owned(), member.name.clone());
                tokio::spawn(
                    async move { cluster.release(&key, &name, member.revision, why).await },
                );
            }
            self.announce(
                &mut state,
                PresenceChange::Left {
                    user: member.name,
                    why,
                },
            );
        }
        true
    }

    /// Disconnects a member that cannot keep up (its own replies overflowed its queue).
    pub(crate) fn kick_slow(&self, conn: ConnId, key: &str) {
        let mut state = self.lock();
        if state.members.get(key).is_some_and(|m| m.conn == conn) {
            self.remove_slow(&mut state, vec![key.to_owned()]);
        }
    }

    /// How many more frames the longest member queue takes before the room counts as congested (see
    /// [`Room::congested`]), as of the last frame sent to everyone.
    pub(crate) fn headroom(&self) -> usize {
        self.congestion_limit()
            .saturating_sub(self.lock().max_queued)
    }

    /// Frames in one member's queue above which the room counts as congested: half the queue.
    fn congestion_limit(&self) -> usize {
        self.queue_frames / 2
    }

    /// Whether a member's queue is more than half full, so that speakers should wait before adding
    /// to it. A member that has been that far behind for [`CONGESTION_GRACE`] is disconnected as too
    /// slow instead: it is not reading, and the room must not wait for it any longer.
    pub(crate) fn congested(&self) -> bool {
        let limit = self.congestion_limit();
        let mut state = self.lock();
        if state.max_queued <= limit {
            return false;
        }
        let now = Instant::now();
        let mut slow = Vec::new();
        let mut max_queued = 0;
        for (key, member) in &mut state.members {
            let queued = member.queued();
            if queued <= limit {
                member.congested_since = None;
                continue;
            }
            let since = *member.congested_since.get_or_insert(now);
            if now.duration_since(since) >= CONGESTION_GRACE {
                slow.push(key.clone());
            } else {
                max_queued = max_queued.max(queued);
            }
        }
        state.max_queued = max_queued;
        self.remove_slow(&mut state, slow);
        max_queued > limit
    }

    /// How many are in the room (on every node).
    pub(crate) fn size(&self) -> usize {
        let state = self.lock();
        state.members.len() + state.remote.len()
    }

    /// `Users`, everyone in the room (on every node) in name order, encoded. Sends the pending
    /// presence changes first, so that the list never arrives before the changes it contains.
    pub(crate) fn users_frame(&self) -> Result<Bytes, wire::EncodeError> {
        let mut state = self.lock();
        self.flush_presence(&mut state);
        let names = state.names(None);
        wire::encode(
            &ServerFrameRef::Users { list: &names },
            wire::MAX_SERVER_FRAME,
        )
    }

    /// Tells everyone the server is going away and releases their queues, so that each session
    /// flushes what it has and closes. Nobody can join afterwards. Returns who was here (name key,
    /// name, cluster revision), for the cluster to release their names.
    pub(crate) fn shut_down(&self, reason: &str) -> Vec<(String, String, u64)> {
        let mut state = self.lock();
        state.closed = true;
        self.broadcast(
            &mut state,
            &ServerFrame::ShuttingDown {
                reason: reason.to_owned(),
            },
        );
        std::mem::take(&mut state.members)
            .into_iter()
            .map(|(key, m)| (key, m.name, m.revision))
            .collect()
    }

    /// Encodes `frame` once and queues it for every member, after the pending presence changes.
    fn broadcast(&self, state: &mut State, frame: &ServerFrame) {
        self.flush_presence(state);
        match wire::encode(frame, wire::MAX_SERVER_FRAME) {
            Ok(bytes) => self.fan_out(state, &[bytes], &[]),
            // Every frame the room builds is bounded well below the limit; log rather than panic.
            Err(e) => tracing::error!(error = %e, "cannot encode a room frame"),
        }
    }

    /// Adds a join or leave to those waiting to be sent.
    fn announce(&self, state: &mut State, change: PresenceChange) {
        if state.closed {
            return;
        }
        state.pending.push(change);
        if state.pending.len() == 1 {
            self.presence_due.notify_one();
        }
    }

    /// Queues the pending presence changes for every member, [`PRESENCE_FRAME_CHANGES`] per
    /// frame, each frame encoded once.
    fn flush_presence(&self, state: &mut State) {
        if state.pending.is_empty() {
            return;
        }
        let changes = std::mem::take(&mut state.pending);
        let frames: Vec<Bytes> = changes
            .chunks(PRESENCE_FRAME_CHANGES)
            .filter_map(encode_presence)
            .collect();
        self.fan_out(state, &frames, &changes);
    }

    /// Queues `frames` for every member. When they carry presence `changes`, a member that joined
    /// while those were pending skips the ones it already knows.
    fn fan_out(&self, state: &mut State, frames: &[Bytes], changes: &[PresenceChange]) {
        let mut slow = Vec::new();
        let mut max_queued = 0;
        for (key, member) in &mut state.members {
            let knows = std::mem::take(&mut member.knows_pending);
            let (partial, rest) = if knows == 0 || changes.is_empty() {
                (None, frames)
            } else {
                unknown_changes(frames, changes, knows)
            };
            let mut full = false;
            for bytes in partial.iter().chain(rest) {
                if let Err(PushError::Full) = member.tx.push(bytes.clone()) {
                    full = true;
                    break;
                }
            }
            if full {
                slow.push(key.clone());
            } else {
                max_queued = max_queued.max(member.queued());
            }
        }
        state.max_queued = max_queued;
        self.remove_slow(state, slow);
    }

    /// Disconnects members whose queue overflowed. Their leaving joins the pending changes, so a
    /// mass disconnect costs one more presence frame, not a notice per member for every other.
    fn remove_slow(&self, state: &mut State, slow: Vec<String>) {
        for key in slow {
            let Some(mut member) = state.members.remove(&key) else {
                continue;
            };
            tracing::warn!(user = %member.name, "disconnecting a client that cannot keep up");
            if let Some(kick) = member.kick.take() {
                let _ = kick.send(());
            }
            self.announce(
                state,
                PresenceChange::Left {
                    user: member.name,
                    why: LeaveReason::TooSlow,
                },
            );
        }
    }

    /// Waits until presence changes are pending, gives them [`presence_delay`] to gather company,
    /// and sends them; for the life of the server.
    pub(crate) async fn tell_presence(&self) {
        loop {
            self.presence_due.notified().await;
            tokio::time::sleep(presence_delay(self.size())).await;
            self.flush_presence(&mut self.lock());
        }
    }
}

/// What a member that already knows the first `knows` of `changes` is sent of `frames` (which carry
/// them [`PRESENCE_FRAME_CHANGES`] per frame): the rest of the frame it is in the middle of, newly
/// encoded, then the shared frames after it.
fn unknown_changes<'a>(
    frames: &'a [Bytes],
    changes: &[PresenceChange],
    knows: usize,
) -> (Option<Bytes>, &'a [Bytes]) {
    if knows >= changes.len() {
        return (None, &[]);
    }
    let mut first = knows / PRESENCE_FRAME_CHANGES;
    let mut partial = None;
    if !knows.is_multiple_of(PRESENCE_FRAME_CHANGES) {
        let end = ((first + 1) * PRESENCE_FRAME_CHANGES).min(changes.len());
        partial = encode_presence(&changes[knows..end]);
        first += 1;
    }
    (partial, &frames[first.min(frames.len())..])
}

fn encode_presence(changes: &[PresenceChange]) -> Option<Bytes> {
    let frame = ServerFrame::Presence {
        changes: changes.to_vec(),
    };
    wire::encode(&frame, wire::MAX_SERVER_FRAME)
        .inspect_err(|e| tracing::error!(error = %e, "cannot encode a presence frame"))
        .ok()
}

/// How long presence changes wait for company in a room of `members`.
///
/// Each wait ends in a frame to every member, so the cost of a room filling up is about N packets
/// per wait. In a small room 25 ms is unnoticeable and already gathers a burst of joins. Beyond
/// that the wait grows with the room so that presence costs at most about 5,000 packets a second
/// (N packets every N × 200 µs) up to 2,500 members, and the wait stops at half a second. At 50 µs
/// per member (20,000 packets a second) presence was 10 of the 36 datagrams per join of 1000
/// clients connecting; at 200 µs, 27 were left. Half a second at most, so that even in a room of
/// thousands a join shows within a moment.
fn presence_delay(members: usize) -> Duration {
    let per_member =
        PRESENCE_DELAY_PER_MEMBER.saturating_mul(u32::try_from(members).unwrap_or(u32::MAX));
    per_member.clamp(PRESENCE_DELAY, PRESENCE_DELAY_MAX)
}

/// How long a remote user's departure is remembered against stale snapshots.
const GONE_MEMORY: Duration = Duration::from_secs(60);

impl State {
    /// Whether `key` already said the line with this nonce, as far as the history reaches.
    fn already_said(&self, key: &str, nonce: u64) -> bool {
        let oldest = self.oldest_in_history();
        self.said
            .get(&(key.to_owned(), nonce))
            .is_some_and(|&id| id >= oldest)
    }

    /// Drops the entries of `said` for messages no longer in the history.
    fn forget_said_before_history(&mut self) {
        let oldest = self.oldest_in_history();
        self.said.retain(|_, id| *id >= oldest);
    }

    /// The id of the oldest message in the history (the next id when it is empty): `said` entries
    /// below it are stale.
    fn oldest_in_history(&self) -> u64 {
        self.history.front().map_or(self.next_id, |m| m.id)
    }

    fn new(
        next_id: u64,
        history: VecDeque<ChatMessage>,
        said: HashMap<(String, u64), u64>,
        store: Option<Store>,
    ) -> Self {
        Self {
            members: BTreeMap::new(),
            next_id,
            history,
            said,
            store,
            closed: false,
            remote: BTreeMap::new(),
            gone: HashMap::new(),
            joining: HashSet::new(),
            max_queued: 0,
            pending: Vec::new(),
        }
    }

    /// Everyone here and (in a cluster) on the other nodes, and a `newcomer` (name key, name) not
    /// yet among them, in name order. Borrowed: in a room of thousands, cloning every name for
    /// each newcomer's `Welcome` was most of what a join cost.
    fn names<'a>(&'a self, newcomer: Option<(&'a str, &'a str)>) -> Vec<&'a str> {
        let mut all: Vec<(&str, &str)> =
            Vec::with_capacity(self.members.len() + self.remote.len() + 1);
        all.extend(
            self.members
                .iter()
                .map(|(k, m)| (k.as_str(), m.name.as_str())),
        );
        if !self.remote.is_empty() {
            all.extend(
                self.remote
                    .iter()
                    .map(|(k, r)| (k.as_str(), r.name.as_str())),
            );
            all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        }
        if let Some((key, name)) = newcomer {
            let at = all.partition_point(|(k, _)| *k < key);
            all.insert(at, (key, name));
        }
        all.into_iter().map(|(_, name)| name).collect()
    }
}

/// Both modes, for sessions: single node goes straight to the synchronous path.
impl Room {
    /// Joins `name`: on a single node at once; in a cluster after claiming the name in the
    /// cluster's user list (and reading from the stream a resume older than the cache).
    pub(crate) async fn enter(
        &self,
        conn: ConnId,
        name: &str,
        resume_after: Option<u64>,
    ) -> Result<Membership, RefuseReason> {
        let Some(cluster) = &self.cluster else {
            return self.join(conn, name, resume_after);
        };
        let key = name_key(name);
        let oldest_cached = {
            let mut state = self.lock();
            if state.closed || state.members.len() + state.joining.len() >= self.max_members {
                return Err(RefuseReason::ServerFull);
            }
            if state.members.contains_key(&key)
                || state.joining.contains(&key)
                || state.remote.contains_key(&key)
            {
                return Err(RefuseReason::NameTaken);
            }
            state.joining.insert(key.clone());
            state.history.front().map_or(state.next_id, |m| m.id)
        };
        let revision = match cluster.claim(&key, name).await {
            Ok(revision) => revision,
            Err(refused) => {
                self.lock().joining.remove(&key);
                return Err(match refused {
                    Claim::Taken => RefuseReason::NameTaken,
                    Claim::Unavailable(e) => {
                        tracing::warn!(error = %e, %name, "cannot claim a name in the cluster");
                        RefuseReason::ServerFull
                    }
                });
            }
        };
        // Older than the cache: read the stream before taking the lock; the cache continues it.
        let mut replay = match resume_after {
            Some(last_seen) if last_seen + 1 < oldest_cached => cluster
                .read_after(last_seen, self.max_replay)
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "cannot read history for a resume");
                    Vec::new()
                }),
            _ => Vec::new(),
        };
        let admitted = {
            let mut state = self.lock();
            state.joining.remove(&key);
            if state.closed {
                None
            } else {
                // The name is ours in the cluster: any remote entry for it is stale.
                state.remote.remove(&key);
                match resume_after {
                    Some(last_seen) => {
                        let after = replay.last().map_or(last_seen, |m| m.id.max(last_seen));
                        let room_left = self.max_replay.saturating_sub(replay.len());
                        replay.extend(
                            state
                                .history
                                .iter()
                                .filter(|m| m.id > after)
                                .take(room_left)
                                .cloned(),
                        );
                    }
                    None => {
                        let skip = state.history.len().saturating_sub(self.welcome_history);
                        replay = state.history.iter().skip(skip).cloned().collect();
                    }
                }
                Some(self.admit(&mut state, conn, name, key.clone(), replay, revision))
            }
        };
        match admitted {
            Some(membership) => Ok(membership),
            None => {
                cluster
                    .release(&key, name, revision, LeaveReason::Dropped)
                    .await;
                Err(RefuseReason::ServerFull)
            }
        }
    }

    /// Says one member's lines: on a single node at once; in a cluster by publishing them to the
    /// stream one by one (each reaches everyone, the sender included, when the stream delivers it
    /// back).
    pub(crate) async fn speak_all(&self, key: &str, lines: Vec<(u64, String)>) -> Vec<Said> {
        let Some(cluster) = &self.cluster else {
            return self.say_all(key, lines);
        };
        let mut outcomes = Vec::with_capacity(lines.len());
        for (nonce, text) in lines {
            // Boxed: unboxed, the cluster's publish future (1.4 KB) was part of every session's
            // task, single node or not, for its whole life.
            let outcome = Box::pin(self.publish(cluster, key, nonce, text)).await;
            outcomes.push((nonce, outcome));
        }
        outcomes
    }

    /// One line through the cluster's stream; it comes back to every node (this one too) by
    /// [`Room::apply`].
    async fn publish(
        &self,
        cluster: &Cluster,
        key: &str,
        nonce: u64,
        text: String,
    ) -> Result<u64, Rejection> {
        self.check_text(&text)?;
        let from = {
            let state = self.lock();
            let Some(member) = state.members.get(key) else {
                return Err(Rejection::NotMember);
            };
            if state.already_said(key, nonce) {
                return Err(Rejection::Duplicate);
            }
            member.name.clone()
        };
        let message = ChatMessage {
            id: 0,
            from,
            nonce,
            text,
            at_ms: now_ms(),
        };
        match cluster.publish(key, &message).await {
            Ok(published) if published.duplicate => Err(Rejection::Duplicate),
            Ok(published) => Ok(published.id),
            Err(e) => {
                tracing::error!(error = %e, "cannot publish a message to the cluster");
                Err(Rejection::Problem {
                    code: ProblemCode::ServerError,
                    detail: "the chat cluster is unreachable right now; the line was not sent, \
                             try again in a moment"
                        .into(),
                })
            }
        }
    }
}

/// Cluster only: what the node's background tasks feed in.
impl Room {
    /// The id the room expects next from the stream.
    pub(crate) fn next_id(&self) -> u64 {
        self.lock().next_id
    }

    /// A message from the stream, in stream order: sent to everyone here and cached.
    pub(crate) fn apply(&self, message: ChatMessage) {
        let mut state = self.lock();
        if message.id < state.next_id {
            return;
        }
        let key = name_key(&message.from);
        self.record(&mut state, key, message);
    }

    /// Passes over a stream message that cannot be applied.
    pub(crate) fn skip_to(&self, next_id: u64) {
        let mut state = self.lock();
        state.next_id = state.next_id.max(next_id);
    }

    /// Names this node holds or is claiming.
    pub(crate) fn local_keys(&self) -> HashSet<String> {
        let state = self.lock();
        state
            .members
            .keys()
            .chain(state.joining.iter())
            .cloned()
            .collect()
    }

    /// Another node's user joined.
    pub(crate) fn remote_joined(&self, key: String, name: String) {
        let mut state = self.lock();
        if state.closed || state.members.contains_key(&key) || state.remote.contains_key(&key) {
            return;
        }
        state.gone.remove(&key);
        let change = PresenceChange::Joined { user: name.clone() };
        state.remote.insert(
            key,
            RemoteUser {
                name,
                since: Instant::now(),
            },
        );
        self.announce(&mut state, change);
    }

    /// Another node's user left.
    pub(crate) fn remote_left(&self, key: &str, why: LeaveReason) {
        let mut state = self.lock();
        let Some(user) = state.remote.remove(key) else {
            return;
        };
        state.gone.insert(key.to_owned(), Instant::now());
        self.announce(
            &mut state,
            PresenceChange::Left {
                user: user.name,
                why,
            },
        );
    }

    /// Repairs the view of the other nodes' users from a snapshot of the cluster's user list taken
    /// at `taken` (announcements may have been lost while NATS was unreachable). Changes newer than
    /// the snapshot win over it.
    pub(crate) fn reconcile(&self, others: Vec<(String, String)>, taken: Instant) {
        let mut state = self.lock();
        let present: HashSet<&String> = others.iter().map(|(k, _)| k).collect();
        let stale: Vec<String> = state
            .remote
            .iter()
            .filter(|(k, r)| r.since < taken && !present.contains(k))
            .map(|(k, _)| k.clone())
            .collect();
        drop(present);
        for key in stale {
            if let Some(user) = state.remote.remove(&key) {
                self.announce(
                    &mut state,
                    PresenceChange::Left {
                        user: user.name,
                        why: LeaveReason::Dropped,
                    },
                );
            }
        }
        for (key, name) in others {
            let left_since = state.gone.get(&key).is_some_and(|t| *t >= taken);
            if left_since
                || state.closed
                || state.members.contains_key(&key)
                || state.remote.contains_key(&key)
            {
                continue;
            }
            let change = PresenceChange::Joined { user: name.clone() };
            state.remote.insert(key, RemoteUser { name, since: taken });
            self.announce(&mut state, change);
        }
        state.gone.retain(|_, t| t.elapsed() < GONE_MEMORY);
    }
}

/// `Welcome` with as much of the replay as fits in one frame, then the rest as `Chat` frames.
fn welcome_frames(you: &str, users: &[&str], replay: Vec<ChatMessage>) -> Vec<Bytes> {
    // Generous per-message overhead: varints for id, nonce, time and three lengths.
    const PER_MESSAGE: usize = 40;
    let users_size: usize = users.iter().map(|u| u.len() + 5).sum();
    let budget = wire::MAX_SERVER_FRAME.saturating_sub(users_size + 1024);
    let mut used = 0;
    let in_welcome = replay
        .iter()
        .take_while(|m| {
            used += m.text.len() + m.from.len() + PER_MESSAGE;
            used <= budget
        })
        .count();
    let mut replay = replay;
    let rest = replay.split_off(in_welcome);
    let mut frames = Vec::with_capacity(1 + rest.len());
    let welcome = ServerFrameRef::Welcome {
        you,
        users,
        history: &replay,
    };
    match wire::encode(&welcome, wire::MAX_SERVER_FRAME) {
        Ok(bytes) => frames.push(bytes),
        Err(e) => tracing::error!(error = %e, "cannot encode Welcome"),
    }
    frames.extend(
        rest.into_iter()
            .filter_map(|m| wire::encode(&ServerFrame::Chat(m), wire::MAX_SERVER_FRAME).ok()),
    );
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_waits_longer_in_bigger_rooms_within_bounds() {
        assert_eq!(presence_delay(0), PRESENCE_DELAY);
        assert_eq!(presence_delay(100), PRESENCE_DELAY);
        assert_eq!(presence_delay(1_000), Duration::from_millis(200));
        assert_eq!(presence_delay(2_000), Duration::from_millis(400));
        assert_eq!(presence_delay(10_000), PRESENCE_DELAY_MAX);
        assert_eq!(presence_delay(1_000_000), PRESENCE_DELAY_MAX);
    }
}
