//! Rooms and direct messages across nodes: the `CHAT_ROOMS` stream (a subject per room, per pair of
//! names, and per room for joins/parts and topics) and the buckets of the shared registry
//! (`chat_rooms`, `chat_members`, `chat_direct`), behind the registry's [`SharedLog`] trait.
//!
//! A line is published with `Nats-Expected-Last-Subject-Sequence`: JetStream stores it only if the
//! conversation's subject has not moved on since the publisher read it, which is what gives each
//! conversation one order and ids that go up by one across nodes. `Nats-Msg-Id` (subject, sender
//! and nonce) lets the duplicate window drop a line re-sent after a reconnect. Every node follows
//! the whole stream with one consumer and hands each event to the registry.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use async_nats::{
    HeaderMap,
    jetstream::{
        consumer::{DeliverPolicy, ReplayPolicy, pull, push},
        context::PublishErrorKind,
        kv,
        stream::LastRawMessageErrorKind,
    },
};
use futures_util::StreamExt;

use super::{Cluster, ClusterError, REQUEST_TIMEOUT, js_error, kv_key};
use crate::{
    room::{PeerError, Pending},
    rooms::{
        Appended, Channel, Dedup, DirectRecord, Event, Loaded, MemberRecord, Registry, RoomRecord,
        SharedLog,
    },
};

pub(crate) const ROOMS_STREAM: &str = "CHAT_ROOMS";
pub(crate) const ROOMS_SUBJECTS: [&str; 2] = ["chat.conv.>", "chat.meta.>"];
pub(crate) const ROOMS_BUCKET: &str = "chat_rooms";
pub(crate) const MEMBERS_BUCKET: &str = "chat_members";
pub(crate) const DIRECT_BUCKET: &str = "chat_direct";

/// Pause before following the stream again after an error.
const RETRY: std::time::Duration = std::time::Duration::from_millis(300);

fn subject(channel: Channel<'_>) -> String {
    match channel {
        Channel::Room(key) => format!("chat.conv.room.{}", kv_key(key)),
        Channel::Direct(pair) => format!("chat.conv.direct.{}", kv_key(pair)),
        Channel::Members(key) => format!("chat.meta.members.{}", kv_key(key)),
        Channel::Topic(key) => format!("chat.meta.topic.{}", kv_key(key)),
    }
}

fn peer(e: impl std::fmt::Display) -> PeerError {
    Box::new(ClusterError::JetStream(e.to_string()))
}

async fn timed<T>(
    what: &str,
    future: impl Future<Output = Result<T, PeerError>>,
) -> Result<T, PeerError> {
    tokio::time::timeout(REQUEST_TIMEOUT, future)
        .await
        .map_err(|_| peer(format!("{what} timed out")))?
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, PeerError> {
    postcard::from_bytes(bytes).map_err(peer)
}

fn encode<T: serde::Serialize>(value: &T) -> Result<bytes::Bytes, PeerError> {
    Ok(postcard::to_stdvec(value).map_err(peer)?.into())
}

impl Cluster {
    /// Every message of one subject, oldest first.
    async fn read_subject(&self, subject: String) -> Result<Vec<(u64, Event)>, ClusterError> {
        let consumer = self
            .rooms_stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: subject,
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(js_error)?;
        let mut out = Vec::new();
        if consumer.cached_info().num_pending == 0 {
            return Ok(out);
        }
        let mut messages = consumer.messages().await.map_err(js_error)?;
        tokio::time::timeout(REQUEST_TIMEOUT, async {
            while let Some(message) = messages.next().await {
                let message = message.map_err(js_error)?;
                let info = message.info().map_err(js_error)?;
                let (seq, pending) = (info.stream_sequence, info.pending);
                match postcard::from_bytes::<Event>(&message.payload) {
                    Ok(event) => out.push((seq, event)),
                    Err(e) => tracing::warn!(seq, error = %e, "skipping an unreadable event"),
                }
                if pending == 0 {
                    break;
                }
            }
            Ok::<_, ClusterError>(())
        })
        .await
        .map_err(|_| ClusterError::JetStream("reading a conversation timed out".into()))??;
        Ok(out)
    }

    /// The current values of a bucket's keys under `filter` (a subject, `>` allowed).
    async fn values(
        &self,
        store: &kv::Store,
        filter: String,
    ) -> Result<Vec<bytes::Bytes>, ClusterError> {
        let consumer = store
            .stream
            .create_consumer(push::OrderedConfig {
                deliver_subject: self.client.new_inbox(),
                filter_subject: filter,
                deliver_policy: DeliverPolicy::LastPerSubject,
                replay_policy: ReplayPolicy::Instant,
                ..Default::default()
            })
            .await
            .map_err(js_error)?;
        let mut out = Vec::new();
        if consumer.cached_info().num_pending == 0 {
            return Ok(out);
        }
        let mut messages = consumer.messages().await.map_err(js_error)?;
        tokio::time::timeout(REQUEST_TIMEOUT, async {
            while let Some(message) = messages.next().await {
                let message = message.map_err(js_error)?;
                let pending = message.info().map_err(js_error)?.pending;
                let deleted = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("KV-Operation"))
                    .is_some_and(|op| op.as_str() != "PUT");
                if !deleted {
                    out.push(message.payload.clone());
                }
                if pending == 0 {
                    break;
                }
            }
            Ok::<_, ClusterError>(())
        })
        .await
        .map_err(|_| ClusterError::JetStream("reading a bucket timed out".into()))??;
        Ok(out)
    }
}

