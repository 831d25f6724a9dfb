//! An honest client is never cut off: `chat-cli` fed many lines at once (a paste, a pipe) paces
//! them to the limits the server announced, every line arrives once and in order at another
//! client, nobody is disconnected, and chat-cli exits 0 only when every line was accepted. Real
//! server on loopback, real `chat-cli` binary.

mod support;

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use client::{Backoff, Event, LeaveReason, ServerAddr, Session, SessionConfig, Trust};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::Command,
};

use support::{Server, start_server};

/// Another member of the room, watching with the client library.
struct Watcher {
    events: async_channel::Receiver<Event>,
    session: Session,
}

impl Watcher {
    async fn join(server: &Server, addr: std::net::SocketAddr) -> Self {
        let (session, _, events) = Session::connect_with(
            SessionConfig {
                server: addr.to_string().parse::<ServerAddr>().expect("address"),
                user: "watcher".into(),
                trust: Trust::CaFile(server.ca.clone()),
                identity: client::Identity::for_this_process().expect("identity"),
                code: None,
            },
            Backoff::never(),
        )
        .await
        .expect("the watcher joins");
        Self { events, session }
    }

    /// The texts `from` said, until `count` came or `within` passed. Panics if anybody was
    /// disconnected for misbehaving meanwhile.
    async fn lines_from(&self, from: &str, count: usize, within: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen = Vec::new();
        while seen.len() < count {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("{} of {count} lines came in time", seen.len()))
                .expect("the watcher's session goes on");
            match event {
                Event::Line(line) if line.from == from => seen.push(line.text),
                Event::UserLeft { user, why, .. } => {
                    assert_ne!(why, LeaveReason::Misbehaved, "{user} was cut off");
                }
                Event::Problem { code, detail, .. } => panic!("watcher told {code}: {detail}"),
                Event::Closed(why) => panic!("the watcher's session ended: {why}"),
                _ => {}
            }
        }
        seen
    }

    /// How `user` left, waiting at most `within`.
    async fn left(&self, user: &str, within: Duration) -> LeaveReason {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("{user} left in time"))
                .expect("the watcher's session goes on")
            {
                Event::UserLeft { user: who, why, .. } if who == user => return why,
                _ => {}
            }
        }
    }
}

/// What a run of `chat-cli --json` printed and how it ended.
struct Run {
    code: i32,
    stdout: Vec<Value>,
    stderr: String,
    took: Duration,
}

impl Run {
    fn summary(&self) -> &Value {
        self.stdout
            .iter()
            .find_map(|v| v.get("Summary"))
            .expect("a Summary line")
    }

    fn not_accepted(&self) -> Vec<&Value> {
        self.stdout
            .iter()
            .filter_map(|v| v.get("NotAccepted"))
            .collect()
    }
}

