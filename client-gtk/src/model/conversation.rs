//! One conversation in the sidebar: a room (`#general`) or a direct conversation with one other
//! name. Each keeps its own message list and (rooms) its own user list, so switching between them
//! only swaps the models the views show: nothing is fetched again or rebuilt.

use client::Conversation as Address;
use gtk::glib::{self, prelude::*, subclass::prelude::*};

use super::{MessageList, UserList};

mod imp {
    use std::cell::{Cell, RefCell};

    use super::*;

    #[derive(Debug, Default, glib::Properties)]
    #[properties(wrapper_type = super::Conversation)]
    pub struct Conversation {
        /// `#room`, or the other end's name.
        #[property(get, construct_only)]
        name: RefCell<String>,
        /// A direct conversation, not a room.
        #[property(get, construct_only)]
        direct: Cell<bool>,
        /// The server's default room, which cannot be left.
        #[property(get, construct_only)]
        default_room: Cell<bool>,
        /// The room's topic; empty when none is set (and for direct conversations).
        #[property(get, set)]
        topic: RefCell<String>,
        /// Lines from others not seen yet.
        #[property(get, set)]
        unread: Cell<u32>,
        /// What was typed in it and not sent: each conversation keeps its own, so that going to
        /// another one and back neither loses it nor carries it along.
        #[property(get, set)]
        draft: RefCell<String>,
        pub(super) messages: MessageList,
        pub(super) users: UserList,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Conversation {
        const NAME: &'static str = "ChatConversation";
        type Type = super::Conversation;
    }

    #[glib::derived_properties]
    impl ObjectImpl for Conversation {}
}

glib::wrapper! {
    pub struct Conversation(ObjectSubclass<imp::Conversation>);
}

impl Conversation {
    pub fn new(address: &Address, default_room: bool) -> Self {
        let (name, direct) = match address {
            Address::Room(room) => (room, false),
            Address::Direct(name) => (name, true),
        };
        glib::Object::builder()
            .property("name", name)
            .property("direct", direct)
            .property("default-room", default_room)
            .build()
    }

    /// Where lines to it go, as the library names it.
    pub fn address(&self) -> Address {
        if self.direct() {
            Address::Direct(self.name())
        } else {
            Address::Room(self.name())
        }
    }

    /// Its lines.
    pub fn messages(&self) -> &MessageList {
        &self.imp().messages
    }

    /// Who is in the room (empty for a direct conversation).
    pub fn users(&self) -> &UserList {
        &self.imp().users
    }
}

/// The text that names a conversation in an action's target (a notification's default action):
/// the room's name, which starts with `#`, or the other end's name, which never does.
pub fn address_key(address: &Address) -> String {
    match address {
        Address::Room(room) | Address::Direct(room) => room.clone(),
    }
}

/// The conversation an action's target names (see [`address_key`]).
pub fn address_from_key(key: &str) -> Address {
    if key.starts_with('#') {
        Address::Room(key.to_owned())
    } else {
        Address::Direct(key.to_owned())
    }
}
