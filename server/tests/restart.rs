//! The server process is killed (SIGKILL) and started again while people chat: every client
//! reconnects, resumes, re-sends what was not confirmed, and ends with the full sequence — every
//! message exactly once, ids without a gap.

mod support;

use std::{
    collections::{BTreeMap, HashSet},
    path::Path,
    time::Duration,
};

use client::{Backoff, Event, ServerAddr, Session, SessionConfig, Trust};
use support::spawn_chat_server;
use wire::{ChatMessage, ServerFrame};

const USERS: usize = 3;
const LINES: usize = 40;
const DEADLINE: Duration = Duration::from_secs(90);

async fn start_server(dir: &Path, port: u16) -> tokio::process::Child {
    let listen = format!("127.0.0.1:{port}");
    let certs = dir.join("certs");
    let db = dir.join("history.sqlite3");
    spawn_chat_server([
        "--listen".as_ref(),
        listen.as_ref(),
        "--max-messages-per-sec".as_ref(),
        "0".as_ref(),
        "--cert-dir".as_ref(),
        certs.as_os_str(),
        "--history-db".as_ref(),
        db.as_os_str(),
    ] as [&std::ffi::OsStr; 8])
    .await
}

/// One user: says `LINES` lines at a steady pace and records every message seen, until it has seen
/// everybody's lines.
async fn user(i: usize, port: u16, ca: std::path::PathBuf) -> Vec<ChatMessage> {
    let config = SessionConfig {
        server: ServerAddr {
            host: "127.0.0.1".into(),
            port,
        },
        user: format!("user{i}"),
        trust: Trust::CaFile(ca),
    };
    let backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(800),
        enabled: true,
    };
    let (session, welcome, events) = Session::connect_with(config, backoff).await.expect("joins");
    let mut seen = welcome.history;
    let sender = {
        let session = session.clone();
        tokio::spawn(async move {
            for n in 0..LINES {
                session.say(format!("{i}:{n}")).expect("session alive");
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    };
    while seen.len() < USERS * LINES {
        match events.recv().await.expect("session alive") {
            Event::Frame(ServerFrame::Chat(m)) => seen.push(m),
            Event::Reconnected(welcome) => seen.extend(welcome.history),
            Event::Closed(reason) => panic!("user{i}: session closed: {reason}"),
            _ => {}
        }
    }
    sender.await.expect("sender");
    session.quit().await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_restarts_and_nobody_loses_or_repeats_a_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = testkit::ports::free_udp_port().expect("a free UDP port");
    let mut server = start_server(dir.path(), port).await;
    let ca = dir.path().join("certs").join("ca.pem");

    let users: Vec<_> = (0..USERS)
        .map(|i| tokio::spawn(user(i, port, ca.clone())))
        .collect();

    // Let the chat get going, then kill the server without warning, twice.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        server.start_kill().expect("SIGKILL");
        server.wait().await.expect("reaped");
        tokio::time::sleep(Duration::from_millis(300)).await;
        server = start_server(dir.path(), port).await;
    }

    let results = tokio::time::timeout(DEADLINE, async {
        let mut all = Vec::new();
        for u in users {
            all.push(u.await.expect("user task"));
        }
        all
    })
    .await
    .expect("everyone catches up in time");

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
