//! `chat-server --log-format json|text`: the real binary's log on a pipe, as a journal or a log
//! collector reads it.

mod support;

use support::{WAIT, join_process, spawn_chat_server_logged};

/// Starts `chat-server` with `extra` flags, joins as alice, stops it with SIGTERM, and returns
/// every line it wrote on stderr.
async fn log_of_a_join(extra: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    let mut args: Vec<std::ffi::OsString> =
        ["--listen", "127.0.0.1:0", "--no-persist", "--cert-dir"]
            .into_iter()
            .map(Into::into)
            .collect();
    args.push(certs.clone().into());
    args.extend(extra.iter().map(Into::into));
    let (mut child, addr, mut stderr) = spawn_chat_server_logged(args).await;
    let log = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Ok(Some(line)) = stderr.next_line().await {
            lines.push(line);
        }
        lines
    });
    let (alice, _) = join_process(addr.port(), &certs.join("ca.pem"), "alice").await;
    drop(alice);
    let pid = child.id().expect("running").to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("stops in time")
        .expect("status");
    assert!(status.success(), "{status}");
    tokio::time::timeout(WAIT, log)
        .await
        .expect("the log ends")
        .expect("read")
}

#[tokio::test]
async fn json_lines_parse_and_carry_the_sessions_fields() {
    let lines = log_of_a_join(&["--log-format", "json"]).await;
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let joined = events
        .iter()
        .find(|e| e["fields"]["message"] == "joined")
        .unwrap_or_else(|| panic!("no \"joined\" event: {lines:#?}"));
    let span = &joined["span"];
    assert_eq!(span["name"], "session", "{joined}");
    assert_eq!(span["user"], "alice", "{joined}");
    assert!(span["conn"].is_u64(), "{joined}");
    assert!(
        span["remote"]
            .as_str()
            .is_some_and(|r| r.starts_with("127.0.0.1:")),
        "{joined}"
    );
    assert_eq!(joined["level"], "INFO");
    assert!(joined["timestamp"].is_string());
    for said in ["listening", "shutting down"] {
        assert!(
            events.iter().any(|e| e["fields"]["message"] == said),
            "no {said:?} event: {lines:#?}"
        );
    }
}

#[tokio::test]
async fn text_on_a_pipe_has_no_colour_codes() {
    let lines = log_of_a_join(&[]).await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("joined") && l.contains("alice")),
        "{lines:#?}"
    );
    for line in &lines {
        assert!(!line.contains('\x1b'), "a colour code on a pipe: {line:?}");
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_err(),
            "text, not JSON: {line}"
        );
    }
}
