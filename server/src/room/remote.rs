//! Cluster only: the users of other nodes, as this node last heard of them, and the names this
//! node's sessions are claiming. The other nodes' tasks feed changes in; the room tells its members.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use wire::{LeaveReason, PresenceChange};

use super::Room;

/// How long a remote user's departure is remembered against stale snapshots.
const GONE_MEMORY: Duration = Duration::from_secs(60);

/// A user connected to another node of the cluster.
pub(super) struct RemoteUser {
    name: String,
    /// When this node learnt of them: a snapshot older than that does not remove them.
    since: Instant,
}

#[derive(Default)]
pub(super) struct Remote {
    /// Users on other nodes, by name key.
    pub(super) users: BTreeMap<String, RemoteUser>,
    /// When a remote user was last seen leaving, so an older snapshot does not bring them back.
    gone: HashMap<String, Instant>,
    /// Names being claimed in the cluster's user list by sessions of this node.
    pub(super) joining: HashSet<String>,
}

impl Remote {
    /// Users on other nodes.
    pub(super) fn len(&self) -> usize {
        self.users.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether another node holds `key`, or a session of this node is claiming it.
    pub(super) fn holds(&self, key: &str) -> bool {
        self.joining.contains(key) || self.users.contains_key(key)
    }

    /// The name another node's user `key` has.
    pub(super) fn name_of(&self, key: &str) -> Option<String> {
        self.users.get(key).map(|r| r.name.clone())
    }

    /// (name key, name) of every user on other nodes, in name-key order.
    pub(super) fn names(&self) -> impl Iterator<Item = (&str, &str)> {
        self.users
            .iter()
            .map(|(k, r)| (k.as_str(), r.name.as_str()))
    }
}

impl Room {
    /// Names this node holds or is claiming.
    pub(crate) fn local_keys(&self) -> HashSet<String> {
        let state = self.lock();
        state
            .members
            .keys()
            .chain(state.remote.joining.iter())
            .cloned()
            .collect()
    }

    /// Another node's user joined.
    pub(crate) fn remote_joined(&self, key: String, name: String) {
        let mut state = self.lock();
        if state.closed || state.members.contains_key(&key) || state.remote.users.contains_key(&key)
        {
            return;
        }
        state.remote.gone.remove(&key);
        let change = PresenceChange::Joined { user: name.clone() };
        state.remote.users.insert(
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
        let Some(user) = state.remote.users.remove(key) else {
            return;
        };
        state.remote.gone.insert(key.to_owned(), Instant::now());
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
            .users
            .iter()
            .filter(|(k, r)| r.since < taken && !present.contains(k))
            .map(|(k, _)| k.clone())
            .collect();
        drop(present);
        for key in stale {
            if let Some(user) = state.remote.users.remove(&key) {
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
            let left_since = state.remote.gone.get(&key).is_some_and(|t| *t >= taken);
            if left_since
                || state.closed
                || state.members.contains_key(&key)
                || state.remote.users.contains_key(&key)
            {
                continue;
            }
            let change = PresenceChange::Joined { user: name.clone() };
            state
                .remote
                .users
                .insert(key, RemoteUser { name, since: taken });
            self.announce(&mut state, change);
        }
        state.remote.gone.retain(|_, t| t.elapsed() < GONE_MEMORY);
    }
}
