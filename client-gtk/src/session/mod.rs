//! `ChatSession`: one user's chat as a GObject, the part of the app the window binds to.
//!
//! As in Fractal, the window only shows: this object owns the `client::Session` (on the tokio
//! runtime), the models, the ONE future on the GLib main context that reads the library's events,
//! Reconnect, and Exit with its flags. The window binds to its properties (`state`, `status-text`,
//! `can-reconnect`, `leaving`, the `conversations` store, each conversation with its own
//! messages and users) and connects to its signals (`incoming-message`, `attention`,
//! `show-conversation`, `toast`, `left`).
//!
//! What each event does to the models is [`ChatState::apply`] (in `state.rs`): plain logic, tested
//! without a display. This file is the glue around it: commands go to the library on the tokio
//! runtime; the library's events come back on an `async-channel` awaited on the GLib main context.

mod imp;
mod problems;
mod refusal;
mod requests;
mod state;

use std::time::Duration;

use client::{
    ClientError, Conversation as Address, Event, Session, SessionConfig, SignedIn,
    wire::{Reply, Request, RoomInfo},
};
use gtk::{
    glib::{self, closure_local},
    prelude::*,
    subclass::prelude::*,
};

pub use problems::problem_text;
pub use refusal::refusal_text;
pub use state::{ChatState, Effect, Status};

use crate::{
    i18n::{fill, gettext, ngettext},
    model::Conversation,
    runtime,
};

/// A last resort for Exit: the library bounds its own wait (the time the queued lines need at the
/// server's rate plus ten seconds, five seconds without a receipt), so this only fires if the
/// network task itself is stuck.
pub const QUIT_WAIT: Duration = Duration::from_secs(600);
/// Leaving quietly for this long; after it, the window shows how many lines are still queued.
const QUIET_LEAVING: Duration = Duration::from_secs(1);

/// The connection as the window shows it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[enum_type(name = "ChatSessionState")]
pub enum SessionState {
    /// Not signed in yet.
    #[default]
    SignedOut,
    /// Signing in, or reconnecting after the session ended (Reconnect).
    Connecting,
    Online,
    /// The connection was lost; the library is trying again by itself.
    Reconnecting,
    /// Over; `can-reconnect` says whether to offer Reconnect.
    Closed,
}

glib::wrapper! {
    pub struct ChatSession(ObjectSubclass<imp::ChatSession>);
}

impl Default for ChatSession {
    fn default() -> Self {
        Self::new()
    }
}

impl ChatSession {
    pub fn new() -> Self {
        glib::Object::new()
    }

    /// The models and the logic over them (for tests).
    pub fn chat(&self) -> &ChatState {
        &self.imp().chat
    }

    /// Signs in; on failure the text says what happened, for the sign-in page.
    pub async fn sign_in(&self, config: SessionConfig) -> Result<(), String> {
        self.set_status(SessionState::Connecting, "", false);
        match connect(config.clone()).await {
            Ok((session, signed_in, events)) => {
                self.enter(config, session, &signed_in, events, true);
                Ok(())
            }
            Err(e) => {
                self.set_status(SessionState::SignedOut, "", false);
                Err(e)
            }
        }
    }

    /// After the session ended: signs in again with the same settings, keeping the conversation.
    pub fn reconnect(&self) {
        let imp = self.imp();
        if imp.client.borrow().is_some() || imp.leaving.get() {
            return;
        }
        let Some(config) = imp.config.borrow().clone() else {
            return;
        };
        self.set_status(SessionState::Connecting, &gettext("Reconnecting…"), false);
        runtime::spawn_local(glib::clone!(
            #[weak(rename_to = this)]
            self,
            async move {
                match connect(config.clone()).await {
                    Ok((session, signed_in, events)) => {
                        this.enter(config, session, &signed_in, events, false);
                        this.emit_toast(&gettext("Reconnected"));
                    }
                    Err(e) => this.set_status(SessionState::Closed, &e, true),
                }
            }
        ));
    }

