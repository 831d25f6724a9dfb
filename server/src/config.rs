//! Everything an operator can tune, with the defaults `chat-server` uses.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

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
    /// How long a client may take to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// How long a client may take, after the handshake, to open its stream and say `Hello`.
    pub hello_timeout: Duration,
    /// A connection silent for this long is dropped (clients send keep-alives well within it).
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_message_bytes: 4096,
            max_frame_bytes: wire::MAX_CLIENT_FRAME,
            queue_frames: 1024,
            handshake_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub tls: TlsSource,
    pub limits: Limits,
    /// Messages the room remembers for late joiners and for clients that resume.
    pub history_len: usize,
    /// Messages a newcomer (no `resume_after`) receives in `Welcome`.
    pub welcome_history: usize,
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
        }
    }
}
