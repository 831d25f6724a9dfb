//! Who is in the room: joining (on a single node at once, in a cluster after claiming the name
//! across the nodes), the newcomer's `Welcome`, leaving, and the user list.

use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use certs::Fingerprint;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use wire::{
    ChatMessage, DirectState, LeaveReason, PresenceChange, RefuseReason, RoomStateRef, ServerFrame,
    ServerFrameRef,
};

use super::{ConnId, Room, State, lock};
use crate::{names::name_key, queue};

/// Why the room let go of a member that did not leave by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    /// It could not keep up: the connection closes at once (`close_code::TOO_SLOW`).
    TooSlow,
    /// An operator removed it (`Kicked` or `Banned`), or its name signed in elsewhere
    /// (`Replaced`): its queue, ending with the frame that says so, is written out first.
    Told(LeaveReason),
}

/// A member to remove from the room, on whichever node it is: by an operator, a revoked device,
/// or a new sign-in of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Eviction {
    /// `name_key` of the name.
    pub(crate) key: String,
    /// Only if the member signed in with this key (a revoked device).
    pub(crate) device: Option<[u8; 32]>,
    /// The last frame the member is sent (`Removed` or `Replaced`), encoded.
    pub(crate) frame: Vec<u8>,
    /// What the others are told.
    pub(crate) why: LeaveReason,
}

impl Eviction {
    /// The member named `user` (any look-alike), or only its connection with `device`, sent
    /// `frame` last.
    pub(crate) fn new(
        user: &str,
        device: Option<&Fingerprint>,
        frame: &ServerFrame,
        why: LeaveReason,
    ) -> Result<Self, wire::EncodeError> {
        Ok(Self {
            key: name_key(user),
            device: device.map(|d| *d.as_bytes()),
            frame: wire::encode(frame, wire::MAX_SERVER_FRAME)?.to_vec(),
            why,
        })
    }
}

pub(super) struct Member {
    pub(super) name: String,
    pub(super) conn: ConnId,
    /// The key it signed in with.
    pub(super) device: Fingerprint,
    pub(super) tx: queue::Sender,
    pub(super) kick: Option<oneshot::Sender<Removal>>,
    /// The revision of this member's entry in the cluster's user list (0 on a single node).
    pub(super) revision: u64,
    /// Since when it has been behind (see `fanout`), as last seen by [`Room::congested`].
    pub(super) congested_since: Option<Instant>,
    /// How many of the pending presence changes this member already knows: a newcomer's `Welcome`
    /// lists everyone, so it is sent only the changes after its own join.
    pub(super) knows_pending: usize,
}

/// What a session gets when its `Hello` is accepted.
pub(crate) struct Membership {
    pub(crate) name: String,
    pub(crate) key: String,
    /// Everything the room sends this member, `Welcome` first. Ends when the member leaves the room.
    pub(crate) rx: queue::Receiver,
    /// For replies to this member only; weak so that leaving the room ends `rx`.
    pub(crate) tx: queue::WeakSender,
    /// Fires when the room disconnects the member (falling behind, or an operator).
    pub(crate) kicked: oneshot::Receiver<Removal>,
}

impl State {
    /// Why `key` cannot join now, if it cannot.
    fn refusal(&self, key: &str, max_members: usize) -> Option<RefuseReason> {
        if self.closed || self.members.len() + self.remote.joining.len() >= max_members {
            return Some(RefuseReason::ServerFull);
        }
        if self.members.contains_key(key) || self.remote.holds(key) {
            return Some(RefuseReason::NameTaken);
        }
        None
    }

    /// Everyone here and (in a cluster) on the other nodes, and a `newcomer` (name key, name) not
    /// yet among them, in name order. Borrowed: in a room of thousands, cloning every name for
    /// each newcomer's `Welcome` was most of what a join cost.
    pub(super) fn names<'a>(&'a self, newcomer: Option<(&'a str, &'a str)>) -> Vec<&'a str> {
        let mut all: Vec<(&str, &str)> =
            Vec::with_capacity(self.members.len() + self.remote.len() + 1);
        all.extend(
            self.members
                .iter()
                .map(|(k, m)| (k.as_str(), m.name.as_str())),
        );
        if !self.remote.is_empty() {
            all.extend(self.remote.names());
            all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        }
        if let Some((key, name)) = newcomer {
            let at = all.partition_point(|(k, _)| *k < key);
            all.insert(at, (key, name));
        }
        all.into_iter().map(|(_, name)| name).collect()
    }
}

