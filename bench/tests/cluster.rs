//! Cluster mode, smoke size: `chat-bench`'s own cluster code starts a `nats-server` and three real
//! `chat-server` nodes, and the workloads run over all three (client i on node i % 3). Checks the
//! counts (every line to every receiver on every node, once, in order, with consecutive ids), that
//! the nodes' and NATS's costs are reported apart, and that every process is gone afterwards.
//!
//! Fails when `nats-server` is not installed (on `PATH` or in `/usr/sbin`), unless
//! `CHAT_SKIP_CLUSTER_TESTS=1` asks to skip it.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use bench::{
    cluster::{Cluster, ClusterSpawn, NatsSource},
    server_process::Spawn,
    workloads,
};

/// A broken cluster fails the test in this long instead of hanging CI.
const LIMIT: Duration = Duration::from_secs(60);
/// Building `chat-server` when nothing else has (a cold `cargo test -p bench`) takes a while on a
/// loaded 2-core machine; an up-to-date build returns at once.
const BUILD_LIMIT: Duration = Duration::from_secs(900);

/// The `nats-server` to run: the first on `PATH`, else Debian's `/usr/sbin` (not on an ordinary
/// user's `PATH`) or `/usr/local/sbin`.
fn nats_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("nats-server"))
        .find(|bin| bin.is_file())
}

/// The `nats-server` to start, or `None` when `CHAT_SKIP_CLUSTER_TESTS=1` asks to skip. Without
/// it the test FAILS, so that a machine missing it cannot pass in no time.
fn nats_or_skip() -> Option<PathBuf> {
    if std::env::var_os("CHAT_SKIP_CLUSTER_TESTS").is_some_and(|v| v == "1") {
        eprintln!(
            "\n*** SKIPPED: CHAT_SKIP_CLUSTER_TESTS=1, the bench cluster test did not run. ***\n"
        );
        return None;
    }
    let found = nats_binary();
    assert!(
        found.is_some(),
        "nats-server is not installed (looked on PATH, in /usr/sbin and /usr/local/sbin): install \
         it with `apt-get install nats-server` (scripts/setup.sh does), or set \
         CHAT_SKIP_CLUSTER_TESTS=1 to skip the cluster tests"
    );
    found
}

/// The `chat-server` binary of this build. Cargo builds a package's binaries for that package's own
/// tests only (`CARGO_BIN_EXE_*`), and `cargo test -p bench` would leave none or a stale one, so
/// this asks cargo for it and takes the path it reports. It asks with the same command CI runs
/// (`cargo test --workspace`, not building): that resolves features exactly as the run we are part
/// of, so the binary is already built and nothing is compiled again. (`cargo build -p server`
/// resolves them for the server alone and rebuilt much of the dependency tree: minutes in CI.)
/// `CHAT_SERVER_BIN` overrides it.
async fn chat_server_binary() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("CHAT_SERVER_BIN") {
        return Ok(bin.into());
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut cargo = tokio::process::Command::new(env!("CARGO"));
    cargo
        .args(["test", "--workspace", "--no-run"])
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(manifest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if !cfg!(debug_assertions) {
        cargo.arg("--release");
    }
    let out = cargo.output().await.context("cannot run cargo")?;
    if !out.status.success() {
        bail!("cargo test --workspace --no-run failed: {}", out.status);
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        // The binary itself, not the unit-test harness built from the same main.rs.
        .find(|m| {
            m["reason"] == "compiler-artifact"
                && m["target"]["name"] == "chat-server"
                && m["profile"]["test"] == false
        })
        .and_then(|m| m["executable"].as_str().map(PathBuf::from))
        .context("cargo did not report a chat-server executable")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_over_three_nodes_count_right() -> Result<()> {
    let Some(nats_server) = nats_or_skip() else {
        return Ok(());
    };
    let binary = tokio::time::timeout(BUILD_LIMIT, chat_server_binary())
        .await
        .context("building chat-server took too long")??;
    let spec = ClusterSpawn {
        nodes: 3,
        server: Spawn {
            binary,
            cpu: None,
            max_connections: 1000,
            log: "warn".into(),
            extra_args: Vec::new(),
        },
        nats: NatsSource::Start {
            binary: nats_server,
        },
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