    /// Sends what the composer holds: each line of it (a paste may hold many) shows at once as
    /// pending, waits in the library's queue for its turn under the server's rate, and turns sent
    /// on its receipt. False (and a toast) when there is no session to send with, or when a line
    /// is longer than the server takes: then nothing is sent and the text stays to be shortened.
    pub fn send(&self, text: &str) -> bool {
        let Some(session) = self.imp().client.borrow().clone() else {
            return false;
        };
        let Some(conversation) = self.chat().shown() else {
            return false;
        };
        let lines = pasted_lines(text);
        let longest = session.longest_line();
        if let Some((at, line)) = lines.iter().enumerate().find(|(_, l)| l.len() > longest) {
            let bytes = line.len().to_string();
            let longest = longest.to_string();
            let text = if lines.len() > 1 {
                fill(
                    &gettext(
                        "Not sent: line {line} is {bytes} bytes long; the server takes at most {longest}",
                    ),
                    &[
                        ("line", &(at + 1).to_string()),
                        ("bytes", &bytes),
                        ("longest", &longest),
                    ],
                )
            } else {
                fill(
                    &gettext(
                        "Not sent: the line is {bytes} bytes long; the server takes at most {longest}",
                    ),
                    &[("bytes", &bytes), ("longest", &longest)],
                )
            };
            self.emit_toast(&text);
            return false;
        }
        for line in lines {
            match session.say_to(conversation.address(), line) {
                Ok(nonce) => self.chat().said(&conversation, nonce, line),
                Err(e) => {
                    self.emit_toast(&fill(
                        &gettext("Not sent: {error}"),
                        &[("error", &e.to_string())],
                    ));
                    return false;
                }
            }
        }
        true
    }

    /// Asks for the shown room's user list (the list is kept live anyway; this repairs any drift).
    pub fn list_users(&self) {
        let Some(Address::Room(room)) = self.chat().shown().map(|c| c.address()) else {
            return;
        };
        if let Some(session) = self.imp().client.borrow().as_ref() {
            // A failure only means the session is ending; the state shows that already.
            let _ = session.list_users_in(room);
        }
    }

    /// The window shows `conversation` now.
    pub fn show(&self, conversation: &Conversation) {
        self.chat().show(conversation);
    }

    /// The window became active or stopped being: what it shows is read while it is.
    pub fn set_active(&self, active: bool) {
        self.chat().set_active(active);
    }

    /// The conversation the window shows.
    pub fn shown(&self) -> Option<Conversation> {
        self.chat().shown()
    }

    /// The conversation an action's target names, if it is listed.
    pub fn conversation(&self, key: &str) -> Option<Conversation> {
        self.chat()
            .conversations
            .find(&crate::model::address_from_key(key))
    }

    /// Opens (or finds) the direct conversation with `name`.
    pub fn open_direct(&self, name: &str) -> Conversation {
        self.chat().open_direct(name)
    }

    /// Joins `room` (or makes it), `#` added if missing; the window shows it once it is in.
    /// False (and a toast) when there is no session.
    pub fn join_room(&self, room: &str) -> bool {
        let room = room.trim();
        let room = if room.starts_with('#') {
            room.to_owned()
        } else {
            format!("#{room}")
        };
        if let Some(found) = self.chat().conversations.find(&Address::Room(room.clone())) {
            self.emit_by_name::<()>("show-conversation", &[&found.name()]);
            return true;
        }
        self.chat().want(&room);
        self.command(|session| session.join_room(room))
    }

    /// Leaves `room`; the server's `RoomLeft` takes it out of the sidebar.
    pub fn part_room(&self, room: &str) -> bool {
        let room = room.to_owned();
        self.command(|session| session.part_room(room))
    }

    /// Sets a room's topic; the server's `Topic` shows it.
    pub fn set_topic(&self, room: &str, topic: &str) -> bool {
        let (room, topic) = (room.to_owned(), topic.trim().to_owned());
        self.command(|session| session.set_topic(room, topic))
    }

    /// Asks for the server's rooms; `on_rooms` gets them (nothing if the session ends first).
    pub fn list_rooms(&self, on_rooms: impl FnOnce(Vec<RoomInfo>) + 'static) {
        if self.command(client::Session::list_rooms) {
            self.imp()
                .pending_rooms
                .borrow_mut()
                .add(Box::new(on_rooms));
        }
    }

    /// Sends a command to the library; a toast when there is no session to send it on.
    fn command(&self, f: impl FnOnce(&Session) -> Result<(), ClientError>) -> bool {
        let sent = match self.imp().client.borrow().as_ref() {
            Some(session) => f(session).map_err(|e| e.to_string()),
            None => Err(gettext("not signed in")),
        };
        match sent {
            Ok(()) => true,
            Err(e) => {
                self.emit_toast(&fill(&gettext("Not done: {reason}"), &[("reason", &e)]));
                false
            }
        }
    }

