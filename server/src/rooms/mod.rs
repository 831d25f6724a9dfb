//! The registry of rooms (protocol 5): the rooms other than the default one, who is in which
//! (durably), the default room's topic, and direct messages.
//!
//! The default room (`room::Room`) stays what it was: everybody is in it from `Welcome` on, it
//! holds the sessions and their queues, decides who is too slow, and in a cluster it is the one
//! room the nodes share. The registry sits next to it. A signed-in member gets the weak end of its
//! one queue cloned into each of its rooms ([`Online`]); a line in a room is encoded once and
//! pushed into the queues of that room's connected members only, so what one delivery costs does
//! not grow with the number of rooms.
//!
//! Locks, always in this order: the sequencer (the store of rooms and direct messages, held while
//! lines get ids, are stored and sent, and while memberships change, so ids go up by one per
//! conversation, everything is stored before anyone sees it, and a sign-in's replay meets the live
//! lines with no gap and no duplicate), then `memberships`, `rooms`, `online` (each briefly), then
//! one room's lock, never two. The default room's lock is taken only after a room's lock is let go
//! (to drop a member that is too slow). In a cluster there is no sequencer: the shared log
//! (`log::SharedLog`, JetStream) orders each conversation and every node applies it (`clustered`).
//!
//! `room` holds one named room, `direct` the direct messages, `store` the tables; `log` is what a
//! cluster offers, `clustered` and `clustered_direct` the registry's work on a cluster node,
//! `applied` what it does with the log's events and other nodes' presence.

mod applied;
mod clustered;
mod clustered_direct;
mod direct;
mod log;
mod room;
mod store;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use wire::{
    ChatMessage, Conversation, LeaveReason, PresenceChange, ProblemCode, ResumePoint, RoomInfo,
    ServerFrame,
};

use crate::{
    config::{Config, Limits, LiveLimits},
    names::{room_key, validate_room_name},
    queue::{PushError, WeakSender},
    room::{ConnId, Rejection, Room, Said},
    store::{StoreError, now_ms},
};

pub(crate) use log::{
    Appended, Channel, Dedup, DirectRecord, Event, Loaded, MemberRecord, RoomRecord, SharedLog,
};
use room::{NamedRoom, RoomState, Slow};
pub(crate) use store::RoomStore;

/// A connected member as a room sees it: where its frames go.
#[derive(Clone)]
pub(crate) struct Online {
    pub(crate) name: String,
    pub(crate) conn: ConnId,
    pub(crate) tx: WeakSender,
}

/// Who asks: a signed-in member.
pub(crate) struct Who<'a> {
    /// `name_key` of the name.
    pub(crate) key: &'a str,
    pub(crate) name: &'a str,
    pub(crate) conn: ConnId,
    pub(crate) tx: &'a WeakSender,
}

impl Who<'_> {
    fn online(&self) -> Online {
        Online {
            name: self.name.to_owned(),
            conn: self.conn,
            tx: self.tx.clone(),
        }
    }
}

/// What a cluster node still has to record after a session's `Bye`: the direct lines it was
/// handed arrived. Awaited before the session's stream ends, so that a sign-in right after it
/// (on any node) finds them delivered.
#[must_use = "await `record` so the delivered direct lines are not handed over again"]
pub(crate) struct Confirmation(Option<(Arc<dyn SharedLog>, Vec<DirectRecord>)>);

impl Confirmation {
    pub(crate) async fn record(self) {
        let Some((shared, records)) = self.0 else {
            return;
        };
        for record in records {
            if let Err(e) = shared.put_direct(&record, false).await {
                tracing::error!(error = %e, "cannot record delivered direct messages");
            }
        }
    }
}

/// Direct lines of one pair handed to a connection and not yet known to have arrived.
pub(crate) struct Handed {
    last_id: u64,
    other_key: String,
    other_name: String,
}

/// A request not carried out, told to the member as `Problem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: ProblemCode,
    pub(crate) detail: String,
}