impl SharedLog for Cluster {
    fn load(&self) -> Pending<'_, Result<Loaded, PeerError>> {
        Box::pin(async move {
            let info = self.rooms_stream.get_info().await.map_err(peer)?;
            let rooms = self
                .values(&self.rooms_kv, format!("{}>", self.rooms_kv.prefix))
                .await?;
            let members = self
                .values(&self.members_kv, format!("{}>", self.members_kv.prefix))
                .await?;
            Ok(Loaded {
                last_seq: info.state.last_sequence,
                rooms: rooms.iter().filter_map(|v| decode(v).ok()).collect(),
                members: members.iter().filter_map(|v| decode(v).ok()).collect(),
            })
        })
    }

    fn create_room<'a>(
        &'a self,
        record: &'a RoomRecord,
    ) -> Pending<'a, Result<RoomRecord, PeerError>> {
        Box::pin(timed("creating a room", async move {
            let key = kv_key(&record.key);
            match self.rooms_kv.create(&key, encode(record)?).await {
                Ok(_) => Ok(record.clone()),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                    match self.rooms_kv.get(&key).await.map_err(peer)? {
                        Some(value) => decode(&value),
                        None => Err(peer("a room vanished while it was made")),
                    }
                }
                Err(e) => Err(peer(e)),
            }
        }))
    }

    fn put_room<'a>(&'a self, record: &'a RoomRecord) -> Pending<'a, Result<(), PeerError>> {
        Box::pin(timed("storing a room", async move {
            self.rooms_kv
                .put(kv_key(&record.key), encode(record)?)
                .await
                .map_err(peer)?;
            Ok(())
        }))
    }

    fn put_member<'a>(&'a self, record: &'a MemberRecord) -> Pending<'a, Result<(), PeerError>> {
        Box::pin(timed("storing a membership", async move {
            let key = format!("{}.{}", kv_key(&record.room), kv_key(&record.user));
            self.members_kv
                .put(key, encode(record)?)
                .await
                .map_err(peer)?;
            Ok(())
        }))
    }

    fn delete_member<'a>(
        &'a self,
        room: &'a str,
        user: &'a str,
    ) -> Pending<'a, Result<(), PeerError>> {
        Box::pin(timed("removing a membership", async move {
            let key = format!("{}.{}", kv_key(room), kv_key(user));
            self.members_kv.delete(key).await.map_err(peer)
        }))
    }

    fn append<'a>(
        &'a self,
        channel: Channel<'a>,
        event: &'a Event,
        expected: Option<u64>,
        dedup: Option<Dedup<'a>>,
    ) -> Pending<'a, Result<Appended, PeerError>> {
        Box::pin(timed("publishing to the cluster", async move {
            if self.client.connection_state() != async_nats::connection::State::Connected {
                return Err(peer("not connected to NATS"));
            }
            let subject = subject(channel);
            let mut headers = HeaderMap::new();
            if let Some(seq) = expected {
                headers.insert(
                    "Nats-Expected-Last-Subject-Sequence",
                    seq.to_string().as_str(),
                );
            }
            match dedup {
                Some(Dedup::Line(sender, nonce)) => headers.insert(
                    "Nats-Msg-Id",
                    format!("{subject}:{}:{nonce}", kv_key(sender)).as_str(),
                ),
                Some(Dedup::Open) => {
                    headers.insert("Nats-Msg-Id", format!("{subject}:open").as_str())
                }
                None => {}
            }
            let sent = self
                .js
                .publish_with_headers(subject, headers, encode(event)?)
                .await
                .map_err(peer)?;
            match sent.await {
                Ok(ack) => {
                    self.rooms_acked.fetch_max(ack.sequence, Ordering::Relaxed);
                    Ok(Appended::Done {
                        seq: ack.sequence,
                        duplicate: ack.duplicate,
                    })
                }
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => Ok(Appended::Behind),
                Err(e) => Err(peer(e)),
            }
        }))
    }

    fn last<'a>(
        &'a self,
        channel: Channel<'a>,
    ) -> Pending<'a, Result<Option<(u64, Event)>, PeerError>> {
        Box::pin(timed("reading a conversation's end", async move {
            match self
                .rooms_stream
                .get_last_raw_message_by_subject(&subject(channel))
                .await
            {
                Ok(message) => Ok(Some((message.sequence, decode(&message.payload)?))),
                Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
                Err(e) => Err(peer(e)),
            }
        }))
    }

    fn read<'a>(
        &'a self,
        channel: Channel<'a>,
    ) -> Pending<'a, Result<Vec<(u64, Event)>, PeerError>> {
        Box::pin(async move {
            self.read_subject(subject(channel))
                .await
                .map_err(|e| Box::new(e) as PeerError)
        })
    }

    fn directs<'a>(&'a self, user: &'a str) -> Pending<'a, Result<Vec<DirectRecord>, PeerError>> {
        Box::pin(async move {
            let filter = format!("{}{}.>", self.direct_kv.prefix, kv_key(user));
            let values = self.values(&self.direct_kv, filter).await?;
            Ok(values.iter().filter_map(|v| decode(v).ok()).collect())
        })
    }

    fn put_direct<'a>(
        &'a self,
        record: &'a DirectRecord,
        create_only: bool,
    ) -> Pending<'a, Result<(), PeerError>> {
        Box::pin(timed("storing a direct conversation", async move {
            let key = format!("{}.{}", kv_key(&record.user), kv_key(&record.other));
            let value = encode(record)?;
            if create_only {
                return match self.direct_kv.create(key, value).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(()),
                    Err(e) => Err(peer(e)),
                };
            }
            self.direct_kv.put(key, value).await.map_err(peer)?;
            Ok(())
        }))
    }
}

