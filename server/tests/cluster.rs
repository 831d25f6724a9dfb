//! Several `chat-server` nodes sharing one room through a real `nats-server` (JetStream) on loopback.
//! Every process is a child of the test, killed on drop; every wait is bounded. `nats-server` is
//! found on `PATH` or in `/usr/sbin`; without it (`apt-get install nats-server`; `scripts/setup.sh`
//! does it) the tests fail, unless `CHAT_SKIP_CLUSTER_TESTS=1` says to skip them.

mod support;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use client::{
    Backoff, ClientError, Connection, Connector, Event, ServerAddr, Session, SessionConfig, Trust,
};
use support::{WAIT, chats, closed_with, next, say, spawn_chat_server, until, until_whole};
use tokio::process::Child;
use wire::{
    ChatMessage, ClientFrame, Conversation, LeaveReason, ProblemCode, RefuseReason, Reply, Request,
    ServerFrame,
};

/// Whether to run: `nats-server` found (on `PATH` or in `/usr/sbin`). Without it the test fails,
/// unless `CHAT_SKIP_CLUSTER_TESTS=1` opts out (see `testkit::nats::for_tests`).
fn nats_installed() -> bool {
    testkit::nats::for_tests().is_some()
}

/// One `nats-server` with JetStream, its store in a temporary directory.
struct Nats {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl Nats {
    async fn start(dir: &Path) -> Self {
        let port = testkit::ports::free_tcp_port().expect("a free TCP port");
        let dir = dir.join("nats");
        let child = Self::spawn(&dir, port).await;
        Self { port, dir, child }
    }

    async fn spawn(dir: &Path, port: u16) -> Child {
        let binary = testkit::nats::find().expect("nats-server is installed");
        tokio::time::timeout(WAIT, testkit::nats::spawn_ready(&binary, None, dir, port))
            .await
            .expect("nats-server is ready in time")
            .expect("nats-server starts")
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, then the same server again on the same port and store.
    async fn restart(&mut self, down_for: Duration) {
        self.child.start_kill().expect("SIGKILL nats-server");
        self.child.wait().await.expect("reaped");
        tokio::time::sleep(down_for).await;
        self.child = Self::spawn(&self.dir, self.port).await;
    }
}

/// One `chat-server --cluster` process.
struct Node {
    addr: SocketAddr,
    child: Child,
}

impl Node {
    async fn start(dir: &Path, nats: &Nats, name: &str) -> Self {
        Self::start_with(dir, nats, name, &[]).await
    }

    /// A node with `extra` flags added.
    async fn start_with(dir: &Path, nats: &Nats, name: &str, extra: &[&str]) -> Self {
        let port = testkit::ports::free_udp_port().expect("a free UDP port");
        let listen = format!("127.0.0.1:{port}");
        let url = nats.url();
        let certs = dir.join("certs");
        // This test process's key is the operators'.
        let operator = client::Identity::for_this_process()
            .expect("identity")
            .fingerprint()
            .to_string();
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "--listen".as_ref(),
            listen.as_ref(),
            "--max-messages-per-sec".as_ref(),
            "0".as_ref(),
            "--no-persist".as_ref(),
            "--cluster".as_ref(),
            url.as_ref(),
            "--node".as_ref(),
            name.as_ref(),
            "--cert-dir".as_ref(),
            certs.as_os_str(),
            "--operator".as_ref(),
            operator.as_ref(),
        ];
        args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
        let child = spawn_chat_server(args).await;
        Self {
            addr: ([127, 0, 0, 1], port).into(),
            child,
        }
    }

    /// Signs in as `user` with `key` (not the process's shared identity).
    async fn sign_in(
        &self,
        dir: &Path,
        key: &client::Identity,
        user: &str,
    ) -> Result<(Connection, client::Welcome), ClientError> {
        let connector = Connector::new(&Trust::CaFile(ca(dir)), key, self.addr).expect("connector");
        tokio::time::timeout(
            WAIT,
            connector.connect(&self.server_addr(), self.addr, user, &[]),
        )
        .await
        .expect("an answer in time")
    }

    fn server_addr(&self) -> ServerAddr {
        ServerAddr {
            host: "127.0.0.1".into(),
            port: self.addr.port(),
        }
    }

    async fn try_join(
        &self,
        dir: &Path,
        user: &str,
    ) -> Result<(Connection, client::Welcome), ClientError> {
        let me = client::Identity::for_this_process().expect("identity");
        self.try_join_as(dir, &me, user).await
    }

    async fn try_join_as(
        &self,
        dir: &Path,
        identity: &client::Identity,
        user: &str,
    ) -> Result<(Connection, client::Welcome), ClientError> {
        Connector::new(&Trust::CaFile(ca(dir)), identity, self.addr)
            .expect("connector")
            .connect(&self.server_addr(), self.addr, user, &[])
            .await
    }

