//! The server process is killed (SIGKILL) and started again while people chat: every client
//! reconnects (once per kill, each seen as an event), resumes, re-sends what was not confirmed,
//! and ends with the full sequence — every message exactly once, ids without a gap.

mod support;

use std::{
    collections::{BTreeMap, HashSet},
    time::Duration,
};

use client::{Backoff, Event, ServerAddr, Session, SessionConfig, Trust};
use support::spawn_chat_server_in;
use tokio::sync::watch;

const USERS: usize = 3;
const LINES: usize = 40;
const DEADLINE: Duration = Duration::from_secs(90);

/// What a session event means to this test. The one place that knows the shape of
/// `client::Event`, so a change of that enum is adapted here alone.
enum Happened {
    Line(client::Line),
    Disconnected,
    Reconnected,
    Closed(String),
    Other,
}

fn happened(event: Event) -> Happened {
    match event {
        Event::Line(m) | Event::Receipt(m) => Happened::Line(m),
        Event::Disconnected { .. } => Happened::Disconnected,
        Event::Reconnected { .. } => Happened::Reconnected,
        Event::Closed(reason) => Happened::Closed(reason.to_string()),
        _ => Happened::Other,
    }
}

/// How far one user has got, published for the test to wait on.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    joined: bool,
    /// Messages seen (history of each Welcome included).
    seen: usize,
    /// `Disconnected` events (one per attempt to reconnect).
    disconnects: usize,
    reconnects: usize,
}

/// What one user ends with.
struct Outcome {
    seen: Vec<client::Line>,
    progress: Progress,
}

