//! One client's life: handshake, `Hello`, then reading its frames and writing the room's, until it
//! says `Bye`, breaks the protocol, falls behind, vanishes, or the server shuts down.
//!
//! Everything runs in one task. Reading and writing are two futures polled side by side, so a
//! client that does not read can never stop us from reading it (and noticing `Bye`), and a write
//! blocked on flow control never delays anyone else: the room only ever pushes into this client's
//! queue, never waiting on it.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use quinn::{Connection, ConnectionError, RecvStream, SendStream, VarInt};
use tokio::time::timeout;
use wire::{
    ClientFrame, DecodeError, FrameDecoder, LeaveReason, RefuseReason, ServerFrame, close_code,
};

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{
    Limits,
    branch::Branch,
    limits::{AddressSlot, RateLimit},
    names::validate_name,
    queue::{self, PushError},
    room::{ConnId, Membership, Rejection, Room},
};

/// What every session shares.
pub(crate) struct Shared {
    pub(crate) room: Arc<Room>,
    pub(crate) limits: Limits,
    /// Handshakes started and not yet finished, for the Retry decision.
    pub(crate) handshaking: AtomicUsize,
}

/// What the listener decided before the handshake; the session carries it out after `Hello`, so
/// that a refused client learns why.
pub(crate) enum Admission {
    Welcome(Option<AddressSlot>),
    Refuse(RefuseReason, Option<AddressSlot>),
}

/// Most frames written in one go when a client's queue has several waiting.
const WRITE_BATCH: usize = 64;
/// Room for this many frames stays with an idle member's writer (see [`write_loop`]).
const KEEP_FRAMES: usize = 4;

/// Frames up to this size are merged into one write when several are queued; see
/// [`merge_small_frames`].
const MERGE_UP_TO: usize = 1024;
/// How long we wait for a peer to acknowledge our last bytes before closing.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// Lines taken from one client before the other sessions get a turn. Every member's queue must hold
/// this many from each of the speakers at once, so it is far below the default queue of 1024.
const SAYS_PER_TURN: usize = 32;
/// How often a speaker held back by congestion looks again.
const CONGESTION_POLL: Duration = Duration::from_millis(2);
/// Bytes asked of quinn per read.
const READ_CHUNK: usize = 64 * 1024;

enum ReadEnd {
    Bye,
    Finished,
    Decode(DecodeError),
    Lost(LeaveReason),
    TooFast,
}

enum Failure {
    Decode(DecodeError),
    Lost(LeaveReason),
}

/// What woke a member's session.
enum Event {
    Kicked,
    Read(ReadEnd),
    Written(Result<(), quinn::WriteError>),
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
    let remote = incoming.remote_address();
    let handshake = async {
        let connecting = (*incoming).accept()?;
        connecting.await
    };
    // The stages before the member's life (handshake, Hello, joining, refusing) are boxed: a task
    // is as large as its largest stage, and unboxed they made every session's task 6.6 KB for
    // its whole life, the member stage itself being 2.5 KB.
    let handshake = timeout(shared.limits.handshake_timeout, Box::pin(handshake)).await;
    shared.handshaking.fetch_sub(1, Ordering::Relaxed);
    let connection = match handshake {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%remote, "handshake timed out");
            return;
        }
    };

    let hello = timeout(
        shared.limits.hello_timeout,
        Box::pin(receive_hello(&connection, &shared.limits)),
    )
    .await;
    let (mut send, recv, decoder, user, resume_after) = match hello {
        Err(_) => {
            close(&connection, close_code::HELLO_TIMEOUT, "no Hello in time");
            return;
        }
        Ok(Err(failure)) => {
            close_for(&connection, &failure);
            return;
        }
        Ok(Ok(Some(hello))) => hello,
        Ok(Ok(None)) => return,
    };

    // Held until the session ends: this connection's place in the per-address count.
    let (refusal, _slot) = match admission {
        Admission::Welcome(slot) => (None, slot),
        Admission::Refuse(reason, slot) => (Some(reason), slot),
    };
    let joined = if let Some(reason) = refusal {
        Err(reason)
    } else if let Err(e) = validate_name(&user) {
        Err(RefuseReason::InvalidName(e.to_string()))
    } else {
        Box::pin(shared.room.enter(conn, &user, resume_after)).await
    };
    let membership = match joined {
        Ok(membership) => membership,
        Err(reason) => {
            tracing::info!(%remote, %user, %reason, "refused");
            Box::pin(refuse(&connection, &mut send, reason)).await;
            return;
        }
    };
    tracing::info!(%remote, user = %membership.name, "joined");
    run_member(connection, send, recv, decoder, membership, &shared, conn).await;
}