    async fn join(&self, dir: &Path, user: &str) -> Connection {
        self.try_join(dir, user).await.expect("joins").0
    }
}

fn ca(dir: &Path) -> PathBuf {
    dir.join("certs").join("ca.pem")
}

/// A NATS server and `count` nodes (started one after the other: the first creates the shared
/// development certificates).
async fn cluster(dir: &Path, count: usize) -> (Nats, Vec<Node>) {
    let nats = Nats::start(dir).await;
    let mut nodes = Vec::with_capacity(count);
    for i in 0..count {
        nodes.push(Node::start(dir, &nats, &format!("node{i}")).await);
    }
    (nats, nodes)
}

/// A cluster of one node per name, each name joined on its own node.
async fn one_user_per_node(dir: &Path, names: &[&str]) -> (Nats, Vec<Node>, Vec<Connection>) {
    let (nats, nodes) = cluster(dir, names.len()).await;
    let mut conns = Vec::with_capacity(names.len());
    for (node, name) in nodes.iter().zip(names) {
        conns.push(node.join(dir, name).await);
    }
    (nats, nodes, conns)
}

/// Waits until `conn`'s user list is exactly `want` (asking every 200 ms).
async fn users_become(conn: &mut Connection, want: &[&str]) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        conn.send(&wire::ClientFrame::ListUsers {
            room: "#general".into(),
        })
        .await
        .expect("sent");
        if let ServerFrame::Users { list, .. } =
            until(conn, |f| matches!(f, ServerFrame::Users { .. })).await
            && list == want
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the user list becomes {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_on_three_nodes_see_every_line_in_one_order() {
    // (Names without digits: the user list is in name-key order, where "1" looks like "l".)
    const NAMES: [&str; 3] = ["ana", "ben", "cyd"];
    if !nats_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_nats, _nodes, mut conns) = one_user_per_node(dir.path(), &NAMES).await;
    for conn in &mut conns {
        users_become(conn, &NAMES).await;
    }
    const LINES: usize = 20;
    // Everyone talks at once, through their own node.
    let mut tasks = Vec::new();
    for (i, mut conn) in conns.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for n in 0..LINES {
                say(&mut conn, n as u64, &format!("{i}:{n}")).await;
            }
            chats(&mut conn, 3 * LINES).await
        }));
    }
    let mut seen: Vec<Vec<ChatMessage>> = Vec::new();
    for task in tasks {
        seen.push(task.await.expect("user task"));
    }
    let order = |v: &Vec<ChatMessage>| -> Vec<(u64, String, u64, String)> {
        v.iter()
            .map(|m| (m.id, m.from.clone(), m.nonce, m.text.clone()))
            .collect()
    };
    let ids: Vec<u64> = seen[0].iter().map(|m| m.id).collect();
    assert_eq!(
        ids,
        (1..=(3 * LINES) as u64).collect::<Vec<_>>(),
        "gap-free ids"
    );
    assert_eq!(order(&seen[0]), order(&seen[1]), "node0 and node1 agree");
    assert_eq!(order(&seen[0]), order(&seen[2]), "node0 and node2 agree");
    for (i, name) in NAMES.iter().enumerate() {
        let mine: Vec<String> = seen[0]
            .iter()
            .filter(|m| m.from == *name)
            .map(|m| m.text.clone())
            .collect();
        let typed: Vec<String> = (0..LINES).map(|n| format!("{i}:{n}")).collect();
        assert_eq!(mine, typed, "{name}'s lines once each, in the order typed");
    }
}

