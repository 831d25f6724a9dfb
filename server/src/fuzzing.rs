//! A member's session without sockets, for the fuzz target and for tests: bytes go through a
//! [`FrameDecoder`] into the session's rules ([`MemberSession`]), and what the rules decide is
//! carried out against a real [`Room`] and registry of rooms whose stores live in memory, the way the quinn
//! driver carries it out (the single-node room never waits, so its futures finish at once). No
//! runtime, no clock reads: thousands of inputs a second instead of the ten a live QUIC connection
//! allowed.
//!
//! [`SessionHarness::run`] panics when an invariant breaks: the rules act on a member's frames only
//! after the room admitted it; names the room admits are valid; every frame the member is sent
//! decodes, `Welcome` comes first, message ids only go up in each conversation, and every line the room accepted comes
//! back to its sender exactly once; closes use the protocol's close codes; and whatever the input,
//! the session ends with the member out of the room.
//!
//! Names are claimed from a real book of owners (SQLite in memory) by one of a few keys
//! ([`SessionHarness::run_as`]), so a `Redeem` and a name owned by another key take the paths a
//! live server takes: the room admits a member only under a name the book gives its key, and a
//! refusal is one of the book's reasons.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use certs::Fingerprint;

use bytes::Bytes;
use futures_util::FutureExt;
use wire::{
    ClientFrame, Conversation, FrameDecoder, LeaveReason, RefuseReason, ServerFrame, close_code,
};

use crate::{
    config::{Config, TlsSource},
    names::{name_key, validate_name},
    owners::{self, Claim, Guesses, Owners, Policy, Registration, SqliteOwners, Visitor},
    queue::PushError,
    room::{ConnId, Membership, Room},
    rooms::{Registry, RoomStore, Who},
    session::rules::{Action, Close, Input, MemberSession, RoomRequest},
    store::{Retention, Store},
};

/// How far the clock moves per frame handled: fast enough that long inputs meet the rate limit.
const TICK: Duration = Duration::from_millis(1);
/// Lines said together at most (the driver's `SAYS_PER_TURN`).
const SAYS_PER_TURN: usize = 32;
/// The keys that take turns at connecting ([`SessionHarness::run_as`]).
const KEYS: u8 = 3;
/// The wall clock the book of owners is told at the harness's start (its own clock moves on from
/// there): the harness reads no clock of its own.
const START_MS: u64 = 1_800_000_000_000;

/// A conversation as the server tells them apart (names compared by how they look).
fn conversation_key(conversation: &Conversation) -> String {
    match conversation {
        Conversation::Room(room) => crate::names::room_key(room),
        Conversation::Direct(name) => crate::names::name_key(name),
    }
}

/// The default room, where a client says its lines.
fn general() -> Conversation {
    Conversation::Room(crate::config::DEFAULT_ROOM.into())
}

/// What one input came to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// The room admitted the member.
    pub joined: bool,
    /// Its own lines that came back to it as `Chat`.
    pub receipts: usize,
    /// Frames the member was sent.
    pub frames: usize,
    /// How the connection was closed, if it was.
    pub close: Option<(u32, String)>,
}

/// One room shared by every input, and a clock that only moves forward.
pub struct SessionHarness {
    room: Arc<Room>,
    rooms: Registry,
    config: Config,
    next_conn: ConnId,
    now: Instant,
    started: Instant,
    owners: Owners,
    guesses: Mutex<Guesses>,
}

impl std::fmt::Debug for SessionHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHarness")
            .field("runs", &self.next_conn)
            .finish_non_exhaustive()
    }
}

impl Default for SessionHarness {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionHarness {
    /// A room with a small cache (so that resumes reach into the store) and default limits.
    pub fn new() -> Self {
        let mut config = Config::new(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            TlsSource::DevCerts {
                dir: std::path::PathBuf::new(),
            },
        );
        config.history_len = 16;
        config.welcome_history = 8;
        config.max_replay = 32;
        let retention = Retention {
            max_messages: 0,
            max_age_ms: 0,
        };
        let store = match Store::in_memory(retention) {
            Ok(store) => store,
            Err(e) => panic!("cannot open an in-memory store: {e}"),
        };
        let room = match Room::new(&config, store) {
            Ok(room) => Arc::new(room),
            Err(e) => panic!("cannot make a room: {e}"),
        };
        let rooms = RoomStore::in_memory()
            .and_then(|store| Registry::new(&config, room.clone(), store))
            .unwrap_or_else(|e| panic!("cannot make the registry of rooms: {e}"));
        let owners = match SqliteOwners::in_memory() {
            Ok(book) => Owners::Local(book),
            Err(e) => panic!("cannot open an in-memory book of owners: {e}"),
        };
        let now = Instant::now();
        Self {
            room,
            rooms,
            config,
            next_conn: 0,
            now,
            started: now,
            owners,
            guesses: Mutex::default(),
        }
    }

