//! The registry on a cluster node: rooms, memberships and topics shared through the cluster's log
//! and buckets ([`SharedLog`]).
//!
//! Every change is written to the shared registry (a bucket: atomic for room creation) and to the
//! log; every node follows the log and applies it ([`Registry::apply`]) to the rooms it holds in
//! memory, pushing frames into the queues of its own connected members only. A line gets its id
//! from the node that publishes it (the room's tail + 1) and is stored only if the room's tail is
//! still where that node believed: two nodes racing on one room cannot both win, so each room has
//! one order and ids that go up by one. Nobody sees a line before the log holds it, so a node's
//! SIGKILL loses nothing acknowledged.
//!
//! What every node does with the log's events, and presence across nodes, is in `applied`.

use super::*;

/// How often a line is tried again after another node took the room's next id.
const TRIES: usize = 16;

fn unavailable(e: crate::room::PeerError) -> Refusal {
    tracing::error!(error = %e, "shared registry");
    refusal(
        ProblemCode::ServerError,
        "the cluster cannot be reached right now; try again later",
    )
}

impl Registry {
    /// Fills the rooms and memberships from what the shared registry held at start.
    pub(super) fn load_shared(&self, loaded: Loaded) -> u64 {
        let mut memberships = lock(&self.memberships);
        let mut rooms = lock(&self.rooms);
        for record in loaded.rooms {
            if record.key == self.default_key {
                *lock(&self.default.topic) = record.topic;
                continue;
            }
            let room = rooms
                .entry(record.key.clone())
                .or_insert_with(|| Arc::new(NamedRoom::empty(record.name.clone())));
            room.lock().topic = record.topic;
        }
        for member in loaded.members {
            let room = rooms
                .entry(member.room.clone())
                .or_insert_with(|| Arc::new(NamedRoom::empty(member.room_name.clone())));
            room.lock()
                .members
                .insert(member.user.clone(), member.user_name);
            memberships
                .entry(member.user)
                .or_default()
                .insert(member.room);
        }
        loaded.last_seq
    }

    /// Reads a room's lines from the log once, so that its cache holds its newest lines and its
    /// tail is known, not only what this node saw since it started.
    async fn ensure_loaded(
        &self,
        shared: &dyn SharedLog,
        key: &str,
        room: &NamedRoom,
    ) -> Result<(), Refusal> {
        if room.lock().loaded {
            return Ok(());
        }
        let events = shared.read(Channel::Room(key)).await.map_err(unavailable)?;
        let mut state = room.lock();
        if state.loaded {
            return Ok(());
        }
        let oldest = state.recent.front().map(|(_, m)| m.id);
        let mut tail = (0, 0);
        let mut older = Vec::new();
        for (seq, event) in events {
            tail = (seq, event.line_id());
            if let Event::Line {
                sender, message, ..
            } = event
                && oldest.is_none_or(|o| message.id < o)
            {
                older.push((sender, message));
            }
        }
        let room_left = self.sizes.history_len.saturating_sub(state.recent.len());
        let skip = older.len().saturating_sub(room_left);
        for line in older.into_iter().skip(skip).rev() {
            state.recent.push_front(line);
        }
        let newest = state
            .recent
            .back()
            .map_or(tail.1, |(_, m)| m.id.max(tail.1));
        state.next_id = state.next_id.max(newest.saturating_add(1));
        state.advance(tail.0, tail.1);
        state.applied = state.applied.max(tail.0);
        state.loaded = true;
        Ok(())
    }

    /// The position and id of a line channel's last event, opening the channel if it has none.
    pub(super) async fn line_tail(
        shared: &dyn SharedLog,
        channel: Channel<'_>,
    ) -> Result<(u64, u64), crate::room::PeerError> {
        if let Some((seq, event)) = shared.last(channel).await? {
            return Ok((seq, event.line_id()));
        }
        shared
            .append(channel, &Event::Opened, None, Some(Dedup::Open))
            .await?;
        match shared.last(channel).await? {
            Some((seq, event)) => Ok((seq, event.line_id())),
            None => Err("a channel is empty right after it was opened".into()),
        }
    }