fn refusal(code: ProblemCode, detail: impl Into<String>) -> Refusal {
    Refusal {
        code,
        detail: detail.into(),
    }
}

/// Lines each room keeps in memory at most (fewer when `--history` is lower): for newcomers, for
/// resumes that are not older, and to recognise a re-sent line. Older resumes read the store.
/// Bounded lower than the default room's cache because a server holds up to `--max-rooms` of them.
const ROOM_CACHE: usize = 200;

struct Sizes {
    /// Lines kept in memory per room.
    history_len: usize,
    welcome_history: usize,
    max_replay: usize,
}

pub(crate) struct Registry {
    /// The default room: sessions, queues, who is too slow.
    default: Arc<Room>,
    default_key: String,
    /// The sequencer (single node only).
    store: Option<Mutex<RoomStore>>,
    /// The shared log and registry (cluster node only).
    shared: Option<Arc<dyn SharedLog>>,
    /// Random per process: tells this registry's own membership events from the others'.
    origin: u64,
    /// In a cluster: who is connected to another node, by name key.
    remote: Mutex<applied::Remote>,
    /// In a cluster: direct lines for members whose sign-in replay is under way, by name key.
    held: Mutex<HashMap<String, Vec<clustered_direct::Held>>>,
    /// In a cluster: each pair's tail (log position, id), by pair key.
    pairs: Mutex<HashMap<String, clustered_direct::PairTail>>,
    /// Rooms per name key (not counting the default room).
    memberships: Mutex<HashMap<String, BTreeSet<String>>>,
    /// Every room but the default, by room key.
    rooms: Mutex<HashMap<String, Arc<NamedRoom>>>,
    /// Who is connected, by name key: where direct messages go.
    online: Mutex<HashMap<String, Online>>,
    /// Direct lines handed to a connection but not known to have arrived, per (name key,
    /// connection): pair key → newest id. Recorded as delivered only when the session ends with
    /// `Bye` (its queue is then written out) or the client names them in a resume point; a
    /// connection that died unnoticed would otherwise swallow what was sent to it.
    unconfirmed: Mutex<HashMap<(String, ConnId), HashMap<String, Handed>>>,
    limits: Arc<LiveLimits>,
    sizes: Sizes,
}

impl Registry {
    /// The registry of a single node: rooms, members and recent lines loaded from `store`.
    pub(crate) fn new(
        config: &Config,
        default: Arc<Room>,
        store: RoomStore,
    ) -> Result<Self, StoreError> {
        let default_key = room_key(&default.name);
        let mut registry = Self::empty(config, default);
        let mut memberships: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut rooms = HashMap::new();
        for stored in store.rooms()? {
            if stored.key == default_key {
                *lock(&registry.default.topic) = stored.topic;
                continue;
            }
            let mut recent = std::collections::VecDeque::new();
            for line in store.room_lines(&stored.key, None, room_cache(config))? {
                recent.push_back(line);
            }
            for (user, _) in &stored.members {
                memberships
                    .entry(user.clone())
                    .or_default()
                    .insert(stored.key.clone());
            }
            let state = RoomState {
                topic: stored.topic,
                members: stored.members.into_iter().collect(),
                online: Default::default(),
                recent,
                next_id: stored.last_id + 1,
                remote: BTreeSet::new(),
                tail: (0, 0),
                applied: 0,
                loaded: true,
            };
            rooms.insert(stored.key, Arc::new(NamedRoom::new(stored.name, state)));
        }
        store.create_room(&default_key, &registry.default.name, now_ms())?;
        registry.memberships = Mutex::new(memberships);
        registry.rooms = Mutex::new(rooms);
        registry.store = Some(Mutex::new(store));
        Ok(registry)
    }

