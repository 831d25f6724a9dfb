//! What a cluster node does with each event of the shared log, in log order ([`Registry::apply`]),
//! and who of a room's members is connected to another node.
//!
//! Lines, topics and other nodes' joins and parts reach this node's members only from here, so
//! every member sees what the log holds, in its order. Presence: a member connected to another
//! node is in its rooms' `remote` sets, kept from the default room's joins and leaves (told by the
//! cluster's presence subject) and repaired by the heartbeat's periodic snapshot, as the default
//! room's user list is.

use std::{collections::HashSet, time::Instant};

use super::*;

/// Who is connected to another node, as told by announcements and snapshots.
#[derive(Default)]
pub(crate) struct Remote {
    /// Name key → (name, when it was told).
    pub(super) users: HashMap<String, (String, Instant)>,
    /// Name key → when it was told gone: a snapshot older than that does not bring it back.
    gone: HashMap<String, Instant>,
}

impl Remote {
    pub(super) fn contains_key(&self, key: &str) -> bool {
        self.users.contains_key(key)
    }

    pub(super) fn get(&self, key: &str) -> Option<&String> {
        self.users.get(key).map(|(name, _)| name)
    }
}

impl Registry {
    /// A room this node learns of from the log: new since this node started, so every line of it
    /// comes through the log too.
    fn room_from_log(&self, key: &str, name: &str) -> Arc<NamedRoom> {
        lock(&self.rooms)
            .entry(key.to_owned())
            .or_insert_with(|| {
                let room = NamedRoom::empty(name.to_owned());
                room.lock().loaded = true;
                Arc::new(room)
            })
            .clone()
    }

    /// One event of the shared log, in log order, on every node. Returns the direct-message marks
    /// to record (what was handed to whom).
    pub(crate) fn apply(&self, seq: u64, event: Event) -> Vec<DirectRecord> {
        match event {
            Event::Opened => Vec::new(),
            Event::Line {
                room,
                sender,
                message,
            } => {
                self.apply_line(seq, &room, sender, message);
                Vec::new()
            }
            Event::Direct { from, to, message } => self.apply_direct(seq, from, to, message),
            Event::Member {
                room,
                key,
                name,
                joined,
                origin,
            } => {
                if origin != self.origin {
                    self.apply_member(&room, key, name, joined);
                }
                Vec::new()
            }
            Event::Topic { room, topic, by } => {
                self.apply_topic(&room, topic, by);
                Vec::new()
            }
        }
    }

    fn apply_line(&self, seq: u64, name: &str, sender: String, message: ChatMessage) {
        let key = room_key(name);
        let room = self.room_from_log(&key, name);
        let mut slow = Vec::new();
        {
            let mut state = room.lock();
            if seq <= state.applied {
                return;
            }
            state.applied = seq;
            state.advance(seq, message.id);
            let frame = ServerFrame::Chat {
                conversation: Conversation::Room(room.name.clone()),
                message,
            };
            slow.extend(room.send(&mut state, &frame, None));
            if let ServerFrame::Chat { message, .. } = frame {
                state.keep(sender, message, self.sizes.history_len);
            }
        }
        self.drop_slow(slow);
    }

    fn apply_member(&self, name: &str, key: String, user: String, joined: bool) {
        let room_key = room_key(name);
        if joined {
            lock(&self.memberships)
                .entry(key.clone())
                .or_default()
                .insert(room_key.clone());
        } else if let Some(rooms) = lock(&self.memberships).get_mut(&key) {
            rooms.remove(&room_key);
        }
        let connected_elsewhere = lock(&self.remote).contains_key(&key);
        let room = self.room_from_log(&room_key, name);
        let mut slow = Vec::new();
        {
            let mut state = room.lock();
            if joined {
                state.members.insert(key.clone(), user.clone());
                if connected_elsewhere
                    && !state.online.contains_key(&key)
                    && state.remote.insert(key.clone())
                {
                    slow.extend(room.announce(&mut state, PresenceChange::Joined { user }, &key));
                }
            } else {
                state.members.remove(&key);
                if state.remote.remove(&key) {
                    slow.extend(room.announce(
                        &mut state,
                        PresenceChange::Left {
                            user,
                            why: LeaveReason::Quit,
                        },
                        &key,
                    ));
                }
            }
        }
        self.drop_slow(slow);
    }

