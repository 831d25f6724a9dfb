//! `chat-cli` with identities, as people would use it: a name is the identity's that took it first,
//! another identity is refused with a reason and exit code 2, a link code from `/link` adds a
//! device, and an operator kicks and bans from the terminal.

mod support;

use support::{
    cli::{Cli, command, finish},
    start_server,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_is_its_identity_s_and_a_link_code_adds_a_device() {
    let server = start_server(|_| {});
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));

    let mut alice = Cli::start_as(&server, &a, "alice", &[]);
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
    let (status, stderr) = finish(command(&server, &b, "alice", &[])).await;
    assert_eq!(status, 2, "{stderr}");
    assert!(stderr.contains("belongs to another identity"), "{stderr}");
    assert!(stderr.contains("--link CODE"), "{stderr}");

    // With the code from alice's /link, the second identity is alice too.
    let mut phone = Cli::start_as(&server, &b, "alice", &["--link", &code]);
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
    let (status, stderr) = finish(command(
        &server,
        &dir.path().join("c"),
        "alice",
        &["--link", &code],
    ))
    .await;
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

    let mut opal = Cli::start_as(&server, &op_dir, "opal", &[]);
    opal.expect("Welcome", |_| true).await;
    let mut bob = Cli::start_as(&server, &bob_dir, "bob", &[]);
    bob.expect("Welcome", |_| true).await;
    let mut carol = Cli::start_as(&server, &carol_dir, "carol", &[]);
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

    let mut bob = Cli::start_as(&server, &bob_dir, "bob", &[]);
    bob.expect("Welcome", |_| true).await;
    let reply = opal.ask("/ban bob why").await;
    assert!(reply.get("Done").is_some(), "{reply}");
    assert_eq!(bob.expect("Removed", |_| true).await["banned"], true);
    assert_eq!(bob.exit_code().await, 3);
    let (status, stderr) = finish(command(&server, &bob_dir, "bob", &[])).await;
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
            Cli::start_as(&server, &shared, &format!("twin{round}a"), &[]),
            Cli::start_as(&server, &shared, &format!("twin{round}b"), &[]),
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