    /// The registry of a cluster node: rooms and memberships as the shared registry has them.
    /// Returns the log position to follow from.
    pub(crate) async fn clustered(
        config: &Config,
        default: Arc<Room>,
        shared: Arc<dyn SharedLog>,
    ) -> Result<(Self, u64), crate::room::PeerError> {
        let loaded = shared.load().await?;
        let mut registry = Self::empty(config, default);
        registry.shared = Some(shared);
        let last_seq = registry.load_shared(loaded);
        Ok((registry, last_seq))
    }

    fn empty(config: &Config, default: Arc<Room>) -> Self {
        Self {
            default_key: room_key(&default.name),
            limits: default.limits.clone(),
            default,
            store: None,
            shared: None,
            origin: rand::random(),
            remote: Mutex::new(applied::Remote::default()),
            held: Mutex::new(HashMap::new()),
            pairs: Mutex::new(HashMap::new()),
            memberships: Mutex::new(HashMap::new()),
            rooms: Mutex::new(HashMap::new()),
            online: Mutex::new(HashMap::new()),
            unconfirmed: Mutex::new(HashMap::new()),
            sizes: Sizes {
                history_len: room_cache(config),
                welcome_history: config.welcome_history,
                max_replay: config.max_replay,
            },
        }
    }

    /// The default room's topic.
    pub(crate) fn default_topic(&self) -> String {
        lock(&self.default.topic).clone()
    }

    /// Whether `room` names the default room.
    pub(crate) fn is_default(&self, room: &str) -> bool {
        // Clients name it as `Welcome` did, so the look-alike folding (several allocations and
        // table lookups, on every line) is needed only for other spellings.
        room == self.default.name || room_key(room) == self.default_key
    }

