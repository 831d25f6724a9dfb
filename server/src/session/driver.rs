//! The quinn side of a session: the handshake, the stream, reading frames into the rules
//! ([`MemberSession`]) and carrying out what they decide against the room and the member's queue.
//!
//! Everything runs in one task. Reading and writing are two futures polled side by side, so a
//! client that does not read can never stop us from reading it (and noticing `Bye`), and a write
//! blocked on flow control never delays anyone else: the room only ever pushes into this client's
//! queue, never waiting on it.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, atomic::Ordering},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use quinn::{Connection, ConnectionError, RecvStream, SendStream, VarInt};
use tokio::time::{timeout, timeout_at};
use wire::{
    ClientFrame, Conversation, FrameDecoder, LeaveReason, ProblemCode, RefuseReason, ResumePoint,
    ServerFrame,
};

use super::{
    Admission, Shared,
    branch::Branch,
    requests::{self, Asker},
    rules::{Action, Close, Input, MemberSession, RoomRequest},
    writer::write_loop,
};
use crate::{
    client_auth,
    names::name_key,
    owners::{self, Visitor},
    queue::{self, PushError},
    room::{ConnId, Eviction, Membership, Removal, Room},
    rooms::{Refusal, Who},
};

/// How long we wait for a peer to acknowledge our last bytes before closing.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// Lines taken from one client before the other sessions get a turn. Every member's queue must hold
/// this many from each of the speakers at once, so it is far below the default queue of 1024.
const SAYS_PER_TURN: usize = 32;
/// Bytes asked of quinn per read.
const READ_CHUNK: usize = 64 * 1024;

/// What woke a member's session.
enum Event {
    /// Disconnected for falling behind.
    Kicked,
    /// The reader stopped with this action (a leave, or the end).
    Read(Action),
    Written(Result<(), quinn::WriteError>),
}

/// One connection's state once its stream is open: what every step of its life works on.
struct Session {
    connection: Connection,
    send: SendStream,
    recv: RecvStream,
    decoder: FrameDecoder,
    rules: MemberSession,
    /// The limits `rules` enforce, for the `Welcome` to tell.
    advertised: wire::Limits,
    /// The key the client proved it holds in the handshake.
    key: certs::Fingerprint,
    shared: Arc<Shared>,
    conn: ConnId,
}

/// Who is speaking on this connection: its place in the room.
struct Speaker<'a> {
    key: &'a str,
    name: &'a str,
    tx: &'a queue::WeakSender,
    conn: ConnId,
}

impl Speaker<'_> {
    /// This member as the registry of rooms knows it.
    fn who(&self) -> Who<'_> {
        Who {
            key: self.key,
            name: self.name,
            conn: self.conn,
            tx: self.tx,
        }
    }
}

