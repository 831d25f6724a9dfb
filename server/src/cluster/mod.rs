//! Several `chat-server` nodes sharing one room through NATS (opt-in with `--cluster`).
//!
//! - **Order and ids** (`sequencer`): every accepted `Say` is published to one JetStream stream; the
//!   stream sequence is the message id. JetStream assigns it, so ids are global, gap-free and survive
//!   node restarts, and every node applies the stream in sequence order: everybody sees one order.
//!   The `Nats-Msg-Id` header (sender key and nonce) lets JetStream's duplicate window drop a line
//!   re-sent after a reconnect, whichever node it reaches.
//! - **One user list** (`membership`): a KV bucket keyed by the name key. Joining is a KV `create`,
//!   which is atomic across the cluster: of two simultaneous joins of one name, exactly one wins.
//!   Joins and leaves are announced on a core NATS subject for promptness and repaired by a periodic
//!   snapshot of the bucket, so a lost announcement costs seconds, never a wrong list for good.
//! - **Liveness** (`heartbeat`): each node puts its key in a bucket whose entries expire after
//!   `node_ttl`; users of a node whose heartbeat expired are removed by whichever node sees it first
//!   (a delete that expects the entry's revision, so only one node announces it).
//!
//! - **Rooms and direct messages** (`rooms`): a second stream with a subject per conversation, and
//!   buckets for the rooms, the memberships and each end's direct conversations; see there.
//!
//! The room itself stays single-lock and await-free: sessions publish outside the lock, and the task
//! following the stream applies messages under it. Imports run one way: this module uses the room
//! and implements the room's [`Peers`] trait; the room never names the cluster.

mod heartbeat;
mod membership;
mod rooms;
mod sequencer;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_nats::jetstream::{self, kv, stream};
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use wire::{ChatMessage, LeaveReason};

use crate::{
    config::Config,
    room::{self, PeerError, Peers, Pending, Published, Room},
    rooms::Registry,
};

use membership::Claim;

/// The stream that orders and keeps the room's messages.
const CHAT_STREAM: &str = "CHAT_ROOM";
const CHAT_SUBJECT: &str = "chat.room.msg";
/// Joins and leaves, announced by the node that made them.
const PRESENCE_SUBJECT: &str = "chat.room.presence";
/// Members to remove (kicks, bans, revoked devices, a name signed in on another node), for
/// whichever node holds them.
const EVICT_SUBJECT: &str = "chat.room.evict";
const USERS_BUCKET: &str = "chat_users";
const NODES_BUCKET: &str = "chat_nodes";
/// Who owns which name (see `owners::nats`).
pub(crate) const OWNERS_BUCKET: &str = "chat_owners";
/// Longest wait for one request to NATS before the operation counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// How to join a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// NATS server URL, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// This node's name, unique in the cluster: letters, digits, `-` and `_`.
    pub node: String,
    /// How often this node renews its heartbeat and checks the others'.
    pub heartbeat_every: Duration,
    /// A node whose heartbeat is older than this is dead: its users are removed.
    pub node_ttl: Duration,
}

impl ClusterConfig {
    pub fn new(url: impl Into<String>, node: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            node: node.into(),
            heartbeat_every: Duration::from_secs(2),
            node_ttl: Duration::from_secs(6),
        }
    }
}

#[derive(Debug, Error)]
pub enum ClusterError {
    #[error("cannot reach NATS at {url}: {reason} (is nats-server running with -js?)")]
    Connect { url: String, reason: String },
    #[error("invalid node name {0:?}: use 1-64 letters, digits, '-' or '_'")]
    NodeName(String),
    #[error("NATS JetStream: {0}")]
    JetStream(String),
}

fn js_error(e: impl std::fmt::Display) -> ClusterError {
    ClusterError::JetStream(e.to_string())
}