    fn apply_topic(&self, name: &str, topic: String, by: String) {
        let key = room_key(name);
        let room = (key != self.default_key).then(|| self.room_from_log(&key, name));
        let slow = self.show_topic(room.as_deref(), topic, by);
        self.drop_slow(slow);
    }

    /// A user connected to another node: the members of its rooms here see it come.
    pub(crate) fn remote_joined(&self, key: &str, name: &str) {
        {
            let mut remote = lock(&self.remote);
            remote.gone.remove(key);
            remote
                .users
                .insert(key.to_owned(), (name.to_owned(), Instant::now()));
        }
        let mut slow = Vec::new();
        for room_key in self.rooms_of(key) {
            let Some(room) = self.room(&room_key) else {
                continue;
            };
            let mut state = room.lock();
            if state.online.contains_key(key) || !state.remote.insert(key.to_owned()) {
                continue;
            }
            let user = state
                .members
                .get(key)
                .cloned()
                .unwrap_or_else(|| name.to_owned());
            slow.extend(room.announce(&mut state, PresenceChange::Joined { user }, key));
        }
        self.drop_slow(slow);
    }

    /// A user of another node went: the members of its rooms here see it go.
    pub(crate) fn remote_left(&self, key: &str, why: LeaveReason) {
        {
            let mut remote = lock(&self.remote);
            remote.users.remove(key);
            remote.gone.insert(key.to_owned(), Instant::now());
        }
        let mut slow = Vec::new();
        for room_key in self.rooms_of(key) {
            let Some(room) = self.room(&room_key) else {
                continue;
            };
            let mut state = room.lock();
            if !state.remote.remove(key) {
                continue;
            }
            let user = state.members.get(key).cloned().unwrap_or_default();
            slow.extend(room.announce(&mut state, PresenceChange::Left { user, why }, key));
        }
        self.drop_slow(slow);
    }

    /// The periodic repair: `others` are every user connected to another node in a snapshot
    /// taken at `taken`; announcements newer than the snapshot win over it. Presence changes
    /// missed on the way are told now.
    pub(crate) fn reconcile_remote(&self, others: &[(String, String)], taken: Instant) {
        let keys: HashSet<String> = {
            let mut remote = lock(&self.remote);
            let present: HashSet<&str> = others.iter().map(|(k, _)| k.as_str()).collect();
            remote
                .users
                .retain(|k, (_, since)| *since >= taken || present.contains(k.as_str()));
            remote.gone.retain(|_, at| *at >= taken);
            for (key, name) in others {
                if !remote.gone.contains_key(key) && !remote.users.contains_key(key) {
                    remote.users.insert(key.clone(), (name.clone(), taken));
                }
            }
            remote.users.keys().cloned().collect()
        };
        let rooms: Vec<Arc<NamedRoom>> = lock(&self.rooms).values().cloned().collect();
        let mut slow = Vec::new();
        for room in rooms {
            let mut state = room.lock();
            let wanted: BTreeSet<String> = state
                .members
                .keys()
                .filter(|k| keys.contains(*k) && !state.online.contains_key(*k))
                .cloned()
                .collect();
            if wanted == state.remote {
                continue;
            }
            let came: Vec<String> = wanted.difference(&state.remote).cloned().collect();
            let went: Vec<String> = state.remote.difference(&wanted).cloned().collect();
            state.remote = wanted;
            for key in came {
                let user = state.members.get(&key).cloned().unwrap_or_default();
                slow.extend(room.announce(&mut state, PresenceChange::Joined { user }, &key));
            }
            for key in went {
                let user = state.members.get(&key).cloned().unwrap_or_default();
                slow.extend(room.announce(
                    &mut state,
                    PresenceChange::Left {
                        user,
                        why: LeaveReason::Dropped,
                    },
                    &key,
                ));
            }
        }
        self.drop_slow(slow);
    }
}