/// Serves one incoming connection to the end.
pub(crate) async fn serve(
    // Boxed: an `async fn` keeps its arguments for its whole life, and this one twice (the
    // argument and the local it is moved to), 768 bytes of every session's task.
    incoming: Box<quinn::Incoming>,
    shared: Arc<Shared>,
    conn: ConnId,
    admission: Admission,
) {
    let handshake = async {
        let connecting = (*incoming).accept()?;
        connecting.await
    };
    // The stages before the member's life (handshake, Hello, joining, refusing) are boxed: a task
    // is as large as its largest stage, and unboxed they made every session's task 6.6 KB for
    // its whole life, the member stage itself being 2.5 KB.
    let limits = shared.limits.current();
    let handshake = timeout(limits.handshake_timeout, Box::pin(handshake)).await;
    shared.handshaking.fetch_sub(1, Ordering::Relaxed);
    let metrics = &shared.room.metrics;
    let connection = match handshake {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "handshake failed");
            metrics.handshake_failed(Some(&e));
            return;
        }
        Err(_) => {
            tracing::debug!("handshake timed out");
            metrics.handshake_failed(None);
            return;
        }
    };
    metrics.handshakes.inc();
    let _open = metrics.connection();
    // The verifier requires a certificate, so a finished handshake has one; this is the key the
    // client proved it holds, and so who it is.
    let Some(key) = client_auth::peer_fingerprint(&connection) else {
        connection.close(
            VarInt::from_u32(wire::close_code::PROTOCOL_ERROR),
            b"no client certificate",
        );
        return;
    };
    tracing::Span::current().record("key", key.short().as_str());

    // Held until the session ends: this connection's place in the per-address count.
    let (refusal, _slot) = match admission {
        Admission::Welcome(slot) => (None, slot),
        Admission::Refuse(reason, slot) => (Some(reason), slot),
    };
    let mut rules = MemberSession::new(&limits, refusal, Instant::now());
    // One deadline for the stream and the first frame on it.
    let deadline = tokio::time::Instant::now() + limits.hello_timeout;
    let (send, recv) = match timeout_at(deadline, Box::pin(connection.accept_bi())).await {
        Ok(Ok(stream)) => stream,
        // The connection went away before it opened its stream.
        Ok(Err(_)) => return,
        Err(_) => {
            if let Action::End {
                close: Some(how), ..
            } = rules.handle(Input::HelloTimeout, Instant::now())
            {
                close(&connection, &how);
            }
            return;
        }
    };
    let decoder = FrameDecoder::new(limits.max_frame_bytes);
    let advertised = limits.advertised();
    // Not kept across the member's life: every byte held here is held by every session's task.
    drop(limits);
    let mut session = Session {
        connection,
        send,
        recv,
        decoder,
        rules,
        advertised,
        key,
        shared,
        conn,
    };
    let Some((membership, resume)) = Box::pin(session.hello(deadline)).await else {
        return;
    };
    // Back in its other rooms and handed its direct messages, right behind its `Welcome`.
    let who = Who {
        key: &membership.key,
        name: &membership.name,
        conn: session.conn,
        tx: &membership.tx,
    };
    Box::pin(session.shared.rooms.sign_in(&who, &resume)).await;
    drop(resume);
    session.run_member(membership).await;
}