    /// Asks the server about names, devices or moderation; `on_reply` gets the answer, or why none
    /// will come (not signed in, or the session ended first).
    pub fn request(
        &self,
        request: Request,
        on_reply: impl FnOnce(Result<Reply, String>) + 'static,
    ) {
        let sent = match self.imp().client.borrow().as_ref() {
            Some(session) => session.request(request).map_err(|e| e.to_string()),
            None => Err(gettext("not signed in")),
        };
        match sent {
            Ok(id) => self.imp().pending.borrow_mut().add(id, Box::new(on_reply)),
            Err(e) => on_reply(Err(e)),
        }
    }

    /// Asks who the server takes us for, and keeps the `operator` property from the answer.
    fn ask_who_am_i(&self) {
        let this = self.downgrade();
        self.request(Request::WhoAmI, move |reply| {
            let Some(this) = this.upgrade() else {
                return;
            };
            let operator = matches!(reply, Ok(Reply::Identity { operator: true, .. }));
            if this.imp().operator.replace(operator) != operator {
                this.notify_operator();
            }
        });
    }

    /// Exit: waits until every queued line has its receipt (bounded by the library; after a
    /// moment `status-text` says how many are left), says goodbye, then emits `left`. Lines that
    /// were not accepted stay pending in the list, and a toast says how many. A second call does
    /// nothing.
    pub fn leave(&self) {
        let imp = self.imp();
        if imp.leaving.replace(true) {
            return;
        }
        self.notify_leaving();
        let Some(session) = imp.client.take() else {
            self.finish_leaving();
            return;
        };
        runtime::spawn_local(glib::clone!(
            #[weak(rename_to = this)]
            self,
            async move {
                let progress = this.show_leaving_progress(session.clone());
                let farewell = quit(session).await;
                progress.remove();
                if let Some(farewell) = farewell
                    && !farewell.all_accepted()
                {
                    let n = farewell.not_accepted();
                    tracing::warn!(
                        not_accepted = n,
                        gave_up = ?farewell.gave_up,
                        "left with lines the server did not accept"
                    );
                    this.emit_toast(&fill(
                        &ngettext(
                            "{count} line was not accepted",
                            "{count} lines were not accepted",
                            u32::try_from(n).unwrap_or(u32::MAX),
                        ),
                        &[("count", &n.to_string())],
                    ));
                }
                this.finish_leaving();
            }
        ));
    }

    /// While leaving, after a moment, `status-text` says how many lines are still on their way.
    fn show_leaving_progress(&self, session: Session) -> glib::SourceId {
        let started = std::time::Instant::now();
        glib::timeout_add_local(
            Duration::from_millis(250),
            glib::clone!(
                #[weak(rename_to = this)]
                self,
                #[upgrade_or]
                glib::ControlFlow::Break,
                move || {
                    let left = session.queue().total();
                    if left > 0 && started.elapsed() >= QUIET_LEAVING {
                        let text = fill(
                            &ngettext(
                                "Sending {count} queued line…",
                                "Sending {count} queued lines…",
                                u32::try_from(left).unwrap_or(u32::MAX),
                            ),
                            &[("count", &left.to_string())],
                        );
                        let imp = this.imp();
                        if *imp.status_text.borrow() != text {
                            imp.status_text.replace(text);
                            this.notify_status_text();
                        }
                    }
                    glib::ControlFlow::Continue
                }
            ),
        )
    }

    /// True once Exit is done.
    pub fn has_left(&self) -> bool {
        self.imp().left.get()
    }

