//! `chat-bench` as a library, so that the smoke tests run the very same workloads in-process, against
//! a real `chat-server` process. It speaks the protocol with `wire` over `client`'s connector and never
//! links the server.
//!
//! - [`cluster`]: start a `nats-server` and several `chat-server` nodes sharing it, and stop them.
//!   Starting one process (`chat-server`, `nats-server`) is `testkit`'s, shared with the tests.
//! - [`proc_stats`]: the server's CPU time and memory, read from `/proc`, around each workload.
//! - [`workloads`]: fan-out, connect storm, idle memory, one big room; each returns a [`report::Report`].
//! - [`report`]: the human table (stderr) and the JSON line (stdout).

pub mod cluster;
pub mod proc_stats;
pub mod report;
pub mod workloads;
