//! The chat stream: publishing a line (JetStream stamps its id) and following the stream in order.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use async_nats::{
    HeaderMap,
    jetstream::consumer::{DeliverPolicy, pull},
};
use futures_util::StreamExt;
use wire::ChatMessage;

use super::{CHAT_SUBJECT, Cluster, ClusterError, REQUEST_TIMEOUT, js_error, kv_key};
use crate::room::{Published, Room};

/// Pause before following the stream again after an error.
const RETRY: Duration = Duration::from_millis(300);

impl Cluster {
    /// Publishes a line and waits for JetStream's acknowledgement. Fails fast while NATS is
    /// unreachable, so the sender is told instead of waiting.
    pub(crate) async fn publish(
        &self,
        sender_key: &str,
        message: &ChatMessage,
    ) -> Result<Published, ClusterError> {
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(ClusterError::JetStream("not connected to NATS".into()));
        }
        let payload = postcard::to_stdvec(message).map_err(js_error)?;
        let mut headers = HeaderMap::new();
        headers.insert(
            "Nats-Msg-Id",
            format!("{}:{}", kv_key(sender_key), message.nonce).as_str(),
        );
        let ack = tokio::time::timeout(REQUEST_TIMEOUT, async {
            self.js
                .publish_with_headers(CHAT_SUBJECT, headers, payload.into())
                .await
                .map_err(js_error)?
                .await
                .map_err(js_error)
        })
        .await
        .map_err(|_| ClusterError::JetStream("no acknowledgement from JetStream".into()))??;
        self.acked.fetch_max(ack.sequence, Ordering::Relaxed);
        Ok(Published {
            id: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    /// The sequence of the newest message in the stream (0 when empty).
    pub(crate) async fn last_sequence(&self) -> Result<u64, ClusterError> {
        let info = self
            .chat
            .get_info()
            .await
            .map_err(|e| ClusterError::JetStream(format!("stream info: {e}")))?;
        Ok(info.state.last_sequence)
    }

    /// Up to `limit` messages with an id above `after`, oldest first: a resume older than the cache.
    pub(crate) async fn read_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, ClusterError> {
        let consumer = self
            .chat
            .create_consumer(pull::OrderedConfig {
                filter_subject: CHAT_SUBJECT.into(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: after + 1,
                },
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
            while out.len() < limit {
                let Some(message) = messages.next().await else {
                    break;
                };
                let message = message.map_err(js_error)?;
                let info = message.info().map_err(js_error)?;
                let (seq, pending) = (info.stream_sequence, info.pending);
                if let Ok(mut m) = postcard::from_bytes::<ChatMessage>(&message.payload) {
                    m.id = seq;
                    out.push(m);
                }
                if pending == 0 {
                    break;
                }
            }
            Ok::<_, ClusterError>(())
        })
        .await
        .map_err(|_| ClusterError::JetStream("reading history timed out".into()))??;
        Ok(out)
    }
}

/// How often the follower checks that it is not stuck.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Applies the stream to the room in order, for as long as the node runs. The consumer is created
/// again from the first message not yet applied after every reconnection to NATS (a restarted
/// server has forgotten it), on any error, and when it stalls: a line this node published is not
/// back after two checks.
pub(crate) async fn follow(cluster: Arc<Cluster>, room: Arc<Room>) {
    loop {
        let from = room.next_id();
        let disconnects = cluster.disconnects.load(Ordering::Relaxed);
        let watchdog = async {
            let mut stalled_since: Option<u64> = None;
            loop {
                tokio::time::sleep(WATCH_EVERY).await;
                if cluster.disconnects.load(Ordering::Relaxed) != disconnects {
                    return "the connection to NATS was renewed";
                }
                let next = room.next_id();
                if cluster.acked.load(Ordering::Relaxed) >= next {
                    if stalled_since == Some(next) {
                        return "published lines are not coming back";
                    }
                    stalled_since = Some(next);
                } else {
                    stalled_since = None;
                }
            }
        };
        let following = async {
            let consumer = cluster
                .chat
                .create_consumer(pull::OrderedConfig {
                    filter_subject: CHAT_SUBJECT.into(),
                    deliver_policy: super::deliver_from(from),
                    ..Default::default()
                })
                .await
                .map_err(js_error)?;
            let mut messages = consumer.messages().await.map_err(js_error)?;
            while let Some(message) = messages.next().await {
                let message = message.map_err(js_error)?;
                let info = message.info().map_err(js_error)?;
                let seq = info.stream_sequence;
                room.metrics
                    .cluster_lag
                    .set(i64::try_from(info.pending).unwrap_or(i64::MAX));
                match postcard::from_bytes::<ChatMessage>(&message.payload) {
                    Ok(mut m) => {
                        m.id = seq;
                        room.apply(m);
                    }
                    Err(e) => {
                        tracing::warn!(seq, error = %e, "skipping an unreadable stream message");
                        room.skip_to(seq + 1);
                    }
                }
            }
            Ok::<_, ClusterError>(())
        };
        tokio::select! {
            () = cluster.stop.cancelled() => return,
            why = watchdog => tracing::info!(why, "following the chat stream again"),
            ended = following => match ended {
                Ok(()) => tracing::warn!("the chat stream consumer ended; following again"),
                Err(e) => tracing::warn!(error = %e, "following the chat stream failed; retrying"),
            },
        }
        tokio::select! {
            () = cluster.stop.cancelled() => return,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}
