//! A real server on loopback and real clients for the integration tests. Every wait is bounded.
#![allow(dead_code)]

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use client::{Connection, Connector, ServerAddr, Trust, Welcome};
use server::{Config, Server, ShutdownHandle, TlsSource};
use wire::{ClientFrame, ServerFrame};

/// Upper bound for any single wait in these tests: generous for a loaded 2-core CI machine, but a
/// broken server still fails in seconds, not never.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    pub ca: PathBuf,
    pub shutdown: ShutdownHandle,
    pub task: tokio::task::JoinHandle<Result<(), server::ServerError>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::new(
            "127.0.0.1:0".parse().expect("addr"),
            TlsSource::DevCerts {
                dir: dir.path().join("certs"),
            },
        );
        tweak(&mut config);
        let server = Server::bind(config).expect("server binds");
        let addr = server.local_addr().expect("local addr");
        let ca = server.dev_ca().expect("dev certs").to_path_buf();
        let shutdown = server.shutdown_handle();
        let task = tokio::spawn(server.run());
        Self {
            addr,
            ca,
            shutdown,
            task,
            _dir: dir,
        }
    }

    pub fn server_addr(&self) -> ServerAddr {
        ServerAddr {
            host: "127.0.0.1".into(),
            port: self.addr.port(),
        }
    }

    /// A connector presenting this test process's identity (the same key for every client).
    pub fn connector(&self) -> Connector {
        self.connector_as(&client::Identity::for_this_process().expect("identity"))
    }

    /// A connector presenting `identity`: another user's key.
    pub fn connector_as(&self, identity: &client::Identity) -> Connector {
        Connector::new(&Trust::CaFile(self.ca.clone()), identity, self.addr).expect("connector")
    }

    /// Connects and tries to join as `user` with a key of its own, made for this call: somebody
    /// else than every other client of the test.
    pub async fn try_join_as_stranger(
        &self,
        user: &str,
    ) -> Result<(Connection, Welcome), client::ClientError> {
        let stranger = client::Identity::ephemeral().expect("identity");
        self.connector_as(&stranger)
            .connect(&self.server_addr(), self.addr, user, &[])
            .await
    }

    /// A QUIC connection with a verified handshake and nothing else: no stream, no Hello.
    pub async fn raw_connect(&self, connector: &Connector) -> quinn::Connection {
        tokio::time::timeout(
            WAIT,
            connector
                .endpoint()
                .connect(self.addr, "127.0.0.1")
                .expect("connect"),
        )
        .await
        .expect("handshake in time")
        .expect("handshake")
    }

    /// Connects and joins as `user`.
    pub async fn join(&self, user: &str) -> (Connection, Welcome) {
        self.try_join(user).await.expect("joins")
    }

    pub async fn try_join(&self, user: &str) -> Result<(Connection, Welcome), client::ClientError> {
        self.connector()
            .connect(&self.server_addr(), self.addr, user, &[])
            .await
    }
}

/// The next frame, failing the test if none comes within [`WAIT`].
pub async fn next(conn: &mut Connection) -> ServerFrame {
    tokio::time::timeout(WAIT, conn.next())
        .await
        .expect("a frame in time")
        .expect("readable")
        .expect("stream open")
}

/// The next frame, whole (a `Presence` with its room, not split into joins and leaves), failing
/// the test if none comes within [`WAIT`].
pub async fn next_whole(conn: &mut Connection) -> ServerFrame {
    until_whole(conn, |_| true).await
}

/// [`until`] with whole frames.
pub async fn until_whole(
    conn: &mut Connection,
    want: impl Fn(&ServerFrame) -> bool,
) -> ServerFrame {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let frame = tokio::time::timeout_at(deadline, conn.next_whole())
            .await
            .expect("the awaited frame in time")
            .expect("readable")
            .expect("stream open");
        if want(&frame) {
            return frame;
        }
    }
}

/// Reads frames until `want` matches one; returns it. Frames before it are skipped.
pub async fn until(conn: &mut Connection, want: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let frame = tokio::time::timeout_at(deadline, conn.next())
            .await
            .expect("the awaited frame in time")
            .expect("readable")
            .expect("stream open");
        if want(&frame) {
            return frame;
        }
    }
}

/// Why `user` left, as `watcher` was told.
pub async fn why_left(watcher: &mut Connection, user: &str) -> wire::LeaveReason {
    match until(
        watcher,
        |f| matches!(f, ServerFrame::Left { user: who, .. } if who == user),
    )
    .await
    {
        ServerFrame::Left { why, .. } => why,
        other => unreachable!("until returned {other:?}"),
    }
}

