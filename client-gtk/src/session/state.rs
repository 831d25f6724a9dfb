//! What the session's events do to the models: plain logic over GObject models, no widgets and no
//! network, so it is tested without a display. [`ChatState::apply`] updates the models and returns
//! the [`Effect`]s the session object turns into property changes and signals.
//!
//! Every event names its conversation; each conversation ([`Conversation`]) keeps its own lines
//! and users. Which one the window shows and whether the window is active decide what counts as
//! unread and what asks for a notification: a line from somebody else in a conversation the user
//! is not looking at raises its unread count; a direct line or a mention of our name there also
//! asks for a notification, unless it is history (said before we signed in or reconnected: the
//! server replays what we missed, and a burst of old notifications helps nobody). Connection news
//! goes to the default room, where it always went (the banner shows it wherever the user is).

use std::{
    cell::{Cell, RefCell},
    time::{SystemTime, UNIX_EPOCH},
};

use client::{CloseReason, Conversation as Address, Event, LeaveReason, Line, SignedIn};

use super::problems::problem_text;
use crate::{
    i18n::{fill, gettext, ngettext},
    model::{Added, Conversation, ConversationList, MessageKind, address_key, mentions},
};

/// What the session object should tell the window after an event, beyond the model updates.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Somebody else said something (the window counts it in its title while in the background).
    Incoming { from: String, text: String },
    /// A direct line or a mention of our name where the user is not looking: worth a
    /// notification. `conversation` is its [`address_key`].
    Attention {
        conversation: String,
        from: String,
        text: String,
        direct: bool,
    },
    /// The window should show this conversation (a room we asked to join is in; the room shown
    /// was left).
    Show(String),
    /// The connection changed state.
    Status(Status),
    /// A short message to show over the chat.
    Toast(String),
    /// The answer to the request sent with `id`, for whoever asked.
    Reply { id: u32, reply: client::wire::Reply },
    /// The server's rooms, the answer to `list_rooms`.
    Rooms(Vec<client::wire::RoomInfo>),
}

/// The connection as the window shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Online,
    /// Lost; the library is trying again.
    Reconnecting(String),
    /// Over. `can_reconnect` is false when we left on purpose.
    Closed {
        text: String,
        can_reconnect: bool,
    },
}

/// The models one signed-in window shows.
#[derive(Debug, Default)]
pub struct ChatState {
    you: RefCell<String>,
    /// The default room's name.
    default_room: RefCell<String>,
    /// Every conversation, as the sidebar lists them.
    pub conversations: ConversationList,
    /// The one the window shows.
    shown: RefCell<Option<Conversation>>,
    /// The window is the active one (the user can see what it shows).
    active: Cell<bool>,
    /// Lines stamped before this (server time, ms) are history: we signed in or reconnected
    /// after they were said.
    history_before_ms: Cell<u64>,
    /// A room we asked to join: shown when it is in.
    wanted: RefCell<Option<String>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl ChatState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn you(&self) -> String {
        self.you.borrow().clone()
    }

    /// The default room (`#general`), once signed in.
    pub fn default_conversation(&self) -> Option<Conversation> {
        self.conversations
            .find(&Address::Room(self.default_room.borrow().clone()))
    }

    /// The conversation the window shows.
    pub fn shown(&self) -> Option<Conversation> {
        self.shown.borrow().clone()
    }

    /// The window shows `conversation` now; seen while the window is active, it has nothing unread.
    pub fn show(&self, conversation: &Conversation) {
        self.shown.replace(Some(conversation.clone()));
        if self.active.get() {
            conversation.set_unread(0);
        }
    }

    /// The window became active (or stopped being): what it shows counts as read.
    pub fn set_active(&self, active: bool) {
        self.active.set(active);
        if let Some(shown) = self.shown().filter(|_| active) {
            shown.set_unread(0);
        }
    }

    /// The user is looking at this conversation.
    fn seeing(&self, conversation: &Conversation) -> bool {
        self.active.get() && self.shown.borrow().as_ref() == Some(conversation)
    }

    /// We asked to join `room`: show it once it is in.
    pub fn want(&self, room: &str) {
        self.wanted.replace(Some(room.to_lowercase()));
    }

    /// Opens (or finds) the direct conversation with `name`.
    pub fn open_direct(&self, name: &str) -> Conversation {
        self.conversations
            .ensure(&Address::Direct(name.to_owned()), false)
    }

