//! Owned names against a real server on loopback: real QUIC, real client certificates, one key per
//! user. Who may sign in with a name, link codes (once, expiring, not guessable within the rate
//! limit), revoked devices, what operators may do and others may not, invite-only servers, and the
//! handshake's refusals of keys that are not identities.

mod support;

use std::{path::Path, sync::Arc, time::Duration};

use client::{ClientError, Connection, Connector, Identity, Trust, Welcome};
use support::{TestServer, WAIT, chats, closed_with, next, say, until, why_left};
use wire::{ClientFrame, LeaveReason, ProblemCode, RefuseReason, Reply, Request, ServerFrame};

fn identity() -> Identity {
    Identity::ephemeral().expect("identity")
}

fn connector(server: &TestServer, key: &Identity) -> Connector {
    Connector::new(&Trust::CaFile(server.ca.clone()), key, server.addr).expect("connector")
}

/// Signs in as `user` with `key`, first redeeming `code` when given.
async fn sign_in(
    server: &TestServer,
    key: &Identity,
    user: &str,
    code: Option<&str>,
) -> Result<(Connection, Welcome), ClientError> {
    tokio::time::timeout(
        WAIT,
        connector(server, key).connect_redeeming(
            &server.server_addr(),
            server.addr,
            user,
            &[],
            code,
        ),
    )
    .await
    .expect("an answer in time")
}

async fn join(server: &TestServer, key: &Identity, user: &str) -> Connection {
    sign_in(server, key, user, None).await.expect("joins").0
}

/// Signs off and waits until the server has let go of the connection (and of its name).
async fn bye(mut conn: Connection) {
    conn.send(&ClientFrame::Bye).await.expect("bye");
    closed_with(&conn).await;
}

/// The reason a sign-in was refused; fails the test when it was not.
fn refusal(result: Result<(Connection, Welcome), ClientError>) -> RefuseReason {
    match result {
        Err(ClientError::Refused(reason)) => reason,
        Err(other) => panic!("failed otherwise: {other}"),
        Ok((_, welcome)) => panic!("welcomed as {}", welcome.you),
    }
}

/// Sends `request` and waits for its reply, skipping other frames.
async fn ask(conn: &mut Connection, id: u32, request: Request) -> Reply {
    conn.send(&ClientFrame::Request { id, request })
        .await
        .expect("sent");
    match until(
        conn,
        |f| matches!(f, ServerFrame::Reply { id: got, .. } if *got == id),
    )
    .await
    {
        ServerFrame::Reply { reply, .. } => reply,
        other => unreachable!("until returned {other:?}"),
    }
}

async fn new_code(conn: &mut Connection, request: Request) -> String {
    match ask(conn, 1000, request).await {
        Reply::Code { code, valid_secs } => {
            assert!(valid_secs >= 600, "valid for {valid_secs} s");
            code
        }
        other => panic!("no code: {other:?}"),
    }
}

fn failed_with(reply: &Reply, want: ProblemCode) {
    assert!(
        matches!(reply, Reply::Failed { code, .. } if *code == want),
        "{reply:?} is not {want:?}"
    );
}

/// Every frame `watcher` gets until its own line `marker` comes back: what happened in the room
/// between now and then, as seen by somebody in it.
async fn frames_until_own_line(
    watcher: &mut Connection,
    me: &str,
    nonce: u64,
    marker: &str,
) -> Vec<ServerFrame> {
    say(watcher, nonce, marker).await;
    let mut seen = Vec::new();
    loop {
        let frame = next(watcher).await;
        let done = matches!(&frame, ServerFrame::Chat { message: m, .. } if m.from == me && m.text == marker);
        seen.push(frame);
        if done {
            return seen;
        }
    }
}