/// Runs `chat-cli --json` as `user` against `addr`, writes `input` to its standard input (all at
/// once, as a paste or a pipe does), closes it, and waits for the exit.
async fn chat_cli(
    server: &Server,
    addr: std::net::SocketAddr,
    user: &str,
    input: String,
    within: Duration,
) -> Run {
    let started = Instant::now();
    let identity = tempfile::tempdir().expect("identity folder");
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-cli"))
        .arg("--identity")
        .arg(identity.path())
        .args(["--server", &addr.to_string(), "--user", user, "--json"])
        .arg("--ca")
        .arg(&server.ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("chat-cli starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = tokio::spawn(async move {
        stdin.write_all(input.as_bytes()).await.expect("written");
        // Dropping stdin is the end of input.
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let read = async {
        let mut out = Vec::new();
        let mut err = String::new();
        let (mut out_open, mut err_open) = (true, true);
        while out_open || err_open {
            tokio::select! {
                line = stdout.next_line(), if out_open => match line.expect("readable") {
                    Some(line) => out.push(serde_json::from_str::<Value>(&line).expect("JSON")),
                    None => out_open = false,
                },
                line = stderr.next_line(), if err_open => match line.expect("readable") {
                    Some(line) => { eprintln!("{user} stderr: {line}"); err.push_str(&line); err.push('\n'); }
                    None => err_open = false,
                },
            }
        }
        let status = child.wait().await.expect("status");
        (status.code().expect("exit code"), out, err)
    };
    let (code, stdout, stderr) = tokio::time::timeout(within, read)
        .await
        .unwrap_or_else(|_| panic!("chat-cli ended within {within:?}"));
    writer.await.expect("the writer");
    Run {
        code,
        stdout,
        stderr,
        took: started.elapsed(),
    }
}

fn numbered(count: usize) -> Vec<String> {
    (1..=count)
        .map(|i| format!("line {i} of {count}"))
        .collect()
}

/// Pipes `lines` through chat-cli and checks the promises: all arrive, once, in order,
/// nobody is cut off, no TooFast, exit 0.
async fn every_line_arrives(
    server: &Server,
    lines: Vec<String>,
    expect: Vec<String>,
    within: Duration,
) -> Run {
    let watcher = Watcher::join(server, server.addr).await;
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let (run, seen) = tokio::join!(
        chat_cli(server, server.addr, "paster", input, within),
        watcher.lines_from("paster", expect.len(), within),
    );
    assert_eq!(run.code, 0, "exit status; stderr: {}", run.stderr);
    assert!(seen == expect, "the watcher saw every line once, in order");
    let summary = run.summary();
    assert_eq!(summary["accepted"], expect.len(), "{summary}");
    assert_eq!(summary["not_accepted"], 0, "{summary}");
    assert_eq!(
        summary["too_fast"], 0,
        "the server never said TooFast: {summary}"
    );
    assert!(run.not_accepted().is_empty());
    assert!(
        !run.stdout.iter().any(|v| v.get("Problem").is_some()),
        "no Problem reached the paster"
    );
    assert_eq!(
        watcher.left("paster", Duration::from_secs(5)).await,
        LeaveReason::Quit
    );
    watcher.session.quit().await;
    run
}

/// A paste of 100 lines into an interactive chat-cli, followed by `/quit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_hundred_lines_all_arrive_in_order() {
    let server = start_server(|_| {});
    let lines = numbered(100);
    let mut pasted = lines.clone();
    pasted.push("/quit".into());
    let run = every_line_arrives(&server, pasted, lines, Duration::from_secs(60)).await;
    eprintln!("100 pasted lines took {:.1?}", run.took);
    server.shutdown.shutdown("test over");
}

/// 3,000 lines piped in at the default limits (20 lines/s, burst 40): about two and a half
/// minutes, the time the server's rate needs, and not a line lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_piped_lines_all_arrive_in_order() {
    let server = start_server(|_| {});
    let lines = numbered(3000);
    let run = every_line_arrives(&server, lines.clone(), lines, Duration::from_secs(240)).await;
    eprintln!("3000 piped lines took {:.1?}", run.took);
    assert!(
        run.stderr.contains("sending") && run.stderr.contains("queued lines"),
        "progress shown while leaving: {}",
        run.stderr
    );
    server.shutdown.shutdown("test over");
}

/// The server lowered to 2 lines/s and 2,000 bytes a line: 50 lines, three of them 4,500 bytes,
/// which chat-cli splits at white space (said once). 56 lines in all, more than the server's burst
/// of 40: the first 20 at once (half the burst), the rest at 2/s, about 18 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_limits_are_kept_and_long_lines_split() {
    let server = start_server(|config| {
        config.limits.messages_per_sec = 2;
        config.limits.max_message_bytes = 2000;
    });
    let long = |n: usize| {
        (0..)
            .map(|i| format!("w{n}-{i}"))
            .scan(String::new(), |text, word| {
                if text.len() >= 4500 {
                    return None;
                }
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(&word);
                Some(text.clone())
            })
            .last()
            .expect("a text")
    };
    let lines: Vec<String> = (1..=50)
        .map(|i| {
            if i % 10 == 5 && i < 30 {
                long(i)
            } else {
                format!("short {i}")
            }
        })
        .collect();
    let expect: Vec<String> = lines
        .iter()
        .flat_map(|l| client::split_line(l, 2000))
        .collect();
    assert_eq!(expect.len(), 56, "each long line is three parts");
    let run = every_line_arrives(&server, lines, expect, Duration::from_secs(60)).await;
    assert_eq!(
        run.stderr.matches("sent in parts").count(),
        1,
        "the split is said once: {}",
        run.stderr
    );
    server.shutdown.shutdown("test over");
}

