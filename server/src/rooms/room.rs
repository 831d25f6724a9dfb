//! One named room other than the default: its members (durable), who of them is connected, its
//! recent lines and its own id sequence, and fan-out into the members' queues.
//!
//! The room's lock is short and never does I/O: the registry's sequencer around it does the
//! storing. A member's queue is the one its session has for everything (a clone of its weak
//! sender): a frame for several rooms still goes through one queue, so the writer stays one loop
//! and every member sees its rooms' frames in the order they were sent.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use wire::{ChatMessage, PresenceChange, RoomStateRef, ServerFrame, ServerFrameRef};

use super::Online;
use crate::{queue::PushError, room::ConnId};

pub(super) struct NamedRoom {
    /// As the first member typed it: how every frame names the room.
    pub(super) name: String,
    state: Mutex<RoomState>,
}

pub(super) struct RoomState {
    pub(super) topic: String,
    /// Every member, connected or not: name key → name.
    pub(super) members: BTreeMap<String, String>,
    /// The members connected now, by name key (so in name order).
    pub(super) online: BTreeMap<String, Online>,
    /// The newest lines with their senders' name keys (re-sends are found here), oldest first.
    pub(super) recent: VecDeque<(String, ChatMessage)>,
    pub(super) next_id: u64,
    /// In a cluster: the members connected to other nodes (by name key).
    pub(super) remote: BTreeSet<String>,
    /// In a cluster: the log position and id of the room's last line (0: not known yet), what a
    /// new line expects to follow.
    pub(super) tail: (u64, u64),
    /// In a cluster: the log position of the last line applied (a re-read one is not applied twice).
    pub(super) applied: u64,
    /// In a cluster: whether `recent` holds the room's newest lines, not only those seen since
    /// this node started.
    pub(super) loaded: bool,
}

impl RoomState {
    /// Lines after `after`, if the cache reaches back that far (`None`: read the store).
    pub(super) fn cached_after(&self, after: u64) -> Option<Vec<ChatMessage>> {
        let oldest = self.recent.front().map_or(self.next_id, |(_, m)| m.id);
        if after.saturating_add(1) < oldest {
            return None;
        }
        Some(
            self.recent
                .iter()
                .filter(|(_, m)| m.id > after)
                .map(|(_, m)| m.clone())
                .collect(),
        )
    }

    /// The newest `count` lines.
    pub(super) fn newest(&self, count: usize) -> Vec<ChatMessage> {
        let skip = self.recent.len().saturating_sub(count);
        self.recent
            .iter()
            .skip(skip)
            .map(|(_, m)| m.clone())
            .collect()
    }

    pub(super) fn already_said(&self, key: &str, nonce: u64) -> bool {
        self.recent
            .iter()
            .any(|(k, m)| m.nonce == nonce && k == key)
    }

    /// Names of the members connected anywhere, in name-key order.
    pub(super) fn connected(&self) -> Vec<&str> {
        if self.remote.is_empty() {
            return self.online.values().map(|o| o.name.as_str()).collect();
        }
        self.members
            .iter()
            .filter(|(k, _)| self.online.contains_key(*k) || self.remote.contains(*k))
            .map(|(_, n)| n.as_str())
            .collect()
    }

    /// A line channel's new tail, if it is newer than the one known.
    pub(super) fn advance(&mut self, seq: u64, id: u64) {
        if seq > self.tail.0 {
            self.tail = (seq, id);
        }
    }

    pub(super) fn keep(&mut self, key: String, message: ChatMessage, most: usize) {
        self.next_id = message.id.saturating_add(1);
        self.recent.push_back((key, message));
        while self.recent.len() > most {
            self.recent.pop_front();
        }
    }
}

/// Members whose queue was full: to be disconnected as too slow, after the room's lock is let go.
pub(super) type Slow = Vec<(ConnId, String)>;

impl NamedRoom {
    pub(super) fn new(name: String, state: RoomState) -> Self {
        Self {
            name,
            state: Mutex::new(state),
        }
    }

    pub(super) fn empty(name: String) -> Self {
        Self::new(
            name,
            RoomState {
                topic: String::new(),
                members: BTreeMap::new(),
                online: BTreeMap::new(),
                recent: VecDeque::new(),
                next_id: 1,
                remote: BTreeSet::new(),
                tail: (0, 0),
                applied: 0,
                loaded: false,
            },
        )
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, RoomState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `RoomJoined` for a member entering with `history`.
    pub(super) fn joined_frame(&self, state: &RoomState, history: &[ChatMessage]) -> Option<Bytes> {
        let users = state.connected();
        let frame = ServerFrameRef::RoomJoined(RoomStateRef {
            room: &self.name,
            topic: &state.topic,
            users: &users,
            history,
        });
        wire::encode(&frame, wire::MAX_SERVER_FRAME)
            .inspect_err(|e| tracing::error!(error = %e, "cannot encode RoomJoined"))
            .ok()
    }

    /// `Users` of the room: its connected members.
    pub(super) fn users_frame(&self) -> Option<Bytes> {
        let state = self.lock();
        let users = state.connected();
        let frame = ServerFrameRef::Users {
            room: &self.name,
            list: &users,
        };
        wire::encode(&frame, wire::MAX_SERVER_FRAME).ok()
    }

    /// Tells every connected member but `except` that somebody came or went.
    pub(super) fn announce(
        &self,
        state: &mut RoomState,
        change: PresenceChange,
        except: &str,
    ) -> Slow {
        let frame = ServerFrame::Presence {
            room: self.name.clone(),
            changes: vec![change],
        };
        self.send(state, &frame, Some(except))
    }

    /// Encodes `frame` once and queues it for every connected member (but `except`).
    pub(super) fn send(
        &self,
        state: &mut RoomState,
        frame: &ServerFrame,
        except: Option<&str>,
    ) -> Slow {
        let Ok(bytes) = wire::encode(frame, wire::MAX_SERVER_FRAME) else {
            tracing::error!("cannot encode a frame for a room");
            return Vec::new();
        };
        let mut slow = Vec::new();
        let mut gone = Vec::new();
        for (key, member) in &state.online {
            if except == Some(key.as_str()) {
                continue;
            }
            match member.tx.push(bytes.clone()) {
                Ok(()) => {}
                Err(PushError::Full) => slow.push((member.conn, key.clone())),
                Err(PushError::Closed) => gone.push(key.clone()),
            }
        }
        // A session that ended without signing out yet: it will, and finds nothing to do.
        for key in gone {
            state.online.remove(&key);
        }
        slow
    }
}
