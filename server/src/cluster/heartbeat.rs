//! Node liveness: each node renews a key in a bucket whose entries expire, and every node checks
//! the user list against the live nodes.
//!
//! After a (re)connection to NATS a node waits one full `node_ttl` before removing anybody: the
//! other nodes may not have renewed their heartbeat yet, and a NATS restart expires old entries.

use std::{collections::HashMap, sync::Arc, sync::atomic::Ordering, time::Instant};

use bytes::Bytes;
use wire::LeaveReason;

use super::{Cluster, ClusterError, REQUEST_TIMEOUT, membership::latest};
use crate::{room::Room, rooms::Registry};

pub(crate) async fn run(cluster: Arc<Cluster>, room: Arc<Room>, rooms: Arc<Registry>) {
    // Renewing runs on its own: a check slowed down by NATS must never delay our heartbeat past
    // its expiry, or the other nodes would rightly take this node for dead and drop its users.
    tokio::spawn(renew(cluster.clone()));
    let mut tick = tokio::time::interval(cluster.heartbeat_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut healthy_since: Option<Instant> = None;
    let mut disconnects = cluster.disconnects.load(Ordering::Relaxed);
    let mut missing = HashMap::new();
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
        if cluster.client.connection_state() != async_nats::connection::State::Connected {
            healthy_since = None;
            continue;
        }
        healthy_since.get_or_insert_with(Instant::now);
        let may_reap = healthy_since
            .is_some_and(|t| t.elapsed() >= cluster.node_ttl + cluster.heartbeat_every);
        if let Err(e) = check(&cluster, (&room, &rooms), may_reap, &mut missing).await {
            tracing::warn!(error = %e, "cannot check the cluster's users");
        }
    }
}

/// Renews this node's entry in the bucket of live nodes, every `heartbeat_every`.
async fn renew(cluster: Arc<Cluster>) {
    let mut tick = tokio::time::interval(cluster.heartbeat_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cluster.stop.cancelled() => return,
            _ = tick.tick() => {}
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
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot renew this node's heartbeat"),
            Err(_) => tracing::warn!("renewing this node's heartbeat timed out"),
        }
    }
}

/// One pass over the user list: names held by dead nodes are released, names this node holds for
/// nobody (a release that failed) too, and the room's view of the other nodes' users is repaired.
///
/// A node is taken for dead only when two checks in a row, a heartbeat period apart, found no
/// live entry for it: a single snapshot can miss a node that has just (re)started. Users are read
/// before nodes, so a node that registered a user has also renewed its entry by the time we look.
async fn check(
    cluster: &Cluster,
    (room, rooms): (&Room, &Registry),
    may_reap: bool,
    missing: &mut HashMap<(String, String), Instant>,
) -> Result<(), ClusterError> {
    let started = Instant::now();
    let users = cluster.users().await?;
    let alive: HashMap<String, Bytes> = latest(cluster, &cluster.nodes)
        .await?
        .into_iter()
        .map(|(node, _, incarnation)| (node, incarnation))
        .collect();
    missing.retain(|(node, incarnation), _| {
        alive
            .get(node)
            .is_none_or(|i| i.as_ref() != incarnation.as_bytes())
    });
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
        let dead = !live && {
            let since = *missing
                .entry((record.node.clone(), record.incarnation.clone()))
                .or_insert(started);
            started.duration_since(since) >= cluster.heartbeat_every
        };
        if dead && may_reap {
            tracing::info!(user = %record.name, node = %record.node, "the user's node is gone");
            if cluster
                .release(&record.key, &record.name, revision, LeaveReason::TimedOut)
                .await
            {
                room.remote_left(&record.key, LeaveReason::TimedOut);
                rooms.remote_left(&record.key, LeaveReason::TimedOut);
            }
            continue;
        }
        others.push((record.key, record.name));
    }
    rooms.reconcile_remote(&others, started);
    room.reconcile(others, started);
    Ok(())
}
