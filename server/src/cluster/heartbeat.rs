//! Node liveness: each node renews a key in a bucket whose entries expire, and every node checks
//! the user list against the live nodes.
//!
//! After a (re)connection to NATS a node waits one full `node_ttl` before removing anybody: the
//! other nodes may not have renewed their heartbeat yet, and a NATS restart expires old entries.

use std::{collections::HashMap, sync::Arc, sync::atomic::Ordering, time::Instant};

use bytes::Bytes;
use wire::LeaveReason;

use super::{Cluster, ClusterError, REQUEST_TIMEOUT, membership::latest};
use crate::room::Room;

pub(crate) async fn run(cluster: Arc<Cluster>, room: Arc<Room>) {
    let mut tick = tokio::time::interval(cluster.heartbeat_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut healthy_since: Option<Instant> = None;
    let mut disconnects = cluster.disconnects.load(Ordering::Relaxed);
    loop {
        tokio::select! {
            () = cluster.stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now_disconnects = cluster.disconnects.load(Ordering::Relaxed);
        if now_disconnects != disconnects {
            disconnects = now_disconnects;
            healthy_since = None;
        }
        let beat = tokio::time::timeout(
            REQUEST_TIMEOUT,
            cluster.nodes.put(
                &cluster.node,
                Bytes::from(cluster.incarnation.clone().into_bytes()),
            ),
        )
        .await;
        match beat {
            Ok(Ok(_)) => {
                healthy_since.get_or_insert_with(Instant::now);
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot renew this node's heartbeat");
                healthy_since = None;
                continue;
            }
            Err(_) => {
                tracing::warn!("renewing this node's heartbeat timed out");
                healthy_since = None;
                continue;
            }
        }
        let may_reap = healthy_since
            .is_some_and(|t| t.elapsed() >= cluster.node_ttl + cluster.heartbeat_every);
        if let Err(e) = check(&cluster, &room, may_reap).await {
            tracing::warn!(error = %e, "cannot check the cluster's users");
        }
    }
}

/// One pass over the user list: names held by dead nodes are released, names this node holds for
/// nobody (a release that failed) too, and the room's view of the other nodes' users is repaired.
async fn check(cluster: &Cluster, room: &Room, may_reap: bool) -> Result<(), ClusterError> {
    let started = Instant::now();
    let alive: HashMap<String, Bytes> = latest(cluster, &cluster.nodes)
        .await?
        .into_iter()
        .map(|(node, _, incarnation)| (node, incarnation))
        .collect();
    let users = cluster.users().await?;
    let local = room.local_keys();
    let mut others = Vec::with_capacity(users.len());
    for (record, revision) in users {
        if record.node == cluster.node && record.incarnation == cluster.incarnation {
            if !local.contains(&record.key) {
                cluster
                    .release(&record.key, &record.name, revision, LeaveReason::Dropped)
                    .await;
            }
            continue;
        }
        let live = alive
            .get(&record.node)
            .is_some_and(|i| i.as_ref() == record.incarnation.as_bytes());
        if !live && may_reap {
            tracing::info!(user = %record.name, node = %record.node, "the user's node is gone");
            if cluster
                .release(&record.key, &record.name, revision, LeaveReason::TimedOut)
                .await
            {
                room.remote_left(&record.key, LeaveReason::TimedOut);
            }
            continue;
        }
        others.push((record.key, record.name));
    }
    room.reconcile(others, started);
    Ok(())
}