/// Nodes that are alive keep their users: nobody is reported gone while every node heartbeats,
/// including through the first expiry period of the node list (6 s), when a node that has just
/// started may not be in a snapshot yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_of_live_nodes_are_never_reported_gone() {
    const NAMES: [&str; 3] = ["ana", "ben", "cyd"];
    if !nats_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_nats, _nodes, mut conns) = one_user_per_node(dir.path(), &NAMES).await;
    let mut watcher = conns.remove(0);
    users_become(&mut watcher, &NAMES).await;
    // Two node expiry periods and more: a false "node is gone" would show up as a Left.
    let quiet_until = tokio::time::Instant::now() + Duration::from_secs(14);
    while let Ok(frame) = tokio::time::timeout_at(quiet_until, watcher.next()).await {
        let frame = frame.expect("readable").expect("stream open");
        assert!(
            !matches!(frame, ServerFrame::Left { .. }),
            "nobody left, yet the node said {frame:?}"
        );
    }
    users_become(&mut watcher, &NAMES).await;
    for conn in &mut conns {
        users_become(conn, &NAMES).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_name_on_two_nodes_at_once_for_two_keys_is_given_to_exactly_one() {
    if !nats_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_nats, nodes) = cluster(dir.path(), 2).await;
    let mut winners = Vec::new();
    for round in 0..8 {
        let name = format!("carol{round}");
        // Look-alike spellings are the same name.
        let other = format!("CAROL{round}");
        let (one, two) = (
            client::Identity::ephemeral().expect("identity"),
            client::Identity::ephemeral().expect("identity"),
        );
        let (a, b) = tokio::join!(
            nodes[0].try_join_as(dir.path(), &one, &name),
            nodes[1].try_join_as(dir.path(), &two, &other)
        );
        // The book of owners gives the name to one key; the other is refused as not its owner.
        let refused = |r: &Result<_, ClientError>| {
            matches!(r, Err(ClientError::Refused(RefuseReason::NameOwned)))
        };
        match (&a, &b) {
            (Ok(_), _) if refused(&b) => winners.push(0),
            (_, Ok(_)) if refused(&a) => winners.push(1),
            _ => panic!(
                "round {round}: exactly one join must win: {:?} / {:?}",
                a.as_ref().map(|_| ()),
                b.as_ref().map(|_| ())
            ),
        }
    }
    eprintln!("winning node per round: {winners:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_and_a_new_sign_in_reach_the_user_on_another_node() {
    if !nats_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_nats, nodes) = cluster(dir.path(), 2).await;
    // The operator (this process's key) on node 0; bob, with a key of his own, on node 1.
    let mut op = nodes[0].join(dir.path(), "op").await;
    let bob_key = client::Identity::ephemeral().expect("identity");
    let (mut bob, _) = nodes[1]
        .try_join_as(dir.path(), &bob_key, "bob")
        .await
        .expect("bob joins");
    users_become(&mut op, &["bob", "op"]).await;

    let kick = Request::Kick {
        user: "bob".into(),
        reason: "spam".into(),
    };
    op.send(&ClientFrame::Request {
        id: 1,
        request: kick,
    })
    .await
    .expect("sent");
    match until(&mut op, |f| matches!(f, ServerFrame::Reply { id: 1, .. })).await {
        ServerFrame::Reply {
            reply: Reply::Done { detail },
            ..
        } => assert!(detail.contains("bob"), "{detail}"),
        other => panic!("the kick was not done: {other:?}"),
    }
    let removed = until(&mut bob, |f| matches!(f, ServerFrame::Removed { .. })).await;
    assert_eq!(
        removed,
        ServerFrame::Removed {
            by: "op".into(),
            reason: "spam".into(),
            banned: false
        }
    );
    assert_eq!(closed_with(&bob).await.0, wire::close_code::REMOVED);
    until(
        &mut op,
        |f| matches!(f, ServerFrame::Left { user, why: LeaveReason::Kicked } if user == "bob"),
    )
    .await;

    // bob back on node 1; then his key signs in on node 0: the node-1 connection is replaced.
    let (mut bob_there, _) = nodes[1]
        .try_join_as(dir.path(), &bob_key, "bob")
        .await
        .expect("bob joins again");
    users_become(&mut op, &["bob", "op"]).await;
    let (mut bob_here, welcome) = nodes[0]
        .try_join_as(dir.path(), &bob_key, "bob")
        .await
        .expect("the owner signs in on the other node");
    assert_eq!(welcome.you, "bob");
    let replaced = until(&mut bob_there, |f| {
        matches!(f, ServerFrame::Replaced { .. })
    })
    .await;
    assert_eq!(
        replaced,
        ServerFrame::Replaced {
            fingerprint: *bob_key.fingerprint().as_bytes()
        }
    );
    assert_eq!(closed_with(&bob_there).await.0, wire::close_code::REPLACED);
    say(&mut bob_here, 1, "moved").await;
    until(
        &mut op,
        |f| matches!(f, ServerFrame::Chat { message: m, .. } if m.from == "bob" && m.text == "moved"),
    )
    .await;
    users_become(&mut op, &["bob", "op"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_users_move_to_another_node_and_lose_nothing() {
    if !nats_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_nats, mut nodes) = cluster(dir.path(), 3).await;
    let mut erin = nodes[1].join(dir.path(), "erin").await;

    // Dave uses the library with the whole list; he lands on node0, the first.
    let config = SessionConfig {
        server: nodes[0].server_addr(),
        user: "dave".into(),
        trust: Trust::CaFile(ca(dir.path())),
        identity: client::Identity::for_this_process().expect("identity"),
        code: None,
    };
    let backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(500),
        enabled: true,
    };
    let fallbacks = vec![nodes[1].server_addr(), nodes[2].server_addr()];
    let (dave, _welcome, events) = Session::connect_to_any(config, fallbacks, backoff)
        .await
        .expect("dave joins");
    users_become(&mut erin, &["dave", "erin"]).await;

    for n in 0..5 {
        dave.say(format!("d{n}")).expect("session alive");
    }
    let before = chats(&mut erin, 5).await;
    let killed_at = tokio::time::Instant::now();
    nodes[0].child.start_kill().expect("SIGKILL node0");
    nodes[0].child.wait().await.expect("reaped");
    // Said while dave's node is dead: queued by the library, or in flight and lost with the node.
    for n in 5..10 {
        dave.say(format!("d{n}")).expect("session alive");
    }
    say(&mut erin, 1, "while dave is away").await;

    // The others see dave leave within seconds (heartbeat TTL 6 s, checked every 2 s).
    let mut erin_seen = before;
    let left = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match next(&mut erin).await {
                ServerFrame::Left { user, why } if user == "dave" => return why,
                ServerFrame::Chat { message: m, .. } => erin_seen.push(m),
                _ => {}
            }
        }
    })
    .await
    .expect("dave's departure is seen in time");
    assert_eq!(left, LeaveReason::TimedOut);
    eprintln!("dave removed {:?} after the kill", killed_at.elapsed());

    // Dave's library reconnects to another node and resumes; erin sees his lines once each.
    let mut dave_seen: Vec<client::Line> = Vec::new();
    let done = tokio::time::timeout(Duration::from_secs(30), async {
        let mut reconnected = false;
        loop {
            tokio::select! {
                event = events.recv() => match event.expect("dave's session alive") {
                    Event::Line(m) | Event::Receipt(m) => dave_seen.push(m),
                    Event::Reconnected { .. } => reconnected = true,
                    Event::Closed(reason) => panic!("dave's session closed: {reason}"),
                    _ => {}
                },
                frame = erin.next() => {
                    if let Ok(Some(ServerFrame::Chat { message: m, .. })) = frame {
                        erin_seen.push(m);
                    }
                }
            }
            let erin_has_all = (0..10).all(|n| erin_seen.iter().any(|m| m.text == format!("d{n}")));
            if reconnected
                && erin_has_all
                && dave_seen.iter().any(|m| m.text == "while dave is away")
            {
                return;
            }
        }
    })
    .await;
    assert!(
        done.is_ok(),
        "dave is back with everything in time; erin saw {erin_seen:?}"
    );
    eprintln!("dave back {:?} after the kill", killed_at.elapsed());
    for n in 0..10 {
        let text = format!("d{n}");
        assert_eq!(
            erin_seen.iter().filter(|m| m.text == text).count(),
            1,
            "{text} exactly once"
        );
    }
    let ids: Vec<u64> = erin_seen.iter().map(|m| m.id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] + 1 == w[1]),
        "no gap, no repeat: {ids:?}"
    );
    let mut dave_ids: Vec<u64> = dave_seen.iter().map(|m| m.id).collect();
    let count = dave_ids.len();
    dave_ids.dedup();
    assert_eq!(dave_ids.len(), count, "dave got nothing twice");
    users_become(&mut erin, &["dave", "erin"]).await;
    dave.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_resumes_after_nats_restarts() {
    if !nats_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut nats, nodes) = cluster(dir.path(), 2).await;
    let mut a = nodes[0].join(dir.path(), "anna").await;
    let mut b = nodes[1].join(dir.path(), "bert").await;
    users_become(&mut a, &["anna", "bert"]).await;
    say(&mut a, 1, "before").await;
    let first = chats(&mut b, 1).await;
    assert_eq!(chats(&mut a, 1).await, first, "anna's receipt");

    nats.child.start_kill().expect("SIGKILL nats-server");
    nats.child.wait().await.expect("reaped");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // NATS is down: the line is refused with a reason, not lost in silence.
    say(&mut b, 2, "during").await;
    match until(&mut b, |f| {
        matches!(f, ServerFrame::Problem { .. } | ServerFrame::Chat { .. })
    })
    .await
    {
        ServerFrame::Problem { code, nonce, .. } => {
            assert_eq!((code, nonce), (ProblemCode::ServerError, Some(2)));
        }
        other => panic!("a line said while NATS is down: {other:?}"),
    }
    nats.restart(Duration::from_millis(500)).await;
    let restarted = tokio::time::Instant::now();

    // Nodes reconnect; bert retries (new nonces) until his line goes through.
    let mut nonce = 10;
    let after = loop {
        assert!(
            restarted.elapsed() < Duration::from_secs(20),
            "the chat resumes in time"
        );
        say(&mut b, nonce, "after").await;
        match until(&mut b, |f| {
            matches!(f, ServerFrame::Problem { .. } | ServerFrame::Chat { .. })
        })
        .await
        {
            ServerFrame::Chat { message: m, .. } => break m,
            _ => {
                nonce += 1;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    assert_eq!(after.id, first[0].id + 1, "ids continue after the restart");
    let got = chats(&mut a, 1).await;
    assert_eq!(got[0].text, "after", "anna's node follows the stream again");
    eprintln!(
        "chat resumed {:?} after NATS came back",
        restarted.elapsed()
    );
    // Nobody is reaped by mistake once the heartbeats are renewed (TTL 6 s).
    tokio::time::sleep(Duration::from_secs(7)).await;
    users_become(&mut a, &["anna", "bert"]).await;
    users_become(&mut b, &["anna", "bert"]).await;
}

fn identity() -> client::Identity {
    client::Identity::ephemeral().expect("identity")
}

fn refusal(result: &Result<(Connection, client::Welcome), ClientError>) -> Option<&RefuseReason> {
    match result {
        Err(ClientError::Refused(reason)) => Some(reason),
        _ => None,
    }
}

/// Signs off and waits until the node has let go of the connection.
async fn bye(mut conn: Connection) {
    conn.send(&wire::ClientFrame::Bye).await.expect("bye");
    support::closed_with(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_keys_racing_for_one_name_on_two_nodes_bind_it_to_exactly_one() {
    if !nats_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_nats, nodes) = cluster(dir.path(), 2).await;
    let mut winners = Vec::new();
    for round in 0..6 {
        let name = format!("frank{round}");
        let keys = [identity(), identity()];
        let (a, b) = tokio::join!(
            nodes[0].sign_in(dir.path(), &keys[0], &name),
            nodes[1].sign_in(dir.path(), &keys[1], &name)
        );
        let (winner, won) = match (a, b) {
            (Ok((conn, _)), lost) if refusal(&lost) == Some(&RefuseReason::NameOwned) => (0, conn),
            (lost, Ok((conn, _))) if refusal(&lost) == Some(&RefuseReason::NameOwned) => (1, conn),
            (a, b) => panic!(
                "round {round}: exactly one key must win: {:?} / {:?}",
                a.map(|_| ()),
                b.map(|_| ())
            ),
        };
        winners.push(winner);
        // The name is bound to the winner's key alone: once it is gone, the loser is still
        // refused on either node, and the winner comes back on the other node.
        bye(won).await;
        let loser = 1 - winner;
        for node in &nodes {
            assert_eq!(
                refusal(&node.sign_in(dir.path(), &keys[loser], &name).await),
                Some(&RefuseReason::NameOwned),
                "round {round}: the losing key"
            );
        }
        let (again, _) = nodes[loser]
            .sign_in(dir.path(), &keys[winner], &name)
            .await
            .expect("the winner signs in again");
        bye(again).await;
    }
    eprintln!("winning node per round: {winners:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_and_a_ban_outlive_the_node_that_made_them() {
    if !nats_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (op, gina, mallory, stranger) = (identity(), identity(), identity(), identity());
    let operator = op.fingerprint().to_string();
    let flags = ["--operator", operator.as_str()];
    let nats = Nats::start(dir.path()).await;
    let mut first = Node::start_with(dir.path(), &nats, "node0", &flags).await;
    let second = Node::start_with(dir.path(), &nats, "node1", &flags).await;

    let (gina_conn, _) = first
        .sign_in(dir.path(), &gina, "gina")
        .await
        .expect("gina");
    bye(gina_conn).await;
    let (mut opal, _) = first
        .sign_in(dir.path(), &op, "opal")
        .await
        .expect("operator");
    let (mallory_conn, _) = first
        .sign_in(dir.path(), &mallory, "mallory")
        .await
        .expect("mallory");
    bye(mallory_conn).await;
    opal.send(&wire::ClientFrame::Request {
        id: 1,
        request: wire::Request::Ban {
            user: "mallory".into(),
            reason: "spam".into(),
        },
    })
    .await
    .expect("sent");
    let reply = until(&mut opal, |f| matches!(f, ServerFrame::Reply { id: 1, .. })).await;
    assert!(
        matches!(
            reply,
            ServerFrame::Reply {
                reply: wire::Reply::Done { .. },
                ..
            }
        ),
        "{reply:?}"
    );

    first.child.start_kill().expect("SIGKILL node0");
    first.child.wait().await.expect("reaped");
    let banned = RefuseReason::Banned {
        reason: "spam".into(),
    };
    assert_eq!(
        refusal(&second.sign_in(dir.path(), &stranger, "gina").await),
        Some(&RefuseReason::NameOwned)
    );
    assert_eq!(
        refusal(&second.sign_in(dir.path(), &mallory, "mallory").await),
        Some(&banned)
    );
    let (gina_conn, _) = second
        .sign_in(dir.path(), &gina, "gina")
        .await
        .expect("gina on the other node");
    bye(gina_conn).await;

    // The killed node comes back and knows it too.
    first = Node::start_with(dir.path(), &nats, "node0", &flags).await;
    assert_eq!(
        refusal(&first.sign_in(dir.path(), &stranger, "gina").await),
        Some(&RefuseReason::NameOwned)
    );
    assert_eq!(
        refusal(&first.sign_in(dir.path(), &mallory, "mallory").await),
        Some(&banned)
    );
}

// Rooms and direct messages across nodes (issue 18, stage 2).

fn in_room(name: &str) -> Conversation {
    Conversation::Room(name.into())
}

async fn say_in(conn: &mut Connection, to: Conversation, nonce: u64, text: &str) {
    conn.send(&ClientFrame::Say {
        nonce,
        to,
        text: text.into(),
    })
    .await
    .expect("sent");
}

/// Joins `name` and returns the `RoomJoined` answer.
async fn join_room(conn: &mut Connection, name: &str) -> wire::RoomState {
    conn.send(&ClientFrame::JoinRoom { room: name.into() })
        .await
        .expect("sent");
    match until_whole(conn, |f| {
        matches!(f, ServerFrame::RoomJoined(_) | ServerFrame::Problem { .. })
    })
    .await
    {
        ServerFrame::RoomJoined(state) => state,
        other => panic!("joining {name}: {other:?}"),
    }
}

/// Every `Chat` until the reader's own line `nonce` comes back in `to`, that one included.
async fn chats_until_receipt(
    conn: &mut Connection,
    to: &Conversation,
    nonce: u64,
) -> Vec<(Conversation, ChatMessage)> {
    let mut got = Vec::new();
    loop {
        if let ServerFrame::Chat {
            conversation,
            message,
        } = until_whole(conn, |f| matches!(f, ServerFrame::Chat { .. })).await
        {
            let done = conversation == *to && message.nonce == nonce;
            got.push((conversation, message));
            if done {
                return got;
            }
        }
    }
}

/// The next `count` lines in `room`, skipping everything else.
async fn room_chats(conn: &mut Connection, room: &str, count: usize) -> Vec<ChatMessage> {
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        if let ServerFrame::Chat {
            conversation,
            message,
        } = until_whole(conn, |f| matches!(f, ServerFrame::Chat { .. })).await
            && conversation == in_room(room)
        {
            got.push(message);
        }
    }
    got
}

/// A room made on one node is listed and joinable on another; its members on both nodes see each
/// other come and its lines in one order with ids +1, also when both nodes publish at once; a
/// member of another room sees none of them; a topic reaches every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_spans_nodes_with_one_order_and_only_its_members_see_it() {
    if !nats_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_nats, nodes) = cluster(dir.path(), 2).await;
    let mut ana = nodes[0].join(dir.path(), "ana").await;
    let mut ben = nodes[1].join(dir.path(), "ben").await;
    let mut cyd = nodes[1].join(dir.path(), "cyd").await;

    let made = join_room(&mut ana, "#Rust").await;
    assert_eq!(
        (made.room.as_str(), made.users.as_slice()),
        ("#Rust", &["ana".to_owned()][..])
    );
    // Node1 lists it (as its maker typed it, once it has followed the stream that far) and lets
    // ben in.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        ben.send(&ClientFrame::ListRooms).await.expect("sent");
        if let ServerFrame::Rooms { list } =
            until_whole(&mut ben, |f| matches!(f, ServerFrame::Rooms { .. })).await
            && let Some(rust) = list.iter().find(|r| r.room == "#Rust")
        {
            assert_eq!(rust.members, 1, "{list:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node1 lists #Rust in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let joined = join_room(&mut ben, "#rust").await;
    assert_eq!(joined.room, "#Rust");
    assert_eq!(
        joined.users,
        ["ana", "ben"],
        "ana, on the other node, is there"
    );
    // Ana, on node0, sees ben come.
    match until_whole(
        &mut ana,
        |f| matches!(f, ServerFrame::Presence { room, .. } if room == "#Rust"),
    )
    .await
    {
        ServerFrame::Presence { room, changes } => {
            assert_eq!(room, "#Rust");
            assert_eq!(
                changes,
                [wire::PresenceChange::Joined { user: "ben".into() }]
            );
        }
        _ => unreachable!(),
    }
    join_room(&mut cyd, "#go").await;

    // Both talk at once, each through its own node.
    const LINES: usize = 15;
    let talk = |mut conn: Connection, who: &'static str| {
        tokio::spawn(async move {
            for n in 0..LINES {
                say_in(
                    &mut conn,
                    in_room("#rust"),
                    n as u64 + 1,
                    &format!("{who}{n}"),
                )
                .await;
            }
            let seen = room_chats(&mut conn, "#Rust", 2 * LINES).await;
            (conn, seen)
        })
    };
    let (ana_task, ben_task) = (talk(ana, "a"), talk(ben, "b"));
    let (mut ana, ana_saw) = ana_task.await.expect("ana's task");
    let (mut ben, ben_saw) = ben_task.await.expect("ben's task");
    let ids: Vec<u64> = ana_saw.iter().map(|m| m.id).collect();
    assert_eq!(
        ids,
        (1..=(2 * LINES) as u64).collect::<Vec<_>>(),
        "ids +1 in #Rust"
    );
    let order = |v: &[ChatMessage]| v.iter().map(|m| (m.id, m.text.clone())).collect::<Vec<_>>();
    assert_eq!(order(&ana_saw), order(&ben_saw), "one order on both nodes");
    for who in ["a", "b"] {
        let mine: Vec<String> = ana_saw
            .iter()
            .filter(|m| m.text.starts_with(who))
            .map(|m| m.text.clone())
            .collect();
        let typed: Vec<String> = (0..LINES).map(|n| format!("{who}{n}")).collect();
        assert_eq!(mine, typed, "{who}'s lines once each, in the order typed");
    }

    // Cyd, in #go on node1, got none of it: her own line is the first thing she is sent.
    say_in(&mut cyd, in_room("#go"), 1, "anyone here?").await;
    let cyd_saw = chats_until_receipt(&mut cyd, &in_room("#go"), 1).await;
    assert_eq!(cyd_saw.len(), 1, "{cyd_saw:?}");
    assert_eq!(cyd_saw[0].1.id, 1, "#go has its own ids");

    // A topic set on node1 reaches node0.
    ben.send(&ClientFrame::SetTopic {
        room: "#rust".into(),
        topic: "borrowing".into(),
    })
    .await
    .expect("sent");
    match until_whole(&mut ana, |f| matches!(f, ServerFrame::Topic { .. })).await {
        ServerFrame::Topic { room, topic, by } => {
            assert_eq!(
                (room.as_str(), topic.as_str(), by.as_str()),
                ("#Rust", "borrowing", "ben")
            );
        }
        _ => unreachable!(),
    }
    // Ben leaves the room: ana sees it.
    ben.send(&ClientFrame::PartRoom {
        room: "#rust".into(),
    })
    .await
    .expect("sent");
    match until_whole(
        &mut ana,
        |f| matches!(f, ServerFrame::Presence { room, .. } if room == "#Rust"),
    )
    .await
    {
        ServerFrame::Presence { room, changes } => {
            assert_eq!(room, "#Rust");
            assert!(
                matches!(&changes[..], [wire::PresenceChange::Left { user, .. }] if user == "ben"),
                "{changes:?}"
            );
        }
        _ => unreachable!(),
    }
}

/// A direct message to somebody offline, sent through node0, is handed over when they sign in on
/// node1, once; the answer reaches the sender live on the other node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_to_an_offline_user_arrives_once_on_another_node() {
    if !nats_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_nats, nodes) = cluster(dir.path(), 2).await;
    // Dan owns his name (signed in once), then goes.
    bye(nodes[1].join(dir.path(), "dan").await).await;
    let mut ana = nodes[0].join(dir.path(), "ana").await;
    say_in(&mut ana, Conversation::Direct("dan".into()), 1, "psst, dan").await;
    let receipt = chats_until_receipt(&mut ana, &Conversation::Direct("dan".into()), 1).await;
    assert_eq!(receipt.len(), 1);
    assert_eq!(receipt[0].1.id, 1);

    let mut dan = nodes[1].join(dir.path(), "dan").await;
    match until_whole(&mut dan, |f| matches!(f, ServerFrame::Chat { .. })).await {
        ServerFrame::Chat {
            conversation,
            message,
        } => {
            assert_eq!(conversation, Conversation::Direct("ana".into()));
            assert_eq!((message.id, message.text.as_str()), (1, "psst, dan"));
        }
        _ => unreachable!(),
    }
    // Dan answers; ana gets it live on node0.
    say_in(&mut dan, Conversation::Direct("ana".into()), 7, "hi ana").await;
    let dan_saw = chats_until_receipt(&mut dan, &Conversation::Direct("ana".into()), 7).await;
    assert_eq!(dan_saw.len(), 1, "{dan_saw:?}");
    assert_eq!(dan_saw[0].1.id, 2);
    match until_whole(&mut ana, |f| matches!(f, ServerFrame::Chat { .. })).await {
        ServerFrame::Chat {
            conversation,
            message,
        } => {
            assert_eq!(conversation, Conversation::Direct("dan".into()));
            assert_eq!((message.id, message.text.as_str()), (2, "hi ana"));
        }
        _ => unreachable!(),
    }
    bye(dan).await;
    // Delivered once: a sign-in on node0 without a resume point does not get either line again.
    let mut dan = nodes[0].join(dir.path(), "dan").await;
    say(&mut dan, 8, "back").await;
    let dan_saw = chats_until_receipt(&mut dan, &in_room("#general"), 8).await;
    assert_eq!(dan_saw.len(), 1, "nothing but dan's own line: {dan_saw:?}");
}

