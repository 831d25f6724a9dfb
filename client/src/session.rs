//! One user's session on a background task: call methods, read [`Event`]s.
//!
//! The task turns the server's frames into the library's events (`State::translate`): it knows
//! which lines this session sent, so their echo becomes an [`Event::Receipt`]; after a resume it
//! announces [`Event::Reconnected`] and then hands out the missed lines one by one, like any other.
//!
//! Lines do not go out as fast as they are said: they wait in the [`Outbox`](crate::outbox), in
//! order, and leave at the pace the server announced in `Welcome` ([`Pacer`]), so that the server
//! never has to refuse one as `TooFast` (if it does anyway, the line goes back to the queue and is
//! sent again). [`Session::queue`] says how many wait; [`Session::quit`] waits, bounded, until each
//! has its receipt and says what became of them.
//!
//! The task owns the connection. Commands come in on an unbounded channel (so calling [`Session::say`]
//! never blocks, which matters on a GUI thread); events go out on an `async-channel`, which any
//! executor can await (tokio in `chat-cli`, the GLib main loop in the GNOME client). The event
//! channel is bounded: a consumer that stops reading stalls the session, the server sees us fall
//! behind and disconnects us, rather than memory growing without bound.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::{mpsc, oneshot};
use wire::{
    ChatMessage, ClientFrame, Conversation, ProblemCode, RefuseReason, ResumePoint, ServerFrame,
};

use crate::{
    Backoff, ClientError, CloseReason, Connection, Connector, Event, FrameReader, FrameWriter,
    Line, ServerAddr, SignedIn, Trust, event,
    outbox::{Farewell, Outbox, Outgoing, QueueState, Shared},
    pacing::Pacer,
};

/// Events buffered between the session task and the consumer.
const EVENT_QUEUE: usize = 4096;
/// How long saying `Bye` waits for the server to confirm before closing anyway.
const BYE_TIMEOUT: Duration = Duration::from_secs(2);
/// While leaving, how long the session waits without a receipt for a line it sent before it takes
/// the server for dead (plus two rate periods, for a slow advertised rate). A live server answers
/// within a round trip; this is long enough for a congested link and short enough that a user who
/// quits in front of a dead server is told within a few seconds.
const LEAVE_STALL: Duration = Duration::from_secs(5);
/// While leaving, the margin on top of the time the queue needs at the advertised rate.
const LEAVE_MARGIN: Duration = Duration::from_secs(10);
/// Writing one frame takes longer than this only when the server stopped reading: the connection
/// is taken for lost.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and who to be.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub server: ServerAddr,
    pub user: String,
    pub trust: Trust,
    /// Who we are: the key the server binds our name to.
    pub identity: Arc<certs::Identity>,
    /// A link code (from another device of `user`) or an invite, redeemed on the first connection
    /// only: once the name is ours, reconnecting needs none.
    pub code: Option<String>,
}

