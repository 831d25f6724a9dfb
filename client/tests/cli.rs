//! `chat-cli` driven through stdin/stdout against a real server, as a person or a script would.

mod support;

use tokio::process::Command;

use support::{
    cli::{Cli, finish},
    start_server,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_terminal_clients_chat() {
    let server = start_server(|_| {});
    let mut alice = Cli::start(&server, "alice");
    alice.expect("Welcome", |w| w["you"] == "alice").await;
    let mut bob = Cli::start(&server, "bob");
    let welcome = bob.expect("Welcome", |_| true).await;
    assert_eq!(welcome["users"], serde_json::json!(["alice", "bob"]));
    alice.expect("Joined", |j| j["user"] == "bob").await;

    alice.type_line("hello bob").await;
    let seen = bob.expect("Chat", |c| c["from"] == "alice").await;
    assert_eq!(seen["text"], "hello bob");
    let receipt = alice.expect("Chat", |c| c["from"] == "alice").await;
    assert_eq!(receipt["id"], seen["id"]);

    bob.type_line("hi alice, 👋").await;
    assert_eq!(
        alice.expect("Chat", |c| c["from"] == "bob").await["text"],
        "hi alice, 👋"
    );

    bob.type_line("/users").await;
    assert_eq!(
        bob.expect("Users", |_| true).await["list"],
        serde_json::json!(["alice", "bob"])
    );

    bob.type_line("/quit").await;
    bob.expect("Closed", |_| true).await;
    assert_eq!(bob.exit_code().await, 0);
    let left = alice.expect("Left", |l| l["user"] == "bob").await;
    assert_eq!(left["why"], "Quit");

    // End of input leaves just like /quit.
    assert_eq!(alice.exit_code().await, 0);
    server.shutdown.shutdown("test over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_shutdown_reaches_the_terminal() {
    let server = start_server(|_| {});
    let mut alice = Cli::start_with(&server, "alice", &["--no-reconnect"]);
    alice.expect("Welcome", |_| true).await;
    server.shutdown.shutdown("maintenance");
    assert_eq!(
        alice.expect("ShuttingDown", |_| true).await["reason"],
        "maintenance"
    );
    alice.expect("Closed", |_| true).await;
    assert_eq!(
        alice.exit_code().await,
        3,
        "ended by the server, not by the user"
    );
}

/// Runs chat-cli with `args` and an identity of its own until it exits: (status, stderr).
async fn run_to_end(args: &[&str]) -> (i32, String) {
    let identity = tempfile::tempdir().expect("identity folder");
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat-cli"));
    command.args(args).arg("--identity").arg(identity.path());
    finish(command).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_failures_exit_non_zero_with_a_clear_message() {
    let server = start_server(|_| {});
    let addr = format!("127.0.0.1:{}", server.addr.port());
    let ca = server.ca.to_string_lossy().into_owned();
    let mut alice = Cli::start(&server, "alice");
    alice.expect("Welcome", |_| true).await;

    let (code, err) = run_to_end(&["--server", &addr, "--user", "ALICE", "--ca", &ca]).await;
    assert_eq!(code, 2);
    assert!(err.contains("ALICE belongs to another identity"), "{err}");

    let other = tempfile::tempdir().expect("tempdir");
    let (other_ca, _) = certs::ensure(other.path()).expect("another CA");
    let other_ca = other_ca.ca_cert.to_string_lossy().into_owned();
    let (code, err) = run_to_end(&["--server", &addr, "--user", "eve", "--ca", &other_ca]).await;
    assert_eq!(code, 1);
    assert!(err.contains("not trusted"), "{err}");

    let (code, err) = run_to_end(&[
        "--server",
        "no-such-host.invalid:1",
        "--user",
        "x",
        "--ca",
        &ca,
    ])
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("cannot find server"), "{err}");
    server.shutdown.shutdown("test over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_and_direct_messages_from_the_terminal() {
    use serde_json::json;
    let server = start_server(|_| {});
    let mut alice = Cli::start_with(&server, "alice", &["--room", "#rust"]);
    alice.expect("Welcome", |w| w["room"] == "#general").await;
    alice.expect("RoomJoined", |r| r["room"] == "#rust").await;
    let mut bob = Cli::start(&server, "bob");
    bob.expect("Welcome", |_| true).await;

    // Alice speaks in #rust, where --room put her.
    alice.type_line("crabs!").await;
    alice
        .expect("Chat", |c| {
            c["conversation"] == json!({ "Room": "#rust" }) && c["text"] == "crabs!"
        })
        .await;
    bob.type_line("/rooms").await;
    let rooms = bob.expect("Rooms", |_| true).await;
    assert_eq!(
        rooms["list"],
        json!([
            { "room": "#general", "topic": "", "members": 2 },
            { "room": "#rust", "topic": "", "members": 1 },
        ])
    );
    // A line typed right behind /join goes to the room, not to where bob was.
    bob.type_line("/join #rust").await;
    bob.type_line("hello rust").await;
    let joined = bob.expect("RoomJoined", |r| r["room"] == "#rust").await;
    assert_eq!(joined["history"][0]["text"], "crabs!");
    alice
        .expect("Joined", |j| j["room"] == "#rust" && j["user"] == "bob")
        .await;
    alice
        .expect("Chat", |c| {
            c["conversation"] == json!({ "Room": "#rust" }) && c["text"] == "hello rust"
        })
        .await;
    alice.type_line("/topic oxidation").await;
    bob.expect("Topic", |t| t["topic"] == "oxidation" && t["by"] == "alice")
        .await;

    // A direct message, and an answer after /switch.
    alice.type_line("/msg bob psst").await;
    bob.expect("Chat", |c| {
        c["conversation"] == json!({ "Direct": "alice" }) && c["text"] == "psst"
    })
    .await;
    bob.type_line("/switch alice").await;
    bob.type_line("hi alice").await;
    alice
        .expect("Chat", |c| {
            c["conversation"] == json!({ "Direct": "bob" }) && c["text"] == "hi alice"
        })
        .await;

    bob.type_line("/part #rust").await;
    bob.expect("RoomLeft", |r| r["room"] == "#rust").await;
    alice
        .expect("Left", |l| l["room"] == "#rust" && l["user"] == "bob")
        .await;
    bob.type_line("/quit").await;
    bob.expect("Closed", |_| true).await;
    assert_eq!(
        bob.exit_code().await,
        0,
        "every line bob typed was accepted"
    );
    assert_eq!(alice.exit_code().await, 0);
    server.shutdown.shutdown("test over");
}
