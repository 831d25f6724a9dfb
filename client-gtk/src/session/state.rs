//! The glue between a `client::Session` (on the tokio runtime) and the GTK models.
//!
//! - Commands: [`connect`] and [`quit`] run on tokio and are awaited from the GLib main loop; saying a
//!   line is `Session::say`, which only queues it on the session's channel and never blocks.
//! - Events: [`spawn_event_loop`] is the ONE future on the GLib main context that reads the session's
//!   event channel. It hands each event to [`ChatState::apply`], which updates the models and returns
//!   [`Effect`]s for the window (notifications, status, toasts).
//! - [`ChatState::apply`] is plain logic over GObject models, so it is tested without a display.

use std::{rc::Rc, time::Duration};

use client::{
    ClientError, CloseReason, Event, Session, SessionConfig, Welcome,
    wire::{LeaveReason, ServerFrame},
};
use gtk::glib;

use crate::{
    model::{Added, MessageKind, MessageList, UserList},
    runtime,
};

/// How long Exit waits for the server to confirm the goodbye before quitting anyway.
pub const QUIT_WAIT: Duration = Duration::from_secs(3);

/// What the window should do after an event, beyond the model updates.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Somebody else said something (notify if the window is not focused).
    Incoming { from: String, text: String },
    /// The connection changed state.
    Status(Status),
    /// A short message to show over the chat.
    Toast(String),
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

    /// Signed in (or back after a reconnect): who we are, who is here, what was said meanwhile.
    pub fn welcome(&self, welcome: &Welcome) {
        self.you.replace(welcome.you.clone());
        self.users.set_all(&welcome.users, &welcome.you);
        for m in &welcome.history {
            self.messages.add_chat(m, &welcome.you);
        }
    }

    /// Shows a line we sent.
    pub fn said(&self, nonce: u64, text: &str) {
        self.messages.add_pending(&self.you(), nonce, text);
    }

    pub fn apply(&self, event: Event) -> Vec<Effect> {
        match event {
            Event::Frame(frame) => self.apply_frame(frame),
            Event::Disconnected {
                error,
                attempt,
                retry_in,
            } => {
                if attempt <= 1 {
                    self.messages
                        .add_system(&format!("Connection lost: {error}"));
                }
                vec![Effect::Status(Status::Reconnecting(format!(
                    "Connection lost. Reconnecting in {} s (attempt {attempt})…",
                    retry_in.as_secs().max(1)
                )))]
            }
            Event::Reconnected(welcome) => {
                self.welcome(&welcome);
                self.messages.add_system("Reconnected");
                vec![
                    Effect::Status(Status::Online),
                    Effect::Toast("Reconnected".into()),
                ]
            }
            Event::Closed(reason) => self.closed(&reason),
        }
    }

    fn apply_frame(&self, frame: ServerFrame) -> Vec<Effect> {
        let you = self.you();
        match frame {
            ServerFrame::Welcome {
                you,
                users,
                history,
            } => {
                self.welcome(&Welcome {
                    you,
                    users,
                    history,
                });
                Vec::new()
            }
            ServerFrame::Chat(m) => match self.messages.add_chat(&m, &you) {
                Added::New(row) if row.kind() == MessageKind::Chat => vec![Effect::Incoming {
                    from: m.from,
                    text: m.text,
                }],
                _ => Vec::new(),
            },
            ServerFrame::Joined { user } => {
                if self.users.add(&user, &you) {
                    self.messages.add_system(&format!("{user} joined"));
                }
                Vec::new()
            }
            ServerFrame::Left { user, why } => {
                self.users.remove(&user);
                self.messages.add_system(&left_text(&user, why));
                Vec::new()
            }
            ServerFrame::Users { list } => {
                self.users.set_all(&list, &you);
                Vec::new()
            }
            ServerFrame::Problem {
                code,
                nonce,
                detail,
            } => {
                let why = format!("{code}: {detail}");
                if nonce.is_some_and(|n| self.messages.fail(n, &why)) {
                    Vec::new()
                } else {
                    self.messages.add_system(&format!("Problem — {why}"));
                    vec![Effect::Toast(why)]
                }
            }
            ServerFrame::ShuttingDown { reason } => {
                let text = format!("The server is shutting down: {reason}");
                self.messages.add_system(&text);
                vec![Effect::Toast(text)]
            }
            ServerFrame::Refused { reason } => {
                self.messages
                    .add_system(&format!("The server refused us: {reason}"));
                Vec::new()
            }
            // The client library unpacks these into single changes; handled the same way if not.
            ServerFrame::Presence { changes } => changes
                .into_iter()
                .flat_map(|c| self.apply_frame(c.into()))
                .collect(),
        }
    }

    fn closed(&self, reason: &CloseReason) -> Vec<Effect> {
        let can_reconnect = !matches!(reason, CloseReason::Quit);
        let text = match reason {
            CloseReason::Quit => "You left the chat".to_owned(),
            CloseReason::ByServer(why) if why.is_empty() => {
                "The server closed the connection".into()
            }
            CloseReason::ByServer(why) => format!("The server closed the connection: {why}"),
            CloseReason::Lost(e) => format!("Connection lost: {e}"),
        };
        self.messages
            .fail_all_pending("not delivered: the connection ended");
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
        LeaveReason::Quit => format!("{user} left"),
        other => format!("{user} left ({other})"),
    }
}

/// A signed-in session, as handed to the window.
#[derive(Debug)]
pub struct Connected {
    pub session: Session,
    pub welcome: Welcome,
    pub events: async_channel::Receiver<Event>,
}

