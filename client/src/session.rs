//! One user's session on a background task: call methods, read [`Event`]s.
//!
//! The task turns the server's frames into the library's events (`State::translate`): it knows
//! which lines this session sent, so their echo becomes an [`Event::Receipt`]; it holds back and
//! re-sends lines refused as `TooFast`; after a resume it announces [`Event::Reconnected`] and
//! then hands out the missed lines one by one, like any other.
//!
//! The task owns the connection. Commands come in on an unbounded channel (so calling [`Session::say`]
//! never blocks, which matters on a GUI thread); events go out on an `async-channel`, which any
//! executor can await (tokio in `chat-cli`, the GLib main loop in the GNOME client). The event
//! channel is bounded: a consumer that stops reading stalls the session, the server sees us fall
//! behind and disconnects us, rather than memory growing without bound.

use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::{mpsc, oneshot};
use wire::{ChatMessage, ClientFrame, ProblemCode, RefuseReason, ServerFrame};

use crate::{
    Backoff, ClientError, CloseReason, Connection, Connector, Event, FrameReader, FrameWriter,
    Line, ServerAddr, SignedIn, Trust, event,
};

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

/// A handle on a running session. Cheap to clone; the session ends when [`Session::quit`] is called
/// or every handle is dropped.
#[derive(Debug, Clone)]
pub struct Session {
    commands: mpsc::UnboundedSender<Command>,
    next_nonce: Arc<AtomicU64>,
    you: Arc<str>,
}

impl Session {
    /// Connects and joins, reconnecting with the default [`Backoff`] whenever the connection is
    /// lost. Must be called inside a tokio runtime; the session task runs there.
    pub async fn connect(
        config: SessionConfig,
    ) -> Result<(Self, SignedIn, async_channel::Receiver<Event>), ClientError> {
        Self::connect_with(config, Backoff::default()).await
    }

    /// Like [`Session::connect`], with a reconnection policy of your choice.
    pub async fn connect_with(
        config: SessionConfig,
        backoff: Backoff,
    ) -> Result<(Self, SignedIn, async_channel::Receiver<Event>), ClientError> {
        Self::connect_to_any(config, Vec::new(), backoff).await
    }

    /// Like [`Session::connect_with`], for a cluster: `config.server` first, then each of
    /// `fallbacks` in turn until one welcomes us; every reconnection moves on to the next address
    /// of the list, so a node that died is left for one that runs. (The alternative needs no list:
    /// a DNS name with several records, since every connection attempt resolves the name again.)
    pub async fn connect_to_any(
        config: SessionConfig,
        fallbacks: Vec<ServerAddr>,
        backoff: Backoff,
    ) -> Result<(Self, SignedIn, async_channel::Receiver<Event>), ClientError> {
        let mut servers = Vec::with_capacity(1 + fallbacks.len());
        servers.push(config.server.clone());
        servers.extend(fallbacks);
        let mut failure = None;
        let mut joined = None;
        for (index, server) in servers.iter().enumerate() {
            let attempt = async {
                let addr = server.resolve().await?;
                let connector = Connector::new(&config.trust, addr)?;
                let (connection, welcome) =
                    connector.connect(server, addr, &config.user, None).await?;
                Ok::<_, ClientError>((connector, connection, welcome))
            };
            match attempt.await {
                Ok(done) => {
                    joined = Some((index, done));
                    break;
                }
                // A refused name is the cluster's answer, not one node's trouble.
                Err(e @ ClientError::Refused(_)) => return Err(e),
                Err(e) => failure = Some(e),
            }
        }
        let Some((current, (connector, connection, welcome))) = joined else {
            return Err(failure.unwrap_or(ClientError::Timeout));
        };
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = async_channel::bounded(EVENT_QUEUE);
        let mut state = State {
            config: SessionConfig {
                user: welcome.you.clone(),
                server: servers[current].clone(),
                ..config
            },
            servers,
            current,
            connector,
            backoff,
            you: welcome.you.clone(),
            last_seen: None,
            unconfirmed: VecDeque::new(),
            held_back: VecDeque::new(),
            commands: command_rx,
            events: event_tx,
        };
        let history = state.absorb_history(welcome.history);
        tokio::spawn(run(state, connection));
        let session = Self {
            commands,
            // A random start makes nonces unique across this user's sessions too.
            next_nonce: Arc::new(AtomicU64::new(rand::random::<u64>() >> 1)),
            you: Arc::from(welcome.you.as_str()),
        };
        let signed_in = SignedIn {
            you: welcome.you,
            users: welcome.users,
            history: history.into_iter().map(|(line, _)| line).collect(),
        };
        Ok((session, signed_in, events))
    }

