//! Everything `chat-server` can be told, from its flags and from a TOML file (`--config FILE`).
//!
//! One struct, [`Settings`], is at once the flags (clap), the file's keys (serde, the long flags'
//! names) and the defaults ([`Settings::default`], which reads the library's `Limits::default()` and
//! `Config::new`). So a flag cannot exist without its key, `--help` shows the very defaults a file's
//! absent keys take, and no default is written twice. `file` reads and checks a file key by key, so
//! every refusal names the file, the key and the reason; `merge` lays the flags given on the command
//! line over the file (flags win) and checks the rules between keys.

mod file;
mod merge;
mod reload;

use std::{
    net::{Ipv6Addr, SocketAddr},
    num::NonZeroUsize,
    path::PathBuf,
    sync::LazyLock,
    time::Duration,
};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use server::{ClusterConfig, Config, Limits, Retention, TlsSource};

pub use file::SettingsError;
pub use merge::resolve;
pub use reload::Reload;

/// The port clients dial when they are given no other.
const DEFAULT_PORT: u16 = 1234;
const MS_PER_DAY: u64 = 24 * 3600 * 1000;

/// The defaults, built once for clap's `default_value_t`.
static DEFAULTS: LazyLock<Settings> = LazyLock::new(Settings::default);

#[derive(Debug, Clone, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Settings {
    /// UDP address to listen on. The default accepts IPv4 and IPv6 on port 1234.
    #[arg(long, default_value_t = DEFAULTS.listen)]
    pub listen: SocketAddr,
    /// Certificate chain (PEM) for a real certificate; needs --key.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) for --cert.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Directory for development certificates [default: the user's data directory].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_dir: Option<PathBuf>,
    /// Most connections at once; further users are refused as "server full".
    #[arg(long, default_value_t = DEFAULTS.max_connections)]
    pub max_connections: usize,
    /// Longest message, in bytes.
    #[arg(long, default_value_t = DEFAULTS.max_message_bytes)]
    pub max_message_bytes: usize,
    /// Largest frame a client may send, in bytes; larger closes its connection.
    #[arg(long, default_value_t = DEFAULTS.max_frame_bytes)]
    pub max_frame_bytes: usize,
    /// Frames queued for one client before it counts as too slow and is disconnected.
    #[arg(long, default_value_t = DEFAULTS.queue_frames)]
    pub queue_frames: usize,
    /// Microseconds a line may wait in a client's queue before speakers are held back.
    #[arg(long, default_value_t = DEFAULTS.queue_delay_us)]
    pub queue_delay_us: u64,
    /// Bytes sent to one client and not yet acknowledged, at most.
    #[arg(long, default_value_t = DEFAULTS.send_window_bytes)]
    pub send_window_bytes: u64,
    /// Bytes a client may send ahead of what the server has read.
    #[arg(long, default_value_t = DEFAULTS.receive_window_bytes)]
    pub receive_window_bytes: u64,
    /// Seconds of silence after which a client is dropped.
    #[arg(long, default_value_t = DEFAULTS.idle_timeout_secs)]
    pub idle_timeout_secs: u64,
    /// Seconds a client has for the handshake, and again for saying Hello.
    #[arg(long, default_value_t = DEFAULTS.handshake_timeout_secs)]
    pub handshake_timeout_secs: u64,
    /// Messages kept for newcomers and resuming clients.
    #[arg(long, default_value_t = DEFAULTS.history)]
    pub history: usize,
    /// Messages of history a newcomer receives on joining.
    #[arg(long, default_value_t = DEFAULTS.welcome_history)]
    pub welcome_history: usize,
    /// Sustained messages per second per client (0: no limit).
    #[arg(long, default_value_t = DEFAULTS.max_messages_per_sec)]
    pub max_messages_per_sec: u32,
    /// Messages a client may send at once above the sustained rate.
    #[arg(long, default_value_t = DEFAULTS.message_burst)]
    pub message_burst: u32,
    /// "Too fast" answers in a row before the client is disconnected.
    #[arg(long, default_value_t = DEFAULTS.too_fast_strikes)]
    pub too_fast_strikes: u32,
    /// Connections at once from one IP address (0: no limit; loopback is never limited).
    #[arg(long, default_value_t = DEFAULTS.max_connections_per_ip)]
    pub max_connections_per_ip: usize,
    /// Handshakes in progress above which new clients must validate their address (QUIC Retry).
    #[arg(long, default_value_t = DEFAULTS.retry_above_handshakes)]
    pub retry_above_handshakes: usize,
    /// The room everybody is in after signing in (a `#` and a name).
    #[arg(long, default_value_t = DEFAULTS.default_room.clone())]
    pub default_room: String,
    /// Rooms one name may be in at once, the default room included.
    #[arg(long, default_value_t = DEFAULTS.max_rooms_per_user)]
    pub max_rooms_per_user: usize,
    /// Rooms the server holds, the default room included.
    #[arg(long, default_value_t = DEFAULTS.max_rooms)]
    pub max_rooms: usize,
    /// Names in one room other than the default (0: as many as --max-connections).
    #[arg(long, default_value_t = DEFAULTS.max_room_members)]
    pub max_room_members: usize,
    /// Longest room topic, in bytes.
    #[arg(long, default_value_t = DEFAULTS.max_topic_bytes)]
    pub max_topic_bytes: usize,
    /// History database file [default: history.sqlite3 in the user's data directory].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_db: Option<PathBuf>,
    /// Keep history in memory only: it is lost when the server stops.
    #[arg(long)]
    pub no_persist: bool,
    /// Messages kept in the database (0: no count limit).
    #[arg(long, default_value_t = DEFAULTS.retain_messages)]
    pub retain_messages: u64,
    /// Days a message is kept in the database (0: no age limit).
    #[arg(long, default_value_t = DEFAULTS.retain_days)]
    pub retain_days: u64,
    /// Run as one node of a cluster sharing the room through NATS (JetStream enabled), e.g.
    /// nats://127.0.0.1:4222. History then lives in NATS (the retention flags apply to it).
    #[arg(long, value_name = "NATS_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// This node's name in the cluster, unique among the nodes (letters, digits, - and _).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Threads serving clients [default: one per core this process may run on]. With one, the
    /// server runs on a single-threaded runtime.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<NonZeroUsize>,
    /// Serve Prometheus metrics over HTTP at http://ADDR/metrics (e.g. 127.0.0.1:9100). Nothing
    /// authenticates the scrape: keep it on a private address.
    #[arg(long, value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<SocketAddr>,
    /// Log lines on stderr as text (coloured only at a terminal) or as JSON, one object a line.
    #[arg(long, value_enum, default_value_t = DEFAULTS.log_format)]
    pub log_format: LogFormat,
    /// The fingerprint of an operator's key (`/whoami` in chat-cli shows it); repeat for several.
    /// Operators may kick, ban, unban, release names and make invites.
    #[arg(long, value_name = "FINGERPRINT")]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operator: Vec<String>,
    /// Register new names only with an invite code made by an operator (`/invite`); owners of a
    /// name sign in as usual.
    #[arg(long)]
    pub invite_only: bool,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people: one line of text per event.
    Text,
    /// For log collectors: one JSON object per event, with the session's fields.
    Json,
}

