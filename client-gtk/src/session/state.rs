//! What the session's events do to the models: plain logic over GObject models, no widgets and no
//! network, so it is tested without a display. [`ChatState::apply`] updates the models and returns
//! the [`Effect`]s the session object turns into property changes and signals.
//!
//! This window shows the default room only (protocol 5 has more rooms and direct conversations;
//! the sidebar that shows them is the next stage): events about other conversations are left
//! aside here.

use client::{CloseReason, Event, LeaveReason, SignedIn};

use crate::{
    i18n::{fill, gettext, ngettext},
    model::{Added, MessageKind, MessageList, UserList},
};

/// What the session object should tell the window after an event, beyond the model updates.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Somebody else said something (notify if the window is not focused).
    Incoming { from: String, text: String },
    /// The connection changed state.
    Status(Status),
    /// A short message to show over the chat.
    Toast(String),
    /// The answer to the request sent with `id`, for whoever asked.
    Reply { id: u32, reply: client::wire::Reply },
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
    you: std::cell::RefCell<String>,
    /// The default room, the one conversation this window shows.
    room: std::cell::RefCell<String>,
    pub messages: MessageList,
    pub users: UserList,
}

impl ChatState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn you(&self) -> String {
        self.you.borrow().clone()
    }

    /// Signed in: who we are, who is here, what was said recently (lines already shown are
    /// recognised and not shown twice, so a new sign-in carries the conversation on).
    pub fn signed_in(&self, signed_in: &SignedIn) {
        self.you.replace(signed_in.you.clone());
        self.room.replace(signed_in.room.clone());
        self.users.set_all(&signed_in.users, &signed_in.you);
        for line in &signed_in.history {
            self.messages.add_line(line);
        }
    }

    /// Shows a line we sent.
    pub fn said(&self, nonce: u64, text: &str) {
        self.messages.add_pending(&self.you(), nonce, text);
    }

    /// Whether an event is about a conversation this window does not show.
    fn elsewhere(&self, event: &Event) -> bool {
        let room = self.room.borrow();
        match event {
            Event::Line(line) | Event::Receipt(line) => {
                line.conversation != client::Conversation::Room(room.clone())
            }
            Event::UserJoined { room: r, .. }
            | Event::UserLeft { room: r, .. }
            | Event::Users { room: r, .. } => *r != *room,
            Event::RoomJoined(_) | Event::RoomLeft { .. } | Event::Rooms(_) => true,
            _ => false,
        }
    }

    pub fn apply(&self, event: Event) -> Vec<Effect> {
        let you = self.you();
        if self.elsewhere(&event) {
            return Vec::new();
        }
        match event {
            Event::Line(line) => match self.messages.add_line(&line) {
                Added::New(row) if row.kind() == MessageKind::Chat => vec![Effect::Incoming {
                    from: line.from,
                    text: line.text,
                }],
                _ => Vec::new(),
            },
            // Our own line came back: the pending row turns sent (or, if this window never showed
            // it, it is added as sent). Never a notification.
            Event::Receipt(line) => {
                self.messages.add_line(&line);
                Vec::new()
            }
            Event::UserJoined { user, .. } => {
                if self.users.add(&user, &you) {
                    self.messages
                        .add_system(&fill(&gettext("{user} joined"), &[("user", &user)]));
                }
                Vec::new()
            }
            Event::UserLeft { user, why, .. } => {
                self.users.remove(&user);
                self.messages.add_system(&left_text(&user, why));
                Vec::new()
            }
            Event::Users { list, .. } => {
                self.users.set_all(&list, &you);
                Vec::new()
            }
            // Topics and other rooms are the sidebar's (stage 2 of issue 18).
            Event::Topic { .. }
            | Event::RoomJoined(_)
            | Event::RoomLeft { .. }
            | Event::Rooms(_) => Vec::new(),
            Event::Problem {
                code,
                nonce,
                detail,
            } => {
                let why = format!("{code}: {detail}");
                if nonce.is_some_and(|n| self.messages.fail(n, &why)) {
                    Vec::new()
                } else {
                    self.messages
                        .add_system(&fill(&gettext("Problem — {reason}"), &[("reason", &why)]));
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
                self.messages.add_system(&text);
                vec![Effect::Toast(text)]
            }
            Event::Replaced { fingerprint } => {
                let text = fill(
                    &gettext(
                        "You signed in again elsewhere (device {device}), so this window was signed out.",
                    ),
                    &[("device", &fingerprint.short())],
                );
                self.messages.add_system(&text);
                vec![Effect::Toast(text)]
            }
            Event::ServerShuttingDown { reason } => {
                let text = fill(
                    &gettext("The server is shutting down: {reason}"),
                    &[("reason", &reason)],
                );
                self.messages.add_system(&text);
                vec![Effect::Toast(text)]
            }
            Event::Disconnected {
                error,
                attempt,
                retry_in,
            } => {
                if attempt <= 1 {
                    self.messages.add_system(&fill(
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
            // The lines missed meanwhile follow as `Line` events.
            Event::Reconnected { users, .. } => {
                self.users.set_all(&users, &you);
                self.messages.add_system(&gettext("Reconnected"));
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
        self.messages
            .fail_all_pending(&gettext("the connection ended"));
        self.users.set_all(&[], "");
        if can_reconnect {
            self.messages.add_system(&text);
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
        assert_eq!(state.users.names(), ["ann", "bob"]);
        assert_eq!(state.messages.len(), 1);
        assert_eq!(state.you(), "ann");
    }

    #[test]
    fn own_line_is_pending_until_its_receipt() {
        let state = signed_in();
        state.said(42, "hello");
        let row = state.messages.get(1).expect("the pending row");
        assert_eq!(row.state(), DeliveryState::Pending);
        let effects = state.apply(Event::Receipt(line(2, "ann", 42, "hello")));
        assert!(effects.is_empty(), "no notification for our own line");
        assert_eq!(row.state(), DeliveryState::Delivered);
        assert_eq!(state.messages.len(), 2);
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
        let rows: Vec<_> = (1..state.messages.len())
            .filter_map(|i| state.messages.get(i))
            .collect();
        assert_eq!(rows.len(), 2);
        assert!(
            rows.iter()
                .all(|m| m.kind() == MessageKind::Own && m.state() == DeliveryState::Delivered)
        );
        // The same receipt again is not a second row.
        state.apply(Event::Receipt(line(3, "ann", 78, "other window")));
        assert_eq!(state.messages.len(), 3);
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
        assert_eq!(state.users.names(), ["ann", "bob", "carol"]);
        state.apply(Event::UserLeft {
            room: "#general".into(),
            user: "bob".into(),
            why: LeaveReason::TimedOut,
        });
        assert_eq!(state.users.names(), ["ann", "carol"]);
        let texts: Vec<String> = (1..state.messages.len())
            .filter_map(|i| state.messages.get(i))
            .map(|m| m.text())
            .collect();
        assert_eq!(texts, ["carol joined", "bob left (timed out)"]);
        state.apply(Event::Users {
            room: "#general".into(),
            list: vec!["ann".into()],
        });
        assert_eq!(state.users.names(), ["ann"]);
    }

    #[test]
    fn a_problem_about_our_line_fails_that_row() {
        let state = signed_in();
        state.said(9, "x".repeat(10).as_str());
        let effects = state.apply(Event::Problem {
            code: ProblemCode::TooLong,
            nonce: Some(9),
            detail: "limit is 4 bytes".into(),
        });
        assert!(effects.is_empty());
        let row = state.messages.get(1).expect("our row");
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
        assert_eq!(state.messages.len(), 2);
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
        assert_eq!(state.users.names(), ["ann", "carol"]);
        let texts: Vec<String> = (0..state.messages.len())
            .filter_map(|i| state.messages.get(i))
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
        state.said(1, "lost line");
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
            state.messages.get(1).map(|m| m.state()),
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
}
