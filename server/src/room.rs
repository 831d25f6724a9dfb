//! The room: who is in it, what was said, and fan-out.
//!
//! All of it sits behind one `std::sync::Mutex`. Every critical section is short and never awaits:
//! a message is stamped, encoded once and its bytes handed to every member's bounded queue with
//! `try_send` (a reference-count increment each). Holding the lock across the fan-out is what gives
//! every member the same order of messages, joins and leaves, and it is what lets `join` hand a
//! newcomer a history that meets the live stream with no gap and no duplicate.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use wire::{ChatMessage, LeaveReason, ProblemCode, RefuseReason, ServerFrame};

use crate::{
    Config,
    names::name_key,
    store::{Store, StoreError, now_ms},
};

/// Identifies one connection, so that a stale session cannot remove a newer one with the same name.
pub(crate) type ConnId = u64;

struct Member {
    name: String,
    conn: ConnId,
    tx: mpsc::Sender<Bytes>,
    kick: Option<oneshot::Sender<()>>,
}

struct State {
    /// Keyed by `name_key`, so iteration is in name order and lookups ignore case.
    members: BTreeMap<String, Member>,
    next_id: u64,
    /// The newest messages, also in the store: newcomers and most resumes are served from here.
    history: VecDeque<ChatMessage>,
    /// (sender key, nonce) of every message in `history`: a `Say` re-sent after a reconnect is
    /// recognised and not said twice.
    said: HashSet<(String, u64)>,
    store: Store,
    closed: bool,
}