/// A direct line handed to a connection that then vanished (no `Bye`) may never have been shown:
/// the next sign-in, on another node, is handed it again; after a `Bye` it is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_to_a_vanished_connection_comes_again_on_another_node() {
    if !nats_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_nats, nodes) = cluster(dir.path(), 2).await;
    let mut dan = nodes[1].join(dir.path(), "dan").await;
    let mut ana = nodes[0].join(dir.path(), "ana").await;
    say_in(
        &mut ana,
        Conversation::Direct("dan".into()),
        1,
        "did you see this?",
    )
    .await;
    match until_whole(&mut dan, |f| matches!(f, ServerFrame::Chat { .. })).await {
        ServerFrame::Chat { conversation, .. } => {
            assert_eq!(conversation, Conversation::Direct("ana".into()));
        }
        _ => unreachable!(),
    }
    drop(dan);
    let direct_before_own_line = |mut dan: client::Connection, nonce: u64| async move {
        say(&mut dan, nonce, "here").await;
        let saw = chats_until_receipt(&mut dan, &in_room("#general"), nonce).await;
        let direct: Vec<String> = saw
            .into_iter()
            .filter(|(c, _)| matches!(c, Conversation::Direct(_)))
            .map(|(_, m)| m.text)
            .collect();
        (dan, direct)
    };
    let dan = nodes[0].join(dir.path(), "dan").await;
    let (dan, direct) = direct_before_own_line(dan, 2).await;
    assert_eq!(direct, ["did you see this?"], "handed over again");
    bye(dan).await;
    let dan = nodes[1].join(dir.path(), "dan").await;
    let (_dan, direct) = direct_before_own_line(dan, 3).await;
    assert!(direct.is_empty(), "after Bye it is delivered: {direct:?}");
}