    pub fn connect_incoming_message<F: Fn(&Self, String, String) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_closure(
            "incoming-message",
            false,
            closure_local!(move |this: &Self, from: String, text: String| f(this, from, text)),
        )
    }

    /// `f(session, conversation key, from, text, direct)`: a direct line or a mention where the
    /// user is not looking; worth a notification.
    pub fn connect_attention<F: Fn(&Self, String, String, String, bool) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_closure(
            "attention",
            false,
            closure_local!(move |this: &Self,
                                 key: String,
                                 from: String,
                                 text: String,
                                 direct: bool| {
                f(this, key, from, text, direct)
            }),
        )
    }

    /// `f(session, conversation key)`: the window should show that conversation.
    pub fn connect_show_conversation<F: Fn(&Self, String) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_closure(
            "show-conversation",
            false,
            closure_local!(move |this: &Self, key: String| f(this, key)),
        )
    }

    pub fn connect_toast<F: Fn(&Self, String) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "toast",
            false,
            closure_local!(move |this: &Self, text: String| f(this, text)),
        )
    }

    pub fn connect_left<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure("left", false, closure_local!(move |this: &Self| f(this)))
    }

    fn finish_leaving(&self) {
        self.imp().left.set(true);
        self.emit_by_name::<()>("left", &[]);
    }

    fn emit_toast(&self, text: &str) {
        self.emit_by_name::<()>("toast", &[&text.to_owned()]);
    }

    /// A new connection: fill the models and start reading its events.
    fn enter(
        &self,
        config: SessionConfig,
        session: Session,
        signed_in: &SignedIn,
        events: async_channel::Receiver<Event>,
        fresh: bool,
    ) {
        let imp = self.imp();
        let chat = &imp.chat;
        chat.signed_in(signed_in);
        if fresh {
            let count = signed_in.users.len();
            chat.add_system(&fill(
                &ngettext(
                    "Welcome, {you}. {count} here: {users}.",
                    "Welcome, {you}. {count} here: {users}.",
                    u32::try_from(count).unwrap_or(u32::MAX),
                ),
                &[
                    ("you", &signed_in.you),
                    ("count", &count.to_string()),
                    ("users", &signed_in.users.join(", ")),
                ],
            ));
        } else {
            chat.add_system(&gettext("Reconnected"));
        }
        if let Some(old) = imp.event_loop.replace(Some(self.spawn_event_loop(events))) {
            old.abort();
        }
        imp.client.replace(Some(session));
        imp.server.replace(config.server.to_string());
        imp.config.replace(Some(config));
        imp.you.replace(signed_in.you.clone());
        self.notify_server();
        self.notify_you();
        self.set_status(SessionState::Online, "", false);
        self.ask_who_am_i();
    }

    /// Reads the library's events until the session closes, applying each to the models and
    /// passing the effects on as property changes and signals.
    fn spawn_event_loop(&self, events: async_channel::Receiver<Event>) -> glib::JoinHandle<()> {
        runtime::spawn_local(glib::clone!(
            #[weak(rename_to = this)]
            self,
            async move {
                while let Ok(event) = events.recv().await {
                    let last = matches!(event, Event::Closed(_));
                    for effect in this.chat().apply(event) {
                        this.apply_effect(effect);
                    }
                    if last {
                        return;
                    }
                }
                // The channel closed without a Closed event: the session task is gone.
                let reason = client::CloseReason::Lost(ClientError::SessionEnded);
                for effect in this.chat().closed(&reason) {
                    this.apply_effect(effect);
                }
            }
        ))
    }

    fn apply_effect(&self, effect: Effect) {
        match effect {
            Effect::Incoming { from, text } => {
                self.emit_by_name::<()>("incoming-message", &[&from, &text]);
            }
            Effect::Attention {
                conversation,
                from,
                text,
                direct,
            } => {
                self.emit_by_name::<()>("attention", &[&conversation, &from, &text, &direct]);
            }
            Effect::Show(key) => self.emit_by_name::<()>("show-conversation", &[&key]),
            Effect::Rooms(list) => {
                let waiting = self.imp().pending_rooms.borrow_mut().take_all();
                for on_rooms in waiting {
                    on_rooms(list.clone());
                }
            }
            Effect::Toast(text) => self.emit_toast(&text),
            Effect::Reply { id, reply } => {
                // Taken out first: the answer may well send the next request.
                let on_reply = self.imp().pending.borrow_mut().take(id);
                if let Some(on_reply) = on_reply {
                    on_reply(Ok(reply));
                }
            }
            Effect::Status(Status::Online) => self.set_status(SessionState::Online, "", false),
            Effect::Status(Status::Reconnecting(text)) => {
                self.set_status(SessionState::Reconnecting, &text, false);
            }
            Effect::Status(Status::Closed {
                text,
                can_reconnect,
            }) => {
                self.imp().client.replace(None);
                self.imp().pending_rooms.borrow_mut().take_all();
                let waiting = self.imp().pending.borrow_mut().take_all();
                for on_reply in waiting {
                    on_reply(Err(gettext("the connection ended")));
                }
                if self.imp().operator.replace(false) {
                    self.notify_operator();
                }
                self.set_status(SessionState::Closed, &text, can_reconnect);
                if can_reconnect && !self.leaving() {
                    self.emit_toast(&text);
                }
            }
        }
    }

    /// Sets the three connection properties together; `state` is notified last, so a handler of
    /// `notify::state` sees the text that goes with it.
    fn set_status(&self, state: SessionState, text: &str, can_reconnect: bool) {
        let imp = self.imp();
        if *imp.status_text.borrow() != text {
            imp.status_text.replace(text.to_owned());
            self.notify_status_text();
        }
        if imp.can_reconnect.replace(can_reconnect) != can_reconnect {
            self.notify_can_reconnect();
        }
        if imp.state.replace(state) != state {
            self.notify_state();
        }
    }
}

