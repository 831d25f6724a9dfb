//! Everything an operator can tune, with the defaults `chat-server` uses, and the limits that can
//! change while the server runs ([`LiveLimits`], for `SIGHUP`).

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, RwLock},
    time::Duration,
};

pub use crate::store::Retention;

/// Where the server's certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// A real certificate chain and key in PEM files.
    Files { cert: PathBuf, key: PathBuf },
    /// Development certificates kept in this directory, created on first start.
    DevCerts { dir: PathBuf },
}

/// Limits that protect the server and the other users from one client.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; a `Hello` beyond this gets `Refused(ServerFull)`.
    pub max_connections: usize,
    /// Longest `Say` text, in bytes; longer gets `Problem(TooLong)` and the connection stays.
    pub max_message_bytes: usize,
    /// Largest frame body accepted from a client; larger closes that connection.
    pub max_frame_bytes: usize,
    /// Frames waiting for one client; a client whose queue overflows is disconnected as too slow.
    pub queue_frames: usize,
    /// How long a line may wait in a member's queue before speakers are held back (back-pressure
    /// by delay, not by count; see `room::fanout`).
    pub queue_delay: Duration,
    /// Bytes sent to one client and not yet acknowledged: what the server's transport keeps in
    /// flight for it, beyond its queue.
    pub send_window_bytes: u64,
    /// Bytes a client may send ahead of what the server has read. A larger frame still arrives,
    /// in several round trips. At full speed every byte of it is a line said but not yet read, so
    /// this, more than any queue, is how long lines wait: fanout 10 x 1,000 had p99 94-132 ms with
    /// the old 128 KiB, 29-58 ms with 4 KiB and 21-35 ms with 2 KiB (bench/README.md, issue 15).
    pub receive_window_bytes: u64,
    /// How long a client may take to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// How long a client may take, after the handshake, to open its stream and say `Hello`.
    pub hello_timeout: Duration,
    /// A connection silent for this long is dropped (clients send keep-alives well within it).
    pub idle_timeout: Duration,
    /// Sustained messages per second per client (token bucket refill rate); 0 turns the limit off.
    pub messages_per_sec: u32,
    /// Messages a client may send in a burst above the sustained rate.
    pub message_burst: u32,
    /// `TooFast` answers in a row after which the client is disconnected.
    pub too_fast_strikes: u32,
    /// Rooms one name may be in at once (the default room counts); one more gets
    /// `Problem(TooManyRooms)`.
    pub max_rooms_per_user: usize,
    /// Rooms the server holds (the default room counts); a new one beyond gets
    /// `Problem(ServerRoomsFull)`.
    pub max_rooms: usize,
    /// Names in one room (other than the default room, which holds every connection); 0 means
    /// `max_connections`. One more gets `Problem(RoomFull)`.
    pub max_room_members: usize,
    /// Longest room topic, in bytes; longer gets `Problem(TopicTooLong)`.
    pub max_topic_bytes: usize,
    /// Connections from one IP address at once; 0 turns the limit off. Loopback is exempt: local
    /// clients are the operator's own (and the load tool's).
    pub max_connections_per_ip: usize,
    /// Above this many handshakes in progress, unvalidated clients must first prove their address
    /// with a QUIC Retry, so spoofed floods cost us one packet each instead of a handshake.
    pub retry_above_handshakes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_message_bytes: 4096,
            max_frame_bytes: wire::MAX_CLIENT_FRAME,
            queue_frames: 1024,
            queue_delay: Duration::from_millis(1),
            send_window_bytes: 256 * 1024,
            receive_window_bytes: 2048,
            handshake_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
            messages_per_sec: 20,
            message_burst: 40,
            too_fast_strikes: 20,
            max_rooms_per_user: 50,
            max_rooms: 1000,
            max_room_members: 0,
            max_topic_bytes: 300,
            max_connections_per_ip: 64,
            retry_above_handshakes: 256,
        }
    }
}