/// Everything a room and a pending direct message are is in NATS: after every node is SIGKILLed,
/// a fresh node has the room, its topic, its members, its lines, and the direct message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_of_the_nodes_keeps_rooms_memberships_topics_and_pending_direct_messages() {
    if !nats_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (nats, mut nodes) = cluster(dir.path(), 2).await;
    bye(nodes[1].join(dir.path(), "eve").await).await;
    let mut ana = nodes[0].join(dir.path(), "ana").await;
    join_room(&mut ana, "#keep").await;
    ana.send(&ClientFrame::SetTopic {
        room: "#keep".into(),
        topic: "kept".into(),
    })
    .await
    .expect("sent");
    until_whole(&mut ana, |f| matches!(f, ServerFrame::Topic { .. })).await;
    say_in(&mut ana, in_room("#keep"), 1, "one").await;
    say_in(&mut ana, in_room("#keep"), 2, "two").await;
    room_chats(&mut ana, "#keep", 2).await;
    say_in(&mut ana, Conversation::Direct("eve".into()), 3, "for eve").await;
    chats_until_receipt(&mut ana, &Conversation::Direct("eve".into()), 3).await;
    // Ana signs off (her name is free at once), then both nodes die.
    bye(ana).await;
    for node in &mut nodes {
        node.child.start_kill().expect("SIGKILL");
        node.child.wait().await.expect("reaped");
    }
    let fresh = Node::start(dir.path(), &nats, "node2").await;

    let (mut ana, _) = fresh
        .sign_in(
            dir.path(),
            &client::Identity::for_this_process().expect("identity"),
            "ana",
        )
        .await
        .expect("ana signs in");
    match until_whole(&mut ana, |f| matches!(f, ServerFrame::RoomJoined(_))).await {
        ServerFrame::RoomJoined(state) => {
            assert_eq!(
                (state.room.as_str(), state.topic.as_str()),
                ("#keep", "kept")
            );
            assert_eq!(state.users, ["ana"]);
            let lines: Vec<(u64, &str)> = state
                .history
                .iter()
                .map(|m| (m.id, m.text.as_str()))
                .collect();
            assert_eq!(lines, [(1, "one"), (2, "two")]);
        }
        _ => unreachable!(),
    }
    // The room goes on with the next id.
    say_in(&mut ana, in_room("#keep"), 4, "three").await;
    let next_line = room_chats(&mut ana, "#keep", 1).await;
    assert_eq!((next_line[0].id, next_line[0].text.as_str()), (3, "three"));

    let mut eve = fresh.join(dir.path(), "eve").await;
    match until_whole(&mut eve, |f| matches!(f, ServerFrame::Chat { .. })).await {
        ServerFrame::Chat {
            conversation,
            message,
        } => {
            assert_eq!(conversation, Conversation::Direct("ana".into()));
            assert_eq!((message.id, message.text.as_str()), (1, "for eve"));
        }
        _ => unreachable!(),
    }
}

