//! One user's session on a background task: call methods, read [`Event`]s.
//!
//! The task owns the connection. Commands come in on an unbounded channel (so calling [`Session::say`]
//! never blocks, which matters on a GUI thread); events go out on an `async-channel`, which any
//! executor can await (tokio in `chat-cli`, the GLib main loop in the GNOME client). The event
//! channel is bounded: a consumer that stops reading stalls the session, the server sees us fall
//! behind and disconnects us, rather than memory growing without bound.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::{mpsc, oneshot};
use wire::{ClientFrame, ServerFrame};

use crate::{ClientError, Connector, FrameReader, FrameWriter, ServerAddr, Trust, Welcome};

/// Events buffered between the session task and the consumer.
const EVENT_QUEUE: usize = 4096;
/// How long `quit` waits for the server to confirm before closing anyway.
const QUIT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where and who to be.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub server: ServerAddr,
    pub user: String,
    pub trust: Trust,
}

/// Something that happened in the session.
#[derive(Debug)]
pub enum Event {
    /// A frame from the server, in the order it was sent.
    Frame(ServerFrame),
    /// The connection was lost; the session tries again after `retry_in` (attempt `attempt`, from 1).
    /// Lines said meanwhile are queued and sent after the resume.
    Disconnected {
        error: String,
        attempt: u32,
        retry_in: Duration,
    },
    /// Connected again. The `Welcome` carries the current user list and, in its history, exactly the
    /// messages missed while away.
    Reconnected(Welcome),
    /// The session is over; no more events follow.
    Closed(CloseReason),
}

/// Why a session ended.
#[derive(Debug)]
pub enum CloseReason {
    /// We said `Bye` and the server closed the connection.
    Quit,
    /// The server ended the session (shut down, or disconnected us); the text says why.
    ByServer(String),
    /// The connection broke.
    Lost(ClientError),
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Quit => f.write_str("left the chat"),
            Self::ByServer(why) => write!(f, "closed by the server: {why}"),
            Self::Lost(e) => write!(f, "connection lost: {e}"),
        }
    }
}

enum Command {
    Send(ClientFrame),
    Quit(oneshot::Sender<()>),
}

/// A handle on a running session. Cheap to clone; the session ends when [`Session::quit`] is called
/// or every handle is dropped.
#[derive(Debug, Clone)]
pub struct Session {
    commands: mpsc::UnboundedSender<Command>,
    next_nonce: Arc<AtomicU64>,
    you: Arc<str>,
}

impl Session {
    /// Connects and joins. Must be called inside a tokio runtime; the session task runs there.
    pub async fn connect(
        config: SessionConfig,
    ) -> Result<(Self, Welcome, async_channel::Receiver<Event>), ClientError> {
        let addr = config.server.resolve().await?;
        let connector = Connector::new(&config.trust, addr)?;
        let (connection, welcome) = connector
            .connect(&config.server, addr, &config.user, None)
            .await?;
        let (writer, reader, conn) = connection.split();
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = async_channel::bounded(EVENT_QUEUE);
        tokio::spawn(run(connector, conn, writer, reader, command_rx, event_tx));
        let session = Self {
            commands,
            // A random start makes nonces unique across this user's sessions too.
            next_nonce: Arc::new(AtomicU64::new(rand::random::<u64>() >> 1)),
            you: Arc::from(welcome.you.as_str()),
        };
        Ok((session, welcome, events))
    }

    /// The name the server registered for us.
    pub fn you(&self) -> &str {
        &self.you
    }

    /// Sends a line; returns its nonce, which the receipt (`Chat` from us) and any `Problem` carry.
    pub fn say(&self, text: impl Into<String>) -> Result<u64, ClientError> {
        let nonce = self.next_nonce.fetch_add(1, Ordering::Relaxed);
        self.send(ClientFrame::Say {
            nonce,
            text: text.into(),
        })?;
        Ok(nonce)
    }

    /// Asks for the user list; the answer arrives as a `Users` frame.
    pub fn list_users(&self) -> Result<(), ClientError> {
        self.send(ClientFrame::ListUsers)
    }

    fn send(&self, frame: ClientFrame) -> Result<(), ClientError> {
        self.commands
            .send(Command::Send(frame))
            .map_err(|_| ClientError::SessionEnded)
    }

    /// Says goodbye and waits (briefly) until the connection is closed.
    pub async fn quit(&self) {
        let (done, finished) = oneshot::channel();
        if self.commands.send(Command::Quit(done)).is_ok() {
            let _ = finished.await;
        }
    }
}

async fn run(
    connector: Connector,
    conn: quinn::Connection,
    mut writer: FrameWriter,
    mut reader: FrameReader,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: async_channel::Sender<Event>,
) {
    let mut quit_waiter = None;
    let reason = loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Send(frame)) => {
                    if let Err(e) = writer.send(&frame).await {
                        break CloseReason::Lost(e);
                    }
                }
                Some(Command::Quit(done)) => {
                    quit_waiter = Some(done);
                    break say_bye(&mut writer, &mut reader, &events).await;
                }
                None => break say_bye(&mut writer, &mut reader, &events).await,
            },
            frame = reader.next() => match frame {
                Ok(Some(frame)) => {
                    if events.send(Event::Frame(frame)).await.is_err() {
                        // Nobody listens any more: leave politely.
                        break say_bye(&mut writer, &mut reader, &events).await;
                    }
                }
                Ok(None) => break closed_by_server(&conn).await,
                Err(ClientError::Closed(why)) => break CloseReason::ByServer(why),
                Err(e) => break CloseReason::Lost(e),
            },
        }
    };
    conn.close(
        quinn::VarInt::from_u32(wire::close_code::NORMAL),
        b"client closed",
    );
    let _ = tokio::time::timeout(QUIT_TIMEOUT, connector.endpoint().wait_idle()).await;
    let _ = events.send(Event::Closed(reason)).await;
    if let Some(done) = quit_waiter {
        let _ = done.send(());
    }
}

/// Sends `Bye`, then passes on what the server still sends until it ends the stream.
async fn say_bye(
    writer: &mut FrameWriter,
    reader: &mut FrameReader,
    events: &async_channel::Sender<Event>,
) -> CloseReason {
    if writer.send(&ClientFrame::Bye).await.is_err() {
        return CloseReason::Quit;
    }
    writer.finish();
    let drain = async {
        while let Ok(Some(frame)) = reader.next().await {
            let _ = events.try_send(Event::Frame(frame));
        }
    };
    let _ = tokio::time::timeout(QUIT_TIMEOUT, drain).await;
    CloseReason::Quit
}

/// The server finished its stream without us asking: it is shutting down or dropped us.
async fn closed_by_server(conn: &quinn::Connection) -> CloseReason {
    let why = tokio::time::timeout(QUIT_TIMEOUT, conn.closed()).await;
    match why {
        Ok(quinn::ConnectionError::ApplicationClosed(c)) => {
            CloseReason::ByServer(String::from_utf8_lossy(&c.reason).into_owned())
        }
        Ok(other) => CloseReason::ByServer(other.to_string()),
        Err(_) => CloseReason::ByServer("the server ended the stream".into()),
    }
}