pub async fn say(conn: &mut Connection, nonce: u64, text: &str) {
    conn.send(&ClientFrame::Say {
        to: wire::Conversation::Room("#general".into()),
        nonce,
        text: text.into(),
    })
    .await
    .expect("sent");
}

/// The text of every `Chat` until `count` have arrived, skipping other frames.
pub async fn chats(conn: &mut Connection, count: usize) -> Vec<wire::ChatMessage> {
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        if let ServerFrame::Chat { message: m, .. } =
            until(conn, |f| matches!(f, ServerFrame::Chat { .. })).await
        {
            got.push(m);
        }
    }
    got
}

/// How the server closed a connection: (application code, reason).
pub async fn closed_with(conn: &Connection) -> (u32, String) {
    app_close(conn.quic()).await
}

/// [`closed_with`] for a bare QUIC connection (after `Connection::split`).
pub async fn app_close(conn: &quinn::Connection) -> (u32, String) {
    match tokio::time::timeout(WAIT, conn.closed())
        .await
        .expect("closed in time")
    {
        quinn::ConnectionError::ApplicationClosed(c) => (
            u32::try_from(c.error_code.into_inner()).expect("small code"),
            String::from_utf8_lossy(&c.reason).into_owned(),
        ),
        other => panic!("closed otherwise: {other}"),
    }
}

/// `chat-server` on `127.0.0.1:port` with its certificates and history kept in `dir`, so that a
/// restart on the same port and `dir` is the same server coming back; `extra` flags are added.
pub async fn spawn_chat_server_in(
    dir: &std::path::Path,
    port: u16,
    extra: &[&str],
) -> tokio::process::Child {
    let listen = format!("127.0.0.1:{port}");
    let mut args: Vec<std::ffi::OsString> = vec!["--listen".into(), listen.into()];
    args.extend(["--cert-dir".into(), dir.join("certs").into_os_string()]);
    args.extend([
        "--history-db".into(),
        dir.join("history.sqlite3").into_os_string(),
    ]);
    args.extend(extra.iter().map(Into::into));
    spawn_chat_server(args).await
}

/// Starts the real `chat-server` binary with `args`, waits until it says it is listening, and keeps
/// draining its standard output so it never blocks on a full pipe. Killed when dropped.
pub async fn spawn_chat_server<I, S>(args: I) -> tokio::process::Child
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    spawn(args, std::process::Stdio::null()).await.0
}

/// Like [`spawn_chat_server`], keeping the server's log (stderr) to read, and the address it
/// listens on.
pub async fn spawn_chat_server_logged<I, S>(
    args: I,
) -> (
    tokio::process::Child,
    SocketAddr,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    use tokio::io::AsyncBufReadExt;
    let (mut child, addr) = spawn(args, std::process::Stdio::piped()).await;
    let stderr = child.stderr.take().expect("stderr");
    (child, addr, tokio::io::BufReader::new(stderr).lines())
}

async fn spawn<I, S>(args: I, stderr: std::process::Stdio) -> (tokio::process::Child, SocketAddr)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("chat-server starts");
    let stdout = child.stdout.take().expect("stdout");
    let addr = tokio::time::timeout(WAIT, testkit::process::wait_until_listening(stdout))
        .await
        .expect("chat-server starts in time")
        .expect("chat-server running");
    (child, addr)
}

/// Joins as `user` the server process listening on loopback `port`, trusting the CA in `ca`, with
/// the server name `localhost` (the development certificate's).
pub async fn join_process(port: u16, ca: &std::path::Path, user: &str) -> (Connection, Welcome) {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let connector = Connector::new(
        &Trust::CaFile(ca.to_path_buf()),
        &client::Identity::for_this_process().expect("identity"),
        addr,
    )
    .expect("connector");
    let server = ServerAddr {
        host: "localhost".into(),
        port,
    };
    tokio::time::timeout(WAIT, connector.connect(&server, addr, user, &[]))
        .await
        .expect("joins in time")
        .expect("joins")
}

/// The default room, where the tests speak.
pub fn general() -> wire::Conversation {
    wire::Conversation::Room("#general".into())
}

/// A resume after line `last_id` of the default room.
pub fn resume_after(last_id: u64) -> Vec<wire::ResumePoint> {
    vec![wire::ResumePoint {
        conversation: general(),
        last_id,
    }]
}