/// Connects on the tokio runtime; awaited from the GLib main loop.
async fn connect(
    config: SessionConfig,
) -> Result<(Session, SignedIn, async_channel::Receiver<Event>), String> {
    let user = config.user.clone();
    match runtime::spawn_tokio(Session::connect(config)).await {
        Ok(Ok(connected)) => Ok(connected),
        Ok(Err(e)) => Err(sign_in_error(&e, &user)),
        Err(e) => Err(fill(
            &gettext("The network task failed: {error}."),
            &[("error", &e.to_string())],
        )),
    }
}

/// What the sign-in page says for a failed connection as `user`.
pub fn sign_in_error(e: &ClientError, user: &str) -> String {
    match e {
        ClientError::Refused(reason) => refusal_text(reason, user),
        ClientError::Certificate(_) => fill(
            &gettext("Untrusted certificate. {error}."),
            &[("error", &e.to_string())],
        ),
        ClientError::Unreachable(_) | ClientError::Timeout => fill(
            &gettext("Cannot reach the server: {error}."),
            &[("error", &e.to_string())],
        ),
        other => format!("{}.", capitalise(&other.to_string())),
    }
}

/// An answer to a request (or why none came), in a sentence for a toast or a dialog.
pub fn reply_text(reply: &Result<Reply, String>) -> String {
    match reply {
        Ok(Reply::Done { detail }) if detail.is_empty() => gettext("Done"),
        Ok(Reply::Done { detail }) => detail.clone(),
        Ok(Reply::Failed { code, detail }) => fill(
            &gettext("Not done: {reason}"),
            &[(
                "reason",
                &format!("{}: {detail}", client::ProblemCode::from(*code)),
            )],
        ),
        Ok(other) => fill(
            &gettext("The server answered something else: {answer}"),
            &[("answer", &format!("{other:?}"))],
        ),
        Err(e) => fill(&gettext("No answer: {error}"), &[("error", e)]),
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Leaves on the tokio runtime and waits for it, at most [`QUIT_WAIT`]; what became of the lines.
async fn quit(session: Session) -> Option<client::Farewell> {
    let handle = runtime::spawn_tokio(async move { session.quit().await });
    match glib::future_with_timeout(QUIT_WAIT, handle).await {
        Ok(Ok(farewell)) => Some(farewell),
        Ok(Err(e)) => {
            tracing::warn!("the network task failed while leaving: {e}");
            None
        }
        Err(_) => {
            tracing::warn!("leaving took too long; quitting anyway");
            None
        }
    }
}

/// The lines of what the composer holds, blank ones left out: a paste of many lines is many
/// lines in the chat, each with its own receipt.
fn pasted_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.trim().is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paste_is_one_line_per_line_without_the_blank_ones() {
        assert_eq!(pasted_lines("one"), ["one"]);
        assert_eq!(
            pasted_lines("one\r\n\n  \ntwo\nthree\n"),
            ["one", "two", "three"]
        );
        assert!(pasted_lines(" \n").is_empty());
    }

    #[test]
    fn sign_in_errors_say_what_happened() {
        let refused = sign_in_error(
            &ClientError::Refused(client::wire::RefuseReason::NameTaken),
            "ann",
        );
        assert!(refused.contains("already taken"), "{refused}");
        let cert = sign_in_error(&ClientError::Certificate("UnknownIssuer".into()), "ann");
        assert!(cert.starts_with("Untrusted certificate"), "{cert}");
    }
}
