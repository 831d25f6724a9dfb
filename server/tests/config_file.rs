//! `chat-server --config FILE`: the real binary reads a TOML file, serves with its settings, lets the
//! flags on the command line win, prints the effective settings for `--config` to read back, refuses
//! bad files by file, key and reason with status 2, and shows in `--help` the defaults it prints.

mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Output, Stdio},
};

use support::{WAIT, chats, join_process, next, say};
use tokio::io::{AsyncBufReadExt, BufReader};
use wire::{ProblemCode, ServerFrame};

const BIN: &str = env!("CARGO_BIN_EXE_chat-server");

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the file");
    path
}

/// Runs `chat-server` to its end (bounded) and returns what it printed and its status.
async fn run<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Output {
    let child = tokio::process::Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("chat-server starts");
    tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("chat-server exits by itself in time")
        .expect("output")
}

/// `--print-config` with `args`: exit 0, and the TOML it printed.
async fn print_config(args: &[&std::ffi::OsStr]) -> String {
    let out = run(args.iter().copied().chain(["--print-config".as_ref()])).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn parse(text: &str) -> toml::Table {
    toml::from_str(text).unwrap_or_else(|e| panic!("not TOML: {e}\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_with_the_files_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    let file = write(
        dir.path(),
        "chat.toml",
        &format!(
            "listen = \"127.0.0.1:0\"\ncert-dir = {:?}\nno-persist = true\nmax-message-bytes = 10\n",
            certs.display().to_string()
        ),
    );
    let mut child = tokio::process::Command::new(BIN)
        .arg("--config")
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let port = loop {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("prints in time")
            .expect("readable")
            .expect("still running");
        assert!(!line.starts_with("history: "), "no-persist ignored: {line}");
        if let Some(addr) = line.strip_prefix("chat-server listening on udp ") {
            let addr: std::net::SocketAddr = addr.parse().expect("an address");
            assert!(addr.ip().is_loopback(), "the file's listen ignored: {addr}");
            break addr.port();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let (mut alice, _) = join_process(port, &certs.join("ca.pem"), "alice").await;
    say(&mut alice, 1, "eleven byte").await;
    match next(&mut alice).await {
        ServerFrame::Problem {
            code: ProblemCode::TooLong,
            nonce: Some(1),
            detail,
        } => assert!(detail.contains("10"), "{detail}"),
        other => panic!("expected Problem(TooLong), got {other:?}"),
    }
    say(&mut alice, 2, "ten bytes!").await;
    let got = chats(&mut alice, 1).await;
    assert_eq!((got[0].nonce, got[0].text.as_str()), (2, "ten bytes!"));
}

#[tokio::test]
async fn a_flag_on_the_command_line_wins_over_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "chat.toml",
        "max-message-bytes = 10\nwelcome-history = 7\nhistory-db = \"/srv/chat/history.sqlite3\"\n",
    );
    let printed = parse(
        &print_config(&[
            "--config".as_ref(),
            file.as_os_str(),
            "--max-message-bytes".as_ref(),
            "20".as_ref(),
            "--no-persist".as_ref(),
        ])
        .await,
    );
    assert_eq!(printed["max-message-bytes"].as_integer(), Some(20));
    assert_eq!(
        printed["welcome-history"].as_integer(),
        Some(7),
        "the file's"
    );
    // --no-persist excludes history-db: the flag wins, the file's key goes.
    assert_eq!(printed["no-persist"].as_bool(), Some(true));
    assert!(!printed.contains_key("history-db"), "{printed}");
}

#[tokio::test]
async fn print_config_binds_nothing() {
    // The port is held here: a chat-server that bound it would fail instead of printing.
    let held = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free port");
    let listen = held.local_addr().expect("its address").to_string();
    let printed = parse(&print_config(&["--listen".as_ref(), listen.as_ref()]).await);
    assert_eq!(printed["listen"].as_str(), Some(listen.as_str()));
}

#[tokio::test]
async fn print_config_reads_back_to_the_same_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "chat.toml",
        "listen = \"127.0.0.1:4433\"\ncert = \"/etc/chat/fullchain.pem\"\nkey = \"/etc/chat/key.pem\"\n\
         history-db = \"/srv/chat/h.sqlite3\"\nretain-days = 7\nmax-messages-per-sec = 0\n\
         cluster = \"nats://127.0.0.1:4222\"\nnode = \"n1\"\nthreads = 3\n",
    );
    let first = print_config(&["--config".as_ref(), file.as_os_str()]).await;
    let table = parse(&first);
    assert_eq!(table["listen"].as_str(), Some("127.0.0.1:4433"), "{first}");
    assert_eq!(table["key"].as_str(), Some("/etc/chat/key.pem"));
    assert_eq!(table["retain-days"].as_integer(), Some(7));
    assert_eq!(table["node"].as_str(), Some("n1"));
    assert_eq!(table["threads"].as_integer(), Some(3));

    let again = write(dir.path(), "printed.toml", &first);
    let second = print_config(&["--config".as_ref(), again.as_os_str()]).await;
    assert_eq!(first, second);

    // The defaults alone read back too.
    let defaults = print_config(&[]).await;
    let again = write(dir.path(), "defaults.toml", &defaults);
    assert_eq!(
        print_config(&["--config".as_ref(), again.as_os_str()]).await,
        defaults
    );
}