/// A handle on a running session. Cheap to clone; the session ends when [`Session::quit`] is called
/// or every handle is dropped.
#[derive(Debug, Clone)]
pub struct Session {
    commands: mpsc::UnboundedSender<Command>,
    next_nonce: Arc<AtomicU64>,
    next_request: Arc<std::sync::atomic::AtomicU32>,
    you: Arc<str>,
    default_room: Arc<str>,
    shared: Arc<Shared>,
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
                let connector = Connector::new(&config.trust, &config.identity, addr)?;
                let (connection, welcome) = connector
                    .connect_redeeming(server, addr, &config.user, &[], config.code.as_deref())
                    .await?;
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
        let shared = Arc::new(Shared::default());
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
            default_room: welcome.room().to_owned(),
            last_seen: HashMap::new(),
            targets: HashMap::new(),
            outbox: Outbox::new(shared.clone()),
            pacer: Pacer::new(&welcome.limits, Instant::now()),
            leaving: None,
            removed: false,
            commands: command_rx,
            events: event_tx,
        };
        state.take_limits(&welcome.limits);
        let default_room = state.default_room.clone();
        let mut rooms = welcome.rooms.into_iter();
        let (topic, users, history) = match rooms.next() {
            Some(room) => (room.topic, room.users, room.history),
            None => Default::default(),
        };
        let history = state.absorb_history(&Conversation::Room(default_room.clone()), history);
        // A server that puts more in `Welcome` than the default room: told like later ones.
        for frame in rooms
            .map(ServerFrame::RoomJoined)
            .chain(welcome.direct.into_iter().flat_map(|d| {
                let with = d.with;
                d.history.into_iter().map(move |message| ServerFrame::Chat {
                    conversation: Conversation::Direct(with.clone()),
                    message,
                })
            }))
        {
            for event in state.translate(frame) {
                let _ = state.events.try_send(event);
            }
        }
        tokio::spawn(run(state, connection));
        let session = Self {
            commands,
            // A random start makes nonces unique across this user's sessions too.
            next_nonce: Arc::new(AtomicU64::new(rand::random::<u64>() >> 1)),
            next_request: Arc::default(),
            you: Arc::from(welcome.you.as_str()),
            default_room: Arc::from(default_room.as_str()),
            shared,
        };
        let signed_in = SignedIn {
            you: welcome.you,
            room: default_room,
            topic,
            users,
            history: history.into_iter().map(|(line, _)| line).collect(),
        };
        Ok((session, signed_in, events))
    }

    /// The name the server registered for us.
    pub fn you(&self) -> &str {
        &self.you
    }

    /// The room everybody is in (`#general`), where [`Session::say`] speaks.
    pub fn default_room(&self) -> &str {
        &self.default_room
    }

    /// The longest line the server takes, in bytes of UTF-8 (from its `Welcome`, renewed on every
    /// reconnection). [`Session::say`] refuses longer lines.
    pub fn longest_line(&self) -> usize {
        self.shared.longest_line.load(Ordering::Relaxed)
    }

    /// How many of our lines are waiting to be sent and waiting for their receipt.
    pub fn queue(&self) -> QueueState {
        self.shared.queue()
    }

    /// Queues a line; returns its nonce, which its [`Event::Receipt`] and any [`Event::Problem`]
    /// about it carry. Lines leave in order, at the pace the server allows; while disconnected they
    /// wait and are sent after the resume: each is said exactly once. A line longer than
    /// [`Session::longest_line`] is refused here ([`ClientError::LineTooLong`]) and not sent.
    pub fn say(&self, text: impl Into<String>) -> Result<u64, ClientError> {
        self.send_line(None, text.into())
    }

    /// Like [`Session::say`], in a room we are in or to another user (a direct message).
    pub fn say_to(
        &self,
        conversation: Conversation,
        text: impl Into<String>,
    ) -> Result<u64, ClientError> {
        self.send_line(Some(conversation), text.into())
    }

    /// Enters a room, making it if nobody has; [`Event::RoomJoined`] answers.
    pub fn join_room(&self, room: impl Into<String>) -> Result<(), ClientError> {
        self.frame(ClientFrame::JoinRoom { room: room.into() })
    }

    /// Leaves a room; [`Event::RoomLeft`] answers.
    pub fn part_room(&self, room: impl Into<String>) -> Result<(), ClientError> {
        self.frame(ClientFrame::PartRoom { room: room.into() })
    }

    /// Asks for the server's rooms; [`Event::Rooms`] answers.
    pub fn list_rooms(&self) -> Result<(), ClientError> {
        self.frame(ClientFrame::ListRooms)
    }

    /// Sets a room's topic; every member gets [`Event::Topic`].
    pub fn set_topic(
        &self,
        room: impl Into<String>,
        topic: impl Into<String>,
    ) -> Result<(), ClientError> {
        self.frame(ClientFrame::SetTopic {
            room: room.into(),
            topic: topic.into(),
        })
    }

    /// Asks who is in a room; [`Event::Users`] answers.
    pub fn list_users_in(&self, room: impl Into<String>) -> Result<(), ClientError> {
        self.frame(ClientFrame::ListUsers { room: room.into() })
    }

    fn frame(&self, frame: ClientFrame) -> Result<(), ClientError> {
        self.commands
            .send(Command::Frame(frame))
            .map_err(|_| ClientError::SessionEnded)
    }

    fn send_line(&self, to: Option<Conversation>, text: String) -> Result<u64, ClientError> {
        let longest = self.longest_line();
        if text.len() > longest {
            return Err(ClientError::LineTooLong {
                bytes: text.len(),
                longest,
            });
        }
        let nonce = self.next_nonce.fetch_add(1, Ordering::Relaxed);
        self.commands
            .send(Command::Say(nonce, to, text))
            .map_err(|_| ClientError::SessionEnded)?;
        Ok(nonce)
    }

    /// Asks for the default room's user list; the answer arrives as [`Event::Users`]. Paced like a line (the
    /// server counts both), but it does not wait behind the lines it follows for their receipts.
    pub fn list_users(&self) -> Result<(), ClientError> {
        self.commands
            .send(Command::ListUsers)
            .map_err(|_| ClientError::SessionEnded)
    }

    /// Asks about names, devices or moderation; the answer comes as [`Event::Reply`] with the id
    /// returned here. Paced with the lines, like them.
    pub fn request(&self, request: wire::Request) -> Result<u32, ClientError> {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        self.commands
            .send(Command::Request(id, request))
            .map_err(|_| ClientError::SessionEnded)?;
        Ok(id)
    }

    /// Leaves honestly: waits until every queued line has its receipt (or was refused), then says
    /// `Bye` and waits (briefly) for the close. Returns what became of this session's lines.
    ///
    /// The wait is bounded twice: by the time the queue needs at the server's advertised rate plus
    /// ten seconds, and by five seconds (plus two rate periods) without a receipt for a line that
    /// was sent, which is how a server that stopped answering shows. A lost connection ends the
    /// wait at once. Lines still queued then are in the [`Farewell`], never silently dropped.
    pub async fn quit(&self) -> Farewell {
        self.leave(None).await
    }

    /// Like [`Session::quit`], but waits at most `wait` for the receipts (the stall rule still
    /// applies); `Duration::ZERO` says `Bye` at once.
    pub async fn quit_within(&self, wait: Duration) -> Farewell {
        self.leave(Some(wait)).await
    }

    async fn leave(&self, wait: Option<Duration>) -> Farewell {
        let (done, finished) = oneshot::channel();
        if self.commands.send(Command::Quit(done, wait)).is_err() {
            return ended_already();
        }
        finished.await.unwrap_or_else(|_| ended_already())
    }
}