/// One user: says its lines at a steady pace, as many as `allowed` lets it so far, and records
/// every message seen until told to `stop`.
async fn user(
    i: usize,
    port: u16,
    ca: std::path::PathBuf,
    allowed: watch::Receiver<usize>,
    progress: watch::Sender<Progress>,
    mut stop: watch::Receiver<bool>,
) -> Outcome {
    let config = SessionConfig {
        server: ServerAddr {
            host: "127.0.0.1".into(),
            port,
        },
        user: format!("user{i}"),
        trust: Trust::CaFile(ca),
        identity: client::Identity::for_this_process().expect("identity"),
        code: None,
    };
    let backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(800),
        enabled: true,
    };
    let (session, welcome, events) = Session::connect_with(config, backoff).await.expect("joins");
    let mut seen = welcome.history;
    let mut now = Progress {
        joined: true,
        seen: seen.len(),
        ..Progress::default()
    };
    progress.send_replace(now);
    let sender = {
        let session = session.clone();
        let mut allowed = allowed;
        tokio::spawn(async move {
            for n in 0..LINES {
                if allowed.wait_for(|&k| k > n).await.is_err() {
                    return;
                }
                session.say(format!("{i}:{n}")).expect("session alive");
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    };
    loop {
        let event = tokio::select! {
            _ = stop.wait_for(|&s| s) => break,
            event = events.recv() => event.expect("session alive"),
        };
        match happened(event) {
            Happened::Line(m) => seen.push(m),
            Happened::Disconnected => now.disconnects += 1,
            // The missed lines follow as `Line`s.
            Happened::Reconnected => now.reconnects += 1,
            Happened::Closed(reason) => panic!("user{i}: session closed: {reason}"),
            Happened::Other => {}
        }
        now.seen = seen.len();
        progress.send_replace(now);
    }
    sender.await.expect("sender");
    session.quit().await;
    Outcome {
        seen,
        progress: now,
    }
}

/// Waits, within `limit` for all of them, until every user's progress satisfies `done`.
async fn everyone(
    progress: &mut [watch::Receiver<Progress>],
    limit: Duration,
    what: &str,
    done: impl Fn(&Progress) -> bool,
) {
    let deadline = tokio::time::Instant::now() + limit;
    for (i, p) in progress.iter_mut().enumerate() {
        let reached = tokio::time::timeout_at(deadline, p.wait_for(|p| done(p)))
            .await
            .map(|r| r.is_ok());
        match reached {
            Ok(true) => {}
            Ok(false) => panic!("user{i} ended before {what}"),
            Err(_) => panic!("user{i}: {what} not in time: {:?}", *p.borrow()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_restarts_and_nobody_loses_or_repeats_a_line() {
    /// Every SIGKILL hits while lines are on their way: the first after this many lines of the
    /// first half reached everyone, the second after as many of the second half.
    const GOING: usize = USERS * 5;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = testkit::ports::free_udp_port().expect("a free UDP port");
    let mut server = spawn_chat_server_in(dir.path(), port, &["--max-messages-per-sec", "0"]).await;
    let ca = dir.path().join("certs").join("ca.pem");

    // The first half of the lines now, the second half once everyone is back from the first kill.
    let (allowed, _) = watch::channel(LINES / 2);
    let (stop, _) = watch::channel(false);
    let mut progress = Vec::new();
    let mut users = Vec::new();
    for i in 0..USERS {
        let (tx, rx) = watch::channel(Progress::default());
        progress.push(rx);
        users.push(tokio::spawn(user(
            i,
            port,
            ca.clone(),
            allowed.subscribe(),
            tx,
            stop.subscribe(),
        )));
    }

    // Kill the server without warning, twice, each time while the chat is going, and each time
    // wait until every user is back (client idle timeout 10 s, then a back-off below 1 s).
    for round in 1..=2 {
        let going = (round - 1) * USERS * LINES / 2 + GOING;
        everyone(&mut progress, DEADLINE, "the chat gets going", |p| {
            p.joined && p.seen >= going
        })
        .await;
        server.start_kill().expect("SIGKILL");
        server.wait().await.expect("reaped");
        // Down for a moment, as a real restart would be.
        tokio::time::sleep(Duration::from_millis(300)).await;
        server = spawn_chat_server_in(dir.path(), port, &["--max-messages-per-sec", "0"]).await;
        everyone(&mut progress, DEADLINE, "reconnecting", |p| {
            p.reconnects >= round
        })
        .await;
        allowed.send_replace(LINES);
    }
    everyone(&mut progress, DEADLINE, "every line seen", |p| {
        p.seen >= USERS * LINES
    })
    .await;
    stop.send_replace(true);

    let results = tokio::time::timeout(DEADLINE, async {
        let mut all = Vec::new();
        for u in users {
            all.push(u.await.expect("user task"));
        }
        all
    })
    .await
    .expect("everyone catches up in time");

    for (i, outcome) in results.iter().enumerate() {
        let p = outcome.progress;
        assert_eq!(p.reconnects, 2, "user{i}: one reconnect per kill: {p:?}");
        assert!(
            p.disconnects >= 2,
            "user{i}: each loss is reported before the reconnect: {p:?}"
        );
    }
    let results: Vec<Vec<client::Line>> = results.into_iter().map(|o| o.seen).collect();
    let expected: HashSet<String> = (0..USERS)
        .flat_map(|i| (0..LINES).map(move |n| format!("{i}:{n}")))
        .collect();
    for (i, seen) in results.iter().enumerate() {
        let ids: Vec<u64> = seen.iter().map(|m| m.id).collect();
        assert_eq!(
            ids,
            (1..=(USERS * LINES) as u64).collect::<Vec<_>>(),
            "user{i}: ids gap-free and each once"
        );
        let texts: HashSet<String> = seen.iter().map(|m| m.text.clone()).collect();
        assert_eq!(texts, expected, "user{i}: every line, none twice");
        // Each sender's lines keep the order they were typed in.
        let mut by_sender: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for m in seen {
            let n = m
                .text
                .split(':')
                .nth(1)
                .and_then(|n| n.parse().ok())
                .expect("n");
            by_sender.entry(m.from.as_str()).or_default().push(n);
        }
        for (from, ns) in by_sender {
            assert!(ns.windows(2).all(|w| w[0] < w[1]), "{from}: {ns:?}");
        }
    }
    server.start_kill().expect("kill");
}
