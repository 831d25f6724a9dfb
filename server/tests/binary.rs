//! The `chat-server` binary: prints where it listens, and SIGTERM shuts it down gracefully, exit 0.

mod support;

use std::process::Stdio;

use support::{WAIT, join_process, until};
use tokio::io::{AsyncBufReadExt, BufReader};
use wire::ServerFrame;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_says_shutting_down_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        // History in memory: the default database is the user's own, where a name may be owned
        // by a key of an earlier run.
        .args(["--listen", "127.0.0.1:0", "--no-persist", "--cert-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut port = None;
    let mut ca_announced = false;
    while port.is_none() || !ca_announced {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("prints in time")
            .expect("readable")
            .expect("still running");
        if let Some(addr) = line.strip_prefix("chat-server listening on udp ") {
            port = addr.parse::<std::net::SocketAddr>().ok().map(|a| a.port());
        }
        if line.starts_with("development CA: ") {
            assert!(line.contains(&dir.path().display().to_string()), "{line}");
            ca_announced = true;
        }
    }
    let port = port.expect("port");
    let (mut conn, welcome) = join_process(port, &dir.path().join("ca.pem"), "alice").await;
    assert_eq!(welcome.you, "alice");

    let pid = child.id().expect("pid").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());

    match until(&mut conn, |f| matches!(f, ServerFrame::ShuttingDown { .. })).await {
        ServerFrame::ShuttingDown { reason } => assert!(reason.contains("SIGTERM"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let exit = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exits in time")
        .expect("status");
    assert_eq!(exit.code(), Some(0));
}
