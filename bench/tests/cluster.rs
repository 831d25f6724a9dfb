//! Cluster mode, smoke size: `chat-bench`'s own cluster code starts a `nats-server` and three real
//! `chat-server` nodes, and the workloads run over all three (client i on node i % 3). Checks the
//! counts (every line to every receiver on every node, once, in order, with consecutive ids), that
//! the nodes' and NATS's costs are reported apart, and that every process is gone afterwards.
//!
//! Needs `nats-server` (on `PATH` or in `/usr/sbin`) and fails without it, unless
//! `CHAT_SKIP_CLUSTER_TESTS=1` says to skip (see `testkit::nats`). The `chat-server` binary of this
//! build is found next to the test (`testkit::binary`).

use std::{path::Path, time::Duration};

use anyhow::{Context, Result};
use bench::{
    cluster::{Cluster, ClusterSpawn, NatsSource},
    workloads,
};
use testkit::process::Spawn;

/// A broken cluster fails the test in this long instead of hanging CI.
const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_over_three_nodes_count_right() -> Result<()> {
    let Some(nats) = testkit::nats::for_tests() else {
        return Ok(());
    };
    let binary = testkit::binary::chat_server()?;
    let spec = ClusterSpawn {
        nodes: 3,
        server: Spawn {
            binary,
            cpu: None,
            max_connections: 1000,
            log: "warn".into(),
            extra_args: Vec::new(),
        },
        nats: NatsSource::Start { binary: nats },
    };
    // Dropped on any early return or failed assertion: its processes are killed with it.
    let cluster = tokio::time::timeout(LIMIT, Cluster::start(&spec))
        .await
        .context("the cluster did not start in time")??;
    let target = cluster.target()?;
    assert_eq!(target.nodes(), 3);
    let nats_pid = target.nats_pid.context("the test started nats-server")?;
    let mut pids = target.pids().to_vec();
    pids.push(nats_pid);

    let ran = tokio::time::timeout(LIMIT, async {
        let fanout = workloads::fanout::run(
            &target,
            workloads::fanout::Params {
                clients: 6,
                messages: 5,
                rate: 0.0,
                join_concurrency: 4,
            },
        )
        .await?;
        let connect = workloads::connect::run(
            &target,
            workloads::connect::Params {
                clients: 12,
                concurrency: 4,
            },
        )
        .await?;
        let room = workloads::room::run(
            &target,
            workloads::room::Params {
                clients: 9,
                join_concurrency: 4,
            },
        )
        .await?;
        anyhow::Ok((fanout, connect, room))
    })
    .await;
    let stopped = tokio::time::timeout(LIMIT, cluster.stop()).await;
    let (fanout, connect, room) = ran.context("the workloads took too long")??;
    stopped.context("the cluster did not stop in time")??;
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} still runs after the cluster stopped"
        );
    }

    let report = &fanout.report;
    assert_eq!(fanout.expected, 6 * 6 * 5);
    assert_eq!(fanout.delivered, fanout.expected, "{report:?}");
    assert_eq!(fanout.duplicates, 0, "{report:?}");
    assert_eq!(fanout.out_of_order, 0, "{report:?}");
    // One stream for the room: ids are global and consecutive on every node.
    assert_eq!(fanout.id_gaps, 0, "{report:?}");
    assert_eq!(fanout.malformed, 0, "{report:?}");
    let per_node = report
        .get("node_cpu_ms")
        .and_then(|v| v.as_array())
        .map(Vec::len);
    assert_eq!(per_node, Some(3), "{report:?}");
    for field in [
        "server_cpu_us_per_delivery",
        "nats_cpu_ms",
        "cluster_cpu_us_per_delivery",
        "server_peak_rss_kib",
    ] {
        assert!(report.get(field).is_some(), "no {field} in {report:?}");
    }
    assert_eq!(
        (connect.joined, connect.failed),
        (12, 0),
        "{:?}",
        connect.report
    );
    assert_eq!((room.joined, room.received), (9, 9), "{:?}", room.report);
    Ok(())
}