type Hello = (SendStream, RecvStream, FrameDecoder, String, Option<u64>);

/// Waits for the client's stream and its first frame, which must be a `Hello` of our version.
async fn receive_hello(connection: &Connection, limits: &Limits) -> Result<Option<Hello>, Failure> {
    let (mut send, mut recv) = connection
        .accept_bi()
        .await
        .map_err(|e| Failure::Lost(lost(&e)))?;
    let mut decoder = FrameDecoder::new(limits.max_frame_bytes);
    match read_frame(&mut recv, &mut decoder).await {
        Ok(Some(ClientFrame::Hello {
            version,
            user,
            resume_after,
        })) => {
            if version != wire::PROTOCOL_VERSION {
                let reason = RefuseReason::UnsupportedVersion {
                    supported: wire::PROTOCOL_VERSION,
                };
                refuse(connection, &mut send, reason).await;
                return Ok(None);
            }
            Ok(Some((send, recv, decoder, user, resume_after)))
        }
        Ok(Some(_)) => {
            close(
                connection,
                close_code::PROTOCOL_ERROR,
                "the first frame must be Hello",
            );
            Ok(None)
        }
        Ok(None) => Ok(None),
        Err(ReadEnd::Decode(e)) => Err(Failure::Decode(e)),
        Err(ReadEnd::Lost(why)) => Err(Failure::Lost(why)),
        Err(ReadEnd::Bye | ReadEnd::Finished | ReadEnd::TooFast) => Ok(None),
    }
}