/// The connection to NATS and the JetStream objects the room uses.
pub(crate) struct Cluster {
    client: async_nats::Client,
    js: jetstream::Context,
    node: String,
    /// Random per process start: a node restarted under the same name does not inherit the users
    /// its previous life left in the bucket.
    incarnation: String,
    chat: stream::Stream,
    /// Rooms' and direct conversations' lines, joins, parts and topics (`rooms`).
    rooms_stream: stream::Stream,
    rooms_kv: kv::Store,
    members_kv: kv::Store,
    direct_kv: kv::Store,
    users: kv::Store,
    nodes: kv::Store,
    /// Who owns which name (`owners::NatsOwners` reads and writes it).
    owners: kv::Store,
    /// Disconnections from NATS so far; the reaper waits for a quiet period after each.
    disconnects: Arc<AtomicU64>,
    /// The highest stream sequence JetStream acknowledged to this node: the follower must reach it.
    acked: AtomicU64,
    /// The same for the rooms stream.
    rooms_acked: AtomicU64,
    heartbeat_every: Duration,
    node_ttl: Duration,
    stop: CancellationToken,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .field("incarnation", &self.incarnation)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects and creates (or opens) the stream and buckets.
    pub(crate) async fn connect(
        settings: ClusterConfig,
        config: &Config,
    ) -> Result<Self, ClusterError> {
        let node_ok = !settings.node.is_empty()
            && settings.node.len() <= 64
            && settings
                .node
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !node_ok {
            return Err(ClusterError::NodeName(settings.node));
        }
        let disconnects = Arc::new(AtomicU64::new(0));
        let counter = disconnects.clone();
        let node = settings.node.clone();
        let client = async_nats::ConnectOptions::new()
            .name(format!("chat-server {node}"))
            .connection_timeout(REQUEST_TIMEOUT)
            .ping_interval(Duration::from_secs(2))
            // Come back quickly after a NATS restart; never give up.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((100 * attempts as u64).min(1000))
            })
            .event_callback(move |event| {
                let counter = counter.clone();
                let node = node.clone();
                async move {
                    match event {
                        async_nats::Event::Disconnected => {
                            counter.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(%node, "disconnected from NATS");
                        }
                        async_nats::Event::Connected => tracing::info!(%node, "connected to NATS"),
                        other => tracing::debug!(%node, event = %other, "NATS event"),
                    }
                }
            })
            .connect(settings.url.as_str())
            .await
            .map_err(|e| ClusterError::Connect {
                url: settings.url.clone(),
                reason: e.to_string(),
            })?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(REQUEST_TIMEOUT);

        let retention = config.retention;
        let chat = js
            .get_or_create_stream(stream::Config {
                name: CHAT_STREAM.into(),
                subjects: vec![CHAT_SUBJECT.into()],
                storage: stream::StorageType::File,
                max_messages: i64::try_from(retention.max_messages)
                    .ok()
                    .filter(|n| *n > 0)
                    .unwrap_or(-1),
                max_age: Duration::from_millis(retention.max_age_ms),
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .map_err(|e| ClusterError::JetStream(format!("stream {CHAT_STREAM}: {e}")))?;
        let rooms_stream = js
            .get_or_create_stream(stream::Config {
                name: rooms::ROOMS_STREAM.into(),
                subjects: rooms::ROOMS_SUBJECTS.iter().map(|s| (*s).into()).collect(),
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                allow_direct: true,
                ..Default::default()
            })
            .await
            .map_err(|e| ClusterError::JetStream(format!("stream {}: {e}", rooms::ROOMS_STREAM)))?;
        let rooms_kv = open_bucket(&js, rooms::ROOMS_BUCKET, Duration::ZERO).await?;
        let members_kv = open_bucket(&js, rooms::MEMBERS_BUCKET, Duration::ZERO).await?;
        let direct_kv = open_bucket(&js, rooms::DIRECT_BUCKET, Duration::ZERO).await?;
        let users = open_bucket(&js, USERS_BUCKET, Duration::ZERO).await?;
        let owners = open_bucket(&js, OWNERS_BUCKET, Duration::ZERO).await?;
        let nodes = open_bucket(&js, NODES_BUCKET, settings.node_ttl).await?;
        Ok(Self {
            client,
            js,
            node: settings.node,
            incarnation: format!("{:016x}", rand::random::<u64>()),
            chat,
            rooms_stream,
            rooms_kv,
            members_kv,
            direct_kv,
            users,
            owners,
            nodes,
            disconnects,
            acked: AtomicU64::new(0),
            rooms_acked: AtomicU64::new(0),
            heartbeat_every: settings.heartbeat_every,
            node_ttl: settings.node_ttl,
            stop: CancellationToken::new(),
        })
    }

    /// The bucket of name owners, for `owners::NatsOwners`.
    pub(crate) fn owners_bucket(&self) -> kv::Store {
        self.owners.clone()
    }

    /// Starts following the streams (the rooms' from the position after `from`), the
    /// announcements and the heartbeats on behalf of `room` and `rooms`.
    pub(crate) fn start(self: &Arc<Self>, room: &Arc<Room>, rooms: &Arc<Registry>, from: u64) {
        tokio::spawn(sequencer::follow(self.clone(), room.clone()));
        tokio::spawn(rooms::follow(self.clone(), rooms.clone(), from));
        tokio::spawn(membership::listen(
            self.clone(),
            room.clone(),
            rooms.clone(),
        ));
        tokio::spawn(heartbeat::run(self.clone(), room.clone(), rooms.clone()));
    }

    /// Graceful leave: releases the names of this node's users and its heartbeat, then stops the
    /// background tasks.
    pub(crate) async fn leave(&self, users: Vec<(String, String, u64)>) {
        for (key, name, revision) in users {
            self.release(&key, &name, revision, wire::LeaveReason::Dropped)
                .await;
        }
        let _ = tokio::time::timeout(REQUEST_TIMEOUT, self.nodes.delete(&self.node)).await;
        self.stop.cancel();
        let _ = tokio::time::timeout(REQUEST_TIMEOUT, self.client.flush()).await;
    }
}

