//! What the server counts, for an operator's Prometheus (`chat-server --metrics ADDR`; each metric
//! is described in `docs/metrics.md`).
//!
//! The counters are `prometheus-client`'s: one atomic each, so counting costs a relaxed atomic add
//! and never a lock or an allocation. Labelled families are filled with every label value when the
//! server starts, and each value's counter is kept here: the code counts on a handle it already holds
//! (no lookup in the family's map on the way), and a scrape shows every reason from the start, at 0,
//! so a rate over it works before the first event. Deliveries are counted per write batch, not per
//! frame pushed in the fan-out, so the room's lock never does more than it did.
//!
//! The set lives in the room (`Room::metrics`), where the listener, the sessions and the cluster all
//! reach it; nothing is global, so two servers in one process (the tests) count apart.

mod endpoint;

use prometheus_client::{
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
use wire::{LeaveReason, ProblemCode, RefuseReason};

use crate::room::Rejection;

pub use endpoint::serve;

/// A label set of one pair; the values are fixed at compile time.
type Label = [(&'static str, &'static str); 1];

/// Every metric of one server, registered for the scrape.
pub struct Metrics {
    registry: Registry,
    pub(crate) connections: Gauge,
    pub(crate) handshakes: Counter,
    handshake_failures: [Counter; HANDSHAKE_FAILURES.len()],
    pub(crate) joins: Counter,
    refusals: [Counter; REFUSALS.len()],
    leaves: [Counter; LEAVES.len()],
    pub(crate) lines_accepted: Counter,
    lines_refused: [Counter; LINES_REFUSED.len()],
    pub(crate) deliveries: Counter,
    pub(crate) history_lines: Gauge,
    pub(crate) cluster_lag: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Why a handshake failed; see [`Metrics::handshake_failed`].
const HANDSHAKE_FAILURES: [&str; 5] = ["timeout", "tls", "closed", "protocol", "other"];
const REFUSALS: [&str; 12] = [
    "name_taken",
    "invalid_name",
    "server_full",
    "unsupported_version",
    "too_many_connections",
    "name_owned",
    "banned",
    "revoked",
    "invite_required",
    "bad_code",
    "too_many_guesses",
    "unavailable",
];
const LEAVES: [&str; 8] = [
    "quit",
    "timed_out",
    "dropped",
    "too_slow",
    "misbehaved",
    "kicked",
    "banned",
    "replaced",
];
const LINES_REFUSED: [&str; 5] = ["too_long", "too_fast", "empty", "server_error", "duplicate"];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at 0, registered under the `chat_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("chat");
        let connections = Gauge::default();
        registry.register(
            "connections",
            "QUIC connections open (handshake done, not yet closed)",
            connections.clone(),
        );
        let handshakes = Counter::default();
        registry.register(
            "handshakes",
            "QUIC handshakes completed",
            handshakes.clone(),
        );
        let handshake_failures = by_reason(
            &mut registry,
            "handshake_failures",
            "QUIC handshakes that failed, by reason",
            HANDSHAKE_FAILURES,
        );
        let joins = Counter::default();
        registry.register("joins", "Users who joined the room", joins.clone());
        let refusals = by_reason(
            &mut registry,
            "refusals",
            "Hellos refused, by reason",
            REFUSALS,
        );
        let leaves = by_reason(
            &mut registry,
            "leaves",
            "Members who left the room, by reason (too_slow: disconnected because their queue overflowed)",
            LEAVES,
        );
        let lines_accepted = Counter::default();
        registry.register(
            "lines_accepted",
            "Lines said by members of this node and accepted (given an id)",
            lines_accepted.clone(),
        );
        let lines_refused = by_reason(
            &mut registry,
            "lines_refused",
            "Lines not said, by reason",
            LINES_REFUSED,
        );
        let deliveries = Counter::default();
        registry.register(
            "deliveries",
            "Frames written to members' streams",
            deliveries.clone(),
        );
        let history_lines = Gauge::default();
        registry.register(
            "history_lines",
            "Lines kept in the history database (single node)",
            history_lines.clone(),
        );
        let cluster_lag = Gauge::default();
        registry.register(
            "cluster_lag_messages",
            "Messages in the cluster's stream not yet applied by this node (cluster only)",
            cluster_lag.clone(),
        );
        Self {
            registry,
            connections,
            handshakes,
            handshake_failures,
            joins,
            refusals,
            leaves,
            lines_accepted,
            lines_refused,
            deliveries,
            history_lines,
            cluster_lag,
        }
    }

    /// Everything, in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }

    /// Counts one connection open until the returned guard is dropped.
    pub(crate) fn connection(&self) -> OpenConnection {
        self.connections.inc();
        OpenConnection(self.connections.clone())
    }

    /// Counts a failed handshake: ours timing out (`None`), or quinn's error.
    pub(crate) fn handshake_failed(&self, error: Option<&quinn::ConnectionError>) {
        use quinn::ConnectionError as E;
        // TLS alerts travel as QUIC's crypto error codes, 0x100 to 0x1ff.
        let tls = |code: quinn::TransportErrorCode| (0x100..0x200).contains(&u64::from(code));
        let reason = match error {
            None | Some(E::TimedOut) => "timeout",
            Some(E::TransportError(e)) if tls(e.code) => "tls",
            Some(E::ConnectionClosed(close)) if tls(close.error_code) => "tls",
            Some(E::ConnectionClosed(_) | E::ApplicationClosed(_) | E::Reset) => "closed",
            Some(E::TransportError(_) | E::VersionMismatch) => "protocol",
            Some(_) => "other",
        };
        if let Some(i) = HANDSHAKE_FAILURES.iter().position(|r| *r == reason) {
            self.handshake_failures[i].inc();
        }
    }

    pub(crate) fn refused(&self, reason: &RefuseReason) {
        let index = match reason {
            RefuseReason::NameTaken => 0,
            RefuseReason::InvalidName(_) => 1,
            RefuseReason::ServerFull => 2,
            RefuseReason::UnsupportedVersion { .. } => 3,
            RefuseReason::TooManyConnections => 4,
            RefuseReason::NameOwned => 5,
            RefuseReason::Banned { .. } => 6,
            RefuseReason::Revoked => 7,
            RefuseReason::InviteRequired => 8,
            RefuseReason::BadCode => 9,
            RefuseReason::TooManyGuesses => 10,
            RefuseReason::Unavailable => 11,
        };
        self.refusals[index].inc();
    }

    pub(crate) fn left(&self, why: LeaveReason) {
        let index = match why {
            LeaveReason::Quit => 0,
            LeaveReason::TimedOut => 1,
            LeaveReason::Dropped => 2,
            LeaveReason::TooSlow => 3,
            LeaveReason::Misbehaved => 4,
            LeaveReason::Kicked => 5,
            LeaveReason::Banned => 6,
            LeaveReason::Replaced => 7,
        };
        self.leaves[index].inc();
    }

    /// Counts a `Problem` sent to a member, when it is about a line (not a second `Hello`).
    pub(crate) fn problem(&self, code: ProblemCode) {
        let index = match code {
            ProblemCode::TooLong => 0,
            ProblemCode::TooFast => 1,
            ProblemCode::Empty => 2,
            ProblemCode::ServerError => 3,
            // Not about a line.
            ProblemCode::AlreadyJoined
            | ProblemCode::NotAllowed
            | ProblemCode::NoSuchUser
            | ProblemCode::NoSuchDevice
            | ProblemCode::AmbiguousDevice
            | ProblemCode::LastDevice
            | ProblemCode::NoSuchRoom
            | ProblemCode::NotInRoom
            | ProblemCode::InvalidRoomName
            | ProblemCode::TooManyRooms
            | ProblemCode::ServerRoomsFull
            | ProblemCode::RoomFull
            | ProblemCode::TopicTooLong
            | ProblemCode::Unsupported => return,
        };
        self.lines_refused[index].inc();
    }

    /// Counts what became of a line: accepted, or dropped as a re-send of one already said. (A
    /// line refused with a `Problem` is counted when the `Problem` is sent, see [`Self::problem`].)
    pub(crate) fn said(&self, outcome: &Result<u64, Rejection>) {
        match outcome {
            Ok(_) => self.lines_accepted.inc(),
            Err(Rejection::Duplicate) => self.lines_refused[4].inc(),
            Err(_) => 0,
        };
    }
}

/// One open connection in [`Metrics::connections`], given back when dropped.
#[derive(Debug)]
pub(crate) struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A counter family with one label, `reason`, created with each of `reasons`.
fn by_reason<const N: usize>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    reasons: [&'static str; N],
) -> [Counter; N] {
    let family = Family::<Label, Counter>::default();
    let counters = reasons.map(|reason| family.get_or_create(&[("reason", reason)]).clone());
    registry.register(name, help, family);
    counters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_exported_from_the_start_and_counts_on_its_own() {
        let metrics = Metrics::new();
        metrics.left(LeaveReason::TooSlow);
        metrics.left(LeaveReason::TooSlow);
        metrics.problem(ProblemCode::TooLong);
        metrics.problem(ProblemCode::AlreadyJoined);
        metrics.handshake_failed(None);
        let text = metrics.encode();
        assert!(
            text.contains("chat_leaves_total{reason=\"too_slow\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("chat_leaves_total{reason=\"quit\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("chat_lines_refused_total{reason=\"too_long\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("chat_lines_refused_total{reason=\"duplicate\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("chat_handshake_failures_total{reason=\"timeout\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE chat_connections gauge\n"), "{text}");
        let _open = metrics.connection();
        assert_eq!(metrics.connections.get(), 1);
        drop(_open);
        assert_eq!(metrics.connections.get(), 0);
    }
}