fn mentions(frames: &[ServerFrame], user: &str) -> Vec<ServerFrame> {
    frames
        .iter()
        .filter(|f| match f {
            ServerFrame::Chat { message: m, .. } => m.from.eq_ignore_ascii_case(user),
            ServerFrame::Joined { user: who } | ServerFrame::Left { user: who, .. } => {
                who.eq_ignore_ascii_case(user)
            }
            _ => false,
        })
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_name_refuses_another_key_and_nothing_is_said_under_it() {
    let server = TestServer::start().await;
    let (alice, mallory, carol) = (identity(), identity(), identity());
    bye(join(&server, &alice, "alice").await).await;
    let mut watcher = join(&server, &carol, "carol").await;

    // The impostor sends Hello and lines right behind it, without waiting for an answer.
    let quic = server.raw_connect(&connector(&server, &mallory)).await;
    let mut decoder = all_at_once(
        &quic,
        &[
            ClientFrame::Hello {
                version: wire::PROTOCOL_VERSION,
                user: "alice".into(),
                resume: Vec::new(),
            },
            ClientFrame::Say {
                to: wire::Conversation::Room("#general".into()),
                nonce: 1,
                text: "this is alice speaking".into(),
            },
            ClientFrame::ListUsers {
                room: "#general".into(),
            },
        ],
    )
    .await;
    assert_eq!(
        decoder.next_frame::<ServerFrame>().expect("decodes"),
        Some(ServerFrame::Refused {
            reason: RefuseReason::NameOwned
        })
    );
    assert_eq!(support::app_close(&quic).await.0, wire::close_code::REFUSED);
    // A look-alike of the name is the same name: other case, Cyrillic а, digit one for l.
    for look_alike in ["ALICE", "\u{430}lice", "a1ice"] {
        assert_eq!(
            refusal(sign_in(&server, &mallory, look_alike, None).await),
            RefuseReason::NameOwned,
            "{look_alike}"
        );
    }

    let seen = frames_until_own_line(&mut watcher, "carol", 1, "after the impostor").await;
    assert_eq!(
        mentions(&seen, "alice"),
        vec![],
        "the room saw the impostor"
    );

    // The owner still signs in, and the watcher would have seen it.
    let _back = join(&server, &alice, "alice").await;
    let seen = frames_until_own_line(&mut watcher, "carol", 2, "after the owner").await;
    assert_eq!(
        mentions(&seen, "alice"),
        vec![ServerFrame::Joined {
            user: "alice".into()
        }]
    );
}

/// Puts every pending code of the server's database past its expiry, as ten minutes would.
fn expire_codes(db: &Path) {
    let book = rusqlite::Connection::open(db).expect("open the database");
    book.busy_timeout(WAIT).expect("busy timeout");
    let changed = book
        .execute("UPDATE codes SET expires_ms = 1", [])
        .expect("expire codes");
    assert!(changed > 0, "no code to expire");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_code_adds_a_device_once_and_expires() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("history.sqlite3");
    let server = TestServer::start_with(|c| c.history_db = Some(db.clone())).await;
    let (phone, laptop, tablet, stranger) = (identity(), identity(), identity(), identity());
    let mut first = join(&server, &phone, "alice").await;
    let code = new_code(&mut first, Request::LinkCode).await;
    bye(first).await;

    // Before the code is used, the laptop is a stranger.
    assert_eq!(
        refusal(sign_in(&server, &laptop, "alice", None).await),
        RefuseReason::NameOwned
    );
    // A link code of alice's is no use for another name (and is not used up by an owner's sign-in).
    let (mut second, welcome) = sign_in(&server, &laptop, "alice", Some(&code))
        .await
        .expect("the code links the laptop");
    assert_eq!(welcome.you, "alice");
    assert_eq!(
        refusal(sign_in(&server, &tablet, "alice", Some(&code)).await),
        RefuseReason::BadCode,
        "a code is single-use"
    );
    match ask(&mut second, 1, Request::Devices).await {
        Reply::Devices { list } => {
            let keys: Vec<_> = list.iter().map(|d| d.fingerprint).collect();
            assert_eq!(
                keys,
                vec![
                    *phone.fingerprint().as_bytes(),
                    *laptop.fingerprint().as_bytes()
                ]
            );
            assert_eq!(
                list.iter().map(|d| d.this_device).collect::<Vec<_>>(),
                vec![false, true]
            );
        }
        other => panic!("no devices: {other:?}"),
    }
    bye(second).await;
    // The laptop is now alice's without a code.
    let mut laptop_again = join(&server, &laptop, "alice").await;

    // A code that outlived its ten minutes is refused, and so is one for another name.
    let late = new_code(&mut laptop_again, Request::LinkCode).await;
    bye(laptop_again).await;
    expire_codes(&db);
    assert_eq!(
        refusal(sign_in(&server, &tablet, "alice", Some(&late)).await),
        RefuseReason::BadCode,
        "an expired code"
    );
    let bobs = {
        let mut bob = join(&server, &stranger, "bob").await;
        new_code(&mut bob, Request::LinkCode).await
    };
    assert_eq!(
        refusal(sign_in(&server, &tablet, "alice", Some(&bobs)).await),
        RefuseReason::BadCode,
        "bob's code for alice's name"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_codes_is_cut_off_per_connection_and_per_address() {
    let server = TestServer::start().await;
    let (owner, guesser) = (identity(), identity());
    let mut alice = join(&server, &owner, "alice").await;
    let right = new_code(&mut alice, Request::LinkCode).await;
    bye(alice).await;

    // Per connection: a second Redeem is a protocol error, and a wrong code ends the connection.
    let quic = server.raw_connect(&connector(&server, &guesser)).await;
    let (mut send, _recv) = quic.open_bi().await.expect("stream");
    for code in ["00000-00000-00000-00000", "00000-00000-00000-00001"] {
        send.write_all(
            &wire::encode(&ClientFrame::Redeem { code: code.into() }, 1024).expect("encodes"),
        )
        .await
        .expect("written");
    }
    assert_eq!(
        support::app_close(&quic).await.0,
        wire::close_code::PROTOCOL_ERROR
    );
    let quic = server.raw_connect(&connector(&server, &guesser)).await;
    let hello = ClientFrame::Hello {
        version: wire::PROTOCOL_VERSION,
        user: "alice".into(),
        resume: Vec::new(),
    };
    let mut decoder = all_at_once(
        &quic,
        &[
            ClientFrame::Redeem {
                code: "00000-00000-00000-00002".into(),
            },
            hello.clone(),
            hello,
        ],
    )
    .await;
    assert_eq!(
        decoder.next_frame::<ServerFrame>().expect("decodes"),
        Some(ServerFrame::Refused {
            reason: RefuseReason::BadCode
        })
    );
    assert_eq!(
        decoder.next_frame::<ServerFrame>().expect("decodes"),
        None,
        "one guess per connection"
    );

    // Per address: after ten wrong codes in all (one above, nine here), even the right one is not
    // looked at.
    for guess in 3..12 {
        let code = format!("00000-00000-00000-{guess:05}");
        assert_eq!(
            refusal(sign_in(&server, &guesser, "alice", Some(&code)).await),
            RefuseReason::BadCode
        );
    }
    assert_eq!(
        refusal(sign_in(&server, &guesser, "alice", Some(&right)).await),
        RefuseReason::TooManyGuesses
    );
    // The limit is the address's, whichever key guesses; signing in without a code still works.
    assert_eq!(
        refusal(sign_in(&server, &identity(), "alice", Some(&right)).await),
        RefuseReason::TooManyGuesses
    );
    let _still = join(&server, &owner, "alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_refused_and_the_name_stays_with_the_other() {
    let server = TestServer::start().await;
    let (phone, laptop, stranger) = (identity(), identity(), identity());
    let mut alice = join(&server, &phone, "alice").await;
    let code = new_code(&mut alice, Request::LinkCode).await;
    bye(alice).await;
    let (lost, _) = sign_in(&server, &laptop, "alice", Some(&code))
        .await
        .expect("linked");
    bye(lost).await;
    let mut alice = join(&server, &phone, "alice").await;

    let short = laptop.fingerprint().short();
    let reply = ask(&mut alice, 1, Request::Revoke { fingerprint: short }).await;
    assert!(matches!(reply, Reply::Done { .. }), "{reply:?}");
    assert_eq!(
        refusal(sign_in(&server, &laptop, "alice", None).await),
        RefuseReason::Revoked
    );
    // The last device cannot be revoked (release gives a name up).
    let mine = phone.fingerprint().to_string();
    failed_with(
        &ask(&mut alice, 2, Request::Revoke { fingerprint: mine }).await,
        ProblemCode::LastDevice,
    );
    failed_with(
        &ask(
            &mut alice,
            3,
            Request::Revoke {
                fingerprint: "0000:0000:0000:0000".into(),
            },
        )
        .await,
        ProblemCode::NoSuchDevice,
    );
    bye(alice).await;
    // The name is still the phone's, and no stranger's.
    assert_eq!(
        refusal(sign_in(&server, &stranger, "alice", None).await),
        RefuseReason::NameOwned
    );
    let mut phone_again = join(&server, &phone, "alice").await;
    // Another name's owner cannot revoke alice's devices, nor list them.
    let mut bob = join(&server, &stranger, "bob").await;
    let alices = phone.fingerprint().to_string();
    failed_with(
        &ask(
            &mut bob,
            1,
            Request::Revoke {
                fingerprint: alices,
            },
        )
        .await,
        ProblemCode::NoSuchDevice,
    );
    match ask(&mut bob, 2, Request::Devices).await {
        Reply::Devices { list } => assert_eq!(
            list.iter().map(|d| d.fingerprint).collect::<Vec<_>>(),
            vec![*stranger.fingerprint().as_bytes()]
        ),
        other => panic!("{other:?}"),
    }
    match ask(&mut phone_again, 3, Request::Devices).await {
        Reply::Devices { list } => assert_eq!(list.len(), 1),
        other => panic!("{other:?}"),
    }
}

/// Writes `frames` at once on a new stream of `quic`, without waiting for any answer, and reads
/// what the server sends until it ends the stream.
async fn all_at_once(quic: &quinn::Connection, frames: &[ClientFrame]) -> wire::FrameDecoder {
    let (mut send, mut recv) = quic.open_bi().await.expect("stream");
    let mut bytes = Vec::new();
    for frame in frames {
        bytes.extend(wire::encode(frame, wire::MAX_CLIENT_FRAME).expect("encodes"));
    }
    send.write_all(&bytes).await.expect("written");
    let answer = tokio::time::timeout(WAIT, recv.read_to_end(64 * 1024))
        .await
        .expect("answered in time")
        .unwrap_or_default();
    let mut decoder = wire::FrameDecoder::new(wire::MAX_SERVER_FRAME);
    decoder.push(&answer);
    decoder
}

/// What `conn` is told before its connection closes: the `Removed` frame and the close code.
async fn removed(conn: &mut Connection) -> (ServerFrame, u32) {
    let frame = until(conn, |f| matches!(f, ServerFrame::Removed { .. })).await;
    (frame, closed_with(conn).await.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_kick_ban_unban_and_release_and_nobody_else_may() {
    let op = Arc::new(identity());
    let fingerprint = op.fingerprint();
    let server = TestServer::start_with(|c| c.operators = vec![fingerprint]).await;
    let (bob_key, carol_key, dave_key) = (identity(), identity(), identity());
    let mut root = join(&server, &op, "opal").await;
    let mut bob = join(&server, &bob_key, "bob").await;
    let mut carol = join(&server, &carol_key, "carol").await;

    // Somebody who is not an operator asks for all of it; nothing happens.
    for (id, request) in [
        (
            1,
            Request::Kick {
                user: "bob".into(),
                reason: "x".into(),
            },
        ),
        (
            2,
            Request::Ban {
                user: "bob".into(),
                reason: "x".into(),
            },
        ),
        (3, Request::Unban { user: "bob".into() }),
        (4, Request::Release { user: "bob".into() }),
        (5, Request::Invite),
    ] {
        failed_with(&ask(&mut carol, id, request).await, ProblemCode::NotAllowed);
    }
    match ask(&mut carol, 6, Request::WhoAmI).await {
        Reply::Identity { operator, .. } => assert!(!operator),
        other => panic!("{other:?}"),
    }
    match ask(&mut root, 6, Request::WhoAmI).await {
        Reply::Identity {
            operator,
            fingerprint: got,
            ..
        } => {
            assert!(operator);
            assert_eq!(&got, fingerprint.as_bytes());
        }
        other => panic!("{other:?}"),
    }
    // Bob is still here and can talk.
    say(&mut bob, 1, "still here").await;
    assert_eq!(chats(&mut carol, 1).await[0].from, "bob");

    // Kick: bob is told, the others see him leave as kicked, and he may come back.
    let reply = ask(
        &mut root,
        10,
        Request::Kick {
            user: "bob".into(),
            reason: "calm down".into(),
        },
    )
    .await;
    assert!(matches!(reply, Reply::Done { .. }), "{reply:?}");
    let (frame, code) = removed(&mut bob).await;
    assert_eq!(
        frame,
        ServerFrame::Removed {
            by: "opal".into(),
            reason: "calm down".into(),
            banned: false
        }
    );
    assert_eq!(code, wire::close_code::REMOVED);
    assert_eq!(why_left(&mut carol, "bob").await, LeaveReason::Kicked);
    let mut bob = join(&server, &bob_key, "bob").await;

    // Ban: the same, and his key is refused with the reason, under that name and any other.
    ask(
        &mut root,
        11,
        Request::Ban {
            user: "bob".into(),
            reason: "spam".into(),
        },
    )
    .await;
    let (frame, _) = removed(&mut bob).await;
    assert!(matches!(frame, ServerFrame::Removed { banned: true, .. }));
    assert_eq!(why_left(&mut carol, "bob").await, LeaveReason::Banned);
    let banned = RefuseReason::Banned {
        reason: "spam".into(),
    };
    assert_eq!(
        refusal(sign_in(&server, &bob_key, "bob", None).await),
        banned
    );
    assert_eq!(
        refusal(sign_in(&server, &dave_key, "bob", None).await),
        banned,
        "the name is banned for any key"
    );
    assert_eq!(
        refusal(sign_in(&server, &bob_key, "bobby", None).await),
        banned,
        "the key is banned under any name"
    );

    // Unban: bob is back; release: the name is anybody's.
    let reply = ask(&mut root, 12, Request::Unban { user: "bob".into() }).await;
    assert!(matches!(reply, Reply::Done { .. }), "{reply:?}");
    failed_with(
        &ask(&mut root, 13, Request::Unban { user: "bob".into() }).await,
        ProblemCode::NoSuchUser,
    );
    bye(join(&server, &bob_key, "bob").await).await;
    assert_eq!(
        refusal(sign_in(&server, &dave_key, "bob", None).await),
        RefuseReason::NameOwned
    );
    let reply = ask(&mut root, 14, Request::Release { user: "bob".into() }).await;
    assert!(matches!(reply, Reply::Done { .. }), "{reply:?}");
    let (_dave, welcome) = tokio::time::timeout(WAIT, async {
        // Bob's dropped connection may still hold the name in the room for a moment.
        loop {
            match sign_in(&server, &dave_key, "bob", None).await {
                Err(ClientError::Refused(RefuseReason::NameTaken)) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => return other.expect("dave takes the released name"),
            }
        }
    })
    .await
    .expect("in time");
    assert_eq!(welcome.you, "bob");
    failed_with(
        &ask(
            &mut root,
            15,
            Request::Release {
                user: "nobody".into(),
            },
        )
        .await,
        ProblemCode::NoSuchUser,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_only_server_registers_new_names_only_with_an_invite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("history.sqlite3");
    let op = identity();
    let fingerprint = op.fingerprint();
    // An operator's key is admitted like any other: on an invite-only server it needs a name it
    // already owns, registered while the server was open.
    {
        let open = TestServer::start_with(|c| c.history_db = Some(db.clone())).await;
        drop(join(&open, &op, "opal").await);
        open.shutdown.shutdown("closing the doors");
        tokio::time::timeout(WAIT, open.task)
            .await
            .expect("stops in time")
            .expect("joined")
            .expect("clean stop");
    }
    let server = TestServer::start_with(|c| {
        c.history_db = Some(db.clone());
        c.operators = vec![fingerprint];
        c.invite_only = true;
    })
    .await;
    let (newcomer, other) = (identity(), identity());
    assert_eq!(
        refusal(sign_in(&server, &newcomer, "nina", None).await),
        RefuseReason::InviteRequired
    );
    let mut root = join(&server, &op, "opal").await;
    let invite = new_code(&mut root, Request::Invite).await;
    let (mut nina, welcome) = sign_in(&server, &newcomer, "nina", Some(&invite))
        .await
        .expect("the invite registers nina");
    assert_eq!(welcome.you, "nina");
    assert_eq!(
        refusal(sign_in(&server, &other, "olga", Some(&invite)).await),
        RefuseReason::BadCode,
        "an invite is single-use"
    );
    // An invite is no link code: it does not add a device to somebody's name.
    let another = new_code(&mut root, Request::Invite).await;
    assert_eq!(
        refusal(sign_in(&server, &other, "nina", Some(&another)).await),
        RefuseReason::BadCode,
        "an invite used as a link code"
    );
    // Nina cannot invite anybody; she signs in again without a code.
    failed_with(
        &ask(&mut nina, 1, Request::Invite).await,
        ProblemCode::NotAllowed,
    );
    bye(nina).await;
    let _again = join(&server, &newcomer, "nina").await;
}

/// Presents one certificate, whatever it holds: rustls's own `with_client_auth_cert` would refuse
/// to send some of the certificates these tests need the server to see.
#[derive(Debug)]
struct Present(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for Present {
    fn resolve(
        &self,
        _hints: &[&[u8]],
        _schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A self-signed certificate with a key of `alg`, padded by an extension of `padding` bytes.
fn self_signed(
    alg: &'static rcgen::SignatureAlgorithm,
    padding: usize,
) -> Arc<rustls::sign::CertifiedKey> {
    let key = rcgen::KeyPair::generate_for(alg).expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    if padding > 0 {
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 55555, 1],
                vec![0x55; padding],
            ));
    }
    let cert = params.self_signed(&key).expect("cert");
    let signer = rustls::crypto::aws_lc_rs::default_provider()
        .key_provider
        .load_private_key(rustls::pki_types::PrivateKeyDer::Pkcs8(
            key.serialize_der().into(),
        ))
        .expect("signing key");
    Arc::new(rustls::sign::CertifiedKey::new(
        vec![cert.der().clone()],
        signer,
    ))
}

/// Connects to the real server presenting `cert` (or none) and says Hello; the error the client
/// is given, as text, or `Ok` when it was welcomed.
async fn hello_presenting(
    server: &TestServer,
    cert: Option<Arc<rustls::sign::CertifiedKey>>,
) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in certs::load_certs(&server.ca).expect("ca") {
        roots.add(ca).expect("root");
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .expect("tls 1.3")
    .with_root_certificates(roots);
    let mut tls = match cert {
        Some(cert) => builder.with_client_cert_resolver(Arc::new(Present(cert))),
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![wire::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("quic config");
    let mut endpoint =
        quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("endpoint");
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let attempt = async {
        let conn = endpoint
            .connect(server.addr, "127.0.0.1")
            .expect("connect")
            .await
            .map_err(|e| e.to_string())?;
        // In TLS 1.3 the client is done before the server has read its certificate: a refusal
        // arrives as the close of the connection, whatever the client does meanwhile.
        let said_hello = async {
            let (mut send, mut recv) = conn.open_bi().await.ok()?;
            let hello = wire::encode(
                &ClientFrame::Hello {
                    version: wire::PROTOCOL_VERSION,
                    user: "keyless".into(),
                    resume: Vec::new(),
                },
                1024,
            )
            .ok()?;
            send.write_all(&hello).await.ok()?;
            let mut first = [0u8; 4];
            recv.read_exact(&mut first).await.ok()
        };
        if said_hello.await.is_none() {
            return Err(conn.closed().await.to_string());
        }
        Ok(())
    };
    tokio::time::timeout(WAIT, attempt).await.expect("bounded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_refuses_what_is_not_an_identity_with_the_reason() {
    let server = TestServer::start().await;
    // The control: an accepted key kind made by hand gets through.
    hello_presenting(
        &server,
        Some(self_signed(&rcgen::PKCS_ECDSA_P256_SHA256, 0)),
    )
    .await
    .expect("a P-256 identity is welcome");
    let none = hello_presenting(&server, None)
        .await
        .expect_err("no certificate");
    assert!(none.contains("no certificates"), "{none}");
    let rsa = hello_presenting(&server, Some(self_signed(&rcgen::PKCS_RSA_SHA256, 0)))
        .await
        .expect_err("RSA");
    assert!(rsa.contains("key is RSA; only Ed25519"), "{rsa}");
    let big = hello_presenting(&server, Some(self_signed(&rcgen::PKCS_ED25519, 4000)))
        .await
        .expect_err("4 KB");
    assert!(big.contains("larger than the 2048 allowed"), "{big}");
    // 64 KiB is more than rustls buffers for one handshake message: refused before our parser,
    // before anything the size of the certificate is kept.
    let huge = hello_presenting(&server, Some(self_signed(&rcgen::PKCS_ED25519, 64 * 1024)))
        .await
        .expect_err("64 KiB");
    assert!(huge.contains("HandshakePayloadTooLarge"), "{huge}");
    // The server is still there for everybody else.
    let _fine = join(&server, &identity(), "after").await;
}

/// Signs in as `user` with `key` to the `chat-server` process on loopback `port`.
async fn sign_in_process(
    port: u16,
    ca: &Path,
    key: &Identity,
    user: &str,
) -> Result<(Connection, Welcome), ClientError> {
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let connector = Connector::new(&Trust::CaFile(ca.to_path_buf()), key, addr).expect("connector");
    let server = client::ServerAddr {
        host: "localhost".into(),
        port,
    };
    tokio::time::timeout(WAIT, connector.connect(&server, addr, user, &[]))
        .await
        .expect("an answer in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_and_a_binding_survive_a_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = testkit::ports::free_udp_port().expect("a free UDP port");
    let (op, alice, mallory, stranger) = (identity(), identity(), identity(), identity());
    let operator = op.fingerprint().to_string();
    let flags = ["--operator", operator.as_str()];
    let mut server = support::spawn_chat_server_in(dir.path(), port, &flags).await;
    let ca = dir.path().join("certs").join("ca.pem");

    let (mut opal, _) = sign_in_process(port, &ca, &op, "opal")
        .await
        .expect("operator");
    let (alice_conn, _) = sign_in_process(port, &ca, &alice, "alice")
        .await
        .expect("alice");
    bye(alice_conn).await;
    let (_spam, _) = sign_in_process(port, &ca, &mallory, "mallory")
        .await
        .expect("mallory");
    let reply = ask(
        &mut opal,
        1,
        Request::Ban {
            user: "mallory".into(),
            reason: "spam".into(),
        },
    )
    .await;
    assert!(matches!(reply, Reply::Done { .. }), "{reply:?}");

    server.start_kill().expect("SIGKILL");
    server.wait().await.expect("reaped");
    let _server = support::spawn_chat_server_in(dir.path(), port, &flags).await;

    assert_eq!(
        refusal(sign_in_process(port, &ca, &stranger, "alice").await),
        RefuseReason::NameOwned,
        "the binding was lost"
    );
    assert_eq!(
        refusal(sign_in_process(port, &ca, &mallory, "mallory").await),
        RefuseReason::Banned {
            reason: "spam".into()
        },
        "the ban was lost"
    );
    sign_in_process(port, &ca, &alice, "alice")
        .await
        .expect("alice is still alice");
}
