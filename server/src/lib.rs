//! The chat server as a library, so that `chat-server`, the tests and the load tool all run the same
//! code. [`Server::bind`] sets up the endpoint; [`Server::run`] serves until [`ShutdownHandle::shutdown`].
//!
//! Layout, one concept per module: `config` (every limit and its default), `tls` (the rustls/quinn
//! set-up), `listener` (accepting connections, admission, Retry), `session` (one client's life: its
//! protocol rules without I/O in `session/rules.rs`, the quinn driver around them), `room` (a folder:
//! membership, presence, history, lines, fan-out, other nodes' users, and the `Peers` trait the
//! cluster implements), `queue` (a member's frames waiting to be written), `names` (what a valid user
//! name is, what makes two names the same), `store` (history on disk) and `checkpoint` (its log
//! copied into the file, off the runtime thread), `limits` (per-client rate and per-address counts),
//! `shutdown` (the signal), `metrics` (what it counts, and the scrape endpoint), `rooms` (the
//! registry of the other rooms, memberships and direct messages, next to the default room; protocol
//! 5), and `cluster` (several nodes sharing the room through NATS, opt-in).
//! Imports run one way: `listener` → `session` → `rooms` → `room` ← `cluster` (which implements
//! `room::Peers` and `rooms::SharedLog`).
//!
//! Where each rule of the protocol lives:
//!
//! | rule | file |
//! | --- | --- |
//! | the first frame is `Hello` of our version; a name is valid; a second `Hello`; `Bye`; the rate limit, `TooFast` and the strikes; which close code ends what | `session/rules.rs` |
//! | connections per address, Retry under load, a full server (connections) | `listener.rs`, `limits.rs` |
//! | names compared by how they look; reserved names | `names.rs` |
//! | a name is taken while its holder is here; a full room; `Welcome` lists everyone | `room/membership.rs` |
//! | `Welcome` tells each client the limits it must keep to (protocol 3) | `config.rs` (`Limits::advertised`) |
//! | a line's length and blankness; ids one by one; stored before anyone sees it | `room/lines.rs` |
//! | a re-sent line (same sender and nonce) is said once; what a resume replays | `room/history.rs` |
//! | joins and leaves gathered into `Presence`, in one order with the lines | `room/presence.rs` |
//! | every member gets every frame in one order; a member that falls behind is dropped | `room/fanout.rs` |
//! | a room's name (`#` and a name); rooms per name, rooms per server, members per room, topic length; joining, leaving, listing, topics | `names.rs`, `rooms/mod.rs` |
//! | a room's lines: ids one by one per room, stored before anyone sees them, only its members get them | `rooms/mod.rs`, `rooms/room.rs` |
//! | direct messages: ids per pair, only the two ends, kept for an offline receiver and handed over at its sign-in once | `rooms/direct.rs` |
//! | what rooms, memberships, topics and direct messages look like on disk | `rooms/store.rs` |
//! | in a cluster: one order per room and per pair across nodes, rooms made once, memberships and topics shared, presence of other nodes' members, sign-in replay | `rooms/clustered.rs`, `rooms/clustered_direct.rs`, `cluster/rooms.rs` |
//! | frame sizes, encodings, close code numbers | the `wire` crate |
//! | which limits a reload (`SIGHUP`) changes, and when each is read | `config.rs` (`LiveLimits`) |
//! | what is counted for `/metrics`, and the scrape endpoint | `metrics/` |

mod checkpoint;
mod client_auth;
mod cluster;
mod config;
mod limits;
mod listener;
mod metrics;
mod names;
mod owners;
mod queue;
mod room;
mod rooms;
mod session;
mod shutdown;
mod store;
mod tls;

/// A member's session without sockets, for the fuzz target (`wire/fuzz`) and tests.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

pub use cluster::{ClusterConfig, ClusterError};
pub use config::{Config, Limits, LiveLimits, Retention, TlsSource};
pub use listener::{Server, ServerError};
pub use metrics::{Metrics, serve as serve_metrics};
pub use names::{NameError, validate_name, validate_room_name};
pub use owners::OwnersError;
pub use shutdown::ShutdownHandle;
pub use store::StoreError;

/// The server's data directory: `$XDG_DATA_HOME/quic-chat` (the parent of the certificate directory).
pub fn default_data_dir() -> Option<std::path::PathBuf> {
    certs::default_dir().and_then(|certs| certs.parent().map(std::path::Path::to_path_buf))
}
