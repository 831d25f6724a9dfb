//! `chat-cli` as a child process, driven through stdin and read as `--json` lines.

use std::{path::Path, process::Stdio, time::Duration};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

use super::Server;

pub const WAIT: Duration = Duration::from_secs(15);

/// `chat-cli --json` as `user` of `server` with the identity in `identity`, `extra` flags first.
pub fn command(server: &Server, identity: &Path, user: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat-cli"));
    command
        .args(extra)
        .arg("--identity")
        .arg(identity)
        .args([
            "--server",
            &format!("localhost:{}", server.addr.port()),
            "--user",
            user,
            "--json",
        ])
        .arg("--ca")
        .arg(&server.ca)
        .kill_on_drop(true);
    command
}

/// Runs `command` with nothing on stdin until it exits: its exit code and its stderr.
pub async fn finish(mut command: Command) -> (i32, String) {
    let output = tokio::time::timeout(
        WAIT,
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output(),
    )
    .await
    .expect("exits in time")
    .expect("runs");
    (
        output.status.code().expect("exit code"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub struct Cli {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    /// The identity folder made for this client alone, if it was given none.
    _own_identity: Option<tempfile::TempDir>,
}

impl Cli {
    /// A user with an identity of its own, made on first use: every user of a test is somebody
    /// else, and the tests never touch the home folder's identity.
    pub fn start(server: &Server, user: &str) -> Self {
        Self::start_with(server, user, &[])
    }

    /// Like [`Cli::start`], with `extra` flags.
    pub fn start_with(server: &Server, user: &str, extra: &[&str]) -> Self {
        let identity = tempfile::tempdir().expect("identity folder");
        let mut cli = Self::start_as(server, identity.path(), user, extra);
        cli._own_identity = Some(identity);
        cli
    }

    /// A user with the identity in `identity` (shared with other clients of the test).
    pub fn start_as(server: &Server, identity: &Path, user: &str, extra: &[&str]) -> Self {
        let mut child = command(server, identity, user, extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("chat-cli starts");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Self {
            child,
            stdin,
            stdout,
            _own_identity: None,
        }
    }

    pub async fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("typed");
        stdin.flush().await.expect("flushed");
    }

    /// Reads JSON lines until one has the top-level key `kind` and satisfies `want`.
    pub async fn expect(&mut self, kind: &str, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.stdout.next_line())
                .await
                .unwrap_or_else(|_| panic!("no {kind} line in time"))
                .expect("readable")
                .unwrap_or_else(|| panic!("output ended before a {kind} line"));
            let value: Value = serde_json::from_str(&line).expect("every line is JSON");
            if let Some(inner) = value.get(kind)
                && want(inner)
            {
                return inner.clone();
            }
        }
    }

    /// The reply to the request typed as `line`.
    pub async fn ask(&mut self, line: &str) -> Value {
        self.type_line(line).await;
        self.expect("Reply", |_| true).await["reply"].clone()
    }

    /// Ends the input (as at end of a pipe) and waits for the exit code.
    pub async fn exit_code(mut self) -> i32 {
        drop(self.stdin.take());
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("exits in time")
            .expect("status")
            .code()
            .expect("exit code")
    }
}
