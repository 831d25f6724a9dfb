//! `chat-gtk`, the GNOME chat client: GTK on the main thread, the `client` session on a tokio
//! runtime, GObject models between them. See `bridge` for how the two sides meet.

pub mod application;
pub mod bridge;
pub mod model;
pub mod runtime;
pub mod settings;
pub mod widgets;

pub use application::{APP_ID, Application, LaunchOptions};