    pub(super) async fn sign_in_shared(
        &self,
        shared: &dyn SharedLog,
        who: &Who<'_>,
        resume: &[ResumePoint],
    ) {
        // Direct lines arriving while the replay is read wait for it (`clustered_direct`).
        lock(&self.held).insert(who.key.to_owned(), Vec::new());
        lock(&self.online).insert(who.key.to_owned(), who.online());
        let mut slow = Vec::new();
        for key in self.rooms_of(who.key) {
            let Some(room) = self.room(&key) else {
                continue;
            };
            if let Err(refused) = self.ensure_loaded(shared, &key, &room).await {
                tracing::warn!(room = %room.name, detail = %refused.detail, "cannot load a room");
                continue;
            }
            let after = resume.iter().find_map(|point| match &point.conversation {
                Conversation::Room(name) if room_key(name) == key => Some(point.last_id),
                _ => None,
            });
            // A resume older than the cache reads the log first.
            let older = match after {
                Some(after) if room.lock().cached_after(after).is_none() => {
                    match shared.read(Channel::Room(&key)).await {
                        Ok(events) => Some(
                            events
                                .into_iter()
                                .filter_map(|(_, event)| match event {
                                    Event::Line { message, .. } if message.id > after => {
                                        Some(message)
                                    }
                                    _ => None,
                                })
                                .take(self.sizes.max_replay)
                                .collect::<Vec<_>>(),
                        ),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot read a room's history");
                            None
                        }
                    }
                }
                _ => None,
            };
            let mut state = room.lock();
            let history = match (after, older) {
                (None, _) => state.newest(self.sizes.welcome_history),
                (Some(_), Some(mut lines)) => {
                    let last = lines.last().map_or(0, |m| m.id);
                    lines.extend(
                        state
                            .recent
                            .iter()
                            .filter(|(_, m)| m.id > last)
                            .map(|(_, m)| m.clone()),
                    );
                    lines
                }
                (Some(after), None) => state
                    .cached_after(after)
                    .unwrap_or_else(|| state.newest(self.sizes.welcome_history)),
            };
            state.remote.remove(who.key);
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
        self.replay_direct_shared(shared, who, resume, &mut slow)
            .await;
        self.drop_slow(slow);
    }

    pub(super) async fn join_shared(
        &self,
        shared: &dyn SharedLog,
        who: &Who<'_>,
        name: &str,
    ) -> Result<(), Refusal> {
        let (key, already, limits) = self.may_join(who, name)?;
        let room = match self.room(&key) {
            Some(room) => room,
            None => {
                self.may_make_room(&limits)?;
                let record = RoomRecord {
                    key: key.clone(),
                    name: name.to_owned(),
                    topic: String::new(),
                    by: String::new(),
                };
                let stored = shared.create_room(&record).await.map_err(unavailable)?;
                let room = lock(&self.rooms)
                    .entry(key.clone())
                    .or_insert_with(|| Arc::new(NamedRoom::empty(stored.name.clone())))
                    .clone();
                room.lock().topic = stored.topic;
                tracing::info!(room = %room.name, by = %who.name, "room made or found");
                room
            }
        };
        if !already {
            room_has_space(&room, &limits)?;
            let record = MemberRecord {
                room: key.clone(),
                room_name: room.name.clone(),
                user: who.key.to_owned(),
                user_name: who.name.to_owned(),
            };
            shared.put_member(&record).await.map_err(unavailable)?;
            lock(&self.memberships)
                .entry(who.key.to_owned())
                .or_default()
                .insert(key.clone());
            room.lock()
                .members
                .insert(who.key.to_owned(), who.name.to_owned());
            let event = Event::Member {
                room: room.name.clone(),
                key: who.key.to_owned(),
                name: who.name.to_owned(),
                joined: true,
                origin: self.origin,
            };
            if let Err(e) = shared
                .append(Channel::Members(&key), &event, None, None)
                .await
            {
                tracing::warn!(error = %e, "cannot tell the other nodes about a join");
            }
        }
        self.ensure_loaded(shared, &key, &room).await?;
        let slow = self.enter_here(who, &room);
        self.drop_slow(slow);
        Ok(())
    }

    pub(super) async fn part_shared(
        &self,
        shared: &dyn SharedLog,
        who: &Who<'_>,
        name: &str,
    ) -> Result<(), Refusal> {
        validate_room_name(name).map_err(|why| refusal(ProblemCode::InvalidRoomName, why))?;
        let key = room_key(name);
        if key == self.default_key {
            return Err(refusal(
                ProblemCode::NotAllowed,
                format!("everybody stays in {}", self.default.name),
            ));
        }
        let room = self
            .room(&key)
            .ok_or_else(|| refusal(ProblemCode::NoSuchRoom, format!("there is no room {name}")))?;
        if !self.rooms_of(who.key).contains(&key) {
            return Err(refusal(
                ProblemCode::NotInRoom,
                format!("you are not in {}", room.name),
            ));
        }
        shared
            .delete_member(&key, who.key)
            .await
            .map_err(unavailable)?;
        let event = Event::Member {
            room: room.name.clone(),
            key: who.key.to_owned(),
            name: who.name.to_owned(),
            joined: false,
            origin: self.origin,
        };
        if let Err(e) = shared
            .append(Channel::Members(&key), &event, None, None)
            .await
        {
            tracing::warn!(error = %e, "cannot tell the other nodes about a part");
        }
        let slow = self.leave_here(who, &key, &room);
        self.drop_slow(slow);
        Ok(())
    }