impl Default for Settings {
    /// The library's defaults (`Limits::default()`, `Config::new`), in the units of the flags.
    fn default() -> Self {
        let listen = SocketAddr::from((Ipv6Addr::UNSPECIFIED, DEFAULT_PORT));
        let config = Config::new(
            listen,
            TlsSource::DevCerts {
                dir: PathBuf::new(),
            },
        );
        let limits = &config.limits;
        Self {
            listen,
            cert: None,
            key: None,
            cert_dir: None,
            max_connections: limits.max_connections,
            max_message_bytes: limits.max_message_bytes,
            max_frame_bytes: limits.max_frame_bytes,
            queue_frames: limits.queue_frames,
            queue_delay_us: u64::try_from(limits.queue_delay.as_micros()).unwrap_or(u64::MAX),
            send_window_bytes: limits.send_window_bytes,
            receive_window_bytes: limits.receive_window_bytes,
            idle_timeout_secs: limits.idle_timeout.as_secs(),
            handshake_timeout_secs: limits.handshake_timeout.as_secs(),
            history: config.history_len,
            welcome_history: config.welcome_history,
            max_messages_per_sec: limits.messages_per_sec,
            message_burst: limits.message_burst,
            too_fast_strikes: limits.too_fast_strikes,
            max_connections_per_ip: limits.max_connections_per_ip,
            retry_above_handshakes: limits.retry_above_handshakes,
            default_room: config.default_room.clone(),
            max_rooms_per_user: limits.max_rooms_per_user,
            max_rooms: limits.max_rooms,
            max_room_members: limits.max_room_members,
            max_topic_bytes: limits.max_topic_bytes,
            history_db: None,
            no_persist: false,
            retain_messages: config.retention.max_messages,
            retain_days: config.retention.max_age_ms / MS_PER_DAY,
            cluster: None,
            node: None,
            threads: None,
            metrics: None,
            log_format: LogFormat::Text,
            operator: Vec::new(),
            invite_only: config.invite_only,
        }
    }
}

impl Settings {
    /// The file's keys: the long flags' names, taken from clap so that no flag is missing.
    pub fn keys() -> Vec<String> {
        use clap::Args as _;
        Self::augment_args(clap::Command::new("chat-server"))
            .get_arguments()
            .filter_map(|arg| arg.get_long().map(str::to_owned))
            .collect()
    }

    /// These settings as a TOML file that `--config` reads back, unset keys named in a comment.
    pub fn to_toml(&self) -> Result<String> {
        let table = toml::Table::try_from(self).context("cannot write the settings as TOML")?;
        let body = toml::to_string(&table).context("cannot write the settings as TOML")?;
        let unset: Vec<String> = Self::keys()
            .into_iter()
            .filter(|key| !table.contains_key(key))
            .collect();
        let mut text =
            String::from("# chat-server settings: `chat-server --config FILE` reads them back.\n");
        if !unset.is_empty() {
            text.push_str(&format!(
                "# Not set (see `chat-server --help`): {}\n",
                unset.join(", ")
            ));
        }
        text.push_str(&body);
        Ok(text)
    }

