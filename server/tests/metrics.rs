//! `chat-server --metrics ADDR`: the real binary, real clients chatting over QUIC, and /metrics
//! scraped over real TCP, its counts checked one by one.

mod support;

use std::{collections::BTreeMap, time::Duration};

use client::{Connector, ServerAddr, Trust};
use support::{WAIT, chats, join_process, say, spawn_chat_server, until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wire::{ClientFrame, ProblemCode, RefuseReason, ServerFrame};

/// One HTTP request over a fresh TCP connection: (status line, body).
async fn http(port: u16, request: &str) -> (String, String) {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("the metrics port accepts");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("request sent");
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .await
            .expect("answer read");
        answer
    };
    let answer = tokio::time::timeout(WAIT, exchange)
        .await
        .expect("answered and closed in time");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.lines().next().unwrap_or_default().to_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("Content-Length")
        .parse()
        .expect("a number");
    if !request.starts_with("HEAD") {
        assert_eq!(length, body.len(), "Content-Length matches the body");
    }
    (status, body.to_owned())
}

/// Every sample of a scrape: `name{labels}` → value.
async fn scrape(port: u16) -> BTreeMap<String, f64> {
    let (status, body) = http(port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("name value");
            (name.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

/// Scrapes until `done` holds (the server counts leaves a moment after a client goes), then
/// returns that scrape.
async fn scrape_until(
    port: u16,
    done: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let samples = scrape(port).await;
        if done(&samples) || tokio::time::Instant::now() > deadline {
            return samples;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn value(samples: &BTreeMap<String, f64>, name: &str) -> f64 {
    *samples
        .get(name)
        .unwrap_or_else(|| panic!("{name} is not exported: {samples:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counts_follow_what_clients_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = testkit::ports::free_udp_port().expect("a UDP port");
    let metrics = testkit::ports::free_tcp_port().expect("a TCP port");
    let certs = dir.path().join("certs");
    let _server = spawn_chat_server([
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--cert-dir".into(),
        certs.display().to_string(),
        "--no-persist".into(),
        "--max-message-bytes".into(),
        "10".into(),
        "--metrics".into(),
        format!("127.0.0.1:{metrics}"),
    ])
    .await;

    let start = scrape(metrics).await;
    for name in [
        "chat_connections",
        "chat_handshakes_total",
        "chat_joins_total",
        "chat_lines_accepted_total",
        "chat_deliveries_total",
        "chat_history_lines",
        "chat_cluster_lag_messages",
        "chat_leaves_total{reason=\"too_slow\"}",
        "chat_lines_refused_total{reason=\"too_fast\"}",
        "chat_handshake_failures_total{reason=\"tls\"}",
    ] {
        assert_eq!(value(&start, name), 0.0, "{name} at start");
    }

    let ca = certs.join("ca.pem");
    let (mut alice, _) = join_process(port, &ca, "alice").await;
    let (mut bob, _) = join_process(port, &ca, "bob").await;
    // "alice" with another key is refused (a completed handshake, no join).
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let server = ServerAddr {
        host: "localhost".into(),
        port,
    };
    let again = Connector::new(
        &Trust::CaFile(ca.clone()),
        &client::Identity::ephemeral().expect("identity"),
        addr,
    )
    .expect("connector");
    let refused = tokio::time::timeout(WAIT, again.connect(&server, addr, "Alice", &[]))
        .await
        .expect("answered in time");
    assert!(
        matches!(
            &refused,
            Err(client::ClientError::Refused(RefuseReason::NameOwned))
        ),
        "{refused:?}"
    );
    // A client that trusts another CA rejects the server's certificate: a failed handshake.
    let other = certs::ensure(&dir.path().join("other"))
        .expect("another CA")
        .0;
    let stranger = Connector::new(
        &Trust::CaFile(other.ca_cert.clone()),
        &client::Identity::for_this_process().expect("identity"),
        addr,
    )
    .expect("connector");
    let failed = tokio::time::timeout(WAIT, stranger.connect(&server, addr, "mallory", &[]))
        .await
        .expect("fails in time");
    assert!(
        failed.is_err(),
        "a certificate from another CA was accepted"
    );

    say(&mut alice, 1, "hello").await;
    say(&mut alice, 2, "far too long").await;
    // Bob's join may come first: presence is not a line.
    let wanted =
        |f: &ServerFrame| matches!(f, ServerFrame::Chat { .. } | ServerFrame::Problem { .. });
    match until(&mut alice, wanted).await {
        ServerFrame::Chat { message: m, .. } => assert_eq!(m.text, "hello"),
        other => panic!("expected alice's Chat, got {other:?}"),
    }
    match until(&mut alice, wanted).await {
        ServerFrame::Problem { code, .. } => assert_eq!(code, ProblemCode::TooLong),
        other => panic!("expected Problem(TooLong), got {other:?}"),
    }
    say(&mut bob, 1, "   ").await;
    say(&mut bob, 2, "hi").await;
    let seen = chats(&mut bob, 2).await;
    assert_eq!(seen[1].text, "hi");
    assert_eq!(chats(&mut alice, 1).await[0].text, "hi");

    // The refused and the failed connections end on the server a moment after the clients see
    // the refusal and the bad certificate.
    let during = scrape_until(metrics, |s| {
        s.get("chat_connections") == Some(&2.0)
            && s.get("chat_handshake_failures_total{reason=\"tls\"}") == Some(&1.0)
    })
    .await;
    assert_eq!(value(&during, "chat_connections"), 2.0);
    assert_eq!(value(&during, "chat_handshakes_total"), 3.0);
    assert_eq!(
        value(&during, "chat_handshake_failures_total{reason=\"tls\"}"),
        1.0
    );
    assert_eq!(value(&during, "chat_joins_total"), 2.0);
    assert_eq!(
        value(&during, "chat_refusals_total{reason=\"name_owned\"}"),
        1.0
    );
    assert_eq!(value(&during, "chat_lines_accepted_total"), 2.0);
    assert_eq!(
        value(&during, "chat_lines_refused_total{reason=\"too_long\"}"),
        1.0
    );
    assert_eq!(
        value(&during, "chat_lines_refused_total{reason=\"empty\"}"),
        1.0
    );
    assert_eq!(
        value(&during, "chat_lines_refused_total{reason=\"too_fast\"}"),
        0.0
    );
    assert_eq!(value(&during, "chat_history_lines"), 2.0);
    // Each saw its Welcome, both lines and its own Problem; presence changes may come in one
    // frame or several, and the refused client got its Refused.
    let delivered = value(&during, "chat_deliveries_total");
    assert!(delivered >= 8.0, "{delivered} frames written");

    // Alice says goodbye; Bob's connection just goes away.
    alice.send(&ClientFrame::Bye).await.expect("Bye sent");
    drop(bob);
    let after = scrape_until(metrics, |s| {
        s.get("chat_connections") == Some(&0.0)
            && s.get("chat_leaves_total{reason=\"dropped\"}") == Some(&1.0)
    })
    .await;
    assert_eq!(value(&after, "chat_connections"), 0.0);
    assert_eq!(value(&after, "chat_leaves_total{reason=\"quit\"}"), 1.0);
    assert_eq!(value(&after, "chat_leaves_total{reason=\"dropped\"}"), 1.0);
    assert_eq!(value(&after, "chat_leaves_total{reason=\"too_slow\"}"), 0.0);
    assert_eq!(value(&after, "chat_joins_total"), 2.0);
}

#[tokio::test]
async fn the_endpoint_answers_only_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = testkit::ports::free_udp_port().expect("a UDP port");
    let metrics = testkit::ports::free_tcp_port().expect("a TCP port");
    let _server = spawn_chat_server([
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--cert-dir".into(),
        dir.path().join("certs").display().to_string(),
        "--no-persist".into(),
        "--metrics".into(),
        format!("127.0.0.1:{metrics}"),
    ])
    .await;
    let (status, _) = http(metrics, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _) = http(metrics, "POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    let (status, body) = http(metrics, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", ""));
    let (status, body) = http(metrics, "GET /metrics?x=1 HTTP/1.0\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("# TYPE chat_connections gauge\n"), "{body}");
    let (status, _) = http(metrics, "garbage\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
}

/// `chat-server --cluster ... --metrics ...` on port `metrics`, node `name`; returns its UDP port.
async fn cluster_node(
    dir: &std::path::Path,
    nats: u16,
    name: &str,
    metrics: u16,
) -> (tokio::process::Child, u16) {
    let port = testkit::ports::free_udp_port().expect("a UDP port");
    let child = spawn_chat_server([
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--cert-dir".into(),
        dir.join("certs").display().to_string(),
        "--no-persist".into(),
        "--cluster".into(),
        format!("nats://127.0.0.1:{nats}"),
        "--node".into(),
        name.to_owned(),
        "--metrics".into(),
        format!("127.0.0.1:{metrics}"),
    ])
    .await;
    (child, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cluster_node_counts_its_own_members_lines_and_keeps_up() {
    let Some(binary) = testkit::nats::for_tests() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let nats_port = testkit::ports::free_tcp_port().expect("a TCP port");
    let _nats = tokio::time::timeout(
        WAIT,
        testkit::nats::spawn_ready(&binary, None, &dir.path().join("nats"), nats_port),
    )
    .await
    .expect("nats-server ready in time")
    .expect("nats-server starts");
    let (metrics_a, metrics_b) = (
        testkit::ports::free_tcp_port().expect("a TCP port"),
        testkit::ports::free_tcp_port().expect("a TCP port"),
    );
    let (_a, port_a) = cluster_node(dir.path(), nats_port, "a", metrics_a).await;
    let (_b, port_b) = cluster_node(dir.path(), nats_port, "b", metrics_b).await;
    let ca = dir.path().join("certs/ca.pem");
    let (mut ann, _) = join_process(port_a, &ca, "ann").await;
    let (mut ben, _) = join_process(port_b, &ca, "ben").await;
    for nonce in 1..=3 {
        say(&mut ann, nonce, "from a").await;
    }
    say(&mut ben, 1, "from b").await;
    // Everyone has every line: both nodes applied the stream to its end.
    assert_eq!(chats(&mut ann, 4).await.len(), 4);
    assert_eq!(chats(&mut ben, 4).await.len(), 4);

    let a = scrape(metrics_a).await;
    let b = scrape(metrics_b).await;
    assert_eq!(value(&a, "chat_lines_accepted_total"), 3.0);
    assert_eq!(value(&b, "chat_lines_accepted_total"), 1.0);
    for node in [&a, &b] {
        assert_eq!(value(node, "chat_joins_total"), 1.0);
        assert_eq!(value(node, "chat_connections"), 1.0);
        assert_eq!(value(node, "chat_cluster_lag_messages"), 0.0);
        assert_eq!(
            value(node, "chat_history_lines"),
            0.0,
            "the stream is the history"
        );
        assert!(value(node, "chat_deliveries_total") >= 5.0);
    }
}

#[tokio::test]
async fn a_metrics_address_in_use_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("a TCP port");
    let addr = held.local_addr().expect("its address").to_string();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--no-persist",
            "--metrics",
            &addr,
        ])
        .arg("--cert-dir")
        .arg(dir.path().join("certs"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(WAIT, run)
        .await
        .expect("exits in time")
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot serve metrics on {addr}")),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("listening"), "{stdout}");
}