impl Session {
    /// Reads the first frames (a `Redeem`, then `Hello`) until `deadline` and carries them out:
    /// asks the book of owners, joins the room, or refuses, or closes.
    async fn hello(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> Option<(Membership, Vec<ResumePoint>)> {
        let mut input = Input::HelloTimeout;
        let mut action = Action::Nothing;
        loop {
            if matches!(action, Action::Nothing) {
                input = timeout_at(
                    deadline,
                    Box::pin(read_input(&mut self.recv, &mut self.decoder)),
                )
                .await
                .unwrap_or(Input::HelloTimeout);
                if let Input::Frame(ClientFrame::Hello { user, .. }) = &input {
                    tracing::Span::current().record("user", user.as_str());
                }
                action = self.rules.handle(input, Instant::now());
                continue;
            }
            if let Action::Claim { user, code } = &action {
                let visitor = Visitor {
                    name: user,
                    key: self.key,
                    ip: self.connection.remote_address().ip(),
                    code: code.as_deref(),
                };
                let shared = &self.shared;
                // An operator registers names without an invite: somebody has to be first on
                // an invite-only server, and operators make the invites.
                let policy = if shared.operators.contains(&self.key) {
                    owners::Policy::Open
                } else {
                    shared.policy
                };
                let outcome = owners::admit(
                    &shared.owners,
                    &shared.guesses,
                    policy,
                    visitor,
                    (Instant::now(), crate::store::now_ms()),
                )
                .await;
                action = self.rules.handle(Input::Claimed(outcome), Instant::now());
                continue;
            }
            break;
        }
        let _ = input;
        match action {
            Action::Join { user, resume } => {
                let room = &self.shared.room;
                let resume_after = resume.iter().find_map(|point| match &point.conversation {
                    Conversation::Room(name) if self.shared.rooms.is_default(name) => {
                        Some(point.last_id)
                    }
                    _ => None,
                });
                let me = (self.conn, self.key);
                let mut joined = room.enter(me, &user, resume_after, self.advertised).await;
                if joined
                    .as_ref()
                    .is_err_and(|r| *r == RefuseReason::NameTaken)
                {
                    joined = self.take_over(&user, resume_after).await;
                }
                let outcome = joined.as_ref().map(|_| ()).map_err(Clone::clone);
                match self.rules.handle(Input::Joined(outcome), Instant::now()) {
                    Action::Refuse(reason) => self.refuse(reason).await,
                    _ => {
                        if joined.is_ok() {
                            debug_assert!(self.rules.is_member());
                            tracing::info!("joined");
                            self.shared.room.metrics.joins.inc();
                        }
                    }
                }
                joined.ok().map(|membership| (membership, resume))
            }
            Action::Refuse(reason) => {
                self.refuse(reason).await;
                None
            }
            Action::End {
                close: Some(how), ..
            } => {
                close(&self.connection, &how);
                None
            }
            _ => None,
        }
    }

    /// The name is in the room on another connection, and the book of owners just let this key
    /// use it: this is its owner signing in again (another device, or this one after its old
    /// connection broke unnoticed). The old connection is told `Replaced` and goes; this one joins
    /// once the name is free (at once on one node; in a cluster after the other node let go).
    async fn take_over(
        &self,
        user: &str,
        resume_after: Option<u64>,
    ) -> Result<Membership, RefuseReason> {
        /// Longest wait for another node to let go of the name.
        const TAKE_OVER_WAIT: Duration = Duration::from_secs(3);
        const RETRY_EVERY: Duration = Duration::from_millis(50);
        let room = &self.shared.room;
        let frame = ServerFrame::Replaced {
            fingerprint: *self.key.as_bytes(),
        };
        let eviction = Eviction::new(user, None, &frame, LeaveReason::Replaced)
            .map_err(|_| RefuseReason::NameTaken)?;
        if room.evict(&eviction).await.is_none() {
            // Nobody holds it now: it was being claimed by another connection just then.
            return Err(RefuseReason::NameTaken);
        }
        tracing::info!("signed in again; the name's other connection goes");
        let give_up = tokio::time::Instant::now() + TAKE_OVER_WAIT;
        loop {
            let joined = room
                .enter((self.conn, self.key), user, resume_after, self.advertised)
                .await;
            if !joined
                .as_ref()
                .is_err_and(|r| *r == RefuseReason::NameTaken)
                || tokio::time::Instant::now() >= give_up
            {
                return joined;
            }
            tokio::time::sleep(RETRY_EVERY).await;
        }
    }

    async fn refuse(&mut self, reason: RefuseReason) {
        tracing::info!(%reason, "refused");
        self.shared.room.metrics.refused(&reason);
        let detail = reason.to_string();
        if let Ok(bytes) = wire::encode(&ServerFrame::Refused { reason }, wire::MAX_SERVER_FRAME)
            && self.send.write_all(&bytes).await.is_ok()
        {
            let _ = self.send.finish();
            let _ = timeout(FLUSH_TIMEOUT, self.send.stopped()).await;
        }
        close(
            &self.connection,
            &Close {
                code: wire::close_code::REFUSED,
                reason: detail.into(),
            },
        );
    }

    /// The member's life: reads its frames and writes the room's until it leaves or breaks.
    async fn run_member(&mut self, membership: Membership) {
        let Membership {
            name,
            key,
            mut rx,
            tx,
            mut kicked,
        } = membership;
        let Self {
            connection,
            send,
            recv,
            decoder,
            rules,
            key: fingerprint,
            shared,
            conn,
            ..
        } = self;
        let room = &shared.room;
        let conn = *conn;

        // The loop ends when the connection failed or when our queue is closed and flushed; the
        // queue closes once the room lets go of us (after Bye, a lost connection, a kick or
        // shutdown).
        let event = {
            let me = Speaker {
                key: &key,
                name: &name,
                tx: &tx,
                conn,
            };
            let asker = Asker {
                name: &name,
                key: *fingerprint,
            };
            let reader = read_loop(recv, decoder, rules, (shared, &asker), &me);
            let writer = write_loop(send, &mut rx, &room.metrics.deliveries);
            tokio::pin!(reader, writer);
            let mut reading = true;
            let mut kick_pending = true;
            // An operator's removal ends the session once the queue, ending with `Removed`, is
            // written: until then it waits like any other member's end.
            let mut removed = None;
            // The kick and the reader wait on the client; the writer on the room. Each side is
            // polled only when woken (see `branch`): a busy room wakes the writer for every line.
            let client_side = Branch::new();
            let room_side = Branch::new();
            loop {
                let event = std::future::poll_fn(|cx| {
                    if let Some(waker) = client_side.woken(cx) {
                        let mut cx = Context::from_waker(waker);
                        if kick_pending
                            && let Poll::Ready(kick) = Pin::new(&mut kicked).poll(&mut cx)
                        {
                            kick_pending = false;
                            // Only a real kick counts: the sender is also dropped when we merely
                            // leave the room.
                            match kick {
                                Ok(Removal::TooSlow) => return Poll::Ready(Event::Kicked),
                                Ok(Removal::Told(why)) => removed = Some(why),
                                Err(_) => {}
                            }
                        }
                        if reading && let Poll::Ready(end) = reader.as_mut().poll(&mut cx) {
                            reading = false;
                            return Poll::Ready(Event::Read(end));
                        }
                    }
                    if let Some(waker) = room_side.woken(cx)
                        && let Poll::Ready(written) =
                            writer.as_mut().poll(&mut Context::from_waker(waker))
                    {
                        return Poll::Ready(Event::Written(written));
                    }
                    Poll::Pending
                })
                .await;
                match event {
                    // Leave first, then let the writer flush: the client gets every frame queued
                    // before the close that explains them.
                    Event::Read(Action::Leave(why)) => {
                        room.leave(conn, &key, why);
                        shared.rooms.sign_out(&key, conn, why).record().await;
                    }
                    other => break (other, removed),
                }
            }
        };
        let (event, removed) = event;

        let end = match event {
            Event::Read(end) => end,
            Event::Kicked => rules.handle(Input::Kicked, Instant::now()),
            // The queue closed and is written: why did the room let go of us?
            Event::Written(Ok(())) => {
                let removal = match removed {
                    Some(why) => Some(Removal::Told(why)),
                    None => kicked.try_recv().ok(),
                };
                let input = match removal {
                    Some(Removal::Told(why)) => Input::Removed(why),
                    Some(Removal::TooSlow) => Input::Kicked,
                    None => Input::Flushed,
                };
                rules.handle(input, Instant::now())
            }
            Event::Written(Err(e)) => rules.handle(Input::Lost(lost_on_write(&e)), Instant::now()),
        };
        debug_assert!(rules.is_ended(), "the session goes on after {end:?}");
        let why = removed_or_dropped(&end);
        match end {
            Action::End { leave, close: how } => {
                if let Some(why) = leave {
                    room.leave(conn, &key, why);
                    shared.rooms.sign_out(&key, conn, why).record().await;
                    if how.is_none() {
                        tracing::info!(user = %name, %why, "connection ended");
                    }
                }
                if let Some(how) = how {
                    close(connection, &how);
                }
            }
            Action::FinishAndClose(how) => {
                // Our queue is flushed: finish the stream and give the peer a moment to
                // acknowledge it, so that the last frames (ShuttingDown, the last Left) are not
                // cut off by the close.
                let _ = send.finish();
                let _ = timeout(FLUSH_TIMEOUT, send.stopped()).await;
                close(connection, &how);
            }
            _ => {}
        }
        // Whatever ended it (a kick, a replacement, shutdown): out of its other rooms. Does
        // nothing when done above, or when a newer connection of the name holds its places.
        shared.rooms.sign_out(&key, conn, why).record().await;
    }
}

/// How the others in a member's rooms are told it went, when nothing said so before.
fn removed_or_dropped(end: &Action) -> LeaveReason {
    match end {
        Action::End {
            leave: Some(why), ..
        } => *why,
        _ => LeaveReason::Dropped,
    }
}

/// Reads frames and acts on them until the member leaves or something breaks; returns the action
/// that stopped it (a leave, or the end).
async fn read_loop(
    recv: &mut RecvStream,
    decoder: &mut FrameDecoder,
    rules: &mut MemberSession,
    (shared, asker): (&Shared, &Asker<'_>),
    me: &Speaker<'_>,
) -> Action {
    let room = &shared.room;
    let mut said_this_turn = 0;
    // A frame decoded while gathering lines, to be acted on next.
    let mut ahead: Option<ClientFrame> = None;
    loop {
        debug_assert!(rules.is_reading());
        let input = match ahead.take() {
            Some(frame) => Input::Frame(frame),
            None => read_input(recv, decoder).await,
        };
        if matches!(input, Input::Frame(ClientFrame::Say { .. })) {
            wait_while_congested(room, &mut said_this_turn).await;
        }
        match rules.handle(input, Instant::now()) {
            Action::Nothing => {}
            Action::Reply(reply) => reply_to_self(room, me, &reply),
            Action::Request { id, request } => {
                let reply = Box::pin(requests::answer(shared, asker, request)).await;
                reply_to_self(room, me, &ServerFrame::Reply { id, reply });
            }
            Action::ListUsers { room: name } if shared.rooms.is_default(&name) => {
                match room.users_frame() {
                    Ok(bytes) => queue_to_self(room, me, bytes),
                    Err(e) => tracing::error!(error = %e, "cannot encode Users"),
                }
            }
            Action::ListUsers { room: name } => match shared.rooms.users(&me.who(), &name) {
                Ok(bytes) => queue_to_self(room, me, bytes),
                Err(refused) => problem(room, me, refused),
            },
            Action::Rooms(request) => {
                let rooms = &shared.rooms;
                let who = me.who();
                let done = match request {
                    RoomRequest::Join { room } => Box::pin(rooms.join(&who, &room)).await,
                    RoomRequest::Part { room } => Box::pin(rooms.part(&who, &room)).await,
                    RoomRequest::List => {
                        reply_to_self(room, me, &rooms.list());
                        Ok(())
                    }
                    RoomRequest::SetTopic { room, topic } => {
                        Box::pin(rooms.set_topic(&who, &room, &topic)).await
                    }
                };
                if let Err(refused) = done {
                    problem(room, me, refused);
                }
            }
            Action::Say { nonce, to, text } => {
                // No more than the fullest queue still takes, as if each line had waited for
                // congestion on its own.
                let most = room.headroom().clamp(1, SAYS_PER_TURN);
                let (lines, broken) = rules.gather_lines(
                    decoder,
                    (&to, (nonce, text)),
                    most,
                    Instant::now(),
                    &mut ahead,
                );
                said_this_turn += lines.len().saturating_sub(1);
                let outcomes = match &to {
                    Conversation::Room(name) if shared.rooms.is_default(name) => {
                        room.speak_all(me.key, lines).await
                    }
                    Conversation::Room(name) => {
                        Box::pin(shared.rooms.say(&me.who(), name, lines)).await
                    }
                    Conversation::Direct(name) => {
                        Box::pin(say_direct(shared, me, name, lines)).await
                    }
                };
                for (nonce, outcome) in outcomes {
                    room.metrics.said(&outcome);
                    if let Some(reply) = rules.said(nonce, outcome) {
                        reply_to_self(room, me, &reply);
                    }
                }
                if let Some(e) = broken {
                    return rules.handle(Input::Broken(e), Instant::now());
                }
            }
            end => return end,
        }
    }
}

/// Holds a line back while the room is congested, and lets the other sessions run every
/// [`SAYS_PER_TURN`] lines.
///
/// One read can hold a thousand lines and nothing on their way waits, so without a pause they would
/// all land in every member's queue before any other member's writer ran. Pausing here instead of
/// taking more lines pushes back on the speaker through QUIC flow control: a client that speaks
/// faster than the room can be told gets slowed down, and no receiver is dropped for it. A member
/// that stays congested is dropped by [`Room::congested`] after a grace period, so one client that
/// stops reading cannot hold everyone's lines back for long.
async fn wait_while_congested(room: &Room, said_this_turn: &mut usize) {
    *said_this_turn += 1;
    if *said_this_turn >= SAYS_PER_TURN {
        *said_this_turn = 0;
        tokio::task::yield_now().await;
    }
    room.wait_uncongested().await;
}

/// Direct messages to `to`, if somebody owns that name.
async fn say_direct(
    shared: &Shared,
    me: &Speaker<'_>,
    to: &str,
    lines: Vec<(u64, String)>,
) -> Vec<crate::room::Said> {
    let owned = match shared.owners.devices(&name_key(to)).await {
        Ok(devices) => Ok(!devices.is_empty()),
        Err(e) => {
            tracing::error!(error = %e, "cannot look up a name for a direct message");
            Err(())
        }
    };
    let refused = match owned {
        Ok(true) => return shared.rooms.say_direct(&me.who(), to, lines).await,
        Ok(false) => (
            ProblemCode::NoSuchUser,
            format!("nobody owns the name {to}"),
        ),
        Err(()) => (
            ProblemCode::ServerError,
            "the server cannot look that name up right now; try again later".to_owned(),
        ),
    };
    lines
        .into_iter()
        .map(|(nonce, _)| {
            (
                nonce,
                Err(crate::room::Rejection::Problem {
                    code: refused.0,
                    detail: refused.1.clone(),
                }),
            )
        })
        .collect()
}

/// Tells this client a request about rooms was not carried out.
fn problem(room: &Room, me: &Speaker<'_>, refused: Refusal) {
    reply_to_self(
        room,
        me,
        &ServerFrame::Problem {
            code: refused.code,
            nonce: None,
            detail: refused.detail,
        },
    );
}

/// Queues a frame for this client only.
fn reply_to_self(room: &Room, me: &Speaker<'_>, reply: &ServerFrame) {
    if let ServerFrame::Problem { code, .. } = reply {
        room.metrics.problem(*code);
    }
    match wire::encode(reply, wire::MAX_SERVER_FRAME) {
        Ok(bytes) => queue_to_self(room, me, bytes),
        Err(e) => tracing::error!(error = %e, "cannot encode a reply"),
    }
}

/// Queues an encoded frame for this client only. A client whose own replies overflow its queue is
/// too slow.
fn queue_to_self(room: &Room, me: &Speaker<'_>, bytes: Bytes) {
    if let Err(PushError::Full) = me.tx.push(bytes) {
        room.kick_slow(me.conn, me.key);
    }
}

/// Reads until one whole frame is decoded, or the stream ends or breaks.
async fn read_input(recv: &mut RecvStream, decoder: &mut FrameDecoder) -> Input {
    loop {
        match decoder.next_frame() {
            Ok(Some(frame)) => return Input::Frame(frame),
            Ok(None) => {}
            Err(e) => return Input::Broken(e),
        }
        match recv.read_chunk(READ_CHUNK, true).await {
            Ok(Some(chunk)) => decoder.push(&chunk.bytes),
            Ok(None) => {
                return match decoder.finish() {
                    Ok(()) => Input::Finished,
                    Err(e) => Input::Broken(e),
                };
            }
            Err(quinn::ReadError::ConnectionLost(e)) => return Input::Lost(lost(&e)),
            Err(_) => return Input::Lost(LeaveReason::Dropped),
        }
    }
}

fn close(connection: &Connection, how: &Close) {
    connection.close(VarInt::from_u32(how.code), how.reason.as_bytes());
}

fn lost(e: &ConnectionError) -> LeaveReason {
    match e {
        ConnectionError::TimedOut => LeaveReason::TimedOut,
        _ => LeaveReason::Dropped,
    }
}

fn lost_on_write(e: &quinn::WriteError) -> LeaveReason {
    match e {
        quinn::WriteError::ConnectionLost(e) => lost(e),
        _ => LeaveReason::Dropped,
    }
}
