//! A `chat-server` process started for one workload: its own loopback port and temporary certificate
//! directory, optionally pinned to a core with `taskset`, stopped (SIGTERM, then SIGKILL) at the end.
//!
//! A fresh server per workload keeps the figures independent: the peak RSS, the room's history and
//! the stragglers of the previous workload's goodbyes do not leak into the next one.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// How long the server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a graceful stop may take before the process is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start the server.
#[derive(Debug, Clone)]
pub struct Spawn {
    pub binary: PathBuf,
    /// Pin the server to this core (`taskset -c`).
    pub cpu: Option<String>,
    pub max_connections: usize,
    /// `RUST_LOG` for the server. Per-connection `info` lines would be part of what is measured, so
    /// the default is `warn`.
    pub log: String,
    /// Further flags passed through (`--queue-frames 4096`, ...).
    pub extra_args: Vec<String>,
}

#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    pub ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    pub async fn start(spawn: &Spawn) -> Result<Self> {
        if !spawn.binary.exists() {
            bail!(
                "{} does not exist: build it with `cargo build --release -p server` or pass --server-bin",
                spawn.binary.display()
            );
        }
        let dir = tempfile::tempdir().context("cannot create a certificate directory")?;
        let mut cmd = match &spawn.cpu {
            Some(cpu) => {
                // taskset execs the server, so the child's pid is the server's.
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu).arg(&spawn.binary);
                c
            }
            None => Command::new(&spawn.binary),
        };
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--cert-dir")
            .arg(dir.path().join("certs"))
            .arg("--max-connections")
            .arg(spawn.max_connections.to_string())
            // Its own history database, so runs do not inherit each other's messages.
            .arg("--history-db")
            .arg(dir.path().join("history.sqlite3"))
            // The workloads send faster than a person may (that is the point), so the per-client
            // rate limit is off; every other limit stays at its default.
            .args(["--max-messages-per-sec", "0"])
            .args(&spawn.extra_args)
            .env("RUST_LOG", &spawn.log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", spawn.binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("no server stdout")?;
        let (addr, ca) = tokio::time::timeout(START_TIMEOUT, read_banner(stdout))
            .await
            .context("the server did not print its address in time")??;
        Ok(Self {
            child,
            pid,
            addr,
            ca,
            _dir: dir,
        })
    }

    /// SIGTERM (graceful shutdown), then SIGKILL if it has not exited in time.
    pub async fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                status.context("waiting for the server")?;
            }
            Err(_) => {
                self.child.kill().await.context("cannot kill the server")?;
            }
        }
        Ok(())
    }
}

/// Reads `chat-server listening on udp ADDR` and `development CA: PATH ...` from the server's stdout,
/// then keeps draining it in the background so the server never blocks on a full pipe.
async fn read_banner(stdout: tokio::process::ChildStdout) -> Result<(SocketAddr, PathBuf)> {
    let mut lines = BufReader::new(stdout).lines();
    let mut addr = None;
    let mut ca = None;
    while addr.is_none() || ca.is_none() {
        let Some(line) = lines.next_line().await.context("reading server output")? else {
            bail!("the server exited before printing its address");
        };
        if let Some(rest) = line.strip_prefix("chat-server listening on udp ") {
            addr = Some(
                rest.trim()
                    .parse()
                    .context("bad address in server output")?,
            );
        } else if let Some(rest) = line.strip_prefix("development CA: ") {
            let path = rest.split(" (").next().unwrap_or(rest).trim();
            ca = Some(Path::new(path).to_path_buf());
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    match (addr, ca) {
        (Some(addr), Some(ca)) => Ok((addr, ca)),
        _ => bail!("incomplete server banner"),
    }
}