    /// The sequencer (a single node's path; a cluster node takes the shared log's), or why there
    /// is none.
    fn sequencer(&self) -> Result<MutexGuard<'_, RoomStore>, Refusal> {
        match &self.store {
            Some(store) => Ok(lock(store)),
            None => Err(refusal(
                ProblemCode::Unsupported,
                format!(
                    "this server keeps no rooms but {} (no store is set up)",
                    self.default.name
                ),
            )),
        }
    }

    fn room(&self, key: &str) -> Option<Arc<NamedRoom>> {
        lock(&self.rooms).get(key).cloned()
    }

    fn rooms_of(&self, user: &str) -> BTreeSet<String> {
        lock(&self.memberships)
            .get(user)
            .cloned()
            .unwrap_or_default()
    }

    /// A member was welcomed into the default room: it is back in its other rooms (each told as
    /// `RoomJoined` with what it missed after its resume point there, or the recent lines), and is
    /// handed the direct messages it has not seen. Queued right behind its `Welcome`.
    pub(crate) async fn sign_in(&self, who: &Who<'_>, resume: &[ResumePoint]) {
        match &self.shared {
            Some(shared) => self.sign_in_shared(shared.as_ref(), who, resume).await,
            None => self.sign_in_local(who, resume),
        }
    }

    fn sign_in_local(&self, who: &Who<'_>, resume: &[ResumePoint]) {
        let Ok(store) = self.sequencer() else {
            return;
        };
        lock(&self.online).insert(who.key.to_owned(), who.online());
        let mut slow = Vec::new();
        for key in self.rooms_of(who.key) {
            let Some(room) = self.room(&key) else {
                continue;
            };
            let after = resume.iter().find_map(|point| match &point.conversation {
                Conversation::Room(name) if room_key(name) == key => Some(point.last_id),
                _ => None,
            });
            let mut state = room.lock();
            let history = match after {
                None => state.newest(self.sizes.welcome_history),
                Some(after) => match state.cached_after(after) {
                    Some(lines) => lines,
                    None => store
                        .room_lines(&key, Some(after), self.sizes.max_replay)
                        .map(|lines| lines.into_iter().map(|(_, m)| m).collect())
                        .unwrap_or_else(|e| {
                            tracing::error!(error = %e, "cannot read a room's history");
                            Vec::new()
                        }),
                },
            };
            let was_online = state
                .online
                .insert(who.key.to_owned(), who.online())
                .is_some();
            if let Some(frame) = room.joined_frame(&state, &history) {
                push_own(who, frame, &mut slow);
            }
            if !was_online {
                slow.extend(room.announce(
                    &mut state,
                    PresenceChange::Joined {
                        user: who.name.to_owned(),
                    },
                    who.key,
                ));
            }
        }
        self.replay_direct(&store, who, resume, &mut slow);
        drop(store);
        self.drop_slow(slow);
    }

    /// A member's session ended (`conn`): the others in its rooms see it leave. After `Bye`, the
    /// direct lines handed to it count as delivered; after anything else they are handed over again
    /// at the name's next sign-in (at least once rather than lost).
    pub(crate) fn sign_out(&self, key: &str, conn: ConnId, why: LeaveReason) -> Confirmation {
        let mut confirmation = Confirmation(None);
        let store = self.store.as_ref().map(lock);
        let handed = lock(&self.unconfirmed).remove(&(key.to_owned(), conn));
        if let (LeaveReason::Quit, Some(handed)) = (why, handed) {
            match (&store, &self.shared) {
                (Some(store), _) => {
                    for (pair, handed) in handed {
                        if let Err(e) = store.mark_delivered(key, &pair, handed.last_id) {
                            tracing::error!(error = %e, "cannot record delivered direct messages");
                        }
                    }
                }
                (None, Some(shared)) => {
                    confirmation = clustered_direct::confirmation(shared.clone(), key, handed);
                }
                (None, None) => {}
            }
        }
        {
            let mut online = lock(&self.online);
            if online.get(key).is_some_and(|o| o.conn == conn) {
                online.remove(key);
            }
        }
        let mut slow = Vec::new();
        for room_key in self.rooms_of(key) {
            let Some(room) = self.room(&room_key) else {
                continue;
            };
            let mut state = room.lock();
            if state.online.get(key).is_none_or(|o| o.conn != conn) {
                continue;
            }
            if let Some(member) = state.online.remove(key) {
                slow.extend(room.announce(
                    &mut state,
                    PresenceChange::Left {
                        user: member.name,
                        why,
                    },
                    key,
                ));
            }
        }
        drop(store);
        self.drop_slow(slow);
        confirmation
    }

    /// Raises what is pending confirmation for `pair` on this connection, if anything is, to
    /// `last_id` (the shared record is overwritten, never merged).
    fn raise_handed(&self, (key, conn): (&str, ConnId), pair: &str, last_id: u64) {
        if let Some(handed) = lock(&self.unconfirmed)
            .get_mut(&(key.to_owned(), conn))
            .and_then(|pairs| pairs.get_mut(pair))
        {
            handed.last_id = handed.last_id.max(last_id);
        }
    }

    /// Notes direct lines up to `last_id` of `pair` (with `other`: key, name) handed to `key`'s
    /// connection `conn`.
    fn handed(
        &self,
        (key, conn): (&str, ConnId),
        pair: &str,
        (other_key, other_name): (&str, &str),
        last_id: u64,
    ) {
        let mut unconfirmed = lock(&self.unconfirmed);
        let handed = unconfirmed
            .entry((key.to_owned(), conn))
            .or_default()
            .entry(pair.to_owned())
            .or_insert_with(|| Handed {
                last_id,
                other_key: other_key.to_owned(),
                other_name: other_name.to_owned(),
            });
        handed.last_id = handed.last_id.max(last_id);
    }

    /// `JoinRoom`: enters a room, making it if nobody has. Answers `RoomJoined` with the recent
    /// lines; the others see a `Presence` join. Joining a room again answers `RoomJoined` again.
    pub(crate) async fn join(&self, who: &Who<'_>, name: &str) -> Result<(), Refusal> {
        match &self.shared {
            Some(shared) => self.join_shared(shared.as_ref(), who, name).await,
            None => self.join_local(who, name),
        }
    }

    fn join_local(&self, who: &Who<'_>, name: &str) -> Result<(), Refusal> {
        let store = self.sequencer()?;
        let (key, already, limits) = self.may_join(who, name)?;
        let now = now_ms();
        let room = match self.room(&key) {
            Some(room) => room,
            None => {
                self.may_make_room(&limits)?;
                store.create_room(&key, name, now).map_err(server_error)?;
                let room = Arc::new(NamedRoom::empty(name.to_owned()));
                lock(&self.rooms).insert(key.clone(), room.clone());
                tracing::info!(room = %name, by = %who.name, "room made");
                room
            }
        };
        if !already {
            room_has_space(&room, &limits)?;
            store
                .add_member(&key, (who.key, who.name), now)
                .map_err(server_error)?;
            lock(&self.memberships)
                .entry(who.key.to_owned())
                .or_default()
                .insert(key.clone());
        }
        let slow = self.enter_here(who, &room);
        drop(store);
        self.drop_slow(slow);
        Ok(())
    }

    /// `PartRoom`: leaves a room (durably). Answers `RoomLeft`; the others see a `Presence` leave.
    pub(crate) async fn part(&self, who: &Who<'_>, name: &str) -> Result<(), Refusal> {
        match &self.shared {
            Some(shared) => self.part_shared(shared.as_ref(), who, name).await,
            None => self.part_local(who, name),
        }
    }

    fn part_local(&self, who: &Who<'_>, name: &str) -> Result<(), Refusal> {
        validate_room_name(name).map_err(|why| refusal(ProblemCode::InvalidRoomName, why))?;
        let key = room_key(name);
        if key == self.default_key {
            return Err(refusal(
                ProblemCode::NotAllowed,
                format!("everybody stays in {}", self.default.name),
            ));
        }
        let store = self.sequencer()?;
        let room = self
            .room(&key)
            .ok_or_else(|| refusal(ProblemCode::NoSuchRoom, format!("there is no room {name}")))?;
        if !self.rooms_of(who.key).contains(&key) {
            return Err(refusal(
                ProblemCode::NotInRoom,
                format!("you are not in {}", room.name),
            ));
        }
        store.remove_member(&key, who.key).map_err(server_error)?;
        let slow = self.leave_here(who, &key, &room);
        drop(store);
        self.drop_slow(slow);
        Ok(())
    }

    /// `Rooms`: every room, the default first, then in name order.
    pub(crate) fn list(&self) -> ServerFrame {
        let mut list = vec![RoomInfo {
            room: self.default.name.clone(),
            topic: self.default_topic(),
            members: u32::try_from(self.default.size()).unwrap_or(u32::MAX),
        }];
        let mut rooms: Vec<(String, Arc<NamedRoom>)> = lock(&self.rooms)
            .iter()
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        rooms.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, room) in rooms {
            let state = room.lock();
            list.push(RoomInfo {
                room: room.name.clone(),
                topic: state.topic.clone(),
                members: u32::try_from(state.members.len()).unwrap_or(u32::MAX),
            });
        }
        ServerFrame::Rooms { list }
    }

    /// `Users` of a room the member is in (the default room's comes from the default room).
    pub(crate) fn users(&self, who: &Who<'_>, name: &str) -> Result<bytes::Bytes, Refusal> {
        validate_room_name(name).map_err(|why| refusal(ProblemCode::InvalidRoomName, why))?;
        let key = room_key(name);
        let room = self
            .room(&key)
            .ok_or_else(|| refusal(ProblemCode::NoSuchRoom, format!("there is no room {name}")))?;
        if !room.lock().members.contains_key(who.key) {
            return Err(refusal(
                ProblemCode::NotInRoom,
                format!("you are not in {}", room.name),
            ));
        }
        room.users_frame()
            .ok_or_else(|| refusal(ProblemCode::ServerError, "cannot encode the user list"))
    }

    /// `SetTopic`: every member of the room (everybody, for the default room) gets `Topic`.
    pub(crate) async fn set_topic(
        &self,
        who: &Who<'_>,
        name: &str,
        topic: &str,
    ) -> Result<(), Refusal> {
        match &self.shared {
            Some(shared) => {
                self.set_topic_shared(shared.as_ref(), who, name, topic)
                    .await
            }
            None => self.set_topic_local(who, name, topic),
        }
    }

    fn set_topic_local(&self, who: &Who<'_>, name: &str, topic: &str) -> Result<(), Refusal> {
        let (key, topic) = self.checked_topic(name, topic)?;
        let store = self.sequencer()?;
        let room = self.topic_room(who, &key, name)?;
        store
            .set_topic(&key, &topic, who.name)
            .map_err(server_error)?;
        let slow = self.show_topic(room.as_deref(), topic, who.name.to_owned());
        drop(store);
        self.drop_slow(slow);
        Ok(())
    }

    /// A topic as it will be set, and the key of its room: within the length limit, on one line
    /// (a pasted line break becomes a space), for a valid room name.
    fn checked_topic(&self, name: &str, topic: &str) -> Result<(String, String), Refusal> {
        let max = self.limits.current().max_topic_bytes;
        if topic.len() > max {
            return Err(refusal(
                ProblemCode::TopicTooLong,
                format!("the topic has {} bytes; the limit is {max}", topic.len()),
            ));
        }
        let topic = topic.replace(char::is_control, " ");
        validate_room_name(name).map_err(|why| refusal(ProblemCode::InvalidRoomName, why))?;
        Ok((room_key(name), topic))
    }

    /// The room whose topic `who` sets: none for the default room (everybody is in it), another
    /// only if it exists and `who` is a member.
    fn topic_room(
        &self,
        who: &Who<'_>,
        key: &str,
        name: &str,
    ) -> Result<Option<Arc<NamedRoom>>, Refusal> {
        if key == self.default_key {
            return Ok(None);
        }
        let room = self
            .room(key)
            .ok_or_else(|| refusal(ProblemCode::NoSuchRoom, format!("there is no room {name}")))?;
        if !room.lock().members.contains_key(who.key) {
            return Err(refusal(
                ProblemCode::NotInRoom,
                format!("you are not in {}", room.name),
            ));
        }
        Ok(Some(room))
    }

    /// Shows a room's new topic to who is in it here: everybody online for the default room
    /// (`room` none), the connected members of another. Returns who was too slow to take it.
    fn show_topic(&self, room: Option<&NamedRoom>, topic: String, by: String) -> Slow {
        let Some(room) = room else {
            *lock(&self.default.topic) = topic.clone();
            let frame = ServerFrame::Topic {
                room: self.default.name.clone(),
                topic,
                by,
            };
            let mut slow = Vec::new();
            if let Ok(bytes) = wire::encode(&frame, wire::MAX_SERVER_FRAME) {
                let online: Vec<(String, Online)> = lock(&self.online)
                    .iter()
                    .map(|(k, o)| (k.clone(), o.clone()))
                    .collect();
                for (key, member) in online {
                    if let Err(PushError::Full) = member.tx.push(bytes.clone()) {
                        slow.push((member.conn, key));
                    }
                }
            }
            return slow;
        };
        let mut state = room.lock();
        state.topic = topic.clone();
        let frame = ServerFrame::Topic {
            room: room.name.clone(),
            topic,
            by,
        };
        room.send(&mut state, &frame, None)
    }

    /// Says lines in a room other than the default: ids one by one in that room, stored before
    /// anyone sees them, sent to its connected members (the sender's copy is its receipt).
    pub(crate) async fn say(
        &self,
        who: &Who<'_>,
        name: &str,
        lines: Vec<(u64, String)>,
    ) -> Vec<Said> {
        match &self.shared {
            Some(shared) => self.say_shared(shared.as_ref(), who, name, lines).await,
            None => self.say_local(who, name, lines),
        }
    }

    fn say_local(&self, who: &Who<'_>, name: &str, lines: Vec<(u64, String)>) -> Vec<Said> {
        let key = room_key(name);
        let mut store = match self.sequencer() {
            Ok(store) => store,
            Err(r) => return fail_all(lines, &r),
        };
        let Some(room) = self.room(&key) else {
            return fail_all(
                lines,
                &refusal(ProblemCode::NoSuchRoom, format!("there is no room {name}")),
            );
        };
        let mut outcomes = Vec::with_capacity(lines.len());
        let mut messages: Vec<ChatMessage> = Vec::with_capacity(lines.len());
        {
            let state = room.lock();
            if !state.members.contains_key(who.key) {
                drop(state);
                return fail_all(
                    lines,
                    &refusal(
                        ProblemCode::NotInRoom,
                        format!("you are not in {}; /join it first", room.name),
                    ),
                );
            }
            let at_ms = now_ms();
            for (nonce, text) in lines {
                let outcome = if let Err(rejection) = self.check_text(&text) {
                    Err(rejection)
                } else if state.already_said(who.key, nonce)
                    || messages.iter().any(|m| m.nonce == nonce)
                {
                    Err(Rejection::Duplicate)
                } else {
                    let id = state.next_id + messages.len() as u64;
                    messages.push(ChatMessage {
                        id,
                        from: who.name.to_owned(),
                        nonce,
                        text,
                        at_ms,
                    });
                    Ok(id)
                };
                outcomes.push((nonce, outcome));
            }
        }
        if messages.is_empty() {
            return outcomes;
        }
        if let Err(e) = store.append_room_lines(&key, who.key, &messages) {
            tracing::error!(error = %e, "cannot store a room's lines");
            for (_, outcome) in &mut outcomes {
                if outcome.is_ok() {
                    *outcome = Err(Rejection::Problem {
                        code: ProblemCode::ServerError,
                        detail: "the server cannot store messages right now; try again later"
                            .into(),
                    });
                }
            }
            return outcomes;
        }
        let mut slow = Vec::new();
        {
            let mut state = room.lock();
            let conversation = Conversation::Room(room.name.clone());
            for message in messages {
                let frame = ServerFrame::Chat {
                    conversation: conversation.clone(),
                    message,
                };
                slow.extend(room.send(&mut state, &frame, None));
                if let ServerFrame::Chat { message, .. } = frame {
                    state.keep(who.key.to_owned(), message, self.sizes.history_len);
                }
            }
        }
        drop(store);
        self.drop_slow(slow);
        outcomes
    }

    /// Length and blank checks on a line, as the default room's.
    fn check_text(&self, text: &str) -> Result<(), Rejection> {
        let max = self.limits.current().max_message_bytes;
        if text.len() > max {
            return Err(Rejection::Problem {
                code: ProblemCode::TooLong,
                detail: format!("the message has {} bytes; the limit is {max}", text.len()),
            });
        }
        if text.trim().is_empty() {
            return Err(Rejection::Problem {
                code: ProblemCode::Empty,
                detail: "the message is empty".into(),
            });
        }
        Ok(())
    }

    /// What `JoinRoom` checks before anything is stored, the same on one node and in a cluster:
    /// a valid room name other than the default room, and room for one more in the member's
    /// rooms. Returns the room's key, whether the member is in it already, and the limits.
    fn may_join(&self, who: &Who<'_>, name: &str) -> Result<(String, bool, Arc<Limits>), Refusal> {
        validate_room_name(name).map_err(|why| refusal(ProblemCode::InvalidRoomName, why))?;
        let key = room_key(name);
        if key == self.default_key {
            return Err(refusal(
                ProblemCode::AlreadyJoined,
                format!("everybody is in {} already", self.default.name),
            ));
        }
        let limits = self.limits.current();
        let mine = self.rooms_of(who.key);
        let already = mine.contains(&key);
        if !already && mine.len() + 2 > limits.max_rooms_per_user {
            return Err(refusal(
                ProblemCode::TooManyRooms,
                format!(
                    "you are in {} rooms, as many as one name may be in; leave one first",
                    mine.len() + 1
                ),
            ));
        }
        Ok((key, already, limits))
    }

    /// Whether the server may hold one more room.
    fn may_make_room(&self, limits: &Limits) -> Result<(), Refusal> {
        if lock(&self.rooms).len() + 2 > limits.max_rooms {
            return Err(refusal(
                ProblemCode::ServerRoomsFull,
                format!(
                    "the server holds {} rooms, as many as it may",
                    limits.max_rooms
                ),
            ));
        }
        Ok(())
    }

    /// A member enters a room (its membership already stored): connected here, the others told,
    /// `RoomJoined` with the recent lines queued for it. Returns who was too slow to be told.
    fn enter_here(&self, who: &Who<'_>, room: &NamedRoom) -> Slow {
        let mut slow = Vec::new();
        {
            let mut state = room.lock();
            state
                .members
                .insert(who.key.to_owned(), who.name.to_owned());
            let was_online = state
                .online
                .insert(who.key.to_owned(), who.online())
                .is_some();
            let history = state.newest(self.sizes.welcome_history);
            if !was_online {
                slow.extend(room.announce(
                    &mut state,
                    PresenceChange::Joined {
                        user: who.name.to_owned(),
                    },
                    who.key,
                ));
            }
            if let Some(frame) = room.joined_frame(&state, &history) {
                push_own(who, frame, &mut slow);
            }
        }
        slow
    }

    /// A member leaves a room (already left durably): out of its memberships here, the room's
    /// connected members told, `RoomLeft` queued for it. Returns who was too slow to be told.
    fn leave_here(&self, who: &Who<'_>, key: &str, room: &NamedRoom) -> Slow {
        if let Some(mine) = lock(&self.memberships).get_mut(who.key) {
            mine.remove(key);
        }
        let mut slow = Vec::new();
        {
            let mut state = room.lock();
            state.members.remove(who.key);
            if state.online.remove(who.key).is_some() {
                slow.extend(room.announce(
                    &mut state,
                    PresenceChange::Left {
                        user: who.name.to_owned(),
                        why: LeaveReason::Quit,
                    },
                    who.key,
                ));
            }
        }
        let left = ServerFrame::RoomLeft {
            room: room.name.clone(),
        };
        if let Ok(frame) = wire::encode(&left, wire::MAX_SERVER_FRAME) {
            push_own(who, frame, &mut slow);
        }
        slow
    }

    /// Members whose queues were full are disconnected as too slow (by the default room, which
    /// holds their sessions).
    fn drop_slow(&self, slow: Slow) {
        for (conn, key) in slow {
            self.default.kick_slow(conn, &key);
        }
    }
}

