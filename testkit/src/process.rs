//! A `chat-server` process started for one workload: its own loopback port and temporary certificate
//! directory, optionally pinned to a core with `taskset`, stopped (SIGTERM, then SIGKILL) at the end.
//! A cluster node ([`ServerProcess::start_node`]) shares its certificates with the other nodes and
//! keeps its history in NATS (the load tool's `bench::cluster` starts several).
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

/// One node of a cluster: the room lives in NATS, so the node keeps no history database of its own.
#[derive(Debug, Clone, Copy)]
pub struct NodeRole<'a> {
    pub nats_url: &'a str,
    pub name: &'a str,
    /// Shared by all nodes: the first one creates the development certificates, the others reuse
    /// them, so one CA file serves every client.
    pub cert_dir: &'a Path,
}

#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    pub ca: PathBuf,
    /// A standalone server's certificates and history database (a node's live in its cluster's).
    _dir: Option<tempfile::TempDir>,
}

impl ServerProcess {
    /// A standalone server with its own certificates and history database.
    pub async fn start(spawn: &Spawn) -> Result<Self> {
        check_binary(&spawn.binary)?;
        let dir = tempfile::tempdir().context("cannot create a certificate directory")?;
        let mut cmd = command(spawn, &dir.path().join("certs"));
        // Its own history database, so runs do not inherit each other's messages.
        cmd.arg("--history-db")
            .arg(dir.path().join("history.sqlite3"));
        let mut server = Self::spawn(cmd, spawn).await?;
        server._dir = Some(dir);
        Ok(server)
    }

    /// One cluster node (`--cluster`, `--node`), history in NATS only.
    pub async fn start_node(spawn: &Spawn, role: NodeRole<'_>) -> Result<Self> {
        check_binary(&spawn.binary)?;
        let mut cmd = command(spawn, role.cert_dir);
        // `--history-db` and `--no-persist` conflict; a node's history is the NATS stream anyway.
        cmd.arg("--no-persist")
            .arg("--cluster")
            .arg(role.nats_url)
            .arg("--node")
            .arg(role.name);
        Self::spawn(cmd, spawn)
            .await
            .with_context(|| format!("cluster node {}", role.name))
    }

    async fn spawn(mut cmd: Command, spawn: &Spawn) -> Result<Self> {
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
            _dir: None,
        })
    }

    /// SIGTERM (graceful shutdown), then SIGKILL if it has not exited in time.
    pub async fn stop(mut self) -> Result<()> {
        terminate(&mut self.child, self.pid, "the server").await
    }
}

/// SIGTERM, then SIGKILL if the process has not exited within [`STOP_TIMEOUT`]; reaps it either way.
pub async fn terminate(child: &mut Child, pid: u32, what: &str) -> Result<()> {
    // `kill` rather than a signal call of our own: sending a signal needs `unsafe` or another crate.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .await;
    match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
        Ok(status) => {
            status.with_context(|| format!("waiting for {what}"))?;
        }
        Err(_) => {
            child
                .kill()
                .await
                .with_context(|| format!("cannot kill {what}"))?;
        }
    }
    Ok(())
}

fn check_binary(binary: &Path) -> Result<()> {
    if !binary.exists() {
        bail!(
            "{} does not exist: build it with `cargo build --release -p server` or pass --server-bin",
            binary.display()
        );
    }
    Ok(())
}

/// `binary`, pinned to `cpu` with `taskset` when asked. taskset execs the program, so the child's
/// pid is the program's own and its costs can be read from `/proc`.
pub fn pinned(binary: &Path, cpu: Option<&str>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu).arg(binary);
            c
        }
        None => Command::new(binary),
    }
}

/// The command line every started server shares.
fn command(spawn: &Spawn, cert_dir: &Path) -> Command {
    let mut cmd = pinned(&spawn.binary, spawn.cpu.as_deref());
    cmd.arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--cert-dir")
        .arg(cert_dir)
        .arg("--max-connections")
        .arg(spawn.max_connections.to_string())
        // The workloads send faster than a person may (that is the point), so the per-client
        // rate limit is off; every other limit stays at its default.
        .args(["--max-messages-per-sec", "0"])
        .args(&spawn.extra_args)
        .env("RUST_LOG", &spawn.log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    cmd
}

/// The first line `chat-server` prints, with the address it bound.
const LISTENING: &str = "chat-server listening on udp ";
/// The line after it when it uses development certificates, with the CA's path.
const DEV_CA: &str = "development CA: ";

/// Reads `chat-server listening on udp ADDR` and `development CA: PATH ...` from the server's stdout,
/// then keeps draining it in the background so the server never blocks on a full pipe.
pub async fn read_banner(stdout: tokio::process::ChildStdout) -> Result<(SocketAddr, PathBuf)> {
    let mut lines = BufReader::new(stdout).lines();
    let mut addr = None;
    let mut ca = None;
    while addr.is_none() || ca.is_none() {
        let Some(line) = lines.next_line().await.context("reading server output")? else {
            bail!("the server exited before printing its address");
        };
        if let Some(rest) = line.strip_prefix(LISTENING) {
            addr = Some(
                rest.trim()
                    .parse()
                    .context("bad address in server output")?,
            );
        } else if let Some(rest) = line.strip_prefix(DEV_CA) {
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

/// Reads the server's stdout until it says where it listens (whatever its certificates), then keeps
/// draining it in the background.
pub async fn wait_until_listening(stdout: tokio::process::ChildStdout) -> Result<SocketAddr> {
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let Some(line) = lines.next_line().await.context("reading server output")? else {
            bail!("the server exited before printing its address");
        };
        if let Some(rest) = line.strip_prefix(LISTENING) {
            break rest
                .trim()
                .parse()
                .context("bad address in server output")?;
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(addr)
}
