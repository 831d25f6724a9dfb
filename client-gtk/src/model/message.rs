//! One line in the chat: a GObject so the ListView can bind to it and react when its state changes
//! (pending → delivered or failed).

use gtk::glib::{self, prelude::*, subclass::prelude::*};

/// What kind of line this is; the row draws each kind differently.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[enum_type(name = "ChatMessageKind")]
pub enum MessageKind {
    /// Somebody else said it.
    #[default]
    Chat,
    /// We said it.
    Own,
    /// Joins, leaves, problems, connection news.
    System,
}

/// Whether the server has confirmed one of our own lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[enum_type(name = "ChatDeliveryState")]
pub enum DeliveryState {
    #[default]
    Delivered,
    /// Sent, the receipt (our own line echoed back by the server) has not arrived yet.
    Pending,
    /// The server refused it (see `status`), or the connection ended first.
    Failed,
}

mod imp {
    use std::cell::{Cell, RefCell};

    use super::*;

    #[derive(Debug, Default, glib::Properties)]
    #[properties(wrapper_type = super::Message)]
    pub struct Message {
        /// The server's id; 0 until the server has stamped the line.
        #[property(get, set)]
        id: Cell<u64>,
        /// Our nonce for own lines, 0 otherwise.
        #[property(get, set)]
        nonce: Cell<u64>,
        #[property(get, set)]
        sender: RefCell<String>,
        #[property(get, set)]
        text: RefCell<String>,
        /// Local wall-clock time, already formatted ("14:03").
        #[property(get, set)]
        time: RefCell<String>,
        #[property(get, set, builder(MessageKind::default()))]
        kind: Cell<MessageKind>,
        #[property(get, set, builder(DeliveryState::default()))]
        state: Cell<DeliveryState>,
        /// Why delivery failed; empty otherwise.
        #[property(get, set)]
        status: RefCell<String>,
        /// Somebody else's line that names us (highlighted).
        #[property(get, set)]
        mention: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Message {
        const NAME: &'static str = "ChatMessage";
        type Type = super::Message;
    }

    #[glib::derived_properties]
    impl ObjectImpl for Message {}
}

glib::wrapper! {
    pub struct Message(ObjectSubclass<imp::Message>);
}

impl Message {
    /// A line from the room, as the server stamped it.
    pub fn from_line(m: &client::Line) -> Self {
        let kind = if m.mine {
            MessageKind::Own
        } else {
            MessageKind::Chat
        };
        glib::Object::builder()
            .property("id", m.id)
            .property("nonce", m.nonce)
            .property("sender", &m.from)
            .property("text", &m.text)
            .property("time", format_time(Some(m.at_ms)))
            .property("kind", kind)
            .build()
    }

    /// One of our lines, sent but not yet confirmed.
    pub fn pending(you: &str, nonce: u64, text: &str) -> Self {
        glib::Object::builder()
            .property("nonce", nonce)
            .property("sender", you)
            .property("text", text)
            .property("time", format_time(None))
            .property("kind", MessageKind::Own)
            .property("state", DeliveryState::Pending)
            .build()
    }

    /// A line about what happened (joins, leaves, problems), not said by anybody.
    pub fn system(text: &str) -> Self {
        glib::Object::builder()
            .property("text", text)
            .property("time", format_time(None))
            .property("kind", MessageKind::System)
            .build()
    }

    /// The receipt arrived: take the server's id and time.
    pub fn mark_delivered(&self, m: &client::Line) {
        self.set_id(m.id);
        self.set_time(format_time(Some(m.at_ms)));
        self.set_status("");
        self.set_state(DeliveryState::Delivered);
    }

    pub fn mark_failed(&self, why: &str) {
        self.set_status(why);
        self.set_state(DeliveryState::Failed);
    }
}

/// "HH:MM" in local time; `None` means now.
pub fn format_time(at_ms: Option<u64>) -> String {
    let time = match at_ms {
        Some(ms) => glib::DateTime::from_unix_local(i64::try_from(ms / 1000).unwrap_or(0)),
        None => glib::DateTime::now_local(),
    };
    time.and_then(|t| t.format("%H:%M"))
        .map(|s| s.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_line as chat;

    #[test]
    fn own_lines_are_the_ones_the_library_marks_mine() {
        assert_eq!(
            Message::from_line(&chat(1, "ann", 5, "hi")).kind(),
            MessageKind::Own
        );
        assert_eq!(
            Message::from_line(&chat(1, "bob", 5, "hi")).kind(),
            MessageKind::Chat
        );
    }

    #[test]
    fn pending_becomes_delivered_with_the_server_id() {
        let m = Message::pending("ann", 9, "hello");
        assert_eq!(m.state(), DeliveryState::Pending);
        assert_eq!(m.id(), 0);
        m.mark_delivered(&chat(42, "ann", 9, "hello"));
        assert_eq!(m.state(), DeliveryState::Delivered);
        assert_eq!(m.id(), 42);
    }

    #[test]
    fn time_is_formatted_as_hours_and_minutes() {
        let t = format_time(Some(0));
        assert_eq!(t.len(), 5, "{t}");
        assert_eq!(&t[2..3], ":");
    }
}
