//! What the room needs from the other nodes of a cluster, as a trait, so that imports run one way:
//! the cluster module implements it and uses the room; the room knows only this.
//!
//! Methods return boxed futures (a trait object cannot have `async fn`s); every call already
//! crosses the network, so the allocation is not felt, and a boxed future keeps the session's own
//! task small (see `Room::speak_all`).

use std::{future::Future, pin::Pin};

use wire::{ChatMessage, LeaveReason};

use super::Eviction;

/// A future returned by [`Peers`].
pub(crate) type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the other nodes could not be asked, for the log.
pub(crate) type PeerError = Box<dyn std::error::Error + Send + Sync>;

/// Why a name could not be claimed.
#[derive(Debug)]
pub(crate) enum Claim {
    Taken,
    Unavailable(PeerError),
}

/// What became of a line published to the other nodes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Published {
    pub(crate) id: u64,
    /// The line (sender and nonce) was published before: a re-send, not said again.
    pub(crate) duplicate: bool,
}

/// The nodes the room is shared with.
pub(crate) trait Peers: Send + Sync {
    /// Takes a name for a user of this node, atomically across nodes; returns its revision.
    fn claim<'a>(&'a self, key: &'a str, name: &'a str) -> Pending<'a, Result<u64, Claim>>;

    /// Gives a name back if it still has `revision`, and tells the other nodes why.
    fn release<'a>(
        &'a self,
        key: &'a str,
        name: &'a str,
        revision: u64,
        why: LeaveReason,
    ) -> Pending<'a, ()>;

    /// Publishes a line; the shared order gives it its id, and it comes back through
    /// `Room::apply` on every node.
    fn publish<'a>(
        &'a self,
        key: &'a str,
        message: &'a ChatMessage,
    ) -> Pending<'a, Result<Published, PeerError>>;

    /// Asks the node holding a name to remove its member. Best effort: a node that cannot be
    /// reached just now keeps its member (a ban or a revocation still refuses the next sign-in).
    fn evict<'a>(&'a self, eviction: &'a Eviction) -> Pending<'a, ()>;

    /// Up to `limit` lines with an id above `after`, oldest first.
    fn read_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Pending<'_, Result<Vec<ChatMessage>, PeerError>>;
}
