//! Smoke mode: every workload, with small counts, in-process against an embedded server. Checks the
//! counts (everything delivered exactly once, in order; everybody connected), never the speed.

use std::{net::SocketAddr, path::Path, time::Duration};

use bench::workloads::{self, Target};
use client::Trust;
use server::{Config, Server, ShutdownHandle, TlsSource};

/// A broken server fails the test in this long instead of hanging CI.
const LIMIT: Duration = Duration::from_secs(60);

type Running = tokio::task::JoinHandle<Result<(), server::ServerError>>;

/// Default limits, development certificates under `dir`, a loopback port the system picks.
fn loopback_config(dir: &Path) -> anyhow::Result<Config> {
    Ok(Config::new(
        "127.0.0.1:0".parse()?,
        TlsSource::DevCerts {
            dir: dir.join("certs"),
        },
    ))
}

/// The load tool's view of a server in this process that trusts its development CA.
fn in_process_target(addr: SocketAddr, dev_ca: Option<&Path>) -> Target {
    Target::single(
        addr,
        Trust::CaFile(dev_ca.expect("dev certs").to_path_buf()),
        // The server shares our process, so its CPU and memory cannot be told apart from ours.
        None,
    )
}

/// fanout 5 × 20 at full speed: every line reaches every receiver exactly once, in order, with
/// consecutive ids.
async fn full_speed_fanout_counts_right(target: &Target) -> anyhow::Result<()> {
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

/// A real server in this process, on loopback, with default limits and its own certificates.
fn embedded_server() -> anyhow::Result<(Target, ShutdownHandle, Running, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let server = Server::bind(loopback_config(dir.path())?)?;
    let target = in_process_target(server.local_addr()?, server.dev_ca());
    let shutdown = server.shutdown_handle();
    let running = tokio::spawn(server.run());
    Ok((target, shutdown, running, dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_counts_right() -> anyhow::Result<()> {
    let (target, shutdown, running, _dir) = embedded_server()?;

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

    shutdown.shutdown("smoke test done");
    tokio::time::timeout(LIMIT, running).await???;
    Ok(())
}

/// A short soak: users join, chat, drop politely or abruptly and resume, for a few seconds. The full
/// run (`chat-bench soak`, minutes, hundreds of users) is not for CI; this one checks the invariant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_keeps_every_line_exactly_once_in_order() -> anyhow::Result<()> {
    let (target, shutdown, running, _dir) = embedded_server()?;
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
    shutdown.shutdown("soak done");
    tokio::time::timeout(LIMIT, running).await???;
    Ok(())
}

/// The floor server (`chat-floor`, the comparison without chat logic) passes the fan-out's own
/// checks at a pace its queues hold, so its figures there are of a server that delivers every line
/// once and in order. (At full speed it drops: it has no back-pressure, and says so.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_floor_server_delivers_every_line_in_order() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let floor = bench::floor::Floor::bind(&loopback_config(dir.path())?)?;
    let target = in_process_target(floor.local_addr()?, floor.dev_ca());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(floor.run(async {
        let _ = stopped.await;
    }));
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
    let _ = stop.send(());
    let dropped = tokio::time::timeout(LIMIT, running).await??;
    assert_eq!(dropped, 0, "no queue was full");
    Ok(())
}
