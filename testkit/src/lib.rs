//! What the integration tests and the load tool need around the programs under test, in one place:
//! real processes on loopback, every wait bounded.
//!
//! - [`process`]: start a `chat-server` process (standalone or as a cluster node), read its banner,
//!   stop it; [`binary`] finds the built `chat-server` (or an example such as `chat-floor`).
//! - [`nats`]: find `nats-server` (on `PATH` or in `/usr/sbin`, where Debian installs it), start it
//!   on a free port and wait until it is ready.
//! - [`relay`]: a UDP relay between a client and a server that a test can cut.
//! - [`ports`]: free loopback ports.
//!
//! The load tool (`chat-bench`) depends on this crate as well, so it must not depend on `server`:
//! an in-process server for tests stays in `server/tests/support`.

pub mod binary;
pub mod nats;
pub mod ports;
pub mod process;
pub mod relay;

pub use relay::Relay;