async fn run_member(
    connection: Connection,
    mut send: SendStream,
    mut recv: RecvStream,
    mut decoder: FrameDecoder,
    membership: Membership,
    shared: &Shared,
    conn: ConnId,
) {
    let Membership {
        name,
        key,
        mut rx,
        tx,
        mut kicked,
    } = membership;
    let room = &shared.room;

    // Set when the client ended its session: the close code and reason to send after the flush.
    let mut closing: Option<(u32, &str)> = None;
    let mut was_kicked = false;

    // The loop ends when the connection failed or when our queue is closed and flushed; the queue
    // closes once the room lets go of us (after Bye, a lost connection, a kick or shutdown).
    let failure: Option<Failure> = {
        let rate = RateLimit::new(shared.limits.messages_per_sec, shared.limits.message_burst);
        let reader = read_loop(
            &mut recv,
            &mut decoder,
            room,
            Speaker {
                key: &key,
                tx: &tx,
                conn,
                rate,
                strikes_allowed: shared.limits.too_fast_strikes,
            },
        );
        let writer = write_loop(&mut send, &mut rx);
        tokio::pin!(reader, writer);
        let mut reading = true;
        let mut kick_pending = true;
        // The kick and the reader wait on the client; the writer on the room. Each side is polled
        // only when woken (see `branch`): a busy room wakes the writer for every line.
        let client_side = Branch::new();
        let room_side = Branch::new();
        loop {
            let event = std::future::poll_fn(|cx| {
                if let Some(waker) = client_side.woken(cx) {
                    let mut cx = Context::from_waker(waker);
                    if kick_pending && let Poll::Ready(kick) = Pin::new(&mut kicked).poll(&mut cx) {
                        kick_pending = false;
                        // Only a real kick counts: the sender is also dropped when we merely
                        // leave the room.
                        if kick.is_ok() {
                            return Poll::Ready(Event::Kicked);
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
                Event::Kicked => {
                    was_kicked = true;
                    break None;
                }
                Event::Read(ReadEnd::Bye) => {
                    closing = Some((close_code::NORMAL, "bye"));
                    room.leave(conn, &key, LeaveReason::Quit);
                }
                Event::Read(ReadEnd::Finished) => {
                    closing = Some((close_code::NORMAL, "stream finished without Bye"));
                    room.leave(conn, &key, LeaveReason::Dropped);
                }
                Event::Read(ReadEnd::Decode(e)) => break Some(Failure::Decode(e)),
                Event::Read(ReadEnd::Lost(why)) => break Some(Failure::Lost(why)),
                Event::Read(ReadEnd::TooFast) => {
                    // Leave first, then let the writer flush: the client gets every TooFast
                    // answer before the close that explains them.
                    closing = Some((
                        close_code::TOO_FAST,
                        "kept sending too fast after being told to slow down",
                    ));
                    room.leave(conn, &key, LeaveReason::Misbehaved);
                }
                Event::Written(Ok(())) => break None,
                Event::Written(Err(e)) => break Some(Failure::Lost(lost_on_write(&e))),
            }
        }
    };

    match failure {
        Some(Failure::Lost(why)) => {
            room.leave(conn, &key, why);
            tracing::info!(user = %name, %why, "connection ended");
        }
        Some(failure @ Failure::Decode(_)) => {
            room.leave(conn, &key, LeaveReason::Misbehaved);
            close_for(&connection, &failure);
        }
        None if was_kicked || kicked.try_recv().is_ok() => {
            close(
                &connection,
                close_code::TOO_SLOW,
                "too slow to keep up with the room",
            );
        }
        None => {
            // Our queue is flushed: finish the stream and give the peer a moment to acknowledge it,
            // so that the last frames (ShuttingDown, the last Left) are not cut off by the close.
            let _ = send.finish();
            let _ = timeout(FLUSH_TIMEOUT, send.stopped()).await;
            // The reader chose the code when the client ended things; otherwise the room let go
            // of us because the server is shutting down.
            let (code, reason) =
                closing.unwrap_or((close_code::SHUTTING_DOWN, "server shutting down"));
            close(&connection, code, reason);
        }
    }
}

/// Who is speaking on this connection, and how fast they may.
struct Speaker<'a> {
    key: &'a str,
    tx: &'a queue::WeakSender,
    conn: ConnId,
    rate: RateLimit,
    strikes_allowed: u32,
}

/// Reads frames and acts on them until the client leaves or something breaks.
async fn read_loop(
    recv: &mut RecvStream,
    decoder: &mut FrameDecoder,
    room: &Room,
    mut me: Speaker<'_>,
) -> ReadEnd {
    let key = me.key;
    let mut strikes = 0;
    let mut said_this_turn = 0;
    // A frame decoded while gathering lines, to be acted on next.
    let mut ahead: Option<ClientFrame> = None;
    loop {
        let frame = match ahead.take() {
            Some(frame) => frame,
            None => match read_frame(recv, decoder).await {
                Ok(Some(frame)) => frame,
                Ok(None) => return ReadEnd::Finished,
                Err(end) => return end,
            },
        };
        // Saying something and asking for the user list (which can be large and is built for
        // this client alone) spend from the same bucket.
        if matches!(frame, ClientFrame::Say { .. }) {
            wait_while_congested(room, &mut said_this_turn).await;
        }
        if matches!(frame, ClientFrame::Say { .. } | ClientFrame::ListUsers) {
            if me.rate.allow(std::time::Instant::now()) {
                strikes = 0;
            } else {
                strikes += 1;
                if strikes > me.strikes_allowed {
                    return ReadEnd::TooFast;
                }
                let nonce = match &frame {
                    ClientFrame::Say { nonce, .. } => Some(*nonce),
                    _ => None,
                };
                reply_to_self(
                    room,
                    &me,
                    ServerFrame::Problem {
                        code: wire::ProblemCode::TooFast,
                        nonce,
                        detail: "slow down: this was not carried out; try again in a moment".into(),
                    },
                );
                continue;
            }
        }
        let reply = match frame {
            ClientFrame::Say { nonce, text } => {
                // No more than the fullest queue still takes, as if each line had waited for
                // congestion on its own.
                let most = room.headroom().clamp(1, SAYS_PER_TURN);
                let (lines, broken) =
                    gather_lines(decoder, &mut me, (nonce, text), most, &mut ahead);
                said_this_turn += lines.len().saturating_sub(1);
                for (nonce, outcome) in room.speak_all(key, lines).await {
                    if let Err(Rejection::Problem { code, detail }) = outcome {
                        reply_to_self(
                            room,
                            &me,
                            ServerFrame::Problem {
                                code,
                                nonce: Some(nonce),
                                detail,
                            },
                        );
                    }
                }
                if let Some(e) = broken {
                    return ReadEnd::Decode(e);
                }
                None
            }
            ClientFrame::ListUsers => {
                match room.users_frame() {
                    Ok(bytes) => queue_to_self(room, &me, bytes),
                    Err(e) => tracing::error!(error = %e, "cannot encode Users"),
                }
                None
            }
            ClientFrame::Hello { .. } => Some(ServerFrame::Problem {
                code: wire::ProblemCode::AlreadyJoined,
                nonce: None,
                detail: "Hello was already accepted on this connection".into(),
            }),
            ClientFrame::Bye => return ReadEnd::Bye,
        };
        if let Some(reply) = reply {
            reply_to_self(room, &me, reply);
        }
    }
}

/// `first` and the lines already read behind it, `most` in all, so that lines that arrived
/// together are said together (one history transaction, one turn of the room lock).
/// Gathering stops at anything else, which is left in `ahead`: a frame other than `Say`, or a
/// `Say` over the rate limit, which the caller then refuses as usual. A malformed frame behind the
/// lines is returned so that the lines before it are still said.
fn gather_lines(
    decoder: &mut FrameDecoder,
    me: &mut Speaker<'_>,
    first: (u64, String),
    most: usize,
    ahead: &mut Option<ClientFrame>,
) -> (Vec<(u64, String)>, Option<DecodeError>) {
    let mut lines = vec![first];
    while lines.len() < most {
        match decoder.next_frame() {
            Ok(Some(ClientFrame::Say { nonce, text }))
                if me.rate.allow(std::time::Instant::now()) =>
            {
                lines.push((nonce, text));
            }
            Ok(Some(other)) => {
                *ahead = Some(other);
                break;
            }
            Ok(None) => break,
            Err(e) => return (lines, Some(e)),
        }
    }
    (lines, None)
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
    while room.congested() {
        tokio::time::sleep(CONGESTION_POLL).await;
    }
}

/// Queues a frame for this client only.
fn reply_to_self(room: &Room, me: &Speaker<'_>, reply: ServerFrame) {
    match wire::encode(&reply, wire::MAX_SERVER_FRAME) {
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

/// Reads until one whole frame is decoded. `Ok(None)`: the client finished its stream cleanly.
async fn read_frame(
    recv: &mut RecvStream,
    decoder: &mut FrameDecoder,
) -> Result<Option<ClientFrame>, ReadEnd> {
    loop {
        if let Some(frame) = decoder.next_frame().map_err(ReadEnd::Decode)? {
            return Ok(Some(frame));
        }
        match recv.read_chunk(READ_CHUNK, true).await {
            Ok(Some(chunk)) => decoder.push(&chunk.bytes),
            Ok(None) => {
                decoder.finish().map_err(ReadEnd::Decode)?;
                return Ok(None);
            }
            Err(quinn::ReadError::ConnectionLost(e)) => return Err(ReadEnd::Lost(lost(&e))),
            Err(_) => return Err(ReadEnd::Lost(LeaveReason::Dropped)),
        }
    }
}

/// Writes whatever the room queues for us, several frames per write when they pile up, so a busy
/// client costs fewer packets while an idle one gets each frame at once. (Joins and leaves are
/// gathered by the room before they get here: see `Room::tell_presence`.)
async fn write_loop(
    send: &mut SendStream,
    rx: &mut queue::Receiver,
) -> Result<(), quinn::WriteError> {
    let mut batch = Vec::with_capacity(KEEP_FRAMES);
    let mut chunks = Vec::new();
    while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        if batch.len() > 1 {
            merge_small_frames(&mut batch, &mut chunks);
            send.write_all_chunks(&mut chunks).await?;
            chunks.clear();
        } else {
            send.write_all_chunks(&mut batch).await?;
        }
        batch.clear();
        // Idle again: a busy spell's vectors (3 KiB at most) are not kept for every quiet member,
        // but room for a few frames is (128 bytes), since most deliveries bring one or two.
        // Dropping that too cost an allocation per delivery, 60% of the server's mallocs in
        // fanout 100 × 20 (a uprobe on malloc).
        if rx.is_empty() {
            if batch.capacity() > KEEP_FRAMES {
                batch = Vec::with_capacity(KEEP_FRAMES);
            }
            chunks = Vec::new();
        }
    }
    Ok(())
}

/// Moves `batch` into `chunks`, small frames that follow each other copied into one buffer.
///
/// quinn keeps every written chunk until it is acknowledged and finds the bytes for each packet by
/// walking that list from the start, so a busy member's window of small frames written one by one
/// (thousands of 50-byte chunks) made that walk 10% of the server's CPU in a profile of fast
/// chatter. Larger frames (presence batches, history) are written as they are: the room encodes
/// them once for every member, and a copy per member held 8 KiB more per idle member while a room
/// of 5000 filled.
fn merge_small_frames(batch: &mut Vec<Bytes>, chunks: &mut Vec<Bytes>) {
    // One allocation for all of them, not one per doubling.
    let small_bytes = batch
        .iter()
        .filter(|frame| frame.len() <= MERGE_UP_TO)
        .map(Bytes::len)
        .sum();
    let mut small = bytes::BytesMut::with_capacity(small_bytes);
    for frame in batch.drain(..) {
        if frame.len() <= MERGE_UP_TO {
            small.extend_from_slice(&frame);
        } else {
            if !small.is_empty() {
                chunks.push(small.split().freeze());
            }
            chunks.push(frame);
        }
    }
    if !small.is_empty() {
        chunks.push(small.freeze());
    }
}

async fn refuse(connection: &Connection, send: &mut SendStream, reason: RefuseReason) {
    let detail = reason.to_string();
    if let Ok(bytes) = wire::encode(&ServerFrame::Refused { reason }, wire::MAX_SERVER_FRAME)
        && send.write_all(&bytes).await.is_ok()
    {
        let _ = send.finish();
        let _ = timeout(FLUSH_TIMEOUT, send.stopped()).await;
    }
    close(connection, close_code::REFUSED, &detail);
}

fn close_for(connection: &Connection, failure: &Failure) {
    match failure {
        Failure::Decode(e @ DecodeError::FrameTooLarge { .. }) => {
            close(connection, close_code::FRAME_TOO_LARGE, &e.to_string());
        }
        Failure::Decode(e) => close(connection, close_code::PROTOCOL_ERROR, &e.to_string()),
        Failure::Lost(_) => {}
    }
}

fn close(connection: &Connection, code: u32, reason: &str) {
    connection.close(VarInt::from_u32(code), reason.as_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn say(nonce: u64) -> Vec<u8> {
        let frame = ClientFrame::Say {
            nonce,
            text: format!("line {nonce}"),
        };
        wire::encode(&frame, 1 << 16).expect("encodes").to_vec()
    }

    #[test]
    fn lines_are_gathered_up_to_the_limit_and_the_rest_stays_read() {
        let (tx, _rx) = crate::queue::queue(4);
        let weak = tx.downgrade();
        let mut me = Speaker {
            key: "al",
            tx: &weak,
            conn: 1,
            rate: RateLimit::new(0, 1),
            strikes_allowed: 0,
        };
        let mut decoder = FrameDecoder::new(1 << 16);
        for nonce in 1..=5 {
            decoder.push(&say(nonce));
        }
        decoder.push(&wire::encode(&ClientFrame::ListUsers, 64).expect("encodes"));
        let mut ahead = None;
        let first = (0, "line 0".to_owned());
        let (lines, broken) = gather_lines(&mut decoder, &mut me, first.clone(), 3, &mut ahead);
        let nonces: Vec<u64> = lines.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            (nonces, broken.is_none(), ahead.is_none()),
            (vec![0, 1, 2], true, true)
        );
        // The next call takes up what is left and stops at the frame that is not a line.
        let (lines, _) = gather_lines(&mut decoder, &mut me, first, 32, &mut ahead);
        let nonces: Vec<u64> = lines.iter().map(|(n, _)| *n).collect();
        assert_eq!(nonces, vec![0, 3, 4, 5]);
        assert!(matches!(ahead, Some(ClientFrame::ListUsers)));
    }

    #[test]
    fn small_frames_are_merged_and_large_ones_stay_shared() {
        let large = Bytes::from(vec![7u8; MERGE_UP_TO + 1]);
        let mut batch = vec![
            Bytes::from_static(b"ab"),
            Bytes::from_static(b"cd"),
            large.clone(),
            Bytes::from_static(b"ef"),
        ];
        let mut chunks = Vec::new();
        merge_small_frames(&mut batch, &mut chunks);
        assert!(batch.is_empty());
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0], Bytes::from_static(b"abcd"));
        // The room's encoded frame itself, not a copy of it.
        assert_eq!(chunks[1].as_ptr(), large.as_ptr());
        assert_eq!(chunks[2], Bytes::from_static(b"ef"));
        let written: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        assert_eq!(written.len(), 6 + large.len());
    }
}