/// Opens a KV bucket, creating its stream with the settings `async-nats` uses for buckets. (Its
/// own `create_key_value` first asks for the account's limits in a form nats-server 2.9 does not
/// answer, so the stream is created here.)
pub(crate) async fn open_bucket(
    js: &jetstream::Context,
    bucket: &str,
    max_age: Duration,
) -> Result<kv::Store, ClusterError> {
    let failed =
        |e: &dyn std::fmt::Display| ClusterError::JetStream(format!("bucket {bucket}: {e}"));
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age,
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    })
    .await
    .map_err(|e| failed(&e))?;
    js.get_key_value(bucket).await.map_err(|e| failed(&e))
}

/// What the room asks of the other nodes, through NATS.
impl Peers for Cluster {
    fn claim<'a>(&'a self, key: &'a str, name: &'a str) -> Pending<'a, Result<u64, room::Claim>> {
        Box::pin(async move {
            Cluster::claim(self, key, name)
                .await
                .map_err(|refused| match refused {
                    Claim::Taken => room::Claim::Taken,
                    Claim::Unavailable(e) => room::Claim::Unavailable(Box::new(e)),
                })
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        name: &'a str,
        revision: u64,
        why: LeaveReason,
    ) -> Pending<'a, ()> {
        Box::pin(async move {
            Cluster::release(self, key, name, revision, why).await;
        })
    }

    fn publish<'a>(
        &'a self,
        key: &'a str,
        message: &'a ChatMessage,
    ) -> Pending<'a, Result<Published, PeerError>> {
        Box::pin(async move {
            Cluster::publish(self, key, message)
                .await
                .map_err(|e| Box::new(e) as PeerError)
        })
    }

    fn evict<'a>(&'a self, eviction: &'a room::Eviction) -> Pending<'a, ()> {
        Box::pin(async move {
            Cluster::evict(self, eviction).await;
        })
    }

    fn read_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Pending<'_, Result<Vec<ChatMessage>, PeerError>> {
        Box::pin(async move {
            Cluster::read_after(self, after, limit)
                .await
                .map_err(|e| Box::new(e) as PeerError)
        })
    }
}

/// KV keys allow only a few characters: the name key, hex-encoded.
fn kv_key(name_key: &str) -> String {
    use std::fmt::Write;
    name_key
        .bytes()
        .fold(String::with_capacity(name_key.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Where a consumer starts: the whole stream, or from `sequence` on (sequences start at 1).
fn deliver_from(sequence: u64) -> jetstream::consumer::DeliverPolicy {
    if sequence <= 1 {
        jetstream::consumer::DeliverPolicy::All
    } else {
        jetstream::consumer::DeliverPolicy::ByStartSequence {
            start_sequence: sequence,
        }
    }
}
