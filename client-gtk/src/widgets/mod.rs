//! The widgets, one folder each: `mod.rs` (wrapper and API), `imp.rs` (state), and the `.ui` template.

mod chat_view;
mod message_row;
mod sign_in;
mod users_popover;
mod window;

pub use chat_view::ChatView;
pub use message_row::MessageRow;
pub use sign_in::SignIn;
pub use users_popover::UsersPopover;
pub use window::Window;
