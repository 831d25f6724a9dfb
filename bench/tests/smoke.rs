//! Smoke mode: every workload, with small counts, against a real `chat-server` process of this build
//! (and the floor, the `chat-floor` example). Checks the counts (everything delivered exactly once,
//! in order; everybody connected), never the speed.
//!
//! The binaries are found next to this test (`testkit::binary`): `cargo test --workspace` builds
//! them; after `cargo test -p bench` alone the test fails and names the command that builds them.

use std::{process::Stdio, time::Duration};

use anyhow::{Context, Result, bail};
use bench::workloads::{self, Target};
use client::Trust;
use testkit::process::{ServerProcess, Spawn};
use tokio::io::AsyncReadExt;

/// A broken server fails the test in this long instead of hanging CI.
const LIMIT: Duration = Duration::from_secs(60);

/// A `chat-server` of this build on loopback, default limits (but no rate limit, as `chat-bench`
/// starts it), its own certificates and history; its costs are read from `/proc` like a real run's.
async fn started_server() -> Result<(Target, ServerProcess)> {
    let spawn = Spawn {
        binary: testkit::binary::chat_server()?,
        cpu: None,
        max_connections: 1000,
        log: "warn".into(),
        extra_args: Vec::new(),
    };
    let server = tokio::time::timeout(LIMIT, ServerProcess::start(&spawn))
        .await
        .context("chat-server did not start in time")??;
    let target = Target::single(
        server.addr,
        Trust::CaFile(server.ca.clone()),
        Some(server.pid),
    );
    Ok((target, server))
}

/// fanout 5 × 20 at full speed: every line reaches every receiver exactly once, in order, with
/// consecutive ids.
async fn full_speed_fanout_counts_right(target: &Target) -> Result<()> {
    let fanout = workloads::fanout::run(
        target,
        workloads::fanout::Params {
            clients: 5,
            messages: 20,
            rate: 0.0,
            join_concurrency: 4,
        },
    )
    .await?;
    assert_eq!(fanout.expected, 5 * 5 * 20);
    assert_eq!(fanout.delivered, fanout.expected, "{:?}", fanout.report);
    assert_eq!(fanout.duplicates + fanout.out_of_order, 0);
    assert_eq!(fanout.id_gaps + fanout.malformed, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_counts_right() -> Result<()> {
    let (target, server) = started_server().await?;

    tokio::time::timeout(LIMIT, async {
        full_speed_fanout_counts_right(&target).await?;

        eprintln!("smoke: before paced");
        let paced = workloads::fanout::run(
            &target,
            workloads::fanout::Params {
                clients: 4,
                messages: 5,
                rate: 50.0,
                join_concurrency: 4,
            },
        )
        .await?;
        assert_eq!(paced.delivered, 4 * 4 * 5, "{:?}", paced.report);

        eprintln!("smoke: before connect");
        let connect = workloads::connect::run(
            &target,
            workloads::connect::Params {
                clients: 20,
                concurrency: 4,
            },
        )
        .await?;
        assert_eq!((connect.joined, connect.failed), (20, 0));
        // Each client sent at least its Initial and its Hello, and received the server's
        // handshake and its Welcome: what quinn counted on the clients' connections.
        let per_client = |name: &str| {
            connect
                .report
                .get(name)
                .and_then(serde_json::Value::as_f64)
                .unwrap_or_else(|| panic!("no {name} in {:?}", connect.report))
        };
        assert!(per_client("client_datagrams_sent_per_connection") >= 2.0);
        assert!(per_client("client_datagrams_received_per_connection") >= 2.0);
        assert!(per_client("client_stream_frames_received_per_connection") >= 1.0);

        eprintln!("smoke: before idle");
        let idle = workloads::idle::run(
            &target,
            workloads::idle::Params {
                clients: 20,
                join_concurrency: 4,
            },
        )
        .await?;
        assert_eq!(idle.joined, 20);

        eprintln!("smoke: before room");
        let room = workloads::room::run(
            &target,
            workloads::room::Params {
                clients: 30,
                join_concurrency: 8,
            },
        )
        .await?;
        assert_eq!((room.joined, room.received), (30, 30), "{:?}", room.report);
        anyhow::Ok(())
    })
    .await??;

    tokio::time::timeout(LIMIT, server.stop()).await??;
    Ok(())
}

/// Named rooms and direct messages, small: 5 rooms of 3 members for 3 s, 5 pairs for 3.5 s with 3
/// lines each while away. Every line reaches every member of its own room (or both ends of its
/// pair) once, in order, and nobody else; an absent user gets exactly its lines on return.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_and_direct_messages_reach_only_their_members() -> Result<()> {
    let (target, server) = started_server().await?;
    tokio::time::timeout(LIMIT, async {
        let rooms = workloads::rooms::run(
            &target,
            workloads::rooms::Params {
                rooms: 5,
                members: 3,
                rate: 2.0,
                duration: Duration::from_secs(3),
                join_concurrency: 4,
            },
        )
        .await?;
        assert_eq!(rooms.lines, 5 * 6, "{:?}", rooms.report);
        assert_eq!(rooms.expected, 5 * 6 * 3);
        assert_eq!(rooms.delivered, rooms.expected, "{:?}", rooms.report);
        assert_eq!(rooms.violations, 0, "{:?}", rooms.report);

        let direct = workloads::direct::run(
            &target,
            workloads::direct::Params {
                pairs: 5,
                rate: 2.0,
                // 7 lines: the first end says the last, so its receiver's mark of what it was
                // handed online (not the receiver's own line) is what keeps them from coming again.
                duration: Duration::from_millis(3500),
                offline_lines: 3,
                join_concurrency: 4,
            },
        )
        .await?;
        assert_eq!(direct.lines, 5 * 7, "{:?}", direct.report);
        assert_eq!(direct.expected, 2 * 5 * 7);
        assert_eq!(direct.delivered, direct.expected, "{:?}", direct.report);
        assert_eq!(direct.offline_expected, 5 * 3);
        assert_eq!(
            direct.offline_delivered, direct.offline_expected,
            "{:?}",
            direct.report
        );
        assert_eq!(direct.violations, 0, "{:?}", direct.report);
        anyhow::Ok(())
    })
    .await??;
    tokio::time::timeout(LIMIT, server.stop()).await??;
    Ok(())
}

/// A short soak: users join, chat, drop politely or abruptly and resume, for a few seconds. The full
/// run (`chat-bench soak`, minutes, hundreds of users) is not for CI; this one checks the invariant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_keeps_every_line_exactly_once_in_order() -> Result<()> {
    let (target, server) = started_server().await?;
    let outcome = tokio::time::timeout(
        LIMIT,
        workloads::soak::run(
            &target,
            workloads::soak::Params {
                clients: 20,
                duration: Duration::from_secs(6),
                rate: 4.0,
                seed: 7,
            },
        ),
    )
    .await??;
    assert_eq!(outcome.violations, 0, "{:?}", outcome.report);
    assert!(
        outcome.sessions > 20 * 2,
        "users came and went: {} sessions",
        outcome.sessions
    );
    assert!(outcome.lines > 100, "they talked: {} lines", outcome.lines);
    tokio::time::timeout(LIMIT, server.stop()).await??;
    Ok(())
}

