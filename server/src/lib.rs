//! The chat server as a library, so that `chat-server`, the tests and the load tool all run the same
//! code. [`Server::bind`] sets up the endpoint; [`Server::run`] serves until [`ShutdownHandle::shutdown`].
//!
//! Layout, one concept per module: `config` (every limit and its default), `tls` (the rustls/quinn
//! set-up), `listener` (accepting connections), `session` (one client's life), `room` (membership,
//! fan-out, history), `names` (what a valid user name is), `shutdown` (the signal).

mod config;
mod listener;
mod names;
mod room;
mod session;
mod shutdown;
mod tls;

pub use config::{Config, Limits, TlsSource};
pub use listener::{Server, ServerError};
pub use names::{NameError, validate_name};
pub use shutdown::ShutdownHandle;