/// The farewell of a session that had already ended: its lines were told as they went.
fn ended_already() -> Farewell {
    Farewell {
        gave_up: Some("the session had already ended".into()),
        ..Farewell::default()
    }
}

enum Command {
    /// A line, to the default room when no conversation is named.
    Say(u64, Option<Conversation>, String),
    Frame(ClientFrame),
    ListUsers,
    Request(u32, wire::Request),
    Quit(oneshot::Sender<Farewell>, Option<Duration>),
}

/// Waiting for the last receipts before `Bye`.
struct Leaving {
    done: oneshot::Sender<Farewell>,
    /// Give up at this time whatever happens.
    give_up_at: tokio::time::Instant,
    /// The last sign of life: a receipt, or a line sent while nothing was unconfirmed.
    last_progress: tokio::time::Instant,
    stall: Duration,
}

impl Leaving {
    fn deadline(&self) -> tokio::time::Instant {
        self.give_up_at.min(self.last_progress + self.stall)
    }
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
    default_room: String,
    /// The id of the newest `Chat` seen per conversation: what a resume asks to continue after.
    last_seen: HashMap<Conversation, u64>,
    /// Where our lines not for the default room go, by nonce, until their receipt or refusal.
    targets: HashMap<u64, Conversation>,
    outbox: Outbox,
    pacer: Pacer,
    leaving: Option<Leaving>,
    /// An operator removed us, or our name signed in elsewhere: the session ends without
    /// reconnecting (a kick would otherwise undo itself, and two devices would take turns).
    removed: bool,
    commands: mpsc::UnboundedReceiver<Command>,
    events: async_channel::Sender<Event>,
}

/// How one connection ended.
enum Ended {
    /// We said `Bye` (or nobody listens any more).
    Quit,
    Lost(CloseReason),
}

impl State {
    /// A `Welcome`'s limits: the pace and the longest line from now on.
    fn take_limits(&mut self, limits: &wire::Limits) {
        self.pacer = Pacer::new(limits, Instant::now());
        self.outbox
            .shared()
            .longest_line
            .store(limits.longest_line(), Ordering::Relaxed);
    }