/// The library alone, against the tightest limits: 2 lines/s with a burst of 4. Twenty lines take
/// about nine seconds and the server never says TooFast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_never_hears_too_fast_at_two_lines_a_second() {
    let server = start_server(|config| {
        config.limits.messages_per_sec = 2;
        config.limits.message_burst = 4;
        config.limits.too_fast_strikes = 0;
    });
    let watcher = Watcher::join(&server, server.addr).await;
    let (session, _, events) = Session::connect_with(
        SessionConfig {
            server: server
                .addr
                .to_string()
                .parse::<ServerAddr>()
                .expect("address"),
            user: "steady".into(),
            trust: Trust::CaFile(server.ca.clone()),
            identity: client::Identity::for_this_process().expect("identity"),
            code: None,
        },
        Backoff::never(),
    )
    .await
    .expect("joins");
    let lines = numbered(20);
    for line in &lines {
        session.say(line.clone()).expect("queued");
    }
    // The session task takes the lines in a moment; then most wait for their turn.
    let deadline = Instant::now() + Duration::from_secs(2);
    while session.queue().waiting < 10 {
        assert!(
            Instant::now() < deadline,
            "lines wait in the queue: {:?}",
            session.queue()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let too_long = "x".repeat(session.longest_line() + 1);
    assert!(matches!(
        session.say(too_long),
        Err(client::ClientError::LineTooLong { .. })
    ));
    let drain = tokio::spawn(async move {
        let mut problems = Vec::new();
        while let Ok(event) = events.recv().await {
            if let Event::Problem { code, .. } = event {
                problems.push(code);
            }
        }
        problems
    });
    let seen = watcher
        .lines_from("steady", lines.len(), Duration::from_secs(30))
        .await;
    assert_eq!(seen, lines);
    let farewell = session.quit().await;
    assert!(farewell.all_accepted(), "{farewell:?}");
    assert_eq!(farewell.accepted, 20);
    assert_eq!(farewell.too_fast, 0, "paced below the server's bucket");
    assert!(drain.await.expect("drained").is_empty(), "no Problem told");
    assert_eq!(
        watcher.left("steady", Duration::from_secs(5)).await,
        LeaveReason::Quit
    );
    server.shutdown.shutdown("test over");
}

/// The server stops answering while lines are queued (the relay in front of it drops every
/// packet): chat-cli gives up within seconds, says how many lines were not accepted, lists each
/// in `--json`, and exits 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_is_reported_with_the_count() {
    let server = start_server(|_| {});
    let relay = testkit::Relay::start(server.addr).await.expect("relay");
    let watcher = Watcher::join(&server, server.addr).await;
    let identity = tempfile::tempdir().expect("identity folder");
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-cli"))
        .arg("--identity")
        .arg(identity.path())
        .args([
            "--server",
            &relay.addr.to_string(),
            "--user",
            "stranded",
            "--json",
        ])
        .arg("--ca")
        .arg(&server.ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("chat-cli starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stderr = child.stderr.take().expect("stderr");
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text)
            .await
            .expect("stderr");
        text
    });
    let first: String = (1..=5).map(|i| format!("before {i}\n")).collect();
    stdin.write_all(first.as_bytes()).await.expect("written");
    let seen = watcher
        .lines_from("stranded", 5, Duration::from_secs(15))
        .await;
    assert_eq!(seen.len(), 5);
    // chat-cli has its five receipts too before the server goes silent.
    let mut receipts = 0;
    while receipts < 5 {
        let line = tokio::time::timeout(Duration::from_secs(15), stdout.next_line())
            .await
            .expect("receipts in time")
            .expect("readable")
            .expect("chat-cli still runs");
        let value: Value = serde_json::from_str(&line).expect("JSON");
        if value.get("Chat").is_some_and(|c| c["from"] == "stranded") {
            receipts += 1;
        }
    }
    relay.cut();
    let rest: String = (1..=30).map(|i| format!("after {i}\n")).collect();
    stdin.write_all(rest.as_bytes()).await.expect("written");
    drop(stdin);
    let started = Instant::now();
    let rest_of_output = async {
        let mut lines = Vec::new();
        while let Some(line) = stdout.next_line().await.expect("readable") {
            lines.push(line);
        }
        let status = child.wait().await.expect("status");
        (status, lines)
    };
    let (status, lines) = tokio::time::timeout(Duration::from_secs(40), rest_of_output)
        .await
        .expect("chat-cli gives up in time");
    let took = started.elapsed();
    let stderr = stderr.await.expect("stderr read");
    eprintln!("gave up after {took:.1?}; stderr:\n{stderr}");
    assert_eq!(status.code(), Some(4), "the distinct status; {stderr}");
    assert!(stderr.contains("30 of 35 lines not accepted"), "{stderr}");
    let not_accepted: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("NotAccepted").cloned())
        .collect();
    assert_eq!(not_accepted.len(), 30);
    assert!(
        not_accepted
            .iter()
            .all(|v| v["text"].as_str().is_some_and(|t| t.starts_with("after ")))
    );
    assert!(
        took < Duration::from_secs(20),
        "told within seconds: {took:?}"
    );
    server.shutdown.shutdown("test over");
}