impl Limits {
    /// The limits `Welcome` tells each client, so that it paces itself instead of guessing.
    pub fn advertised(&self) -> wire::Limits {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        wire::Limits {
            lines_per_sec: self.messages_per_sec,
            // The session's bucket holds at least one token (see `limits::RateLimit::new`).
            burst: self.message_burst.max(1),
            max_line_bytes: clamp(self.max_message_bytes),
            max_frame_bytes: clamp(self.max_frame_bytes),
            strikes_allowed: self.too_fast_strikes,
            max_rooms_per_user: clamp(self.max_rooms_per_user),
            max_topic_bytes: clamp(self.max_topic_bytes),
        }
    }

    /// Names one room other than the default may hold.
    pub fn room_members(&self) -> usize {
        if self.max_room_members == 0 {
            self.max_connections
        } else {
            self.max_room_members
        }
    }

    /// Why these limits cannot be served, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        // Welcome and Users carry the whole user list in one frame.
        let list_bytes = self
            .max_connections
            .saturating_mul(wire::MAX_NAME_BYTES + 5);
        if list_bytes + 64 * 1024 > wire::MAX_SERVER_FRAME {
            return Err(format!(
                "at most {} connections fit in one user list",
                (wire::MAX_SERVER_FRAME - 64 * 1024) / (wire::MAX_NAME_BYTES + 5)
            ));
        }
        if self.max_frame_bytes > wire::MAX_CLIENT_FRAME * 16 {
            return Err("frame limit above 1 MiB".into());
        }
        Ok(())
    }
}

/// The limits in force, replaced as a whole when the operator reloads the settings (`SIGHUP`).
///
/// Read where a limit is applied: the listener per incoming connection, a session once when it
/// starts (its handshake and Hello deadlines, its rate limit and strikes, which it keeps for its
/// life), the room per batch of lines (message length) and per join (room size). A reload is rare
/// and a read is an uncontended read lock and a reference-count increment, so a `std` `RwLock`
/// around an `Arc` does it without another crate. Some limits are fixed when the endpoint is built
/// (the idle timeout and the frame size are QUIC transport parameters, the queue length sizes each
/// member's queue); `chat-server` says so when a reload asks to change them.
#[derive(Debug)]
pub struct LiveLimits {
    current: RwLock<Arc<Limits>>,
}

impl LiveLimits {
    pub fn new(limits: Limits) -> Self {
        Self {
            current: RwLock::new(Arc::new(limits)),
        }
    }

    /// The limits in force now.
    pub fn current(&self) -> Arc<Limits> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Puts `limits` in force for what starts from now on, if they can be served.
    pub fn replace(&self, limits: Limits) -> Result<(), String> {
        limits.check()?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(limits);
        Ok(())
    }
}

/// The room everybody is in, unless `--default-room` names another.
pub const DEFAULT_ROOM: &str = "#general";

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub tls: TlsSource,
    pub limits: Limits,
    /// Messages the room remembers for late joiners and for clients that resume.
    pub history_len: usize,
    /// Messages a newcomer (no `resume_after`) receives in `Welcome`.
    pub welcome_history: usize,
    /// Most messages replayed to one resuming client.
    pub max_replay: usize,
    /// The history database; `None` keeps history in memory only.
    pub history_db: Option<PathBuf>,
    pub retention: Retention,
    /// The room everybody is in after signing in (`#general`); it cannot be left.
    pub default_room: String,
    /// Keys (by fingerprint) whose holders may kick, ban, unban, release and invite.
    pub operators: Vec<certs::Fingerprint>,
    /// New names are registered only with an operator's invite code.
    pub invite_only: bool,
}

impl Config {
    /// A configuration with default limits.
    pub fn new(listen: SocketAddr, tls: TlsSource) -> Self {
        Self {
            listen,
            tls,
            limits: Limits::default(),
            history_len: 1000,
            welcome_history: 100,
            max_replay: 1000,
            history_db: None,
            retention: Retention {
                max_messages: 100_000,
                max_age_ms: 30 * 24 * 3600 * 1000,
            },
            default_room: DEFAULT_ROOM.to_owned(),
            operators: Vec::new(),
            invite_only: false,
        }
    }
}