/// Lines kept in memory per room other than the default.
fn room_cache(config: &Config) -> usize {
    config.history_len.clamp(1, ROOM_CACHE)
}

/// Queues a frame for the member itself.
fn push_own(who: &Who<'_>, frame: bytes::Bytes, slow: &mut Slow) {
    if let Err(PushError::Full) = who.tx.push(frame) {
        slow.push((who.conn, who.key.to_owned()));
    }
}

/// Whether `room` may take one more member.
fn room_has_space(room: &NamedRoom, limits: &Limits) -> Result<(), Refusal> {
    let members = room.lock().members.len();
    if members >= limits.room_members() {
        return Err(refusal(
            ProblemCode::RoomFull,
            format!("{} has {members} members, as many as it may", room.name),
        ));
    }
    Ok(())
}

/// The same refusal for every line.
pub(super) fn fail_all(lines: Vec<(u64, String)>, r: &Refusal) -> Vec<Said> {
    lines
        .into_iter()
        .map(|(nonce, _)| {
            (
                nonce,
                Err(Rejection::Problem {
                    code: r.code,
                    detail: r.detail.clone(),
                }),
            )
        })
        .collect()
}

fn server_error(e: StoreError) -> Refusal {
    tracing::error!(error = %e, "rooms database");
    refusal(
        ProblemCode::ServerError,
        "the server cannot store that right now; try again later",
    )
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
