//! `nats-server` for a test or a load run: found on `PATH` or where Debian installs it
//! (`/usr/sbin`, which is not on an ordinary user's `PATH`), started with JetStream on a loopback
//! port, and waited for until it says it is ready.
//!
//! A test that needs NATS fails when it is missing (see [`for_tests`]): a cluster test that passes
//! in no time because nothing ran would claim what nobody checked. Skipping takes an explicit
//! opt-out, [`SKIP_ENV`].

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, ChildStderr},
};

use crate::{
    ports::free_tcp_port,
    process::{pinned, terminate},
};

/// How long `nats-server` may take to say it is ready (JetStream recovers its store first).
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Lines of `nats-server` output kept to explain a failed start.
const LOG_TAIL: usize = 20;
/// Directories searched after `PATH`: Debian's package installs the binary in `/usr/sbin`.
const SBIN: [&str; 2] = ["/usr/sbin", "/usr/local/sbin"];
/// Set to `1` to let tests that need `nats-server` pass without it (they say so on stderr).
pub const SKIP_ENV: &str = "CHAT_SKIP_CLUSTER_TESTS";

/// The `nats-server` binary: on `PATH`, else in `/usr/sbin` or `/usr/local/sbin`.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|dir| dir.join("nats-server"))
        .find(|bin| bin.is_file())
}

/// For tests: the binary, or `None` when it is missing and [`SKIP_ENV`] is set (said loudly on
/// stderr). Panics when it is missing without the opt-out.
pub fn for_tests() -> Option<PathBuf> {
    if let Some(bin) = find() {
        return Some(bin);
    }
    let opted_out = std::env::var_os(SKIP_ENV).is_some_and(|v| v == "1");
    assert!(
        opted_out,
        "nats-server is not on PATH nor in /usr/sbin: install it (`apt-get install nats-server`; \
         scripts/setup.sh does), or set {SKIP_ENV}=1 to skip the tests that need it"
    );
    eprintln!(
        "\n*** SKIPPED ({SKIP_ENV}=1): nats-server is not installed, this test did not run. ***\n"
    );
    None
}

/// Starts `nats-server -js` on `127.0.0.1:port` with its store in `store`, optionally pinned to
/// `cpu`, and returns once it said it is ready. Killed when the child is dropped.
pub async fn spawn_ready(
    binary: &Path,
    cpu: Option<&str>,
    store: &Path,
    port: u16,
) -> Result<Child> {
    let mut cmd = pinned(binary, cpu);
    cmd.args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // nats-server logs on stderr, "Server is ready" included.
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().with_context(|| {
        format!(
            "cannot start {} (install it with scripts/setup.sh, or pass --nats-bin)",
            binary.display()
        )
    })?;
    let stderr = child.stderr.take().context("no nats-server stderr")?;
    tokio::time::timeout(START_TIMEOUT, wait_until_ready(stderr))
        .await
        .with_context(|| {
            format!("nats-server did not say it was ready within {START_TIMEOUT:?}")
        })??;
    Ok(child)
}

/// A `nats-server -js` started for one run, on a free loopback port, its store in a given directory.
#[derive(Debug)]
pub struct NatsProcess {
    child: Child,
    pub pid: u32,
    pub port: u16,
}

impl NatsProcess {
    pub async fn start(binary: &Path, cpu: Option<&str>, store: &Path) -> Result<Self> {
        let port = free_tcp_port().context("cannot find a free TCP port")?;
        let child = spawn_ready(binary, cpu, store, port).await?;
        let pid = child.id().context("nats-server exited at once")?;
        Ok(Self { child, pid, port })
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGTERM, then SIGKILL if it has not exited in time.
    pub async fn stop(mut self) -> Result<()> {
        terminate(&mut self.child, self.pid, "nats-server").await
    }
}

/// Reads nats-server's log until "Server is ready", then keeps draining it in the background so it
/// never blocks on a full pipe.
async fn wait_until_ready(stderr: ChildStderr) -> Result<()> {
    let mut lines = BufReader::new(stderr).lines();
    let mut tail = VecDeque::with_capacity(LOG_TAIL);
    loop {
        let Some(line) = lines
            .next_line()
            .await
            .context("reading nats-server output")?
        else {
            let said = Vec::from(tail).join("\n");
            bail!("nats-server exited before it was ready; its last lines:\n{said}");
        };
        if line.contains("Server is ready") {
            break;
        }
        if tail.len() == LOG_TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(())
}
