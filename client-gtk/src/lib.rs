//! `chat-gtk`, the GNOME chat client: GTK on the main thread, the `client` session on a tokio
//! runtime, GObject models between them. `session::ChatSession` is where the two sides meet: the
//! window binds to it and only shows.

pub mod application;
pub mod i18n;
pub mod model;
pub mod runtime;
pub mod session;
pub mod settings;
pub mod widgets;

pub use application::{APP_ID, Application, LaunchOptions};
