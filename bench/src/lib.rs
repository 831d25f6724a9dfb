//! `chat-bench` as a library, so that the smoke test runs the very same workloads in-process.
//!
//! - [`server_process`]: start the release `chat-server` (or find an existing one) and stop it.
//! - [`cluster`]: start a `nats-server` and several `chat-server` nodes sharing it, and stop them.
//! - [`floor`]: a fan-out server with no chat logic on `chat-server`'s endpoint, the floor it is
//!   compared with.
//! - [`proc_stats`]: the server's CPU time and memory, read from `/proc`, around each workload.
//! - [`workloads`]: fan-out, connect storm, idle memory, one big room; each returns a [`report::Report`].
//! - [`report`]: the human table (stderr) and the JSON line (stdout).

pub mod cluster;
pub mod floor;
pub mod proc_stats;
pub mod report;
pub mod server_process;
pub mod workloads;
