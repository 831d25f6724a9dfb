use std::{
    cell::{Cell, RefCell},
    marker::PhantomData,
    rc::Rc,
    sync::OnceLock,
};

use client::SessionConfig;
use gtk::{
    gio,
    glib::{self, subclass::Signal},
    prelude::*,
    subclass::prelude::*,
};

use super::{
    ChatState, SessionState,
    requests::{PendingReplies, PendingRooms},
};

#[derive(Debug, Default, glib::Properties)]
#[properties(wrapper_type = super::ChatSession)]
pub struct ChatSession {
    /// The name the server registered for us; empty until signed in.
    #[property(get)]
    pub(super) you: RefCell<String>,
    /// The server we talk to, as the user wrote it (`HOST:PORT`).
    #[property(get)]
    pub(super) server: RefCell<String>,
    #[property(get, builder(SessionState::default()))]
    pub(super) state: Cell<SessionState>,
    /// What is wrong with the connection, for a banner; empty while online.
    #[property(get)]
    pub(super) status_text: RefCell<String>,
    /// The session ended through no choice of ours: offer Reconnect.
    #[property(get)]
    pub(super) can_reconnect: Cell<bool>,
    /// Exit has started: the goodbye is on its way (see `left`).
    #[property(get)]
    pub(super) leaving: Cell<bool>,
    /// The server takes our key for an operator's (its answer to `WhoAmI` after signing in):
    /// the users list then offers Kick and Ban.
    #[property(get)]
    pub(super) operator: Cell<bool>,
    /// The sidebar's conversations: a store of `Conversation`s, the same one for the session's
    /// whole life; each holds its own messages and users.
    #[property(get = Self::conversations)]
    conversations: PhantomData<gio::ListStore>,

    pub(super) chat: Rc<ChatState>,
    pub(super) client: RefCell<Option<client::Session>>,
    /// What we last signed in with, for Reconnect.
    pub(super) config: RefCell<Option<SessionConfig>>,
    /// The one future on the GLib main context that reads the library's events.
    pub(super) event_loop: RefCell<Option<glib::JoinHandle<()>>>,
    /// Who waits for the server's list of rooms.
    pub(super) pending_rooms: RefCell<PendingRooms>,
    /// Requests sent, waiting for their replies.
    pub(super) pending: RefCell<PendingReplies>,
    /// The goodbye is done (or there was nobody to say it to).
    pub(super) left: Cell<bool>,
}

impl ChatSession {
    fn conversations(&self) -> gio::ListStore {
        self.chat.conversations.model()
    }
}

#[glib::object_subclass]
impl ObjectSubclass for ChatSession {
    const NAME: &'static str = "ChatSession";
    type Type = super::ChatSession;
}

#[glib::derived_properties]
impl ObjectImpl for ChatSession {
    fn signals() -> &'static [Signal] {
        static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
        SIGNALS.get_or_init(|| {
            vec![
                // Somebody else said something (sender, text): for notifications.
                Signal::builder("incoming-message")
                    .param_types([String::static_type(), String::static_type()])
                    .build(),
                // A direct line or a mention where the user is not looking (conversation key,
                // sender, text, direct): for notifications.
                Signal::builder("attention")
                    .param_types([
                        String::static_type(),
                        String::static_type(),
                        String::static_type(),
                        bool::static_type(),
                    ])
                    .build(),
                // The window should show this conversation (its key).
                Signal::builder("show-conversation")
                    .param_types([String::static_type()])
                    .build(),
                // A short piece of news to show over the chat.
                Signal::builder("toast")
                    .param_types([String::static_type()])
                    .build(),
                // Exit is done: the goodbye was said (or could not be); the window may close.
                Signal::builder("left").build(),
            ]
        })
    }

    fn dispose(&self) {
        if let Some(event_loop) = self.event_loop.take() {
            event_loop.abort();
        }
    }
}