/// What a session gets when its `Hello` is accepted.
pub(crate) struct Membership {
    pub(crate) name: String,
    pub(crate) key: String,
    /// Everything the room sends this member, `Welcome` first. Ends when the member leaves the room.
    pub(crate) rx: mpsc::Receiver<Bytes>,
    /// For replies to this member only; weak so that leaving the room ends `rx`.
    pub(crate) tx: mpsc::WeakSender<Bytes>,
    /// Fires when the room disconnects the member for falling behind.
    pub(crate) kicked: oneshot::Receiver<()>,
}

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
            .map(|m| (name_key(&m.from), m.nonce))
            .collect();
        let next_id = store.last_id()? + 1;
        Ok(Self {
            state: Mutex::new(State {
                members: BTreeMap::new(),
                next_id,
                history,
                said,
                store,
                closed: false,
            }),
            max_members: config.limits.max_connections,
            max_message_bytes: config.limits.max_message_bytes,
            queue_frames: config.limits.queue_frames.max(1),
            history_len: config.history_len,
            welcome_history: config.welcome_history,
            max_replay: config.max_replay,
        })
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
                match state.store.after(last_seen, self.max_replay) {
                    Ok(missed) => missed,
                    Err(e) => {
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
        let mut users: Vec<String> = state.members.values().map(|m| m.name.clone()).collect();
        let at = users.partition_point(|u| name_key(u) < key);
        users.insert(at, name.to_owned());
        let frames = welcome_frames(name, users, replay);

        // Room for the welcome and the replay on top of the normal queue, so that a long replay
        // does not count as falling behind.
        let (tx, rx) = mpsc::channel(self.queue_frames + frames.len());
        for frame in frames {
            // Cannot fail: the channel is new and sized for these frames.
            let _ = tx.try_send(frame);
        }
        Self::broadcast(
            &mut state,
            &ServerFrame::Joined {
                user: name.to_owned(),
            },
        );
        let (kick, kicked) = oneshot::channel();
        let weak = tx.downgrade();
        state.members.insert(
            key.clone(),
            Member {
                name: name.to_owned(),
                conn,
                tx,
                kick: Some(kick),
            },
        );
        Ok(Membership {
            name: name.to_owned(),
            key,
            rx,
            tx: weak,
            kicked,
        })
    }

    /// Stamps a line and sends it to everyone, the sender included.
    pub(crate) fn say(&self, key: &str, nonce: u64, text: String) -> Result<u64, Rejection> {
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
        let mut state = self.lock();
        let Some(from) = state.members.get(key).map(|m| m.name.clone()) else {
            return Err(Rejection::NotMember);
        };
        if state.said.contains(&(key.to_owned(), nonce)) {
            return Err(Rejection::Duplicate);
        }
        let message = ChatMessage {
            id: state.next_id,
            from,
            nonce,
            text,
            at_ms: now_ms(),
        };
        // Stored before anyone sees it: what was delivered survives a crash.
        if let Err(e) = state.store.append(&message) {
            tracing::error!(error = %e, "cannot store a message");
            return Err(Rejection::Problem {
                code: ProblemCode::ServerError,
                detail: "the server cannot store messages right now; try again later".into(),
            });
        }
        state.next_id += 1;
        let id = message.id;
        let frame = ServerFrame::Chat(message);
        Self::broadcast(&mut state, &frame);
        if let ServerFrame::Chat(message) = frame
            && self.history_len > 0
        {
            if state.history.len() >= self.history_len
                && let Some(old) = state.history.pop_front()
            {
                state.said.remove(&(name_key(&old.from), old.nonce));
            }
            state.said.insert((key.to_owned(), message.nonce));
            state.history.push_back(message);
        }
        Ok(id)
    }

    /// Removes the member if `conn` is still the connection holding that name, and tells the others.
    pub(crate) fn leave(&self, conn: ConnId, key: &str, why: LeaveReason) -> bool {
        let mut state = self.lock();
        if state.members.get(key).is_none_or(|m| m.conn != conn) {
            return false;
        }
        if let Some(member) = state.members.remove(key) {
            tracing::info!(user = %member.name, %why, "left");
            if !state.closed {
                Self::broadcast(
                    &mut state,
                    &ServerFrame::Left {
                        user: member.name,
                        why,
                    },
                );
            }
        }
        true
    }

    /// Disconnects a member that cannot keep up (its own replies overflowed its queue).
    pub(crate) fn kick_slow(&self, conn: ConnId, key: &str) {
        let mut state = self.lock();
        if state.members.get(key).is_some_and(|m| m.conn == conn) {
            let mut slow = vec![key.to_owned()];
            Self::remove_slow(&mut state, &mut slow);
        }
    }

    /// Names of everyone in the room, in name order.
    pub(crate) fn users(&self) -> Vec<String> {
        self.lock()
            .members
            .values()
            .map(|m| m.name.clone())
            .collect()
    }

    /// Tells everyone the server is going away and releases their queues, so that each session
    /// flushes what it has and closes. Nobody can join afterwards.
    pub(crate) fn shut_down(&self, reason: &str) {
        let mut state = self.lock();
        state.closed = true;
        Self::broadcast(
            &mut state,
            &ServerFrame::ShuttingDown {
                reason: reason.to_owned(),
            },
        );
        state.members.clear();
    }

    /// Encodes `frame` once and queues it for every member. Members whose queue is full are
    /// disconnected and the others told, with the same rule applied to that notice in turn.
    fn broadcast(state: &mut State, frame: &ServerFrame) {
        let bytes = match wire::encode(frame, wire::MAX_SERVER_FRAME) {
            Ok(bytes) => bytes,
            Err(e) => {
                // Every frame the room builds is bounded well below the limit; log rather than panic.
                tracing::error!(error = %e, "cannot encode a room frame");
                return;
            }
        };
        let mut slow = Vec::new();
        for (key, member) in &state.members {
            if let Err(mpsc::error::TrySendError::Full(_)) = member.tx.try_send(bytes.clone()) {
                slow.push(key.clone());
            }
        }
        Self::remove_slow(state, &mut slow);
    }

    fn remove_slow(state: &mut State, slow: &mut Vec<String>) {
        while let Some(key) = slow.pop() {
            let Some(mut member) = state.members.remove(&key) else {
                continue;
            };
            tracing::warn!(user = %member.name, "disconnecting a client that cannot keep up");
            if let Some(kick) = member.kick.take() {
                let _ = kick.send(());
            }
            if state.closed {
                continue;
            }
            let notice = ServerFrame::Left {
                user: member.name,
                why: LeaveReason::TooSlow,
            };
            let Ok(bytes) = wire::encode(&notice, wire::MAX_SERVER_FRAME) else {
                continue;
            };
            for (key, other) in &state.members {
                if let Err(mpsc::error::TrySendError::Full(_)) = other.tx.try_send(bytes.clone())
                    && !slow.contains(key)
                {
                    slow.push(key.clone());
                }
            }
        }
    }
}

/// `Welcome` with as much of the replay as fits in one frame, then the rest as `Chat` frames.
fn welcome_frames(you: &str, users: Vec<String>, replay: Vec<ChatMessage>) -> Vec<Bytes> {
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
    let welcome = ServerFrame::Welcome {
        you: you.to_owned(),
        users,
        history: replay,
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