/// Connects on the tokio runtime; await it from the GLib main loop.
pub async fn connect(config: SessionConfig) -> Result<Connected, String> {
    let handle = runtime::spawn_tokio(Session::connect(config));
    match handle.await {
        Ok(Ok((session, welcome, events))) => Ok(Connected {
            session,
            welcome,
            events,
        }),
        Ok(Err(e)) => Err(sign_in_error(&e)),
        Err(e) => Err(format!("the network task failed: {e}")),
    }
}

/// What the sign-in page says for a failed connection.
pub fn sign_in_error(e: &ClientError) -> String {
    match e {
        ClientError::Refused(reason) => format!("The server refused the name: {reason}."),
        ClientError::Certificate(_) => format!("Untrusted certificate. {e}."),
        ClientError::Unreachable(_) | ClientError::Timeout => {
            format!("Cannot reach the server: {e}.")
        }
        other => format!("{}.", capitalise(&other.to_string())),
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Says goodbye on the tokio runtime and waits for it, at most [`QUIT_WAIT`].
pub async fn quit(session: Session) {
    let handle = runtime::spawn_tokio(async move { session.quit().await });
    if glib::future_with_timeout(QUIT_WAIT, handle).await.is_err() {
        tracing::warn!("the server did not confirm the goodbye in time; quitting anyway");
    }
}

/// Reads the session's events on the GLib main context until the session closes, applying each to
/// `state` and passing the resulting effects to `on_effect`.
pub fn spawn_event_loop(
    events: async_channel::Receiver<Event>,
    state: Rc<ChatState>,
    on_effect: impl Fn(Effect) + 'static,
) -> glib::JoinHandle<()> {
    runtime::spawn_local(async move {
        while let Ok(event) = events.recv().await {
            let last = matches!(event, Event::Closed(_));
            for effect in state.apply(event) {
                on_effect(effect);
            }
            if last {
                return;
            }
        }
        // The channel closed without a Closed event: the session task is gone.
        for effect in state.closed(&CloseReason::Lost(ClientError::SessionEnded)) {
            on_effect(effect);
        }
    })
}

#[cfg(test)]
mod tests {
    use client::wire::{ChatMessage, ProblemCode};

    use super::*;
    use crate::model::DeliveryState;

    fn chat(id: u64, from: &str, nonce: u64, text: &str) -> ServerFrame {
        ServerFrame::Chat(ChatMessage {
            id,
            from: from.into(),
            nonce,
            text: text.into(),
            at_ms: 1_700_000_000_000,
        })
    }

    fn signed_in() -> ChatState {
        let state = ChatState::new();
        state.welcome(&Welcome {
            you: "ann".into(),
            users: vec!["bob".into(), "ann".into()],
            history: vec![ChatMessage {
                id: 1,
                from: "bob".into(),
                nonce: 1,
                text: "earlier".into(),
                at_ms: 0,
            }],
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
        let effects = state.apply(Event::Frame(chat(2, "ann", 42, "hello")));
        assert!(effects.is_empty(), "no notification for our own line");
        assert_eq!(row.state(), DeliveryState::Delivered);
        assert_eq!(state.messages.len(), 2);
    }

    #[test]
    fn others_lines_ask_for_a_notification() {
        let state = signed_in();
        let effects = state.apply(Event::Frame(chat(2, "bob", 5, "hi ann")));
        assert_eq!(
            effects,
            [Effect::Incoming {
                from: "bob".into(),
                text: "hi ann".into()
            }]
        );
    }

    #[test]
    fn joins_and_leaves_update_users_and_add_system_lines() {
        let state = signed_in();
        state.apply(Event::Frame(ServerFrame::Joined {
            user: "carol".into(),
        }));
        assert_eq!(state.users.names(), ["ann", "bob", "carol"]);
        state.apply(Event::Frame(ServerFrame::Left {
            user: "bob".into(),
            why: LeaveReason::TimedOut,
        }));
        assert_eq!(state.users.names(), ["ann", "carol"]);
        let texts: Vec<String> = (1..state.messages.len())
            .filter_map(|i| state.messages.get(i))
            .map(|m| m.text())
            .collect();
        assert_eq!(texts, ["carol joined", "bob left (timed out)"]);
        state.apply(Event::Frame(ServerFrame::Users {
            list: vec!["ann".into()],
        }));
        assert_eq!(state.users.names(), ["ann"]);
    }

    #[test]
    fn a_problem_about_our_line_fails_that_row() {
        let state = signed_in();
        state.said(9, "x".repeat(10).as_str());
        let effects = state.apply(Event::Frame(ServerFrame::Problem {
            code: ProblemCode::TooLong,
            nonce: Some(9),
            detail: "limit is 4 bytes".into(),
        }));
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
        let effects = state.apply(Event::Frame(ServerFrame::Problem {
            code: ProblemCode::TooFast,
            nonce: None,
            detail: "slow down".into(),
        }));
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
        let effects = state.apply(Event::Reconnected(Welcome {
            you: "ann".into(),
            users: vec!["ann".into(), "carol".into()],
            // id 1 is a replay we already show; id 2 is new.
            history: vec![
                ChatMessage {
                    id: 1,
                    from: "bob".into(),
                    nonce: 1,
                    text: "earlier".into(),
                    at_ms: 0,
                },
                ChatMessage {
                    id: 2,
                    from: "carol".into(),
                    nonce: 1,
                    text: "while you were away".into(),
                    at_ms: 0,
                },
            ],
        }));
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
                "while you were away",
                "Reconnected"
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

    #[test]
    fn sign_in_errors_say_what_happened() {
        let refused = sign_in_error(&ClientError::Refused(client::wire::RefuseReason::NameTaken));
        assert!(refused.contains("already taken"), "{refused}");
        let cert = sign_in_error(&ClientError::Certificate("UnknownIssuer".into()));
        assert!(cert.starts_with("Untrusted certificate"), "{cert}");
    }
}