    /// The topic goes to the shared registry, then through the log to every node's members.
    pub(super) async fn set_topic_shared(
        &self,
        shared: &dyn SharedLog,
        who: &Who<'_>,
        name: &str,
        topic: &str,
    ) -> Result<(), Refusal> {
        let (key, topic) = self.checked_topic(name, topic)?;
        let room_name = match self.topic_room(who, &key, name)? {
            None => self.default.name.clone(),
            Some(room) => room.name.clone(),
        };
        let record = RoomRecord {
            key: key.clone(),
            name: room_name.clone(),
            topic: topic.clone(),
            by: who.name.to_owned(),
        };
        shared.put_room(&record).await.map_err(unavailable)?;
        let event = Event::Topic {
            room: room_name,
            topic,
            by: who.name.to_owned(),
        };
        shared
            .append(Channel::Topic(&key), &event, None, None)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Publishes lines in a room, one by one, each after the room's tail as this node knows it.
    pub(super) async fn say_shared(
        &self,
        shared: &dyn SharedLog,
        who: &Who<'_>,
        name: &str,
        lines: Vec<(u64, String)>,
    ) -> Vec<Said> {
        let key = room_key(name);
        let checked = match self.room(&key) {
            None => Err(refusal(
                ProblemCode::NoSuchRoom,
                format!("there is no room {name}"),
            )),
            Some(room) if !room.lock().members.contains_key(who.key) => Err(refusal(
                ProblemCode::NotInRoom,
                format!("you are not in {}; /join it first", room.name),
            )),
            Some(room) => self.ensure_loaded(shared, &key, &room).await.map(|()| room),
        };
        let room = match checked {
            Ok(room) => room,
            Err(r) => return fail_all(lines, &r),
        };
        let at_ms = now_ms();
        let mut outcomes = Vec::with_capacity(lines.len());
        for (nonce, text) in lines {
            let outcome = if let Err(rejection) = self.check_text(&text) {
                Err(rejection)
            } else if room.lock().already_said(who.key, nonce) {
                Err(Rejection::Duplicate)
            } else {
                let message = ChatMessage {
                    id: 0,
                    from: who.name.to_owned(),
                    nonce,
                    text,
                    at_ms,
                };
                self.publish_line(shared, &key, &room, who.key, message)
                    .await
            };
            outcomes.push((nonce, outcome));
        }
        outcomes
    }

    /// Appends one line after the room's tail; when another node got there first, reads the new
    /// tail and tries again.
    async fn publish_line(
        &self,
        shared: &dyn SharedLog,
        key: &str,
        room: &NamedRoom,
        sender: &str,
        mut message: ChatMessage,
    ) -> Result<u64, Rejection> {
        let nonce = message.nonce;
        for _ in 0..TRIES {
            let (seq, id) = room.lock().tail;
            if seq == 0 {
                let tail = Self::line_tail(shared, Channel::Room(key))
                    .await
                    .map_err(store_failed)?;
                room.lock().advance(tail.0, tail.1);
                continue;
            }
            message.id = id.saturating_add(1);
            let event = Event::Line {
                room: room.name.clone(),
                sender: sender.to_owned(),
                message: message.clone(),
            };
            let appended = shared
                .append(
                    Channel::Room(key),
                    &event,
                    Some(seq),
                    Some(Dedup::Line(sender, nonce)),
                )
                .await
                .map_err(store_failed)?;
            match appended {
                Appended::Done {
                    duplicate: true, ..
                } => return Err(Rejection::Duplicate),
                Appended::Done { seq, .. } => {
                    room.lock().advance(seq, message.id);
                    return Ok(message.id);
                }
                Appended::Behind => {
                    let tail = Self::line_tail(shared, Channel::Room(key))
                        .await
                        .map_err(store_failed)?;
                    room.lock().advance(tail.0, tail.1);
                }
            }
        }
        Err(Rejection::Problem {
            code: ProblemCode::ServerError,
            detail: "the room is too busy right now; try again".into(),
        })
    }
}

pub(super) fn store_failed(e: crate::room::PeerError) -> Rejection {
    tracing::error!(error = %e, "cannot publish a line to the cluster");
    Rejection::Problem {
        code: ProblemCode::ServerError,
        detail: "the server cannot store messages right now; try again later".into(),
    }
}
