//! GObject models over the network session; widgets only ever see these.

mod message;
mod message_list;
mod user_list;

pub use message::{DeliveryState, Message, MessageKind, format_time};
pub use message_list::{Added, MessageList};
pub use user_list::{User, UserList};