/// Applies the rooms stream to the registry in order, from the position after `from`, for as
/// long as the node runs; after an error, a reconnection to NATS, or when an event this node
/// published is not back after two checks, again from the first event not yet applied.
pub(crate) async fn follow(cluster: Arc<Cluster>, registry: Arc<Registry>, from: u64) {
    let next = AtomicU64::new(from.saturating_add(1));
    loop {
        let disconnects = cluster.disconnects.load(Ordering::Relaxed);
        let renewed = async {
            let mut stalled_at: Option<u64> = None;
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                if cluster.disconnects.load(Ordering::Relaxed) != disconnects {
                    return "the connection to NATS was renewed";
                }
                let at = next.load(Ordering::Relaxed);
                if cluster.rooms_acked.load(Ordering::Relaxed) >= at {
                    if stalled_at == Some(at) {
                        return "published events are not coming back";
                    }
                    stalled_at = Some(at);
                } else {
                    stalled_at = None;
                }
            }
        };
        let following = async {
            let start = next.load(Ordering::Relaxed);
            let consumer = cluster
                .rooms_stream
                .create_consumer(pull::OrderedConfig {
                    deliver_policy: super::deliver_from(start),
                    ..Default::default()
                })
                .await
                .map_err(js_error)?;
            let mut messages = consumer.messages().await.map_err(js_error)?;
            while let Some(message) = messages.next().await {
                let message = message.map_err(js_error)?;
                let seq = message.info().map_err(js_error)?.stream_sequence;
                match postcard::from_bytes::<Event>(&message.payload) {
                    Ok(event) => {
                        for mark in registry.apply(seq, event) {
                            if let Err(e) = cluster.put_direct(&mark, false).await {
                                tracing::warn!(error = %e, "cannot record a delivered direct line");
                            }
                        }
                    }
                    Err(e) => tracing::warn!(seq, error = %e, "skipping an unreadable event"),
                }
                next.store(seq.saturating_add(1), Ordering::Relaxed);
            }
            Ok::<_, ClusterError>(())
        };
        tokio::select! {
            () = cluster.stop.cancelled() => return,
            why = renewed => tracing::info!(why, "following the rooms stream again"),
            ended = following => match ended {
                Ok(()) => tracing::warn!("the rooms stream consumer ended; following again"),
                Err(e) => tracing::warn!(error = %e, "following the rooms stream failed; retrying"),
            },
        }
        tokio::select! {
            () = cluster.stop.cancelled() => return,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}