    /// Runs one connection of the first key: see [`Self::run_as`].
    pub fn run(&mut self, chunks: &[&[u8]], finish: bool) -> Report {
        self.run_as(0, chunks, finish)
    }

    /// Runs one connection of key number `key` (of a few) that sends `chunks` (one read each) and
    /// then finishes its stream (`finish`) or vanishes. Panics if an invariant breaks.
    pub fn run_as(&mut self, key: u8, chunks: &[&[u8]], finish: bool) -> Report {
        self.next_conn += 1;
        // Each connection starts well after the last: the rate bucket of one is not the next's.
        self.now += Duration::from_secs(10);
        let mut run = Run {
            rules: MemberSession::new(&self.config.limits, None, self.now),
            advertised: self.config.limits.advertised(),
            decoder: FrameDecoder::new(self.config.limits.max_frame_bytes),
            conn: self.next_conn,
            room: &self.room,
            rooms: &self.rooms,
            now: self.now,
            member: None,
            ahead: None,
            accepted: HashSet::new(),
            said_to: HashMap::new(),
            last_id: HashMap::new(),
            report: Report::default(),
            key: Fingerprint::from_bytes([key % KEYS; 32]),
            owners: &self.owners,
            guesses: &self.guesses,
            started: self.started,
        };
        for chunk in chunks {
            if !run.rules.is_reading() {
                break;
            }
            run.decoder.push(chunk);
            run.read();
        }
        if run.rules.is_reading() {
            let end = match (finish, run.decoder.finish()) {
                (true, Ok(())) => Input::Finished,
                (true, Err(e)) => Input::Broken(e),
                (false, _) => Input::Lost(LeaveReason::Dropped),
            };
            run.act(end);
        }
        // A member that left is flushed (its queue closed) and closed.
        if !run.rules.is_ended() {
            run.act(Input::Flushed);
        }
        assert!(run.rules.is_ended(), "the session did not end");
        run.drain();
        assert!(
            run.accepted.is_empty(),
            "accepted lines never came back to their sender: {:?}",
            run.accepted
        );
        self.now = run.now;
        let report = run.report;
        assert_eq!(self.room.size(), 0, "the member is still in the room");
        report
    }

    /// A well-behaved client can still join, say a line, get its receipt and leave.
    pub fn health_check(&mut self, n: u64) {
        let name = format!("health{n}");
        let frames = [
            ClientFrame::Hello {
                version: wire::PROTOCOL_VERSION,
                user: name,
                resume: Vec::new(),
            },
            ClientFrame::Say {
                nonce: n,
                to: general(),
                text: "still there?".into(),
            },
            ClientFrame::Bye,
        ];
        let bytes: Vec<Bytes> = frames
            .iter()
            .map(|f| wire::encode(f, wire::MAX_CLIENT_FRAME).expect("small frames encode"))
            .collect();
        let chunks: Vec<&[u8]> = bytes.iter().map(|b| &b[..]).collect();
        let report = self.run(&chunks, true);
        assert!(
            report.joined,
            "a well-behaved client was not admitted: {report:?}"
        );
        assert_eq!(report.receipts, 1, "no receipt for a good line: {report:?}");
        assert_eq!(
            report.close,
            Some((close_code::NORMAL, "bye".into())),
            "a Bye did not end in a normal close"
        );
    }
}

/// One connection's run.
struct Run<'a> {
    rules: MemberSession,
    advertised: wire::Limits,
    decoder: FrameDecoder,
    conn: ConnId,
    room: &'a Room,
    rooms: &'a Registry,
    now: Instant,
    member: Option<Membership>,
    ahead: Option<ClientFrame>,
    /// Lines the room accepted and that have not come back yet: (conversation's key, nonce).
    accepted: HashSet<(String, u64)>,
    /// The conversation each accepted nonce went to, by nonce and id (a nonce is unique per
    /// user only by the client's good will: the server tells lines apart per conversation).
    said_to: HashMap<(u64, u64), String>,
    /// The newest message id the member was sent, per conversation.
    last_id: HashMap<Conversation, u64>,
    report: Report,
    /// The key the connection proved it holds.
    key: Fingerprint,
    owners: &'a Owners,
    guesses: &'a Mutex<Guesses>,
    started: Instant,
}