    /// Signed in: who we are, who is here, what was said recently (lines already shown are
    /// recognised and not shown twice, so a new sign-in carries the conversation on).
    pub fn signed_in(&self, signed_in: &SignedIn) {
        self.you.replace(signed_in.you.clone());
        self.default_room.replace(signed_in.room.clone());
        self.history_before_ms.set(now_ms());
        let room = self
            .conversations
            .ensure(&Address::Room(signed_in.room.clone()), true);
        room.set_topic(signed_in.topic.clone());
        room.users().set_all(&signed_in.users, &signed_in.you);
        for line in &signed_in.history {
            self.add_line(&room, line);
        }
    }

    /// Shows a line we sent to `conversation`.
    pub fn said(&self, conversation: &Conversation, nonce: u64, text: &str) {
        conversation
            .messages()
            .add_pending(&self.you(), nonce, text);
    }

    /// A line of news in the default room.
    pub fn add_system(&self, text: &str) {
        if let Some(room) = self.default_conversation() {
            room.messages().add_system(text);
        }
    }

    /// Adds a server line to its conversation, marking a mention of our name.
    fn add_line(&self, conversation: &Conversation, line: &Line) -> Added {
        let added = conversation.messages().add_line(line);
        if let Added::New(row) = &added
            && !line.mine
            && mentions(&line.text, &self.you.borrow())
        {
            row.set_mention(true);
        }
        added
    }

    /// A line from the server as it happens (or as it is replayed after a reconnect).
    fn line(&self, line: Line) -> Vec<Effect> {
        let conversation = self.conversations.ensure(&line.conversation, false);
        let Added::New(row) = self.add_line(&conversation, &line) else {
            return Vec::new();
        };
        if row.kind() != MessageKind::Chat {
            return Vec::new();
        }
        let mut effects = vec![Effect::Incoming {
            from: line.from.clone(),
            text: line.text.clone(),
        }];
        if self.seeing(&conversation) {
            return effects;
        }
        conversation.set_unread(conversation.unread().saturating_add(1));
        let direct = conversation.direct();
        let history = line.at_ms < self.history_before_ms.get();
        if (direct || row.mention()) && !history {
            effects.push(Effect::Attention {
                conversation: address_key(&line.conversation),
                from: line.from,
                text: line.text,
                direct,
            });
        }
        effects
    }

    fn room(&self, room: &str) -> Option<Conversation> {
        self.conversations.find(&Address::Room(room.to_owned()))
    }

