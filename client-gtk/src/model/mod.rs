//! GObject models over the network session; widgets only ever see these.

mod conversation;
mod conversation_list;
mod mention;
mod message;
mod message_list;
mod user_list;

pub use conversation::{Conversation, address_from_key, address_key};
pub use conversation_list::ConversationList;
pub use mention::mentions;
pub use message::{DeliveryState, Message, MessageKind, format_time};
pub use message_list::{Added, MessageList};
pub use user_list::{User, UserList};

/// A line as the library hands it to a session of "ann" (unit tests of the models and the session).
#[cfg(test)]
pub(crate) fn test_line(id: u64, from: &str, nonce: u64, text: &str) -> client::Line {
    test_line_in(
        client::Conversation::Room("#general".into()),
        id,
        from,
        nonce,
        text,
    )
}

/// Like [`test_line`], in another conversation.
#[cfg(test)]
pub(crate) fn test_line_in(
    conversation: client::Conversation,
    id: u64,
    from: &str,
    nonce: u64,
    text: &str,
) -> client::Line {
    client::Line {
        conversation,
        id,
        from: from.into(),
        nonce,
        text: text.into(),
        at_ms: 1_700_000_000_000,
        mine: from == "ann",
    }
}
