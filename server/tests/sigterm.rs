//! SIGTERM to the real `chat-server` while lines are on their way: every queue is flushed, so each
//! client receives every line the server accepted, then `ShuttingDown`, then the end of its stream;
//! the process exits 0.

mod support;

use client::{Connection, Connector, ServerAddr, Trust};
use support::{WAIT, app_close, spawn_chat_server, until};
use wire::{ChatMessage, ClientFrame, ServerFrame, close_code};

/// Lines the speaker says just before the SIGTERM, each big enough that together they overflow the
/// readers' flow-control windows and wait in the server's queues.
const LINES: u64 = 300;
const TEXT_BYTES: usize = 4000;

/// Reads `conn` to its end: the lines, whether `ShuttingDown` came and whether anything came
/// after it.
async fn read_to_the_end(
    mut conn: Connection,
) -> (Vec<ChatMessage>, Option<String>, (u32, String)) {
    let mut lines = Vec::new();
    let mut shutting_down = None;
    loop {
        let frame = tokio::time::timeout(WAIT, conn.next())
            .await
            .expect("a frame or the end in time")
            .expect("readable");
        match frame {
            None => break,
            Some(ServerFrame::Chat { message: m, .. }) => {
                assert!(
                    shutting_down.is_none(),
                    "{m:?} after ShuttingDown {shutting_down:?}"
                );
                lines.push(m);
            }
            Some(ServerFrame::ShuttingDown { reason }) => {
                assert!(shutting_down.is_none(), "ShuttingDown twice");
                shutting_down = Some(reason);
            }
            Some(other) => assert!(
                shutting_down.is_none(),
                "{other:?} after ShuttingDown {shutting_down:?}"
            ),
        }
    }
    let close = app_close(conn.quic()).await;
    (lines, shutting_down, close)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_every_queue_before_shutting_down_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = testkit::ports::free_udp_port().expect("a free UDP port");
    let listen = format!("127.0.0.1:{port}");
    let certs = dir.path().join("certs");
    let mut server = spawn_chat_server([
        "--listen".as_ref(),
        listen.as_ref(),
        "--max-messages-per-sec".as_ref(),
        "0".as_ref(),
        "--no-persist".as_ref(),
        "--cert-dir".as_ref(),
        certs.as_os_str(),
    ] as [&std::ffi::OsStr; 7])
    .await;
    let addr = ([127, 0, 0, 1], port).into();
    let server_addr = ServerAddr {
        host: "127.0.0.1".into(),
        port,
    };
    let connector = Connector::new(
        &Trust::CaFile(certs.join("ca.pem")),
        &client::Identity::for_this_process().expect("identity"),
        addr,
    )
    .expect("connector");
    let join = |user: &'static str| {
        let connector = connector.clone();
        let server_addr = server_addr.clone();
        async move {
            connector
                .connect(&server_addr, addr, user, &[])
                .await
                .expect("joins")
                .0
        }
    };
    // Two readers that read all along, one that reads nothing until after the SIGTERM (its lines
    // wait in the server), and the speaker, who reads nothing either.
    let mut reader = join("reader").await;
    let mut speaker = join("speaker").await;
    until(
        &mut reader,
        |f| matches!(f, ServerFrame::Joined { user } if user == "speaker"),
    )
    .await;
    let mut second = join("second").await;
    let paused = join("paused").await;
    until(
        &mut second,
        |f| matches!(f, ServerFrame::Joined { user } if user == "paused"),
    )
    .await;
    until(
        &mut reader,
        |f| matches!(f, ServerFrame::Joined { user } if user == "paused"),
    )
    .await;
    let readers = [reader, second].map(|c| tokio::spawn(read_to_the_end(c)));

    let text = "x".repeat(TEXT_BYTES);
    for nonce in 0..LINES {
        speaker
            .send(&ClientFrame::Say {
                to: wire::Conversation::Room("#general".into()),
                nonce,
                text: text.clone(),
            })
            .await
            .expect("sent");
    }
    let pid = server.id().expect("pid").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let paused = tokio::spawn(read_to_the_end(paused));
    let speaker = tokio::spawn(read_to_the_end(speaker));

    let (receipts, said_why, speaker_close) = speaker.await.expect("speaker");
    let accepted: Vec<(u64, u64)> = receipts.iter().map(|m| (m.id, m.nonce)).collect();
    assert!(
        !accepted.is_empty(),
        "the server accepted no line before the SIGTERM"
    );
    assert_eq!(
        accepted,
        (0..accepted.len() as u64)
            .map(|n| (n + 1, n))
            .collect::<Vec<_>>(),
        "the speaker's receipts: the first lines, in order"
    );
    assert!(said_why.is_some(), "the speaker got no ShuttingDown");
    assert_eq!(speaker_close.0, close_code::SHUTTING_DOWN);
    let mut everyone = Vec::new();
    for r in readers {
        everyone.push(r.await.expect("reader"));
    }
    everyone.push(paused.await.expect("paused reader"));
    for (i, (lines, why, close)) in everyone.into_iter().enumerate() {
        let got: Vec<(u64, u64)> = lines.iter().map(|m| (m.id, m.nonce)).collect();
        assert_eq!(
            got, accepted,
            "client {i}: every accepted line, in order, before ShuttingDown"
        );
        let why = why.unwrap_or_else(|| panic!("client {i}: no ShuttingDown"));
        assert!(why.contains("SIGTERM"), "{why}");
        assert_eq!(close.0, close_code::SHUTTING_DOWN, "client {i}: {close:?}");
    }
    eprintln!(
        "{} of {LINES} lines accepted before the SIGTERM",
        accepted.len()
    );
    let exit = tokio::time::timeout(WAIT, server.wait())
        .await
        .expect("exits in time")
        .expect("status");
    assert_eq!(exit.code(), Some(0));
}