    /// Threads serving clients, when chosen.
    pub fn threads(&self) -> Option<NonZeroUsize> {
        self.threads
    }

    /// The cluster to join, when one is configured (`merge` checks that `node` comes with it).
    pub fn cluster(&self) -> Option<ClusterConfig> {
        self.cluster
            .clone()
            .zip(self.node.clone())
            .map(|(url, node)| ClusterConfig::new(url, node))
    }

    /// Where the certificate comes from. Looks up the user's data directory when not given.
    fn tls(&self) -> Result<TlsSource> {
        Ok(match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => TlsSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => TlsSource::DevCerts {
                dir: match &self.cert_dir {
                    Some(dir) => dir.clone(),
                    None => certs::default_dir().context(
                        "no home directory for development certificates; pass --cert-dir",
                    )?,
                },
            },
        })
    }

    /// The limits, as the library takes them.
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections,
            max_message_bytes: self.max_message_bytes,
            max_frame_bytes: self.max_frame_bytes,
            queue_frames: self.queue_frames,
            queue_delay: Duration::from_micros(self.queue_delay_us),
            send_window_bytes: self.send_window_bytes,
            receive_window_bytes: self.receive_window_bytes,
            handshake_timeout: Duration::from_secs(self.handshake_timeout_secs),
            hello_timeout: Duration::from_secs(self.handshake_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            messages_per_sec: self.max_messages_per_sec,
            message_burst: self.message_burst,
            too_fast_strikes: self.too_fast_strikes,
            max_connections_per_ip: self.max_connections_per_ip,
            retry_above_handshakes: self.retry_above_handshakes,
            max_rooms_per_user: self.max_rooms_per_user,
            max_rooms: self.max_rooms,
            max_room_members: self.max_room_members,
            max_topic_bytes: self.max_topic_bytes,
        }
    }

    /// The library's configuration. Looks up the user's data directory for what is not given.
    pub fn server_config(&self) -> Result<Config> {
        let tls = self.tls()?;
        let mut config = Config::new(self.listen, tls);
        config.limits = self.limits();
        config.history_len = self.history;
        config.welcome_history = self.welcome_history;
        config.retention = Retention {
            max_messages: self.retain_messages,
            max_age_ms: self.retain_days.saturating_mul(MS_PER_DAY),
        };
        config.history_db = if self.no_persist {
            None
        } else {
            Some(match &self.history_db {
                Some(path) => path.clone(),
                None => server::default_data_dir()
                    .context("no home directory for the history database; pass --history-db")?
                    .join("history.sqlite3"),
            })
        };
        config.operators = self
            .operator
            .iter()
            .map(|text| {
                text.parse()
                    .with_context(|| format!("operator {text:?}: a whole fingerprint is needed"))
            })
            .collect::<Result<_>>()?;
        config.invite_only = self.invite_only;
        server::validate_room_name(&self.default_room)
            .map_err(|why| anyhow::anyhow!("--default-room {:?}: {why}", self.default_room))?;
        config.default_room = self.default_room.clone();
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_is_a_key_and_every_key_a_flag() {
        let all_set = Settings {
            cert: Some("c".into()),
            key: Some("k".into()),
            cert_dir: Some("d".into()),
            history_db: Some("h".into()),
            no_persist: true,
            cluster: Some("nats://x".into()),
            node: Some("n".into()),
            threads: NonZeroUsize::new(2),
            metrics: Some("127.0.0.1:9100".parse().expect("addr")),
            operator: vec!["00".repeat(32)],
            invite_only: true,
            ..Settings::default()
        };
        let table = toml::Table::try_from(&all_set).expect("serialises");
        let mut written: Vec<&String> = table.keys().collect();
        let mut keys = Settings::keys();
        written.sort();
        keys.sort();
        assert_eq!(written, keys.iter().collect::<Vec<_>>());
    }

    #[test]
    fn the_defaults_are_the_librarys() {
        let mut defaults = Settings::default();
        assert_eq!(defaults.listen.to_string(), "[::]:1234");
        defaults.cert_dir = Some("certs".into());
        let config = defaults.server_config().expect("config");
        let library = Config::new(
            defaults.listen,
            TlsSource::DevCerts {
                dir: "certs".into(),
            },
        );
        // Limits (hello_timeout included) and the history settings come back unchanged.
        assert_eq!(
            format!("{:?}", config.limits),
            format!("{:?}", library.limits)
        );
        assert_eq!(config.history_len, library.history_len);
        assert_eq!(config.welcome_history, library.welcome_history);
        assert_eq!(
            format!("{:?}", config.retention),
            format!("{:?}", library.retention)
        );
    }
}