    /// The name the server registered for us.
    pub fn you(&self) -> &str {
        &self.you
    }

    /// Sends a line; returns its nonce, which its [`Event::Receipt`] and any [`Event::Problem`] about
    /// it carry.
    /// While disconnected the line is queued and sent after the resume: it is said exactly once.
    pub fn say(&self, text: impl Into<String>) -> Result<u64, ClientError> {
        let nonce = self.next_nonce.fetch_add(1, Ordering::Relaxed);
        self.commands
            .send(Command::Say(nonce, text.into()))
            .map_err(|_| ClientError::SessionEnded)?;
        Ok(nonce)
    }

    /// Asks for the user list; the answer arrives as [`Event::Users`].
    pub fn list_users(&self) -> Result<(), ClientError> {
        self.commands
            .send(Command::ListUsers)
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

enum Command {
    Say(u64, String),
    ListUsers,
    Quit(oneshot::Sender<()>),
}

/// What the session task keeps across connections.
struct State {
    config: SessionConfig,
    /// Every address the session may use; `config.server` is `servers[current]`.
    servers: Vec<ServerAddr>,
    current: usize,
    connector: Connector,
    backoff: Backoff,
    you: String,
    /// The id of the newest `Chat` seen: what a resume asks to continue after.
    last_seen: Option<u64>,
    /// Lines said and not yet confirmed by their receipt, in order: re-sent after a reconnect.
    unconfirmed: VecDeque<(u64, String)>,
    /// Lines the server answered `TooFast`: sent again when the hold-back delay is over.
    held_back: VecDeque<(u64, String)>,
    commands: mpsc::UnboundedReceiver<Command>,
    events: async_channel::Sender<Event>,
}

/// How one connection ended.
enum Ended {
    Quit(Option<oneshot::Sender<()>>),
    Lost(CloseReason),
}

impl State {
    /// Notes the lines of a `Welcome`; each comes back with whether it is a receipt.
    fn absorb_history(&mut self, history: Vec<ChatMessage>) -> Vec<(Line, bool)> {
        history
            .into_iter()
            .map(|m| {
                let receipt = self.absorb(&m);
                (Line::from_wire(m, &self.you), receipt)
            })
            .collect()
    }

    /// Notes a message: advances `last_seen` and settles our own line's receipt. True when it is
    /// the receipt of a line this session sent.
    fn absorb(&mut self, m: &ChatMessage) -> bool {
        self.last_seen = Some(self.last_seen.map_or(m.id, |seen| seen.max(m.id)));
        if m.from != self.you {
            return false;
        }
        let before = self.unconfirmed.len() + self.held_back.len();
        self.unconfirmed.retain(|(nonce, _)| *nonce != m.nonce);
        self.held_back.retain(|(nonce, _)| *nonce != m.nonce);
        self.unconfirmed.len() + self.held_back.len() < before
    }

    /// What a frame means to the user, after the session's own bookkeeping. A `TooFast` about a
    /// line we still hold is not told: the line is held back and sent again (`true` asks the
    /// caller to start the hold-back timer).
    fn translate(&mut self, frame: ServerFrame) -> (Vec<Event>, bool) {
        match frame {
            ServerFrame::Chat(m) => {
                let event = if self.absorb(&m) {
                    Event::Receipt(Line::from_wire(m, &self.you))
                } else {
                    Event::Line(Line::from_wire(m, &self.you))
                };
                (vec![event], false)
            }
            ServerFrame::Problem {
                code: ProblemCode::TooFast,
                nonce: Some(n),
                detail,
            } => {
                if let Some(at) = self.unconfirmed.iter().position(|(nonce, _)| *nonce == n)
                    && let Some(line) = self.unconfirmed.remove(at)
                {
                    self.held_back.push_back(line);
                    (Vec::new(), true)
                } else if self.held_back.iter().any(|(nonce, _)| *nonce == n) {
                    (Vec::new(), true)
                } else {
                    let frame = ServerFrame::Problem {
                        code: ProblemCode::TooFast,
                        nonce: Some(n),
                        detail,
                    };
                    (event::frame_events(frame, &self.you), false)
                }
            }
            // Any other problem with a line is final: it will not be sent again.
            ServerFrame::Problem { nonce: Some(n), .. } => {
                self.unconfirmed.retain(|(nonce, _)| *nonce != n);
                self.held_back.retain(|(nonce, _)| *nonce != n);
                (event::frame_events(frame, &self.you), false)
            }
            other => (event::frame_events(other, &self.you), false),
        }
    }

    async fn emit(&self, event: Event) -> bool {
        self.events.send(event).await.is_ok()
    }
}

/// How long a line refused as `TooFast` waits before it is sent again.
const HOLD_BACK: Duration = Duration::from_secs(1);
/// A reconnection attempt that takes longer than this is abandoned for the next one.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(4);

async fn run(mut state: State, mut connection: Connection) {
    loop {
        let ended = drive(&mut state, connection).await;
        let reason = match ended {
            Ended::Quit(waiter) => {
                let _ = state.emit(Event::Closed(CloseReason::Quit)).await;
                if let Some(done) = waiter {
                    let _ = done.send(());
                }
                return;
            }
            Ended::Lost(reason) => reason,
        };
        if !state.backoff.enabled {
            let _ = state.emit(Event::Closed(reason)).await;
            return;
        }
        match reconnect(&mut state, reason.to_string()).await {
            Some(next) => connection = next,
            None => return,
        }
    }
}

/// Keeps trying until a connection is back (`Some`) or the session is over (`None`, after the final
/// event was sent).
async fn reconnect(state: &mut State, mut error: String) -> Option<Connection> {
    let mut attempt = 0u32;
    loop {
        attempt = attempt.saturating_add(1);
        let retry_in = state.backoff.delay(attempt);
        if !state
            .emit(Event::Disconnected {
                error: error.clone(),
                attempt,
                retry_in,
            })
            .await
        {
            return None;
        }
        let wake = tokio::time::Instant::now() + retry_in;
        // Wait, still taking commands: lines are queued, quitting ends the session at once.
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(wake) => break,
                command = state.commands.recv() => match command {
                    Some(Command::Say(nonce, text)) => state.unconfirmed.push_back((nonce, text)),
                    Some(Command::ListUsers) => {}
                    Some(Command::Quit(done)) => {
                        let _ = state.emit(Event::Closed(CloseReason::Quit)).await;
                        let _ = done.send(());
                        return None;
                    }
                    None => return None,
                },
            }
        }
        if state.servers.len() > 1 {
            state.current = (state.current + 1) % state.servers.len();
            state.config.server = state.servers[state.current].clone();
        }
        let attempt_result = async {
            let addr = state.config.server.resolve().await?;
            tokio::time::timeout(
                RECONNECT_TIMEOUT,
                state
                    .connector
                    .connect(&state.config.server, addr, &state.you, state.last_seen),
            )
            .await
            .map_err(|_| ClientError::Timeout)?
        }
        .await;
        match attempt_result {
            Ok((mut connection, welcome)) => {
                let missed = state.absorb_history(welcome.history);
                state.unconfirmed.extend(state.held_back.drain(..));
                for (nonce, text) in state.unconfirmed.clone() {
                    if connection
                        .send(&ClientFrame::Say { nonce, text })
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                let reconnected = Event::Reconnected {
                    users: welcome.users,
                    missed: missed.len(),
                };
                if !state.emit(reconnected).await {
                    return None;
                }
                for (line, receipt) in missed {
                    let event = if receipt {
                        Event::Receipt(line)
                    } else {
                        Event::Line(line)
                    };
                    if !state.emit(event).await {
                        return None;
                    }
                }
                return Some(connection);
            }
            // Our old connection may still hold the name until the server notices it is gone.
            Err(ClientError::Refused(RefuseReason::NameTaken | RefuseReason::ServerFull)) => {
                error = "the server still holds our previous connection".into();
            }
            Err(ClientError::Refused(reason)) => {
                let _ = state
                    .emit(Event::Closed(CloseReason::ByServer(reason.to_string())))
                    .await;
                return None;
            }
            Err(e) => error = e.to_string(),
        }
    }
}

/// Runs one connection until it ends.
async fn drive(state: &mut State, connection: Connection) -> Ended {
    let (mut writer, mut reader, conn) = connection.split();
    let hold_back = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(hold_back);
    let mut holding = false;
    let ended = loop {
        tokio::select! {
            command = state.commands.recv() => match command {
                Some(Command::Say(nonce, text)) => {
                    state.unconfirmed.push_back((nonce, text.clone()));
                    if let Err(e) = writer.send(&ClientFrame::Say { nonce, text }).await {
                        break Ended::Lost(CloseReason::Lost(e));
                    }
                }
                Some(Command::ListUsers) => {
                    if let Err(e) = writer.send(&ClientFrame::ListUsers).await {
                        break Ended::Lost(CloseReason::Lost(e));
                    }
                }
                Some(Command::Quit(done)) => {
                    say_bye(&mut writer, &mut reader, state).await;
                    break Ended::Quit(Some(done));
                }
                None => {
                    say_bye(&mut writer, &mut reader, state).await;
                    break Ended::Quit(None);
                }
            },
            () = &mut hold_back, if holding => {
                holding = false;
                let again: Vec<_> = state.held_back.drain(..).collect();
                let mut failed = None;
                for (nonce, text) in again {
                    state.unconfirmed.push_back((nonce, text.clone()));
                    if failed.is_none()
                        && let Err(e) = writer.send(&ClientFrame::Say { nonce, text }).await
                    {
                        failed = Some(e);
                    }
                }
                if let Some(e) = failed {
                    break Ended::Lost(CloseReason::Lost(e));
                }
            }
            frame = reader.next() => match frame {
                Ok(Some(frame)) => {
                    let (events, hold) = state.translate(frame);
                    if hold && !holding {
                        holding = true;
                        hold_back.as_mut().reset(tokio::time::Instant::now() + HOLD_BACK);
                    }
                    let mut listened = true;
                    for event in events {
                        listened &= state.emit(event).await;
                    }
                    if !listened {
                        // Nobody listens any more: leave politely.
                        say_bye(&mut writer, &mut reader, state).await;
                        break Ended::Quit(None);
                    }
                }
                Ok(None) => break Ended::Lost(closed_by_server(&conn).await),
                Err(ClientError::Closed(why)) => break Ended::Lost(CloseReason::ByServer(why)),
                Err(e) => break Ended::Lost(CloseReason::Lost(e)),
            },
        }
    };
    conn.close(
        quinn::VarInt::from_u32(wire::close_code::NORMAL),
        b"client closed",
    );
    if matches!(ended, Ended::Quit(_)) {
        let _ = tokio::time::timeout(QUIT_TIMEOUT, state.connector.endpoint().wait_idle()).await;
    }
    ended
}

/// Sends `Bye`, then passes on what the server still sends until it ends the stream.
async fn say_bye(writer: &mut FrameWriter, reader: &mut FrameReader, state: &mut State) {
    if writer.send(&ClientFrame::Bye).await.is_err() {
        return;
    }
    writer.finish();
    let drain = async {
        while let Ok(Some(frame)) = reader.next().await {
            for event in state.translate(frame).0 {
                let _ = state.events.try_send(event);
            }
        }
    };
    let _ = tokio::time::timeout(QUIT_TIMEOUT, drain).await;
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
