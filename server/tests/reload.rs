//! `SIGHUP`: the real `chat-server`, started with a settings file, reads the file again; a new
//! connection gets the new limit, the log says what changed and what needs a restart, and a bad
//! file leaves the limits in force as they were. The log is read as JSON (`--log-format json`).

mod support;

use std::path::Path;

use support::{WAIT, join_process, say, spawn_chat_server_logged, until};
use tokio::{
    io::{BufReader, Lines},
    process::{Child, ChildStderr},
};
use wire::{ProblemCode, ServerFrame};

/// The server's JSON log, one event at a time.
struct Log(Lines<BufReader<ChildStderr>>);

impl Log {
    /// The next event whose message starts with `prefix`; every line before it must be JSON too.
    async fn find(&mut self, prefix: &str) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.0.next_line())
                .await
                .unwrap_or_else(|_| panic!("no \"{prefix}\" in the log in time"))
                .expect("readable")
                .expect("the server is running");
            let event: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
            let message = event["fields"]["message"].as_str().unwrap_or_default();
            if message.starts_with(prefix) {
                return event;
            }
        }
    }
}

/// `chat-server --config file --log-format json`: the child, its port and its log.
async fn start(file: &Path) -> (Child, u16, Log) {
    let args: [&std::ffi::OsStr; 4] = [
        "--log-format".as_ref(),
        "json".as_ref(),
        "--config".as_ref(),
        file.as_os_str(),
    ];
    let (child, addr, log) = spawn_chat_server_logged(args).await;
    (child, addr.port(), Log(log))
}

async fn hangup(child: &Child) {
    let pid = child.id().expect("running").to_string();
    let status = tokio::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(status.success());
}

/// Says `text` as `user` on a new connection; the `Problem` code if it is refused. The line limit
/// the `Welcome` told must be the one in force (`limit`): a client paces and cuts its lines by it.
async fn try_line(port: u16, ca: &Path, user: &str, text: &str, limit: u32) -> Option<ProblemCode> {
    let (mut conn, welcome) = join_process(port, ca, user).await;
    assert_eq!(
        welcome.limits.max_line_bytes, limit,
        "Welcome tells the limit in force"
    );
    say(&mut conn, 1, text).await;
    let answer = until(&mut conn, |f| {
        matches!(f, ServerFrame::Chat { .. } | ServerFrame::Problem { .. })
    })
    .await;
    match answer {
        ServerFrame::Chat { message: m, .. } => {
            assert_eq!(m.text, text);
            None
        }
        ServerFrame::Problem { code, .. } => Some(code),
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_the_files_new_limits_and_keeps_them_when_the_file_is_bad() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    let file = dir.path().join("chat.toml");
    let port = testkit::ports::free_udp_port().expect("a port");
    let base = format!(
        "listen = \"127.0.0.1:{port}\"\ncert-dir = {:?}\nno-persist = true\n",
        certs.display().to_string()
    );
    std::fs::write(&file, format!("{base}max-message-bytes = 10\n")).expect("write");
    let (child, port, mut log) = start(&file).await;
    let ca = certs.join("ca.pem");

    let twelve = "twelve bytes";
    let twenty_five = "twenty-five bytes of text";
    assert_eq!(
        try_line(port, &ca, "before", twelve, 10).await,
        Some(ProblemCode::TooLong)
    );

    std::fs::write(
        &file,
        format!("{base}max-message-bytes = 20\nhistory = 5\n"),
    )
    .expect("write");
    hangup(&child).await;
    let applied = log.find("SIGHUP: applied").await;
    assert_eq!(applied["fields"]["key"], "max-message-bytes", "{applied}");
    assert_eq!(
        (&applied["fields"]["old"], &applied["fields"]["new"]),
        (&"10".into(), &"20".into())
    );
    let restart = log.find("SIGHUP: changed in the file").await;
    assert_eq!(restart["fields"]["key"], "history", "{restart}");
    assert_eq!(restart["level"], "WARN");
    assert_eq!(try_line(port, &ca, "after", twelve, 20).await, None);
    assert_eq!(
        try_line(port, &ca, "after2", twenty_five, 20).await,
        Some(ProblemCode::TooLong)
    );

    // A bad file: refused with the file, the key and the reason; 20 stays in force (not the
    // default, which would take the 25-byte line).
    std::fs::write(&file, format!("{base}max-message-bytes = \"lots\"\n")).expect("write");
    hangup(&child).await;
    let refused = log.find("SIGHUP: settings refused").await;
    let error = refused["fields"]["error"].as_str().expect("an error field");
    assert!(
        error.contains("chat.toml") && error.contains("max-message-bytes"),
        "{error}"
    );
    assert_eq!(refused["level"], "ERROR");
    assert_eq!(
        try_line(port, &ca, "bad", twenty_five, 20).await,
        Some(ProblemCode::TooLong)
    );
    assert_eq!(try_line(port, &ca, "bad2", twelve, 20).await, None);

    // Limits a reload cannot serve are refused too, and the old ones stay.
    std::fs::write(&file, format!("{base}max-connections = 100000000\n")).expect("write");
    hangup(&child).await;
    let refused = log.find("SIGHUP: limits refused").await;
    assert!(
        refused["fields"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("connections fit")),
        "{refused}"
    );
    assert_eq!(
        try_line(port, &ca, "still", twenty_five, 20).await,
        Some(ProblemCode::TooLong)
    );
}

#[tokio::test]
async fn sighup_without_a_settings_file_changes_nothing_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    let args: [&std::ffi::OsStr; 7] = [
        "--log-format".as_ref(),
        "json".as_ref(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--no-persist".as_ref(),
        "--cert-dir".as_ref(),
        certs.as_os_str(),
    ];
    let (mut child, _, log) = spawn_chat_server_logged(args).await;
    let mut log = Log(log);
    hangup(&child).await;
    let event = log.find("SIGHUP: there is no settings file").await;
    assert_eq!(event["level"], "WARN");
    // Still serving: SIGHUP's default action would have ended the process.
    hangup(&child).await;
    log.find("SIGHUP: there is no settings file").await;
    assert!(
        child.try_wait().expect("status").is_none(),
        "the server ended"
    );
}