impl Run<'_> {
    /// Hands every whole frame buffered so far to the rules.
    fn read(&mut self) {
        // The driver stops reading once the member left or the session ended.
        while self.rules.is_reading() {
            let input = match self.ahead.take() {
                Some(frame) => Input::Frame(frame),
                None => match self.decoder.next_frame() {
                    Ok(Some(frame)) => Input::Frame(frame),
                    Ok(None) => return,
                    Err(e) => Input::Broken(e),
                },
            };
            self.act(input);
        }
    }

    fn act(&mut self, input: Input) {
        let was_member = self.rules.is_member();
        let hello = matches!(input, Input::Frame(ClientFrame::Hello { .. }));
        self.now += TICK;
        let action = self.rules.handle(input, self.now);
        self.carry_out(action, was_member, hello);
    }

    fn carry_out(&mut self, action: Action, was_member: bool, hello: bool) {
        match action {
            Action::Nothing => {}
            Action::Claim { user, code } => {
                assert!(
                    hello && self.member.is_none(),
                    "Claim without a first Hello"
                );
                assert!(validate_name(&user).is_ok(), "the rules let {user:?} claim");
                let outcome = self.claim(&user, code.as_deref());
                let next = self.rules.handle(Input::Claimed(outcome.clone()), self.now);
                match outcome {
                    Ok(()) => assert!(
                        matches!(next, Action::Join { .. }),
                        "after a claim the rules said {next:?}"
                    ),
                    Err(_) => assert!(
                        matches!(next, Action::Refuse(_)),
                        "after a refused claim the rules said {next:?}"
                    ),
                }
                return self.carry_out(next, was_member, hello);
            }
            Action::Request { .. } => {
                assert!(was_member, "a request from a client not in the room");
            }
            Action::Join { user, resume } => {
                assert!(self.member.is_none(), "Join twice");
                let resume_after = resume.iter().find_map(|p| match &p.conversation {
                    Conversation::Room(r) if self.rooms.is_default(r) => Some(p.last_id),
                    _ => None,
                });
                assert!(validate_name(&user).is_ok(), "the rules let {user:?} join");
                let joined = self
                    .room
                    .enter(
                        (self.conn, certs::Fingerprint::from_bytes([0; 32])),
                        &user,
                        resume_after,
                        self.advertised,
                    )
                    .now_or_never()
                    .expect("a single-node room admits without waiting");
                let outcome = joined.as_ref().map(|_| ()).map_err(Clone::clone);
                if let Err(reason) = &outcome {
                    assert!(
                        matches!(reason, RefuseReason::NameTaken | RefuseReason::ServerFull),
                        "the room refused a valid name: {reason}"
                    );
                }
                match self.rules.handle(Input::Joined(outcome), self.now) {
                    Action::Nothing => {
                        self.member = joined.ok();
                        assert!(self.member.is_some() && self.rules.is_member());
                        self.report.joined = true;
                        self.expect_welcome();
                        if let Some(member) = &self.member {
                            let who = Who {
                                key: &member.key,
                                name: &member.name,
                                conn: self.conn,
                                tx: &member.tx,
                            };
                            self.rooms
                                .sign_in(&who, &resume)
                                .now_or_never()
                                .expect("a single node signs in without waiting");
                        }
                        self.drain();
                    }
                    Action::Refuse(reason) => self.refused(&reason),
                    other => panic!("after joining the rules said {other:?}"),
                }
            }
            Action::Refuse(reason) => {
                assert!(!was_member && self.member.is_none(), "Refuse after joining");
                self.refused(&reason);
            }
            Action::Reply(frame) => {
                assert!(was_member, "a reply to a client not in the room: {frame:?}");
                assert!(
                    matches!(frame, ServerFrame::Problem { .. }),
                    "the rules reply only with Problem: {frame:?}"
                );
                self.reply(&frame);
            }
            Action::Say { nonce, to, text } => {
                assert!(was_member, "a line said by a client not in the room");
                let most = self.room.headroom().clamp(1, SAYS_PER_TURN);
                let (lines, broken) = self.rules.gather_lines(
                    &mut self.decoder,
                    (&to, (nonce, text)),
                    most,
                    self.now,
                    &mut self.ahead,
                );
                let key = self.member_key();
                let outcomes = match &to {
                    Conversation::Room(r) if self.rooms.is_default(r) => self
                        .room
                        .speak_all(&key, lines)
                        .now_or_never()
                        .expect("a single-node room says without waiting"),
                    // Direct messages without the book of owners: anybody may be written to.
                    Conversation::Direct(other) => {
                        let member = self.member.as_ref().expect("a member");
                        let who = self.who(member);
                        self.rooms
                            .say_direct(&who, other, lines)
                            .now_or_never()
                            .expect("a single node says without waiting")
                    }
                    Conversation::Room(r) => {
                        let member = self.member.as_ref().expect("a member");
                        let who = self.who(member);
                        self.rooms
                            .say(&who, r, lines)
                            .now_or_never()
                            .expect("a single node says without waiting")
                    }
                };
                let target = conversation_key(&to);
                for (nonce, outcome) in outcomes {
                    if let Ok(id) = &outcome {
                        assert!(
                            self.accepted.insert((target.clone(), nonce)),
                            "nonce {nonce} accepted twice in {to}"
                        );
                        self.said_to.insert((nonce, *id), target.clone());
                    }
                    if let Some(reply) = self.rules.said(nonce, outcome) {
                        self.reply(&reply);
                    }
                }
                self.drain();
                if let Some(e) = broken {
                    self.act(Input::Broken(e));
                }
            }
            Action::ListUsers { room } => {
                assert!(was_member, "a user list for a client not in the room");
                if self.rooms.is_default(&room) {
                    match self.room.users_frame() {
                        Ok(bytes) => self.push(bytes),
                        Err(e) => panic!("the user list does not encode: {e}"),
                    }
                } else {
                    let member = self.member.as_ref().expect("a member");
                    let answer = self.rooms.users(&self.who(member), &room);
                    match answer {
                        Ok(bytes) => self.push(bytes),
                        Err(refused) => self.reply(&ServerFrame::Problem {
                            code: refused.code,
                            nonce: None,
                            detail: refused.detail,
                        }),
                    }
                }
            }
            Action::Rooms(request) => {
                assert!(was_member, "a room request from a client not in the room");
                let member = self.member.as_ref().expect("a member");
                let who = self.who(member);
                let done = match request {
                    RoomRequest::Join { room } => self.rooms.join(&who, &room).now_or_never(),
                    RoomRequest::Part { room } => self.rooms.part(&who, &room).now_or_never(),
                    RoomRequest::SetTopic { room, topic } => {
                        self.rooms.set_topic(&who, &room, &topic).now_or_never()
                    }
                    RoomRequest::List => {
                        let list = self.rooms.list();
                        self.reply(&list);
                        Some(Ok(()))
                    }
                };
                let done = done.expect("a single node answers room requests without waiting");
                if let Err(refused) = done {
                    self.reply(&ServerFrame::Problem {
                        code: refused.code,
                        nonce: None,
                        detail: refused.detail,
                    });
                }
            }
            Action::Leave(why) => {
                assert!(was_member, "Leave from a client not in the room");
                let key = self.member_key();
                assert!(
                    self.room.leave(self.conn, &key, why),
                    "the member was not in the room"
                );
                let _single_node_has_nothing_to_record = self.rooms.sign_out(&key, self.conn, why);
            }
            Action::End { leave, close } => {
                if let Some(why) = leave {
                    assert!(
                        self.member.is_some(),
                        "a leave for a client not in the room"
                    );
                    let key = self.member_key();
                    self.room.leave(self.conn, &key, why);
                    let _single_node_has_nothing_to_record =
                        self.rooms.sign_out(&key, self.conn, why);
                }
                if let Some(close) = close {
                    self.closed(close);
                }
            }
            Action::FinishAndClose(close) => {
                assert!(
                    self.member.is_some(),
                    "a flush for a client never in the room"
                );
                self.closed(close);
            }
        }
        self.drain();
    }

    fn who<'m>(&self, member: &'m Membership) -> Who<'m> {
        Who {
            key: &member.key,
            name: &member.name,
            conn: self.conn,
            tx: &member.tx,
        }
    }

    /// Asks the book whether this run's key may use `user`, as the driver does, and checks that
    /// a yes leaves the name bound to the key.
    fn claim(&mut self, user: &str, code: Option<&str>) -> Result<(), RefuseReason> {
        let now_ms = START_MS
            + u64::try_from(self.now.duration_since(self.started).as_millis()).unwrap_or(u64::MAX);
        let visitor = Visitor {
            name: user,
            key: self.key,
            ip: std::net::IpAddr::from([192, 0, 2, 1]),
            code,
        };
        let outcome = owners::admit(
            self.owners,
            self.guesses,
            Policy::Open,
            visitor,
            (self.now, now_ms),
        )
        .now_or_never()
        .expect("the SQLite book answers without waiting");
        match &outcome {
            Ok(()) => {
                let again = self
                    .owners
                    .claim(&name_key(user), user, &self.key, Registration::Open, now_ms)
                    .now_or_never()
                    .expect("the SQLite book answers without waiting");
                assert!(
                    matches!(again, Ok(Claim::Owner)),
                    "admitted as {user:?}, but the book says {again:?}"
                );
            }
            Err(reason) => assert!(
                matches!(
                    reason,
                    RefuseReason::NameOwned
                        | RefuseReason::Revoked
                        | RefuseReason::Banned { .. }
                        | RefuseReason::BadCode
                        | RefuseReason::TooManyGuesses
                ),
                "the book refused {user:?} with {reason}"
            ),
        }
        outcome
    }

    fn member_key(&self) -> String {
        match &self.member {
            Some(member) => member.key.clone(),
            None => panic!("no member"),
        }
    }

    fn refused(&mut self, reason: &RefuseReason) {
        assert!(
            self.rules.is_ended(),
            "a refusal that does not end the session"
        );
        let frame = ServerFrame::Refused {
            reason: reason.clone(),
        };
        assert!(wire::encode(&frame, wire::MAX_SERVER_FRAME).is_ok());
        self.closed(Close {
            code: close_code::REFUSED,
            reason: reason.to_string().into(),
        });
    }

    fn closed(&mut self, close: Close) {
        let known = [
            close_code::NORMAL,
            close_code::PROTOCOL_ERROR,
            close_code::FRAME_TOO_LARGE,
            close_code::TOO_SLOW,
            close_code::SHUTTING_DOWN,
            close_code::REFUSED,
            close_code::HELLO_TIMEOUT,
            close_code::TOO_FAST,
        ];
        assert!(
            known.contains(&close.code),
            "unknown close code {}",
            close.code
        );
        assert!(self.report.close.is_none(), "closed twice");
        assert!(self.rules.is_ended(), "closed, but the session goes on");
        self.report.close = Some((close.code, close.reason.into_owned()));
    }

    fn reply(&mut self, frame: &ServerFrame) {
        match wire::encode(frame, wire::MAX_SERVER_FRAME) {
            Ok(bytes) => self.push(bytes),
            Err(e) => panic!("a reply does not encode: {e}: {frame:?}"),
        }
    }

    fn push(&mut self, bytes: Bytes) {
        let member = self.member.as_ref().expect("a member");
        match member.tx.push(bytes) {
            Ok(()) => {}
            // The writer below keeps the queue short; after a leave it is closed.
            Err(PushError::Closed) => {}
            Err(PushError::Full) => panic!("the member's queue overflowed"),
        }
    }

    /// Plays the writer: takes every frame queued for the member and checks it.
    fn drain(&mut self) {
        let Some(member) = self.member.as_mut() else {
            return;
        };
        let mut batch = Vec::new();
        while let Some(n) = member.rx.recv_many(&mut batch, usize::MAX).now_or_never() {
            if n == 0 {
                break;
            }
        }
        let name = member.name.clone();
        for bytes in batch {
            let mut decoder = FrameDecoder::new(wire::MAX_SERVER_FRAME);
            decoder.push(&bytes);
            let frame = match decoder.next_frame::<ServerFrame>() {
                Ok(Some(frame)) => frame,
                other => panic!("the member was sent a frame that does not decode: {other:?}"),
            };
            assert_eq!(decoder.buffered(), 0, "bytes after a frame");
            self.report.frames += 1;
            match frame {
                ServerFrame::Welcome { rooms, .. } => {
                    assert_eq!(self.report.frames, 1, "a second Welcome");
                    for room in rooms {
                        let conversation = Conversation::Room(room.room);
                        for message in &room.history {
                            self.seen(&conversation, message.id);
                        }
                    }
                }
                ServerFrame::RoomJoined(room) => {
                    assert!(self.report.frames > 1, "a room before Welcome");
                    let conversation = Conversation::Room(room.room);
                    // Entering again starts over from the recent lines.
                    self.last_id.remove(&conversation);
                    for message in &room.history {
                        self.seen(&conversation, message.id);
                    }
                }
                ServerFrame::Chat {
                    conversation,
                    message,
                } => {
                    assert!(self.report.frames > 1, "a line before Welcome");
                    self.seen(&conversation, message.id);
                    let target = self
                        .said_to
                        .remove(&(message.nonce, message.id))
                        .unwrap_or_else(|| conversation_key(&conversation));
                    if message.from == name && self.accepted.remove(&(target, message.nonce)) {
                        self.report.receipts += 1;
                    }
                }
                _ => assert!(self.report.frames > 1, "a frame before Welcome"),
            }
        }
    }

    fn seen(&mut self, conversation: &Conversation, id: u64) {
        let last = self.last_id.entry(conversation.clone()).or_insert(0);
        assert!(id > *last, "message {id} after {last} in {conversation}");
        *last = id;
    }

    /// The member's queue starts with `Welcome`.
    fn expect_welcome(&mut self) {
        self.drain();
        assert!(self.report.frames >= 1, "no Welcome");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small xorshift generator: the inputs of a failing seed can be made again.
    struct Dice(u64);

    impl Dice {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }

        fn text(&mut self) -> String {
            const WORDS: [&str; 6] = ["al", " ", "", "héllo", "Bo", "\u{202e}x"];
            let n = self.below(4);
            let mut s: String = (0..n)
                .map(|_| WORDS[self.below(WORDS.len() as u64) as usize])
                .collect();
            if self.below(20) == 0 {
                s = "x".repeat(wire::MAX_CLIENT_FRAME / 8);
            }
            s
        }

        fn room(&mut self) -> String {
            const ROOMS: [&str; 5] = ["#general", "#a", "#A", "b", "#\u{430}"];
            ROOMS[self.below(ROOMS.len() as u64) as usize].into()
        }

        fn conversation(&mut self) -> Conversation {
            if self.below(3) == 0 {
                Conversation::Direct(self.text())
            } else {
                Conversation::Room(self.room())
            }
        }
    }

    fn request(dice: &mut Dice) -> wire::Request {
        use wire::Request;
        match dice.below(9) {
            0 => Request::WhoAmI,
            1 => Request::LinkCode,
            2 => Request::Devices,
            3 => Request::Revoke {
                fingerprint: dice.text(),
            },
            4 => Request::Kick {
                user: dice.text(),
                reason: dice.text(),
            },
            5 => Request::Ban {
                user: dice.text(),
                reason: dice.text(),
            },
            6 => Request::Unban { user: dice.text() },
            7 => Request::Release { user: dice.text() },
            _ => Request::Invite,
        }
    }

    /// A random mix of frames (of every kind, with odd fields) and raw bytes, cut into reads.
    fn input(dice: &mut Dice) -> (Vec<Vec<u8>>, bool) {
        let mut stream = Vec::new();
        for _ in 0..dice.below(40) {
            let frame = match dice.below(12) {
                0 | 1 => ClientFrame::Hello {
                    version: if dice.below(8) == 0 {
                        dice.below(4) as u16
                    } else {
                        wire::PROTOCOL_VERSION
                    },
                    user: dice.text(),
                    resume: match dice.below(4) {
                        0 => Vec::new(),
                        1 => vec![wire::ResumePoint {
                            conversation: general(),
                            last_id: u64::MAX,
                        }],
                        _ => vec![wire::ResumePoint {
                            conversation: dice.conversation(),
                            last_id: dice.below(200),
                        }],
                    },
                },
                2..=5 => ClientFrame::Say {
                    nonce: dice.below(8),
                    to: dice.conversation(),
                    text: dice.text(),
                },
                6 => match dice.below(5) {
                    0 => ClientFrame::JoinRoom { room: dice.room() },
                    1 => ClientFrame::PartRoom { room: dice.room() },
                    2 => ClientFrame::ListRooms,
                    3 => ClientFrame::SetTopic {
                        room: dice.room(),
                        topic: dice.text(),
                    },
                    _ => ClientFrame::ListUsers { room: dice.room() },
                },
                7 => ClientFrame::ListUsers {
                    room: "#general".into(),
                },
                8 => ClientFrame::Bye,
                9 => ClientFrame::Redeem {
                    code: match dice.below(3) {
                        0 => "7K2QD-M9XAT-4HC1R-ZP0WE".into(),
                        1 => "-".repeat(dice.below(3000) as usize),
                        _ => dice.text(),
                    },
                },
                10 => ClientFrame::Request {
                    id: dice.next() as u32,
                    request: request(dice),
                },
                _ => {
                    let n = dice.below(12) as usize;
                    stream.extend((0..n).map(|_| dice.next() as u8));
                    continue;
                }
            };
            let bytes = wire::encode(&frame, wire::MAX_CLIENT_FRAME).expect("encodes");
            stream.extend_from_slice(&bytes);
        }
        let mut chunks = Vec::new();
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let n = (1 + dice.below(64) as usize).min(rest.len());
            chunks.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        (chunks, dice.below(2) == 0)
    }

    #[test]
    fn random_sessions_keep_every_invariant() {
        let seed = rand::random::<u64>() | 1;
        println!("seed {seed}");
        let mut dice = Dice(seed);
        let mut harness = SessionHarness::new();
        let runs = 3_000u64;
        let started = std::time::Instant::now();
        for n in 0..runs {
            let (chunks, finish) = input(&mut dice);
            let chunks: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            let key = dice.below(u64::from(KEYS)) as u8;
            harness.run_as(key, &chunks, finish);
            if n % 50 == 0 {
                harness.health_check(n);
            }
        }
        let took = started.elapsed().as_secs_f64();
        println!(
            "{runs} session inputs in {took:.2} s: {:.0} executions per second",
            runs as f64 / took
        );
    }

    fn frames(frames: &[ClientFrame]) -> Vec<u8> {
        frames
            .iter()
            .flat_map(|f| {
                wire::encode(f, wire::MAX_CLIENT_FRAME)
                    .expect("encodes")
                    .to_vec()
            })
            .collect()
    }

    fn hello(user: &str) -> ClientFrame {
        ClientFrame::Hello {
            version: wire::PROTOCOL_VERSION,
            user: user.into(),
            resume: Vec::new(),
        }
    }

    #[test]
    fn the_harness_sees_receipts_and_closes() {
        let mut harness = SessionHarness::new();
        let bytes = frames(&[
            hello("al"),
            ClientFrame::Say {
                nonce: 1,
                to: general(),
                text: "one".into(),
            },
            ClientFrame::Say {
                nonce: 2,
                to: general(),
                text: "two".into(),
            },
            // A re-send: not said twice.
            ClientFrame::Say {
                nonce: 1,
                to: general(),
                text: "one".into(),
            },
            ClientFrame::Bye,
        ]);
        let report = harness.run(&[&bytes], true);
        assert_eq!(report.receipts, 2);
        assert_eq!(report.close, Some((close_code::NORMAL, "bye".into())));
        // Without Bye and without finishing: the member is dropped, nothing is closed.
        let report = harness.run(&[&frames(&[hello("al")])], false);
        assert!(report.joined);
        assert_eq!(report.close, None);
        // Garbage first: a protocol error.
        let report = harness.run(&[&[0, 0, 0, 1, 9]], true);
        assert_eq!(report.close.map(|c| c.0), Some(close_code::PROTOCOL_ERROR));
        // Another key is refused the name, with or without a code it does not have.
        for code in [None, Some("7K2QD-M9XAT-4HC1R-ZP0WE")] {
            let mut sent = Vec::new();
            if let Some(code) = code {
                sent.extend(frames(&[ClientFrame::Redeem { code: code.into() }]));
            }
            sent.extend(frames(&[hello("AL")]));
            let report = harness.run_as(1, &[&sent], true);
            assert!(!report.joined);
            let (code_sent, reason) = (code.is_some(), report.close.expect("closed"));
            assert_eq!(reason.0, close_code::REFUSED);
            let want = if code_sent {
                RefuseReason::BadCode
            } else {
                RefuseReason::NameOwned
            };
            assert_eq!(reason.1, want.to_string());
        }
    }
}