    pub fn apply(&self, event: Event) -> Vec<Effect> {
        let you = self.you();
        match event {
            Event::Line(line) => self.line(line),
            // Our own line came back: the pending row turns sent (or, if this window never showed
            // it, it is added as sent). Never a notification.
            Event::Receipt(line) => {
                let conversation = self.conversations.ensure(&line.conversation, false);
                self.add_line(&conversation, &line);
                Vec::new()
            }
            Event::UserJoined { room, user } => {
                if let Some(room) = self.room(&room)
                    && room.users().add(&user, &you)
                {
                    room.messages()
                        .add_system(&fill(&gettext("{user} joined"), &[("user", &user)]));
                }
                Vec::new()
            }
            Event::UserLeft { room, user, why } => {
                if let Some(room) = self.room(&room) {
                    room.users().remove(&user);
                    room.messages().add_system(&left_text(&user, why));
                }
                Vec::new()
            }
            Event::Users { room, list } => {
                if let Some(room) = self.room(&room) {
                    room.users().set_all(&list, &you);
                }
                Vec::new()
            }
            Event::RoomJoined(view) => {
                let default = view.room.to_lowercase() == self.default_room.borrow().to_lowercase();
                let room = self
                    .conversations
                    .ensure(&Address::Room(view.room.clone()), default);
                room.set_topic(view.topic.clone());
                room.users().set_all(&view.users, &you);
                for line in &view.history {
                    self.add_line(&room, line);
                }
                let wanted = self
                    .wanted
                    .borrow()
                    .as_ref()
                    .is_some_and(|w| *w == view.room.to_lowercase());
                if wanted {
                    self.wanted.replace(None);
                    vec![Effect::Show(room.name())]
                } else {
                    Vec::new()
                }
            }
            Event::RoomLeft { room } => {
                let address = Address::Room(room.clone());
                let shown = self
                    .shown()
                    .is_some_and(|s| self.conversations.find(&address).as_ref() == Some(&s));
                self.conversations.remove(&address);
                let mut effects = vec![Effect::Toast(fill(
                    &gettext("You left {room}"),
                    &[("room", &room)],
                ))];
                if shown {
                    effects.push(Effect::Show(self.default_room.borrow().clone()));
                }
                effects
            }
            Event::Rooms(list) => vec![Effect::Rooms(list)],
            Event::Topic { room, topic, by } => {
                if let Some(room) = self.room(&room) {
                    room.set_topic(topic.clone());
                    let text = if topic.is_empty() {
                        fill(&gettext("{user} cleared the topic"), &[("user", &by)])
                    } else {
                        fill(
                            &gettext("{user} set the topic: {topic}"),
                            &[("user", &by), ("topic", &topic)],
                        )
                    };
                    room.messages().add_system(&text);
                }
                Vec::new()
            }
            Event::Problem {
                code,
                nonce,
                detail,
            } => {
                let why = problem_text(code, &detail);
                let failed = nonce.is_some_and(|n| {
                    self.conversations
                        .iter()
                        .any(|c| c.messages().fail(n, &why))
                });
                if failed {
                    Vec::new()
                } else {
                    self.add_system(&fill(&gettext("Problem — {reason}"), &[("reason", &why)]));
                    vec![Effect::Toast(why)]
                }
            }
            Event::Reply { id, reply } => vec![Effect::Reply { id, reply }],
            Event::Removed { by, reason, banned } => {
                let text = if banned {
                    fill(
                        &gettext("{by} banned you: {reason}"),
                        &[("by", &by), ("reason", &reason)],
                    )
                } else {
                    fill(
                        &gettext("{by} removed you from the chat: {reason}"),
                        &[("by", &by), ("reason", &reason)],
                    )
                };
                self.add_system(&text);
                vec![Effect::Toast(text)]
            }
            Event::Replaced { fingerprint } => {
                let text = fill(
                    &gettext(
                        "You signed in again elsewhere (device {device}), so this window was signed out.",
                    ),
                    &[("device", &fingerprint.short())],
                );
                self.add_system(&text);
                vec![Effect::Toast(text)]
            }
            Event::ServerShuttingDown { reason } => {
                let text = fill(
                    &gettext("The server is shutting down: {reason}"),
                    &[("reason", &reason)],
                );
                self.add_system(&text);
                vec![Effect::Toast(text)]
            }
            Event::Disconnected {
                error,
                attempt,
                retry_in,
            } => {
                if attempt <= 1 {
                    self.add_system(&fill(
                        &gettext("Connection lost: {error}"),
                        &[("error", &error.to_string())],
                    ));
                }
                let seconds = retry_in.as_secs().max(1);
                vec![Effect::Status(Status::Reconnecting(fill(
                    &ngettext(
                        "Connection lost. Reconnecting in {seconds} s (attempt {attempt})…",
                        "Connection lost. Reconnecting in {seconds} s (attempt {attempt})…",
                        u32::try_from(seconds).unwrap_or(u32::MAX),
                    ),
                    &[
                        ("seconds", &seconds.to_string()),
                        ("attempt", &attempt.to_string()),
                    ],
                )))]
            }
            // The lines missed meanwhile follow as `Line` events, the other rooms as `RoomJoined`.
            Event::Reconnected { users, .. } => {
                self.history_before_ms.set(now_ms());
                if let Some(room) = self.default_conversation() {
                    room.users().set_all(&users, &you);
                }
                self.add_system(&gettext("Reconnected"));
                vec![
                    Effect::Status(Status::Online),
                    Effect::Toast(gettext("Reconnected")),
                ]
            }
            Event::Closed(reason) => self.closed(&reason),
        }
    }

    pub fn closed(&self, reason: &CloseReason) -> Vec<Effect> {
        let can_reconnect = !matches!(reason, CloseReason::Quit);
        let text = match reason {
            CloseReason::Quit => gettext("You left the chat"),
            CloseReason::ByServer(why) if why.is_empty() => {
                gettext("The server closed the connection")
            }
            CloseReason::ByServer(why) => fill(
                &gettext("The server closed the connection: {reason}"),
                &[("reason", why)],
            ),
            CloseReason::Lost(e) => fill(
                &gettext("Connection lost: {error}"),
                &[("error", &e.to_string())],
            ),
        };
        let ended = gettext("the connection ended");
        for conversation in self.conversations.iter() {
            conversation.messages().fail_all_pending(&ended);
            conversation.users().set_all(&[], "");
        }
        if can_reconnect {
            self.add_system(&text);
        }
        vec![Effect::Status(Status::Closed {
            text,
            can_reconnect,
        })]
    }
}