/// A member that leaves one node and signs in on another with its resume points gets exactly the
/// lines it missed in its room, once, in order; the others in the room, on the first node, see it
/// go and come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_resumes_its_room_exactly_on_another_node_and_presence_follows() {
    if !nats_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_nats, nodes) = cluster(dir.path(), 2).await;
    let mut ana = nodes[0].join(dir.path(), "ana").await;
    let mut ben = nodes[1].join(dir.path(), "ben").await;
    join_room(&mut ana, "#ops").await;
    join_room(&mut ben, "#ops").await;
    for n in 1..=3 {
        say_in(&mut ben, in_room("#ops"), n, &format!("seen{n}")).await;
    }
    let seen = room_chats(&mut ben, "#ops", 3).await;
    let last_seen = seen.last().map(|m| m.id).expect("three lines");
    room_chats(&mut ana, "#ops", 3).await;

    // Ben goes; ana, on the other node, sees him leave #ops.
    bye(ben).await;
    match until_whole(
        &mut ana,
        |f| matches!(f, ServerFrame::Presence { room, .. } if room == "#ops"),
    )
    .await
    {
        ServerFrame::Presence { changes, .. } => assert!(
            matches!(&changes[..], [wire::PresenceChange::Left { user, .. }] if user == "ben"),
            "{changes:?}"
        ),
        _ => unreachable!(),
    }
    for n in 1..=4 {
        say_in(&mut ana, in_room("#ops"), n, &format!("missed{n}")).await;
    }
    room_chats(&mut ana, "#ops", 4).await;

    // Ben comes back on node0 with his resume point in #ops: exactly the four he missed.
    let resume = [wire::ResumePoint {
        conversation: in_room("#ops"),
        last_id: last_seen,
    }];
    let me = client::Identity::for_this_process().expect("identity");
    let (mut ben, _) = Connector::new(&Trust::CaFile(ca(dir.path())), &me, nodes[0].addr)
        .expect("connector")
        .connect(&nodes[0].server_addr(), nodes[0].addr, "ben", &resume)
        .await
        .expect("ben signs in on node0");
    match until_whole(&mut ben, |f| matches!(f, ServerFrame::RoomJoined(_))).await {
        ServerFrame::RoomJoined(state) => {
            assert_eq!(state.room, "#ops");
            let got: Vec<(u64, &str)> = state
                .history
                .iter()
                .map(|m| (m.id, m.text.as_str()))
                .collect();
            assert_eq!(
                got,
                [
                    (4, "missed1"),
                    (5, "missed2"),
                    (6, "missed3"),
                    (7, "missed4")
                ],
                "exactly what ben missed"
            );
        }
        _ => unreachable!(),
    }
    match until_whole(
        &mut ana,
        |f| matches!(f, ServerFrame::Presence { room, .. } if room == "#ops"),
    )
    .await
    {
        ServerFrame::Presence { changes, .. } => assert_eq!(
            changes,
            [wire::PresenceChange::Joined { user: "ben".into() }]
        ),
        _ => unreachable!(),
    }
}