    /// Notes the lines of a room entered; each comes back with whether it is a receipt.
    fn absorb_history(
        &mut self,
        conversation: &Conversation,
        history: Vec<ChatMessage>,
    ) -> Vec<(Line, bool)> {
        history
            .into_iter()
            .map(|m| {
                let receipt = self.absorb(conversation, &m);
                (Line::from_wire(conversation.clone(), m, &self.you), receipt)
            })
            .collect()
    }

    /// Where we are in each conversation, for `Hello`.
    fn resume_points(&self) -> Vec<ResumePoint> {
        self.last_seen
            .iter()
            .map(|(conversation, last_id)| ResumePoint {
                conversation: conversation.clone(),
                last_id: *last_id,
            })
            .collect()
    }

    /// Notes a message: advances `last_seen` and settles our own line's receipt. True when it is
    /// the receipt of a line this session sent.
    fn absorb(&mut self, conversation: &Conversation, m: &ChatMessage) -> bool {
        let seen = self.last_seen.entry(conversation.clone()).or_insert(m.id);
        *seen = (*seen).max(m.id);
        if m.from != self.you {
            return false;
        }
        let receipt = self.outbox.receipt(m.nonce);
        if receipt {
            self.targets.remove(&m.nonce);
        }
        if receipt && let Some(leaving) = &mut self.leaving {
            leaving.last_progress = tokio::time::Instant::now();
        }
        receipt
    }

    /// What a frame means to the user, after the session's own bookkeeping. A `TooFast` about a
    /// line we still hold is not told: the line goes back to the queue and the pace starts over.
    fn translate(&mut self, frame: ServerFrame) -> Vec<Event> {
        match frame {
            ServerFrame::Chat {
                conversation,
                message,
            } => {
                let receipt = self.absorb(&conversation, &message);
                let line = Line::from_wire(conversation, message, &self.you);
                vec![if receipt {
                    Event::Receipt(line)
                } else {
                    Event::Line(line)
                }]
            }
            ServerFrame::RoomJoined(room) => {
                let conversation = Conversation::Room(room.room.clone());
                let mut receipts = Vec::new();
                for m in &room.history {
                    if self.absorb(&conversation, m) {
                        let line = Line::from_wire(conversation.clone(), m.clone(), &self.you);
                        receipts.push(Event::Receipt(line));
                    }
                }
                let mut events = vec![Event::RoomJoined(event::room_view(room, &self.you))];
                events.extend(receipts);
                events
            }
            ServerFrame::RoomLeft { room } => {
                // Entering it again starts from its recent lines, not from where we left.
                self.last_seen.remove(&Conversation::Room(room.clone()));
                vec![Event::RoomLeft { room }]
            }
            ServerFrame::Problem {
                code: ProblemCode::TooFast,
                nonce,
                detail,
            } => {
                tracing::warn!(?nonce, "the server said TooFast despite our pacing");
                self.pacer.empty(Instant::now());
                match nonce {
                    Some(n) if self.outbox.too_fast(n) => Vec::new(),
                    // A ListUsers refused: ask again.
                    None => {
                        self.outbox.push(Outgoing::ListUsers);
                        Vec::new()
                    }
                    Some(_) => {
                        let frame = ServerFrame::Problem {
                            code: ProblemCode::TooFast,
                            nonce,
                            detail,
                        };
                        event::frame_events(frame, &self.you, &self.default_room)
                    }
                }
            }
            // Any other problem with a line is final: it will not be sent again.
            ServerFrame::Problem { nonce: Some(n), .. } => {
                self.targets.remove(&n);
                if self.outbox.refused(n)
                    && let Some(leaving) = &mut self.leaving
                {
                    leaving.last_progress = tokio::time::Instant::now();
                }
                event::frame_events(frame, &self.you, &self.default_room)
            }
            other => {
                self.removed |= matches!(
                    other,
                    ServerFrame::Removed { .. } | ServerFrame::Replaced { .. }
                );
                event::frame_events(other, &self.you, &self.default_room)
            }
        }
    }