fn left_text(user: &str, why: LeaveReason) -> String {
    match why {
        LeaveReason::Quit => fill(&gettext("{user} left"), &[("user", user)]),
        other => fill(
            &gettext("{user} left ({reason})"),
            &[("user", user), ("reason", &other.to_string())],
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use client::ProblemCode;

    use super::*;
    use crate::model::{DeliveryState, test_line as line};

    fn chat(id: u64, from: &str, nonce: u64, text: &str) -> Event {
        Event::Line(line(id, from, nonce, text))
    }

    fn room(state: &ChatState) -> Conversation {
        state.default_conversation().expect("the default room")
    }

    fn signed_in() -> ChatState {
        let state = ChatState::new();
        state.signed_in(&SignedIn {
            you: "ann".into(),
            room: "#general".into(),
            topic: String::new(),
            users: vec!["bob".into(), "ann".into()],
            history: vec![line(1, "bob", 1, "earlier")],
        });
        state
    }

    #[test]
    fn welcome_fills_users_and_history() {
        let state = signed_in();
        assert_eq!(room(&state).users().names(), ["ann", "bob"]);
        assert_eq!(room(&state).messages().len(), 1);
        assert_eq!(state.you(), "ann");
    }

    #[test]
    fn own_line_is_pending_until_its_receipt() {
        let state = signed_in();
        state.said(&room(&state), 42, "hello");
        let row = room(&state).messages().get(1).expect("the pending row");
        assert_eq!(row.state(), DeliveryState::Pending);
        let effects = state.apply(Event::Receipt(line(2, "ann", 42, "hello")));
        assert!(effects.is_empty(), "no notification for our own line");
        assert_eq!(row.state(), DeliveryState::Delivered);
        assert_eq!(room(&state).messages().len(), 2);
    }

    #[test]
    fn others_lines_ask_for_a_notification() {
        let state = signed_in();
        let effects = state.apply(chat(2, "bob", 5, "hi ann"));
        assert_eq!(
            effects,
            [Effect::Incoming {
                from: "bob".into(),
                text: "hi ann".into()
            }]
        );
    }

    #[test]
    fn our_lines_from_elsewhere_show_as_sent_without_a_notification() {
        let state = signed_in();
        // Said by an earlier session of ours (replayed), and a receipt this window never showed.
        assert!(state.apply(chat(2, "ann", 77, "from before")).is_empty());
        assert!(
            state
                .apply(Event::Receipt(line(3, "ann", 78, "other window")))
                .is_empty()
        );
        let rows: Vec<_> = (1..room(&state).messages().len())
            .filter_map(|i| room(&state).messages().get(i))
            .collect();
        assert_eq!(rows.len(), 2);
        assert!(
            rows.iter()
                .all(|m| m.kind() == MessageKind::Own && m.state() == DeliveryState::Delivered)
        );
        // The same receipt again is not a second row.
        state.apply(Event::Receipt(line(3, "ann", 78, "other window")));
        assert_eq!(room(&state).messages().len(), 3);
    }

    #[test]
    fn joins_and_leaves_update_users_and_add_system_lines() {
        let state = signed_in();
        state.apply(Event::UserJoined {
            room: "#general".into(),
            user: "carol".into(),
        });
        // Another room's join is not this window's.
        state.apply(Event::UserJoined {
            room: "#rust".into(),
            user: "dave".into(),
        });
        assert_eq!(room(&state).users().names(), ["ann", "bob", "carol"]);
        state.apply(Event::UserLeft {
            room: "#general".into(),
            user: "bob".into(),
            why: LeaveReason::TimedOut,
        });
        assert_eq!(room(&state).users().names(), ["ann", "carol"]);
        let texts: Vec<String> = (1..room(&state).messages().len())
            .filter_map(|i| room(&state).messages().get(i))
            .map(|m| m.text())
            .collect();
        assert_eq!(texts, ["carol joined", "bob left (timed out)"]);
        state.apply(Event::Users {
            room: "#general".into(),
            list: vec!["ann".into()],
        });
        assert_eq!(room(&state).users().names(), ["ann"]);
    }

    #[test]
    fn a_problem_about_our_line_fails_that_row() {
        let state = signed_in();
        state.said(&room(&state), 9, "x".repeat(10).as_str());
        let effects = state.apply(Event::Problem {
            code: ProblemCode::TooLong,
            nonce: Some(9),
            detail: "limit is 4 bytes".into(),
        });
        assert!(effects.is_empty());
        let row = room(&state).messages().get(1).expect("our row");
        assert_eq!(row.state(), DeliveryState::Failed);
        assert!(
            row.status().contains("limit is 4 bytes"),
            "{}",
            row.status()
        );
    }

    #[test]
    fn a_problem_about_nothing_we_know_is_a_system_line_and_a_toast() {
        let state = signed_in();
        let effects = state.apply(Event::Problem {
            code: ProblemCode::TooFast,
            nonce: None,
            detail: "slow down".into(),
        });
        assert_eq!(effects.len(), 1);
        assert_eq!(room(&state).messages().len(), 2);
    }

    #[test]
    fn reconnect_events_update_status_and_merge_the_replay() {
        let state = signed_in();
        let effects = state.apply(Event::Disconnected {
            error: "timed out".into(),
            attempt: 1,
            retry_in: Duration::from_secs(2),
        });
        assert!(matches!(
            effects[0],
            Effect::Status(Status::Reconnecting(_))
        ));
        let effects = state.apply(Event::Reconnected {
            users: vec!["ann".into(), "carol".into()],
            missed: 2,
        });
        // The missed lines follow: id 1 is a replay we already show; id 2 is new.
        state.apply(chat(1, "bob", 1, "earlier"));
        state.apply(chat(2, "carol", 1, "while you were away"));
        assert!(effects.contains(&Effect::Status(Status::Online)));
        assert_eq!(room(&state).users().names(), ["ann", "carol"]);
        let texts: Vec<String> = (0..room(&state).messages().len())
            .filter_map(|i| room(&state).messages().get(i))
            .map(|m| m.text())
            .collect();
        assert_eq!(
            texts,
            [
                "earlier",
                "Connection lost: timed out",
                "Reconnected",
                "while you were away"
            ]
        );
    }

    #[test]
    fn closing_fails_pending_lines_and_offers_reconnect_unless_we_quit() {
        let state = signed_in();
        state.said(&room(&state), 1, "lost line");
        let effects = state.apply(Event::Closed(CloseReason::ByServer("restarting".into())));
        let Effect::Status(Status::Closed {
            text,
            can_reconnect,
        }) = &effects[0]
        else {
            panic!("expected a closed status, got {effects:?}");
        };
        assert!(can_reconnect);
        assert!(text.contains("restarting"));
        assert_eq!(
            room(&state).messages().get(1).map(|m| m.state()),
            Some(DeliveryState::Failed)
        );

        let quit = signed_in().apply(Event::Closed(CloseReason::Quit));
        assert!(matches!(
            &quit[0],
            Effect::Status(Status::Closed {
                can_reconnect: false,
                ..
            })
        ));
    }

    /// A line said now (not history) in `conversation`.
    fn live(conversation: Address, id: u64, from: &str, text: &str) -> Event {
        let mut line = crate::model::test_line_in(conversation, id, from, id, text);
        line.at_ms = now_ms() + 1000;
        Event::Line(line)
    }

    fn rust() -> Address {
        Address::Room("#rust".into())
    }

    fn joined_rust(state: &ChatState) -> Conversation {
        state.apply(Event::RoomJoined(client::RoomView {
            room: "#rust".into(),
            topic: "crabs".into(),
            users: vec!["ann".into(), "cy".into()],
            history: vec![crate::model::test_line_in(rust(), 1, "cy", 1, "old")],
        }));
        state.conversations.find(&rust()).expect("#rust is listed")
    }

    #[test]
    fn each_room_keeps_its_own_lines_users_and_topic() {
        let state = signed_in();
        let rust = joined_rust(&state);
        assert_eq!(state.conversations.names(), ["#general", "#rust"]);
        assert_eq!(rust.topic(), "crabs");
        assert_eq!(rust.users().names(), ["ann", "cy"]);
        state.apply(live(self::rust(), 2, "cy", "in rust"));
        state.apply(Event::UserJoined {
            room: "#rust".into(),
            user: "dan".into(),
        });
        assert_eq!(
            room(&state).messages().len(),
            1,
            "nothing of #rust in #general"
        );
        assert_eq!(rust.messages().len(), 3, "old, in rust, dan joined");
        assert_eq!(room(&state).users().names(), ["ann", "bob"]);
        assert_eq!(rust.users().names(), ["ann", "cy", "dan"]);
        state.apply(Event::Topic {
            room: "#rust".into(),
            topic: "more crabs".into(),
            by: "cy".into(),
        });
        assert_eq!(rust.topic(), "more crabs");
        assert_eq!(room(&state).topic(), "");
    }

    #[test]
    fn unread_counts_where_the_user_is_not_looking_and_clears_when_shown() {
        let state = signed_in();
        let rust = joined_rust(&state);
        let general = room(&state);
        state.set_active(true);
        state.show(&general);
        assert_eq!(rust.unread(), 0, "history is not unread");
        state.apply(live(self::rust(), 2, "cy", "one"));
        state.apply(live(self::rust(), 3, "cy", "two"));
        state.apply(live(self::rust(), 4, "ann", "mine from elsewhere"));
        state.apply(chat(2, "bob", 2, "seen at once"));
        assert_eq!((rust.unread(), general.unread()), (2, 0));
        state.show(&rust);
        assert_eq!(rust.unread(), 0);
        // In the background even the shown one counts, until the window is active again.
        state.set_active(false);
        state.apply(live(self::rust(), 5, "cy", "three"));
        assert_eq!(rust.unread(), 1);
        state.set_active(true);
        assert_eq!(rust.unread(), 0);
    }

    #[test]
    fn direct_lines_and_mentions_ask_for_attention_but_not_history_or_the_shown_one() {
        let state = signed_in();
        state.set_active(true);
        state.show(&room(&state));
        let bob = Address::Direct("bob".into());
        let effects = state.apply(live(bob.clone(), 1, "bob", "psst"));
        assert!(effects.contains(&Effect::Attention {
            conversation: "bob".into(),
            from: "bob".into(),
            text: "psst".into(),
            direct: true,
        }));
        assert_eq!(state.conversations.names(), ["#general", "bob"]);
        let direct = state.conversations.find(&bob).expect("bob's row");
        assert_eq!(direct.unread(), 1);
        // Replayed after signing in: unread, but no notification.
        let old = state.apply(Event::Line(crate::model::test_line_in(
            bob,
            2,
            "bob",
            2,
            "while you were away",
        )));
        assert!(!old.iter().any(|e| matches!(e, Effect::Attention { .. })));
        assert_eq!(direct.unread(), 2);
        // A mention elsewhere asks; a line without one does not; in the shown room neither does.
        let rust = joined_rust(&state);
        let mention = state.apply(live(self::rust(), 2, "cy", "ANN, look"));
        assert!(
            mention
                .iter()
                .any(|e| matches!(e, Effect::Attention { direct: false, .. }))
        );
        assert!(rust.messages().get(1).is_some_and(|m| m.mention()));
        let plain = state.apply(live(self::rust(), 3, "cy", "annual"));
        assert!(!plain.iter().any(|e| matches!(e, Effect::Attention { .. })));
        assert!(rust.messages().get(2).is_some_and(|m| !m.mention()));
        let here = state.apply(live(Address::Room("#general".into()), 5, "bob", "ann?"));
        assert!(!here.iter().any(|e| matches!(e, Effect::Attention { .. })));
    }

    #[test]
    fn a_room_asked_for_is_shown_when_in_and_leaving_the_shown_room_goes_home() {
        let state = signed_in();
        state.want("#Rust");
        let rust = {
            let effects = state.apply(Event::RoomJoined(client::RoomView {
                room: "#rust".into(),
                topic: String::new(),
                users: vec!["ann".into()],
                history: Vec::new(),
            }));
            assert_eq!(effects, [Effect::Show("#rust".into())]);
            state.conversations.find(&rust()).expect("listed")
        };
        state.show(&rust);
        let effects = state.apply(Event::RoomLeft {
            room: "#rust".into(),
        });
        assert!(
            effects.contains(&Effect::Show("#general".into())),
            "{effects:?}"
        );
        assert_eq!(state.conversations.names(), ["#general"]);
    }

    #[test]
    fn a_room_problem_is_said_in_plain_words() {
        let state = signed_in();
        let effects = state.apply(Event::Problem {
            code: ProblemCode::RoomFull,
            nonce: None,
            detail: String::new(),
        });
        assert_eq!(effects, [Effect::Toast("That room is full.".into())]);
    }
}
