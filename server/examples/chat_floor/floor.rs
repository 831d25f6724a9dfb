//! The floor: a fan-out server with no chat logic, on `chat-server`'s own endpoint (its
//! certificates, TLS, transport settings and socket buffers, from `server::Server::endpoint`).
//!
//! The performance issue puts a minimal quinn fan-out server at 5.7 µs of server CPU per delivery
//! when each delivery is its own packet. This is such a server, so that the floor is measured on the
//! same machine, in the same hour, with the same load tool as `chat-server` (example `chat-floor`,
//! given to `chat-bench --server-bin`).
//!
//! What it leaves out is what it measures: no room lock, no history (in memory or on disk), no
//! presence, no duplicate or rate checks, no back-pressure (a full queue drops the frame, counted),
//! no `Users`. What it keeps is what any fan-out needs: a reader, a writer and quinn's driver per
//! connection, one encode per line with the bytes shared, a bounded queue per receiver, and what is
//! queued written together. It answers `Hello` with a `Welcome` that lists nobody and every `Say`
//! with a `Chat` to everyone, ids consecutive, so `chat-bench fanout`'s checks hold.

use std::{
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::{Result, bail};
use bytes::Bytes;
use quinn::{Endpoint, Incoming, RecvStream, SendStream};
use tokio::sync::mpsc;
use wire::{ChatMessage, ClientFrame, FrameDecoder, ServerFrame};

/// Frames a receiver may have waiting: `chat-server`'s default queue.
const QUEUE: usize = 1024;

/// A bound floor server, not yet serving.
#[derive(Debug)]
pub struct Floor {
    endpoint: Endpoint,
    dev_ca: Option<PathBuf>,
    room: Arc<Room>,
}

/// Every receiver's queue, and the next id.
#[derive(Debug, Default)]
struct Room {
    members: Mutex<Vec<(u64, mpsc::Sender<Bytes>)>>,
    next_id: AtomicU64,
    next_member: AtomicU64,
    dropped: AtomicU64,
}

impl Floor {
    /// Binds `chat-server`'s endpoint for `config` (development certificates included). Must be
    /// called inside a tokio runtime.
    pub fn bind(config: &server::Config) -> Result<Self> {
        let (endpoint, dev_ca) = server::Server::endpoint(config)?;
        Ok(Self {
            endpoint,
            dev_ca,
            room: Arc::default(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// The development CA clients should trust, when the endpoint uses development certificates.
    pub fn dev_ca(&self) -> Option<&std::path::Path> {
        self.dev_ca.as_deref()
    }

    /// Serves until `stop` completes; returns how many frames full queues dropped.
    pub async fn run(self, stop: impl Future<Output = ()>) -> u64 {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                incoming = self.endpoint.accept() => match incoming {
                    Some(incoming) => {
                        tokio::spawn(connection(incoming, self.room.clone()));
                    }
                    None => break,
                },
                () = &mut stop => break,
            }
        }
        self.endpoint.close(0u32.into(), b"floor server stopping");
        self.room.dropped.load(Ordering::Relaxed)
    }
}

async fn connection(incoming: Incoming, room: Arc<Room>) {
    if let Err(e) = member(incoming, &room).await {
        // The load tool ends every connection by closing it: only other endings are news.
        let closed_by_peer = e.downcast_ref::<quinn::ReadError>().is_some_and(|e| {
            matches!(
                e,
                quinn::ReadError::ConnectionLost(quinn::ConnectionError::ApplicationClosed(_))
            )
        });
        if !closed_by_peer {
            tracing::warn!(error = %format!("{e:#}"), "a floor connection ended");
        }
    }
}

async fn member(incoming: Incoming, room: &Room) -> Result<()> {
    let conn = incoming.await?;
    let (send, mut recv) = conn.accept_bi().await?;
    let mut decoder = FrameDecoder::new(wire::MAX_CLIENT_FRAME);
    let Some(ClientFrame::Hello { user, .. }) = next_frame(&mut recv, &mut decoder).await? else {
        bail!("the first frame was not Hello");
    };
    let (tx, rx) = mpsc::channel(QUEUE);
    let welcome = ServerFrame::Welcome {
        you: user.clone(),
        rooms: vec![wire::RoomState {
            room: "#general".into(),
            topic: String::new(),
            users: Vec::new(),
            history: Vec::new(),
        }],
        direct: Vec::new(),
        // The floor enforces no rate: it measures the transport, not the rules.
        limits: wire::Limits {
            lines_per_sec: 0,
            burst: 0,
            max_line_bytes: wire::MAX_CLIENT_FRAME as u32,
            max_frame_bytes: wire::MAX_CLIENT_FRAME as u32,
            strikes_allowed: 0,
            max_rooms_per_user: 1,
            max_topic_bytes: 0,
        },
    };
    tx.try_send(wire::encode(&welcome, wire::MAX_SERVER_FRAME)?)?;
    let me = room.next_member.fetch_add(1, Ordering::Relaxed);
    room.members
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((me, tx));
    let writer = tokio::spawn(write_loop(send, rx));
    let read = read_loop(&mut recv, &mut decoder, room, &user).await;
    room.members
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|(id, _)| *id != me);
    writer.abort();
    read
}

async fn read_loop(
    recv: &mut RecvStream,
    decoder: &mut FrameDecoder,
    room: &Room,
    user: &str,
) -> Result<()> {
    while let Some(frame) = next_frame(recv, decoder).await? {
        let ClientFrame::Say { nonce, to, text } = frame else {
            continue;
        };
        let members = room.members.lock().unwrap_or_else(PoisonError::into_inner);
        let chat = ServerFrame::Chat {
            conversation: to,
            message: ChatMessage {
                id: room.next_id.fetch_add(1, Ordering::Relaxed),
                from: user.to_owned(),
                nonce,
                text,
                at_ms: 0,
            },
        };
        let bytes = wire::encode(&chat, wire::MAX_SERVER_FRAME)?;
        for (_, tx) in members.iter() {
            if tx.try_send(bytes.clone()).is_err() {
                room.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

/// Everything queued goes out in one write.
async fn write_loop(mut send: SendStream, mut rx: mpsc::Receiver<Bytes>) -> Result<()> {
    let mut batch = Vec::with_capacity(64);
    while rx.recv_many(&mut batch, 64).await > 0 {
        send.write_all_chunks(&mut batch).await?;
        batch.clear();
    }
    Ok(())
}

async fn next_frame(
    recv: &mut RecvStream,
    decoder: &mut FrameDecoder,
) -> Result<Option<ClientFrame>> {
    loop {
        if let Some(frame) = decoder.next_frame()? {
            return Ok(Some(frame));
        }
        match recv.read_chunk(usize::MAX, true).await? {
            Some(chunk) => decoder.push(&chunk.bytes),
            None => return Ok(None),
        }
    }
}