    /// Queues what a command asks for; `false` when every handle is gone.
    fn command(&mut self, command: Option<Command>) -> bool {
        match command {
            Some(Command::Say(nonce, to, text)) => {
                if let Some(to) = to {
                    self.targets.insert(nonce, to);
                }
                self.outbox.push(Outgoing::Say(nonce, text));
            }
            Some(Command::Frame(frame)) => self.outbox.push(Outgoing::Frame(frame)),
            Some(Command::ListUsers) => self.outbox.push(Outgoing::ListUsers),
            Some(Command::Request(id, request)) => {
                self.outbox.push(Outgoing::Request(id, request));
            }
            Some(Command::Quit(done, wait)) => {
                let now = tokio::time::Instant::now();
                let needs = self.pacer.time_for(self.outbox.lines_left()) + LEAVE_MARGIN;
                self.leaving = Some(Leaving {
                    done,
                    give_up_at: now + wait.unwrap_or(needs),
                    last_progress: now,
                    stall: LEAVE_STALL + self.pacer.period() * 2,
                });
            }
            None => return false,
        }
        true
    }

    /// Ends the session: the farewell to whoever quit, then the last event.
    async fn finish(&mut self, gave_up: Option<String>, closed: CloseReason) {
        let farewell = self.outbox.farewell(gave_up);
        let _ = self.emit(Event::Closed(closed)).await;
        if let Some(leaving) = self.leaving.take() {
            let _ = leaving.done.send(farewell);
        }
    }

    async fn emit(&self, event: Event) -> bool {
        self.events.send(event).await.is_ok()
    }
}

/// A reconnection attempt that takes longer than this is abandoned for the next one.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(4);

async fn run(mut state: State, mut connection: Connection) {
    loop {
        let (ended, gave_up) = drive(&mut state, connection).await;
        let reason = match ended {
            Ended::Quit => {
                state.finish(gave_up, CloseReason::Quit).await;
                return;
            }
            Ended::Lost(reason) => reason,
        };
        if !state.backoff.enabled || state.leaving.is_some() || state.removed {
            // Leaving and the connection is gone: what is still queued is told, not retried.
            let gave_up = state.leaving.is_some().then(|| reason.to_string());
            state.finish(gave_up, reason).await;
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
        // Wait, still taking commands: lines are queued; quitting ends the session at once, and
        // the farewell lists the lines that could not be sent.
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(wake) => break,
                command = state.commands.recv() => {
                    if !state.command(command) {
                        return None;
                    }
                    if state.leaving.is_some() {
                        let why = format!("disconnected ({error})");
                        state.finish(Some(why), CloseReason::Quit).await;
                        return None;
                    }
                }
            }
        }
        if state.servers.len() > 1 {
            state.current = (state.current + 1) % state.servers.len();
            state.config.server = state.servers[state.current].clone();
        }
        let attempt_result = async {
            let addr = state.config.server.resolve().await?;
            let resume = state.resume_points();
            tokio::time::timeout(
                RECONNECT_TIMEOUT,
                state
                    .connector
                    .connect(&state.config.server, addr, &state.you, &resume),
            )
            .await
            .map_err(|_| ClientError::Timeout)?
        }
        .await;
        match attempt_result {
            Ok((connection, welcome)) => {
                state.take_limits(&welcome.limits);
                let default_room = Conversation::Room(state.default_room.clone());
                let users = welcome.users().to_vec();
                let history = welcome.history().to_vec();
                let missed = state.absorb_history(&default_room, history);
                // What is still unconfirmed goes again, first, at the new connection's pace.
                state.outbox.resend_all();
                let reconnected = Event::Reconnected {
                    users,
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
                let closed = CloseReason::ByServer(reason.to_string());
                state.finish(None, closed).await;
                return None;
            }
            Err(e) => error = e.to_string(),
        }
    }
}

