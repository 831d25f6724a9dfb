//! `chat-cli` with identities, as people would use it: a name is the identity's that took it first,
//! another identity is refused with a reason and exit code 2, a link code from `/link` adds a
//! device, and an operator kicks and bans from the terminal.

mod support;

use std::{path::Path, process::Stdio, time::Duration};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

use support::{Server, start_server};

const WAIT: Duration = Duration::from_secs(15);

struct Cli {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
}

fn command(server: &Server, identity: &Path, user: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat-cli"));
    command
        .args(extra)
        .args([
            "--server",
            &format!("localhost:{}", server.addr.port()),
            "--user",
            user,
            "--json",
        ])
        .arg("--identity")
        .arg(identity)
        .arg("--ca")
        .arg(&server.ca)
        .kill_on_drop(true);
    command
}

impl Cli {
    fn start(server: &Server, identity: &Path, user: &str, extra: &[&str]) -> Self {
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
        }
    }

    async fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("typed");
        stdin.flush().await.expect("flushed");
    }

    /// Reads JSON lines until one has the top-level key `kind` and satisfies `want`.
    async fn expect(&mut self, kind: &str, want: impl Fn(&Value) -> bool) -> Value {
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
    async fn ask(&mut self, line: &str) -> Value {
        self.type_line(line).await;
        self.expect("Reply", |_| true).await["reply"].clone()
    }

    async fn exit_code(mut self) -> i32 {
        drop(self.stdin.take());
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("exits in time")
            .expect("status")
            .code()
            .expect("exit code")
    }
}

/// Runs chat-cli with nothing to say; its exit code and what it wrote on stderr.
async fn refused(server: &Server, identity: &Path, user: &str, extra: &[&str]) -> (i32, String) {
    let output = tokio::time::timeout(
        WAIT,
        command(server, identity, user, extra)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_is_its_identity_s_and_a_link_code_adds_a_device() {
    let server = start_server(|_| {});
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));

    let mut alice = Cli::start(&server, &a, "alice", &[]);
    alice.expect("Welcome", |w| w["you"] == "alice").await;
    alice.type_line("hello from my laptop").await;
    alice
        .expect("Chat", |c| c["text"] == "hello from my laptop")
        .await;
    let whoami = alice.ask("/whoami").await;
    let fingerprint = whoami["Identity"]["fingerprint"]
        .as_str()
        .expect("a fingerprint")
        .to_owned();
    assert_eq!(
        fingerprint,
        client::Identity::load(&a)
            .expect("the identity chat-cli made")
            .fingerprint()
            .to_string()
    );
    let code = alice.ask("/link").await["Code"]["code"]
        .as_str()
        .expect("a link code")
        .to_owned();
    assert_eq!(alice.exit_code().await, 0);

    // Another identity is refused, with the reason and what to do.
    let (status, stderr) = refused(&server, &b, "alice", &[]).await;
    assert_eq!(status, 2, "{stderr}");
    assert!(stderr.contains("belongs to another identity"), "{stderr}");
    assert!(stderr.contains("--link CODE"), "{stderr}");

    // With the code from alice's /link, the second identity is alice too.
    let mut phone = Cli::start(&server, &b, "alice", &["--link", &code]);
    phone.expect("Welcome", |w| w["you"] == "alice").await;
    let devices = phone.ask("/devices").await;
    let list = devices["Devices"].as_array().expect("devices");
    assert_eq!(list.len(), 2, "{devices}");
    assert_eq!(list[0]["fingerprint"], fingerprint.as_str());
    assert_eq!(list[1]["this_device"], true);
    phone.type_line("hello from my phone").await;
    phone
        .expect("Chat", |c| {
            c["from"] == "alice" && c["text"] == "hello from my phone"
        })
        .await;
    assert_eq!(phone.exit_code().await, 0);

    // The code was used up.
    let (status, stderr) =
        refused(&server, &dir.path().join("c"), "alice", &["--link", &code]).await;
    assert_eq!(status, 2, "{stderr}");
    assert!(stderr.contains("unknown, used or expired"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_kicks_and_bans_from_chat_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (op_dir, bob_dir, carol_dir) = (
        dir.path().join("op"),
        dir.path().join("bob"),
        dir.path().join("carol"),
    );
    let (op, _) = client::Identity::load_or_create(&op_dir).expect("operator identity");
    let fingerprint = op.fingerprint();
    let server = start_server(|c| c.operators = vec![fingerprint]);

    let mut opal = Cli::start(&server, &op_dir, "opal", &[]);
    opal.expect("Welcome", |_| true).await;
    let mut bob = Cli::start(&server, &bob_dir, "bob", &[]);
    bob.expect("Welcome", |_| true).await;
    let mut carol = Cli::start(&server, &carol_dir, "carol", &[]);
    carol.expect("Welcome", |_| true).await;

    // Carol is no operator.
    let reply = carol.ask("/kick bob no reason").await;
    assert_eq!(reply["Failed"]["code"], "NotAllowed", "{reply}");

    let reply = opal.ask("/kick bob calm down").await;
    assert!(reply.get("Done").is_some(), "{reply}");
    let removed = bob.expect("Removed", |_| true).await;
    assert_eq!(removed["by"], "opal");
    assert_eq!(removed["reason"], "calm down");
    assert_eq!(removed["banned"], false);
    carol
        .expect("Left", |l| l["user"] == "bob" && l["why"] == "Kicked")
        .await;
    assert_eq!(bob.exit_code().await, 3);

    let mut bob = Cli::start(&server, &bob_dir, "bob", &[]);
    bob.expect("Welcome", |_| true).await;
    let reply = opal.ask("/ban bob why").await;
    assert!(reply.get("Done").is_some(), "{reply}");
    assert_eq!(bob.expect("Removed", |_| true).await["banned"], true);
    assert_eq!(bob.exit_code().await, 3);
    let (status, stderr) = refused(&server, &bob_dir, "bob", &[]).await;
    assert_eq!(status, 2, "{stderr}");
    assert!(stderr.contains("banned: why"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chat_cli_started_at_once_make_one_identity() {
    let server = start_server(|_| {});
    for round in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = dir.path().join("identity");
        let mut twins = [
            Cli::start(&server, &shared, &format!("twin{round}a"), &[]),
            Cli::start(&server, &shared, &format!("twin{round}b"), &[]),
        ];
        let mut seen = Vec::new();
        for twin in &mut twins {
            twin.expect("Welcome", |_| true).await;
            seen.push(twin.ask("/whoami").await["Identity"]["fingerprint"].clone());
        }
        assert_eq!(seen[0], seen[1], "round {round}: two identities");
        let made = client::Identity::load(&shared).expect("one identity on disk");
        assert_eq!(seen[0], made.fingerprint().to_string().as_str());
        for twin in twins {
            assert_eq!(twin.exit_code().await, 0);
        }
    }
}
