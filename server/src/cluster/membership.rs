//! The cluster's user list: a KV bucket keyed by name key, and join/leave announcements.

use std::sync::Arc;

use async_nats::jetstream::{
    consumer::{DeliverPolicy, ReplayPolicy, push},
    kv,
};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use wire::LeaveReason;

use super::{
    Cluster, ClusterError, EVICT_SUBJECT, PRESENCE_SUBJECT, REQUEST_TIMEOUT, js_error, kv_key,
};
use crate::{
    room::{Eviction, Room},
    rooms::Registry,
};

/// What the users bucket holds for one name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UserRecord {
    /// `names::name_key` of the name (the bucket key is its hex form).
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) node: String,
    pub(crate) incarnation: String,
}

/// A join or leave, told to the other nodes.
#[derive(Debug, Serialize, Deserialize)]
struct Presence {
    node: String,
    incarnation: String,
    key: String,
    name: String,
    /// `None`: joined.
    left: Option<LeaveReason>,
}

/// Why a name could not be claimed.
#[derive(Debug)]
pub(crate) enum Claim {
    Taken,
    Unavailable(ClusterError),
}

impl Cluster {
    /// Takes a name for a user of this node; returns the entry's revision. Atomic across nodes.
    pub(crate) async fn claim(&self, key: &str, name: &str) -> Result<u64, Claim> {
        let record = UserRecord {
            key: key.to_owned(),
            name: name.to_owned(),
            node: self.node.clone(),
            incarnation: self.incarnation.clone(),
        };
        let value = postcard::to_stdvec(&record)
            .map_err(|e| Claim::Unavailable(js_error(e)))?
            .into();
        match tokio::time::timeout(REQUEST_TIMEOUT, self.users.create(kv_key(key), value)).await {
            Ok(Ok(revision)) => {
                self.announce(key, name, None).await;
                Ok(revision)
            }
            Ok(Err(e)) if e.kind() == kv::CreateErrorKind::AlreadyExists => Err(Claim::Taken),
            Ok(Err(e)) => Err(Claim::Unavailable(js_error(e))),
            Err(_) => Err(Claim::Unavailable(ClusterError::JetStream(
                "claiming a name timed out".into(),
            ))),
        }
    }

    /// Gives a name back, if the entry is still the one with `revision`, and tells the others.
    /// Returns whether this call removed it (so that one leave is announced once).
    pub(crate) async fn release(
        &self,
        key: &str,
        name: &str,
        revision: u64,
        why: LeaveReason,
    ) -> bool {
        let deleted = tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.users
                .delete_expect_revision(kv_key(key), Some(revision)),
        )
        .await;
        match deleted {
            Ok(Ok(())) => {
                self.announce(key, name, Some(why)).await;
                true
            }
            Ok(Err(e)) => {
                tracing::debug!(%name, error = %e, "name already released");
                false
            }
            Err(_) => {
                tracing::warn!(%name, "releasing a name timed out; the next check retries");
                false
            }
        }
    }

    async fn announce(&self, key: &str, name: &str, left: Option<LeaveReason>) {
        let presence = Presence {
            node: self.node.clone(),
            incarnation: self.incarnation.clone(),
            key: key.to_owned(),
            name: name.to_owned(),
            left,
        };
        if let Ok(payload) = postcard::to_stdvec(&presence)
            && let Err(e) = self
                .client
                .publish(PRESENCE_SUBJECT, Bytes::from(payload))
                .await
        {
            tracing::warn!(error = %e, "cannot announce a join or leave");
        }
    }

    /// Asks every node to remove the member `eviction` names; only the node holding it acts.
    pub(crate) async fn evict(&self, eviction: &Eviction) {
        let sent = match postcard::to_stdvec(eviction) {
            Ok(payload) => self
                .client
                .publish(EVICT_SUBJECT, Bytes::from(payload))
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "cannot ask the other nodes to remove a member");
        }
    }

    /// Every user in the bucket, with the entry's revision.
    pub(crate) async fn users(&self) -> Result<Vec<(UserRecord, u64)>, ClusterError> {
        Ok(latest(self, &self.users)
            .await?
            .into_iter()
            .filter_map(|(_, revision, value)| {
                postcard::from_bytes::<UserRecord>(&value)
                    .ok()
                    .map(|r| (r, revision))
            })
            .collect())
    }
}

/// The current value of every key of a bucket: (key, revision, value), deleted keys left out.
pub(crate) async fn latest(
    cluster: &Cluster,
    store: &kv::Store,
) -> Result<Vec<(String, u64, Bytes)>, ClusterError> {
    let consumer = store
        .stream
        .create_consumer(push::OrderedConfig {
            deliver_subject: cluster.client.new_inbox(),
            filter_subject: format!("{}>", store.prefix),
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
            let info = message.info().map_err(js_error)?;
            let (revision, pending) = (info.stream_sequence, info.pending);
            let deleted = message
                .headers
                .as_ref()
                .and_then(|h| h.get("KV-Operation"))
                .is_some_and(|op| op.as_str() != "PUT");
            if !deleted && let Some(key) = message.subject.strip_prefix(store.prefix.as_str()) {
                out.push((key.to_owned(), revision, message.payload.clone()));
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

/// What another node tells this one.
enum Told {
    Presence(Presence),
    Evict(Eviction),
}

/// Passes the other nodes' joins, leaves and evictions to the room. Core NATS subscriptions are
/// renewed by the client after a reconnection; joins and leaves missed meanwhile are repaired by the
/// heartbeat's snapshot (an eviction missed is not: see `Peers::evict`).
pub(crate) async fn listen(cluster: Arc<Cluster>, room: Arc<Room>, rooms: Arc<Registry>) {
    loop {
        let subscriptions = tokio::select! {
            () = cluster.stop.cancelled() => return,
            s = async {
                let presence = cluster.client.subscribe(PRESENCE_SUBJECT).await?;
                let evict = cluster.client.subscribe(EVICT_SUBJECT).await?;
                Ok::<_, async_nats::SubscribeError>((presence, evict))
            } => s,
        };
        let (presence, evict) = match subscriptions {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot subscribe to announcements; retrying");
                tokio::time::sleep(REQUEST_TIMEOUT).await;
                continue;
            }
        };
        let presence = presence.filter_map(|m| async move {
            postcard::from_bytes::<Presence>(&m.payload)
                .ok()
                .map(Told::Presence)
        });
        let evict = evict.filter_map(|m| async move {
            postcard::from_bytes::<Eviction>(&m.payload)
                .ok()
                .map(Told::Evict)
        });
        let mut told = futures_util::stream::select(Box::pin(presence), Box::pin(evict));
        loop {
            let message = tokio::select! {
                () = cluster.stop.cancelled() => return,
                m = told.next() => m,
            };
            match message {
                None => break,
                Some(Told::Presence(p)) => {
                    if p.node == cluster.node && p.incarnation == cluster.incarnation {
                        continue;
                    }
                    match p.left {
                        None => {
                            rooms.remote_joined(&p.key, &p.name);
                            room.remote_joined(p.key, p.name);
                        }
                        Some(why) => {
                            room.remote_left(&p.key, why);
                            rooms.remote_left(&p.key, why);
                        }
                    }
                }
                Some(Told::Evict(eviction)) => {
                    if let Some(name) = room.evict_here(&eviction) {
                        tracing::info!(user = %name, why = %eviction.why, "removed at another node's request");
                    }
                }
            }
        }
    }
}