/// The floor server (the `chat-floor` example, the comparison without chat logic) passes the
/// fan-out's own checks at a pace its queues hold, so its figures there are of a server that delivers
/// every line once and in order. (At full speed it drops: it has no back-pressure, and says so on
/// exit, which this test reads.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_floor_server_delivers_every_line_in_order() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut floor = tokio::process::Command::new(testkit::binary::chat_floor()?)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--cert-dir")
        .arg(dir.path().join("certs"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start chat-floor")?;
    let pid = floor.id().context("chat-floor exited at once")?;
    let stdout = floor.stdout.take().context("no chat-floor stdout")?;
    let mut stderr = floor.stderr.take().context("no chat-floor stderr")?;
    let (addr, ca) = tokio::time::timeout(LIMIT, testkit::process::read_banner(stdout))
        .await
        .context("chat-floor did not print its address in time")??;
    let target = Target::single(addr, Trust::CaFile(ca), Some(pid));
    tokio::time::timeout(LIMIT, async {
        full_speed_fanout_counts_right(&target).await?;
        let connect = workloads::connect::run(
            &target,
            workloads::connect::Params {
                clients: 10,
                concurrency: 4,
            },
        )
        .await?;
        assert_eq!((connect.joined, connect.failed), (10, 0));
        anyhow::Ok(())
    })
    .await??;

    let _ = tokio::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .await;
    let mut said = String::new();
    let (status, read) = tokio::time::timeout(LIMIT, async {
        let read = stderr.read_to_string(&mut said).await;
        (floor.wait().await, read)
    })
    .await
    .context("chat-floor did not stop in time")?;
    read.context("reading chat-floor's stderr")?;
    if !status?.success() {
        bail!("chat-floor failed on SIGTERM: {said}");
    }
    let dropped = said
        .lines()
        .find_map(|l| {
            l.strip_prefix("chat-floor: ")?
                .strip_suffix(" frames dropped on full queues")
        })
        .with_context(|| format!("chat-floor did not report its drops: {said}"))?;
    assert_eq!(dropped, "0", "no queue was full");
    Ok(())
}