/// Sends what the pace allows now; returns when the next frame may go, if one waits.
async fn send_due(
    state: &mut State,
    writer: &mut FrameWriter,
) -> Result<Option<tokio::time::Instant>, ClientError> {
    while state.outbox.has_waiting() {
        if let Err(wait) = state.pacer.take(Instant::now()) {
            return Ok(Some(tokio::time::Instant::now() + wait));
        }
        let was_idle = !state.outbox.has_unconfirmed();
        let Some(frame) = state.outbox.next_to_send() else {
            break;
        };
        if was_idle && let Some(leaving) = &mut state.leaving {
            leaving.last_progress = tokio::time::Instant::now();
        }
        let frame = match frame {
            Outgoing::Say(nonce, text) => ClientFrame::Say {
                nonce,
                to: state
                    .targets
                    .get(&nonce)
                    .cloned()
                    .unwrap_or_else(|| Conversation::Room(state.default_room.clone())),
                text,
            },
            Outgoing::ListUsers => ClientFrame::ListUsers {
                room: state.default_room.clone(),
            },
            Outgoing::Request(id, request) => ClientFrame::Request { id, request },
            Outgoing::Frame(frame) => frame,
        };
        tokio::time::timeout(SEND_TIMEOUT, writer.send(&frame))
            .await
            .map_err(|_| ClientError::Timeout)??;
    }
    Ok(None)
}

/// Runs one connection until it ends; with why the session stopped waiting for receipts, when it
/// gave up on some.
async fn drive(state: &mut State, connection: Connection) -> (Ended, Option<String>) {
    let (mut writer, mut reader, conn) = connection.split();
    let pace = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(pace);
    let leave = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(leave);
    let mut gave_up = None;
    let ended = loop {
        let next_send = match send_due(state, &mut writer).await {
            Ok(next) => next,
            Err(e) => break Ended::Lost(CloseReason::Lost(e)),
        };
        if let Some(at) = next_send {
            pace.as_mut().reset(at);
        }
        if let Some(leaving) = &state.leaving {
            if state.outbox.is_settled() {
                say_bye(&mut writer, &mut reader, state).await;
                break Ended::Quit;
            }
            leave.as_mut().reset(leaving.deadline());
        }
        tokio::select! {
            command = state.commands.recv() => {
                if !state.command(command) {
                    // Every handle is gone: nobody waits for the lines any more.
                    say_bye(&mut writer, &mut reader, state).await;
                    break Ended::Quit;
                }
            }
            () = &mut pace, if next_send.is_some() => {}
            () = &mut leave, if state.leaving.is_some() => {
                let left = state.outbox.lines_left();
                gave_up = Some(format!(
                    "the server confirmed nothing in time; {left} line{} not confirmed",
                    if left == 1 { "" } else { "s" }
                ));
                say_bye(&mut writer, &mut reader, state).await;
                break Ended::Quit;
            }
            frame = reader.next_whole() => match frame {
                Ok(Some(frame)) => {
                    let mut listened = true;
                    for event in state.translate(frame) {
                        listened &= state.emit(event).await;
                    }
                    if !listened {
                        // Nobody listens any more: leave politely.
                        say_bye(&mut writer, &mut reader, state).await;
                        break Ended::Quit;
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
    if matches!(ended, Ended::Quit) {
        let _ = tokio::time::timeout(BYE_TIMEOUT, state.connector.endpoint().wait_idle()).await;
    }
    (ended, gave_up)
}

/// Sends `Bye`, then passes on what the server still sends until it ends the stream.
async fn say_bye(writer: &mut FrameWriter, reader: &mut FrameReader, state: &mut State) {
    let bye = tokio::time::timeout(BYE_TIMEOUT, writer.send(&ClientFrame::Bye)).await;
    if !matches!(bye, Ok(Ok(()))) {
        return;
    }
    writer.finish();
    let drain = async {
        while let Ok(Some(frame)) = reader.next_whole().await {
            for event in state.translate(frame) {
                let _ = state.events.try_send(event);
            }
        }
    };
    let _ = tokio::time::timeout(BYE_TIMEOUT, drain).await;
}

/// The server finished its stream without us asking: it is shutting down or dropped us.
async fn closed_by_server(conn: &quinn::Connection) -> CloseReason {
    let why = tokio::time::timeout(BYE_TIMEOUT, conn.closed()).await;
    match why {
        Ok(quinn::ConnectionError::ApplicationClosed(c)) => {
            CloseReason::ByServer(String::from_utf8_lossy(&c.reason).into_owned())
        }
        Ok(other) => CloseReason::ByServer(other.to_string()),
        Err(_) => CloseReason::ByServer("the server ended the stream".into()),
    }
}