/// A room goes on after NATS restarts: a line said while it is down is refused with a reason,
/// and once it is back lines get the next id and reach the member on the other node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_resumes_after_nats_restarts() {
    if !nats_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut nats, nodes) = cluster(dir.path(), 2).await;
    let mut a = nodes[0].join(dir.path(), "anna").await;
    let mut b = nodes[1].join(dir.path(), "bert").await;
    join_room(&mut a, "#night").await;
    join_room(&mut b, "#night").await;
    say_in(&mut a, in_room("#night"), 1, "before").await;
    let first = room_chats(&mut b, "#night", 1).await;
    assert_eq!(first[0].id, 1);
    assert_eq!(
        room_chats(&mut a, "#night", 1).await,
        first,
        "anna's receipt"
    );

    nats.child.start_kill().expect("SIGKILL nats-server");
    nats.child.wait().await.expect("reaped");
    tokio::time::sleep(Duration::from_millis(300)).await;
    say_in(&mut b, in_room("#night"), 2, "during").await;
    match until_whole(&mut b, |f| {
        matches!(f, ServerFrame::Problem { .. })
            || matches!(f, ServerFrame::Chat { conversation, .. } if *conversation == in_room("#night"))
    })
    .await
    {
        ServerFrame::Problem { code, nonce, .. } => {
            assert_eq!((code, nonce), (ProblemCode::ServerError, Some(2)));
        }
        other => panic!("a line said while NATS is down: {other:?}"),
    }
    nats.restart(Duration::from_millis(500)).await;
    let restarted = tokio::time::Instant::now();
    let mut nonce = 10;
    let after = loop {
        assert!(
            restarted.elapsed() < Duration::from_secs(20),
            "the room resumes in time"
        );
        say_in(&mut b, in_room("#night"), nonce, "after").await;
        match until_whole(&mut b, |f| {
            matches!(f, ServerFrame::Problem { .. })
                || matches!(f, ServerFrame::Chat { conversation, .. } if *conversation == in_room("#night"))
        })
        .await
        {
            ServerFrame::Chat { message, .. } => break message,
            _ => {
                nonce += 1;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    assert_eq!(after.id, 2, "ids continue after the restart");
    let got = room_chats(&mut a, "#night", 1).await;
    assert_eq!(
        (got[0].id, got[0].text.as_str()),
        (2, "after"),
        "anna's node follows again"
    );
}

/// Two nodes making one room at the same instant (spelled differently) agree on it: one room,
/// named the way the first maker typed it, with both members.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_making_one_room_at_once_agree_on_it() {
    if !nats_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_nats, nodes) = cluster(dir.path(), 2).await;
    let mut ana = nodes[0].join(dir.path(), "ana").await;
    let mut ben = nodes[1].join(dir.path(), "ben").await;
    let (a, b) = tokio::join!(join_room(&mut ana, "#Same"), join_room(&mut ben, "#same"));
    assert_eq!(a.room, b.room, "one spelling for both");
    // Both are members of that one room: each sees the other's line in it.
    say_in(&mut ana, in_room("#same"), 1, "from ana").await;
    say_in(&mut ben, in_room("#SAME"), 1, "from ben").await;
    let mut ana_saw: Vec<String> = room_chats(&mut ana, &a.room, 2)
        .await
        .into_iter()
        .map(|m| m.text)
        .collect();
    let mut ben_saw: Vec<String> = room_chats(&mut ben, &b.room, 2)
        .await
        .into_iter()
        .map(|m| m.text)
        .collect();
    ana_saw.sort();
    ben_saw.sort();
    assert_eq!(ana_saw, ["from ana", "from ben"]);
    assert_eq!(ben_saw, ana_saw);
    ana.send(&ClientFrame::ListRooms).await.expect("sent");
    match until_whole(&mut ana, |f| matches!(f, ServerFrame::Rooms { .. })).await {
        ServerFrame::Rooms { list } => {
            let same: Vec<_> = list.iter().filter(|r| r.room == a.room).collect();
            assert_eq!(same.len(), 1, "{list:?}");
            assert_eq!(same[0].members, 2, "{list:?}");
        }
        _ => unreachable!(),
    }
}

