//! The chat server as a library, so that `chat-server`, the tests and the load tool all run the same
//! code. [`Server::bind`] sets up the endpoint; [`Server::run`] serves until [`ShutdownHandle::shutdown`].
//!
//! Layout, one concept per module: `config` (every limit and its default), `tls` (the rustls/quinn
//! set-up), `listener` (accepting connections), `session` (one client's life: its protocol rules
//! without I/O, and the quinn driver around them), `room` (membership, presence, history, fan-out;
//! a folder of small modules), `queue` (a
//! member's frames waiting to be written), `names` (what a valid user name is, what makes two names
//! the same), `store` (history on disk), `checkpoint` (its log copied into the file, off the
//! runtime thread), `limits` (per-client rate and per-address connection counts), `shutdown` (the
//! signal), and `cluster` (several nodes sharing the room through NATS, opt-in).

mod checkpoint;
mod cluster;
mod config;
mod limits;
mod listener;
mod names;
mod queue;
mod room;
mod session;
mod shutdown;
mod store;
mod tls;

/// A member's session without sockets, for the fuzz target (`wire/fuzz`) and tests.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

pub use cluster::{ClusterConfig, ClusterError};
pub use config::{Config, Limits, Retention, TlsSource};
pub use listener::{Server, ServerError};
pub use names::{NameError, validate_name};
pub use shutdown::ShutdownHandle;
pub use store::StoreError;

/// The server's data directory: `$XDG_DATA_HOME/quic-chat` (the parent of the certificate directory).
pub fn default_data_dir() -> Option<std::path::PathBuf> {
    certs::default_dir().and_then(|certs| certs.parent().map(std::path::Path::to_path_buf))
}
