//! The widgets, one folder each: `mod.rs` (wrapper and API), `imp.rs` (state), and the `.ui` template;
//! the small message dialogs are built in code (`dialogs/`).

mod chat_view;
pub mod dialogs;
mod message_row;
mod sidebar;
mod sign_in;
mod users_popover;
mod window;

pub use chat_view::ChatView;
pub use message_row::MessageRow;
pub use sidebar::Sidebar;
pub use sign_in::SignIn;
pub use users_popover::UsersPopover;
pub use window::Window;