impl Room {
    /// Joins `name` (already validated): on a single node at once; in a cluster after claiming the
    /// name in the cluster's user list (and reading from the stream a resume older than the cache).
    pub(crate) async fn enter(
        &self,
        (conn, device): (ConnId, Fingerprint),
        name: &str,
        resume_after: Option<u64>,
        advertised: wire::Limits,
    ) -> Result<super::Membership, RefuseReason> {
        let Some(peers) = &self.peers else {
            return self.join((conn, device), name, resume_after, advertised);
        };
        let key = name_key(name);
        let older_than_cache = {
            let mut state = self.lock();
            if let Some(refused) = state.refusal(&key, self.limits.current().max_connections) {
                return Err(refused);
            }
            state.remote.joining.insert(key.clone());
            state.history.older_than_cache(resume_after)
        };
        let revision = match peers.claim(&key, name).await {
            Ok(revision) => revision,
            Err(refused) => {
                self.lock().remote.joining.remove(&key);
                return Err(match refused {
                    super::Claim::Taken => RefuseReason::NameTaken,
                    super::Claim::Unavailable(e) => {
                        tracing::warn!(error = %e, %name, "cannot claim a name in the cluster");
                        RefuseReason::ServerFull
                    }
                });
            }
        };
        // Older than the cache: read the stream before taking the lock; the cache continues it.
        let older = match older_than_cache {
            Some(last_seen) => peers
                .read_after(last_seen, self.sizes.max_replay)
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "cannot read history for a resume");
                    Vec::new()
                }),
            None => Vec::new(),
        };
        let admitted = {
            let mut state = self.lock();
            state.remote.joining.remove(&key);
            if state.closed {
                None
            } else {
                // The name is ours in the cluster: any remote entry for it is stale.
                state.remote.users.remove(&key);
                let replay = self.replay(&state, older, resume_after);
                Some(self.admit(
                    &mut state,
                    (conn, device),
                    (name, key.clone()),
                    (replay, Vec::new()),
                    revision,
                    advertised,
                ))
            }
        };
        match admitted {
            Some(membership) => Ok(membership),
            None => {
                peers
                    .release(&key, name, revision, LeaveReason::Dropped)
                    .await;
                Err(RefuseReason::ServerFull)
            }
        }
    }

    /// Joins `name` (already validated) on a single node.
    ///
    /// A resume older than the cache is read from the store under the sequencer, before the room's
    /// lock is taken and while no line can get an id, then continued from the cache: the replay
    /// meets the live stream with no gap and no duplicate, and no disk read holds up the room.
    pub(crate) fn join(
        &self,
        (conn, device): (ConnId, Fingerprint),
        name: &str,
        resume_after: Option<u64>,
        advertised: wire::Limits,
    ) -> Result<Membership, RefuseReason> {
        let key = name_key(name);
        let older_than_cache = {
            let state = self.lock();
            if let Some(refused) = state.refusal(&key, self.limits.current().max_connections) {
                return Err(refused);
            }
            state.history.older_than_cache(resume_after)
        };
        let mut older = Vec::new();
        let sequencer = match (older_than_cache, &self.store) {
            (Some(last_seen), Some(store)) => {
                let store = lock(store);
                older = store
                    .after(last_seen, self.sizes.max_replay)
                    .unwrap_or_else(|e| {
                        tracing::error!(error = %e, "cannot read history for a resume");
                        Vec::new()
                    });
                Some(store)
            }
            _ => None,
        };
        let mut state = self.lock();
        if let Some(refused) = state.refusal(&key, self.limits.current().max_connections) {
            return Err(refused);
        }
        let replay = self.replay(&state, older, resume_after);
        let membership = self.admit(
            &mut state,
            (conn, device),
            (name, key),
            (replay, Vec::new()),
            0,
            advertised,
        );
        drop(state);
        drop(sequencer);
        Ok(membership)
    }

    fn replay(
        &self,
        state: &State,
        older: Vec<ChatMessage>,
        resume_after: Option<u64>,
    ) -> Vec<ChatMessage> {
        state.history.replay(
            older,
            resume_after,
            self.sizes.welcome_history,
            self.sizes.max_replay,
        )
    }

    /// Registers a member and queues its `Welcome` and replay; tells the others.
    /// `advertised` are the limits the member's session enforces, taken when it started: a reload
    /// between its start and its `Welcome` must not make the two disagree.
    fn admit(
        &self,
        state: &mut State,
        (conn, device): (ConnId, Fingerprint),
        (name, key): (&str, String),
        (replay, direct): (Vec<ChatMessage>, Vec<DirectState>),
        revision: u64,
        advertised: wire::Limits,
    ) -> Membership {
        let topic = lock(&self.topic).clone();
        let frames = welcome_frames(
            (name, &self.name, &topic),
            &state.names(Some((&key, name))),
            (replay, &direct),
            advertised,
        );

        // Room for the welcome and the replay on top of the normal queue, so that a long replay
        // does not count as falling behind.
        let (tx, rx) = queue::queue(
            self.sizes.queue_frames + frames.len(),
            Arc::clone(&self.progress),
        );
        let now = Instant::now();
        for frame in frames {
            // Cannot fail: the queue is new and sized for these frames.
            let _ = tx.push(frame, now);
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
                device,
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

    /// Removes the member if `conn` is still the connection holding that name, and tells the others.
    /// In a cluster the name is then released, after the lock is let go.
    pub(crate) fn leave(&self, conn: ConnId, key: &str, why: LeaveReason) -> bool {
        let left = {
            let mut state = self.lock();
            if state.members.get(key).is_none_or(|m| m.conn != conn) {
                return false;
            }
            let Some(member) = state.members.remove(key) else {
                return false;
            };
            tracing::info!(user = %member.name, %why, "left");
            self.metrics.left(why);
            let left = (member.name.clone(), member.revision);
            self.announce(
                &mut state,
                PresenceChange::Left {
                    user: member.name,
                    why,
                },
            );
            left
        };
        if let Some(peers) = &self.peers {
            let (peers, key, (name, revision)) = (peers.clone(), key.to_owned(), left);
            tokio::spawn(async move { peers.release(&key, &name, revision, why).await });
        }
        true
    }

    /// Removes the member `eviction` names from this node: its frame is the last thing queued for
    /// it, and the others see it leave with the eviction's reason. Returns the name as the room
    /// knew it, or `None` when nobody here matches.
    pub(crate) fn evict_here(&self, eviction: &Eviction) -> Option<String> {
        let (conn, name) = {
            let mut state = self.lock();
            let member = state.members.get_mut(&eviction.key)?;
            if eviction
                .device
                .is_some_and(|device| member.device.as_bytes() != &device)
            {
                return None;
            }
            // A queue that is full gets the close code's reason instead.
            let _ = member
                .tx
                .push(Bytes::from(eviction.frame.clone()), Instant::now());
            if let Some(kick) = member.kick.take() {
                let _ = kick.send(Removal::Told(eviction.why));
            }
            (member.conn, member.name.clone())
        };
        self.leave(conn, &eviction.key, eviction.why);
        Some(name)
    }

    /// Removes the member `eviction` names, here or (in a cluster) on the node that holds the
    /// name, which is asked to. Returns the name, or `None` when nobody has it.
    pub(crate) async fn evict(&self, eviction: &Eviction) -> Option<String> {
        if let Some(name) = self.evict_here(eviction) {
            return Some(name);
        }
        let peers = self.peers.as_ref()?;
        let name = self.lock().remote.name_of(&eviction.key)?;
        peers.evict(eviction).await;
        Some(name)
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
            &ServerFrameRef::Users {
                room: &self.name,
                list: &names,
            },
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
}

/// `Welcome` with as much of the replay as fits in one frame, then the rest as `Chat` frames.
fn welcome_frames(
    (you, room, topic): (&str, &str, &str),
    users: &[&str],
    (replay, direct): (Vec<ChatMessage>, &[DirectState]),
    limits: wire::Limits,
) -> Vec<Bytes> {
    // Generous per-message overhead: varints for id, nonce, time and three lengths.
    const PER_MESSAGE: usize = 40;
    let direct_size: usize = direct
        .iter()
        .flat_map(|d| &d.history)
        .map(|m| m.text.len() + m.from.len() + PER_MESSAGE)
        .sum();
    let users_size: usize = users.iter().map(|u| u.len() + 5).sum::<usize>() + direct_size;
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
    let rooms = [RoomStateRef {
        room,
        topic,
        users,
        history: &replay,
    }];
    let welcome = ServerFrameRef::Welcome {
        you,
        rooms: &rooms,
        direct,
        limits,
    };
    match wire::encode(&welcome, wire::MAX_SERVER_FRAME) {
        Ok(bytes) => frames.push(bytes),
        Err(e) => tracing::error!(error = %e, "cannot encode Welcome"),
    }
    let conversation = wire::Conversation::Room(room.to_owned());
    frames.extend(rest.into_iter().filter_map(|message| {
        let frame = ServerFrame::Chat {
            conversation: conversation.clone(),
            message,
        };
        wire::encode(&frame, wire::MAX_SERVER_FRAME).ok()
    }));
    frames
}