/// The limits count the whole cluster: rooms per name follow the name to another node, and rooms
/// made on one node count on the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_limits_count_the_whole_cluster() {
    if !nats_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let nats = Nats::start(dir.path()).await;
    let flags = ["--max-rooms-per-user", "2", "--max-rooms", "3"];
    let first = Node::start_with(dir.path(), &nats, "node0", &flags).await;
    let second = Node::start_with(dir.path(), &nats, "node1", &flags).await;
    let mut ana = first.join(dir.path(), "ana").await;
    join_room(&mut ana, "#one").await;
    bye(ana).await;
    // Ana on the other node: back in #one, and that is as many rooms as she may be in.
    let mut ana = second.join(dir.path(), "ana").await;
    match until_whole(&mut ana, |f| matches!(f, ServerFrame::RoomJoined(_))).await {
        ServerFrame::RoomJoined(state) => assert_eq!(state.room, "#one"),
        _ => unreachable!(),
    }
    ana.send(&ClientFrame::JoinRoom {
        room: "#two".into(),
    })
    .await
    .expect("sent");
    match until_whole(&mut ana, |f| matches!(f, ServerFrame::Problem { .. })).await {
        ServerFrame::Problem { code, .. } => assert_eq!(code, ProblemCode::TooManyRooms),
        _ => unreachable!(),
    }
    // Ben makes the third room on node1; node0 then has no room for a fourth.
    let mut ben = second.join(dir.path(), "ben").await;
    join_room(&mut ben, "#two").await;
    say_in(&mut ben, in_room("#two"), 1, "made").await;
    room_chats(&mut ben, "#two", 1).await;
    let mut cyd = first.join(dir.path(), "cyd").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        cyd.send(&ClientFrame::ListRooms).await.expect("sent");
        if let ServerFrame::Rooms { list } =
            until_whole(&mut cyd, |f| matches!(f, ServerFrame::Rooms { .. })).await
            && list.iter().any(|r| r.room == "#two")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node0 knows #two in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cyd.send(&ClientFrame::JoinRoom {
        room: "#three".into(),
    })
    .await
    .expect("sent");
    match until_whole(&mut cyd, |f| matches!(f, ServerFrame::Problem { .. })).await {
        ServerFrame::Problem { code, .. } => assert_eq!(code, ProblemCode::ServerRoomsFull),
        _ => unreachable!(),
    }
}