#[tokio::test]
async fn a_bad_file_is_refused_with_the_file_the_key_and_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text, key, reason) in [
        (
            "unknown",
            "database-password = \"hunter2\"\n",
            "database-password",
            "unknown key",
        ),
        (
            "misspelt",
            "max-mesage-bytes = 10\n",
            "max-mesage-bytes",
            "unknown key (did you mean \"max-message-bytes\"?)",
        ),
        (
            "wrong-type",
            "max-message-bytes = \"10\"\n",
            "max-message-bytes",
            "invalid type: string \"10\", expected usize",
        ),
        (
            "bad-address",
            "listen = \"localhost:1234\"\n",
            "listen",
            "invalid socket address",
        ),
        (
            "zero-threads",
            "threads = 0\n",
            "threads",
            "invalid value: integer `0`, expected a nonzero usize",
        ),
    ] {
        // A good key first: the refusal names the bad one, not the first.
        let file = write(
            dir.path(),
            &format!("{name}.toml"),
            &format!("welcome-history = 5\nno-persist = true\n{text}"),
        );
        let out = run([
            "--config".as_ref(),
            file.as_os_str(),
            "--cert-dir".as_ref(),
            dir.path().as_os_str(),
        ])
        .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        let want = format!("{}: key \"{key}\": {reason}", file.display());
        assert!(
            stderr.contains(&want),
            "{name}: want {want:?} in {stderr:?}"
        );
        assert!(out.stdout.is_empty(), "{name}: started anyway");
    }

    // Not TOML at all: the file and the line.
    let file = write(dir.path(), "syntax.toml", "listen = [::]:1234\n");
    let out = run(["--config".as_ref(), file.as_os_str()]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}: not valid TOML", file.display()))
            && stderr.contains("line 1"),
        "{stderr}"
    );

    // A key that needs another, whether it comes from the file or a flag.
    let file = write(
        dir.path(),
        "half.toml",
        "cert = \"/etc/chat/fullchain.pem\"\n",
    );
    let out = run([
        "--config".as_ref(),
        file.as_os_str(),
        "--print-config".as_ref(),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("\"cert\" (--cert) needs \"key\""),
        "{stderr}"
    );
    print_config(&[
        "--config".as_ref(),
        file.as_os_str(),
        "--key".as_ref(),
        "/etc/chat/key.pem".as_ref(),
    ])
    .await;

    // A file that is not there.
    let missing = dir.path().join("missing.toml");
    let out = run(["--config".as_ref(), missing.as_os_str()]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&missing.display().to_string()));
}

/// `--help`'s `[default: ...]` for each flag, by the flag's long name.
fn help_defaults(help: &str) -> BTreeMap<String, String> {
    let mut blocks: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let line = line.trim();
        if let Some(flag) = line.strip_prefix("--") {
            let name = flag.split_whitespace().next().unwrap_or_default();
            blocks.push((name.to_owned(), String::new()));
        } else if let Some((_, text)) = blocks.last_mut() {
            text.push(' ');
            text.push_str(line);
        }
    }
    blocks
        .into_iter()
        .filter_map(|(name, text)| {
            let at = text.rfind("[default: ")? + "[default: ".len();
            let mut depth = 1;
            let end = text[at..].find(|c| {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })?;
            Some((name, text[at..at + end].to_owned()))
        })
        .collect()
}

#[tokio::test]
async fn every_default_printed_is_the_one_help_shows() {
    let help = run(["--help"]).await;
    assert_eq!(help.status.code(), Some(0));
    let shown = help_defaults(&String::from_utf8_lossy(&help.stdout));
    let printed = parse(&print_config(&[]).await);
    assert!(printed.len() >= 17, "{printed}");
    for (key, value) in &printed {
        let value = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            // Switches (off by default) have no [default] in --help.
            toml::Value::Boolean(false) => {
                assert!(!shown.contains_key(key), "{key}");
                continue;
            }
            other => panic!("{key} = {other}"),
        };
        assert_eq!(shown.get(key), Some(&value), "{key}");
    }
    // The only defaults --help shows that --print-config does not print are the ones that depend on
    // the machine (the user's data directory, the cores).
    let unprinted: Vec<&str> = shown
        .keys()
        .filter(|key| !printed.contains_key(*key))
        .map(String::as_str)
        .collect();
    assert_eq!(unprinted, ["cert-dir", "history-db", "threads"]);
}
