//! The endpoint and its accept loop.
//!
//! The loop never awaits a handshake: each `Incoming` is handed to its own task at once, so a slow or
//! hostile peer cannot hold up anybody else's connection. Tasks are tracked so that shutdown can wait
//! for every session to flush before the endpoint closes.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use std::sync::atomic::Ordering;

use quinn::{Endpoint, EndpointConfig, TokioRuntime, VarInt};
use thiserror::Error;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use wire::RefuseReason;

use crate::{
    ClusterConfig, ClusterError, Config, LiveLimits, Metrics, ShutdownHandle,
    cluster::Cluster,
    limits::PerAddress,
    owners::{NatsOwners, Owners, OwnersError, Policy, SqliteOwners},
    room::Room,
    rooms::{Registry, RoomStore},
    session::{self, Admission, Shared},
    shutdown,
    store::{Store, StoreError},
    tls,
};

/// How long shutdown waits for sessions to flush before closing the endpoint regardless.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Error)]
pub enum ServerError {
    #[error(transparent)]
    Certificates(#[from] certs::CertError),
    #[error("TLS configuration: {0}")]
    Tls(rustls::Error),
    #[error("QUIC configuration: {0}")]
    Quic(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Owners(#[from] OwnersError),
}

/// How long a new cluster node may take to load the recent history before it serves anyway.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    endpoint: Endpoint,
    shared: Arc<Shared>,
    shutdown: ShutdownHandle,
    dev_ca: Option<PathBuf>,
    cluster: Option<Arc<Cluster>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Loads or creates the certificates and binds the UDP socket. Must be called inside a tokio
    /// runtime.
    pub fn bind(config: Config) -> Result<Self, ServerError> {
        let (endpoint, dev_ca) = Self::endpoint(&config)?;
        let store = match &config.history_db {
            Some(path) => Store::open(path, config.retention)?,
            None => Store::in_memory(config.retention)?,
        };
        let room = Arc::new(Room::new(&config, store)?);
        let rooms = match &config.history_db {
            Some(path) => RoomStore::open(path)?,
            None => RoomStore::in_memory()?,
        };
        let rooms = Arc::new(Registry::new(&config, room.clone(), rooms)?);
        // The owners' tables live in the history's file: one file to back up.
        let owners = match &config.history_db {
            Some(path) => SqliteOwners::open(path)?,
            None => SqliteOwners::in_memory()?,
        };
        Ok(Self::with_room(
            endpoint,
            dev_ca,
            (room, rooms),
            (&config, Owners::Local(owners)),
            None,
        ))
    }

    /// Like [`Server::bind`], as a node of a cluster: connects to NATS, opens the shared stream and
    /// user list, and loads the recent history before returning. `config.history_db` is not used:
    /// the stream is the history.
    pub async fn bind_clustered(
        config: Config,
        cluster: ClusterConfig,
    ) -> Result<Self, ServerError> {
        let (endpoint, dev_ca) = Self::endpoint(&config)?;
        let cluster = Arc::new(Cluster::connect(cluster, &config).await?);
        let last = cluster.last_sequence().await?;
        let history = u64::try_from(config.history_len).unwrap_or(u64::MAX);
        let first = last.saturating_sub(history) + 1;
        let room = Arc::new(Room::with_peers(&config, cluster.clone(), first));
        let (rooms, from) = Registry::clustered(&config, room.clone(), cluster.clone())
            .await
            .map_err(|e| ClusterError::JetStream(format!("rooms: {e}")))?;
        let rooms = Arc::new(rooms);
        cluster.start(&room, &rooms, from);
        let deadline = tokio::time::Instant::now() + CATCH_UP_TIMEOUT;
        while room.next_id() <= last && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if room.next_id() <= last {
            tracing::warn!(
                loaded = room.next_id() - first,
                "serving before the recent history is fully loaded"
            );
        }
        let owners = Owners::Cluster(Box::new(NatsOwners::new(cluster.owners_bucket())));
        Ok(Self::with_room(
            endpoint,
            dev_ca,
            (room, rooms),
            (&config, owners),
            Some(cluster),
        ))
    }

    fn with_room(
        endpoint: Endpoint,
        dev_ca: Option<PathBuf>,
        (room, rooms): (Arc<Room>, Arc<Registry>),
        (config, owners): (&Config, Owners),
        cluster: Option<Arc<Cluster>>,
    ) -> Self {
        Self {
            endpoint,
            shared: Arc::new(Shared {
                limits: room.limits.clone(),
                room,
                rooms,
                handshaking: Default::default(),
                owners,
                guesses: Default::default(),
                policy: if config.invite_only {
                    Policy::InviteOnly
                } else {
                    Policy::Open
                },
                operators: config.operators.clone(),
            }),
            shutdown: ShutdownHandle::new(),
            dev_ca,
            cluster,
        }
    }

    /// Checks the limits, loads the certificates and binds the endpoint; returns it with the
    /// development CA, if any. Public so that the floor server (`server/examples/chat_floor`) can
    /// measure this very endpoint, TLS and transport without the room.
    pub fn endpoint(config: &Config) -> Result<(Endpoint, Option<PathBuf>), ServerError> {
        let limits = config.limits.clone();
        limits.check().map_err(ServerError::Config)?;
        let identity = tls::load_identity(&config.tls)?;
        let dev_ca = identity.dev_ca.clone();
        let server_config = tls::server_config(identity, &limits)?;
        let socket = bind_socket(config.listen).map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
        let endpoint = Endpoint::new(
            EndpointConfig::default(),
            Some(server_config),
            socket,
            Arc::new(TokioRuntime),
        )
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
        Ok((endpoint, dev_ca))
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// The development CA clients should trust, when the server uses development certificates.
    pub fn dev_ca(&self) -> Option<&Path> {
        self.dev_ca.as_deref()
    }

    /// What the server counts, for `chat-server --metrics` ([`crate::serve_metrics`]).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.room.metrics.clone()
    }

    /// The limits in force; replacing them (on `SIGHUP`) applies to what starts afterwards.
    pub fn limits(&self) -> Arc<LiveLimits> {
        self.shared.limits.clone()
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Serves until shutdown is requested, then says `ShuttingDown` to everyone, lets each session
    /// flush, and closes.
    pub async fn run(self) -> Result<(), ServerError> {
        let tracker = TaskTracker::new();
        let mut stop = self.shutdown.subscribe();
        let mut next_conn = 0u64;
        let per_address = PerAddress::default();
        let room = self.shared.room.clone();
        let presence = tokio::spawn(async move { room.tell_presence().await });
        let reason = loop {
            tokio::select! {
                reason = shutdown::requested(&mut stop) => break reason,
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break String::from("endpoint closed") };
                    let open = tracker.len();
                    // Read per connection: a reload (SIGHUP) changes them for what comes next.
                    let limits = self.shared.limits.current();
                    let max = limits.max_connections;
                    // Beyond this many connections even the courtesy of a `Refused` frame is too
                    // expensive.
                    let hard_cap = max.saturating_mul(2).max(max + 16);
                    if open >= hard_cap {
                        incoming.refuse();
                        continue;
                    }
                    if self.shared.handshaking.load(Ordering::Relaxed) >= limits.retry_above_handshakes
                        && !incoming.remote_address_validated()
                        && incoming.may_retry()
                    {
                        let _ = incoming.retry();
                        continue;
                    }
                    let per_ip = limits.max_connections_per_ip;
                    let ip = incoming.remote_address().ip();
                    let admission = match per_address.take(ip, per_ip) {
                        Some(slot) if open < max => Admission::Welcome(slot),
                        Some(slot) => Admission::Refuse(RefuseReason::ServerFull, slot),
                        // The total hard cap above still bounds what refusals can cost.
                        None => Admission::Refuse(RefuseReason::TooManyConnections, None),
                    };
                    next_conn += 1;
                    self.shared.handshaking.fetch_add(1, Ordering::Relaxed);
                    // One span per connection: every line its session logs names the peer.
                    let span = tracing::info_span!(
                        "session",
                        remote = %incoming.remote_address(),
                        conn = next_conn,
                        key = tracing::field::Empty,
                        user = tracing::field::Empty,
                    );
                    let session = session::serve(
                        Box::new(incoming),
                        self.shared.clone(),
                        next_conn,
                        admission,
                    );
                    tracker.spawn(session.instrument(span));
                }
            }
        };
        tracing::info!(%reason, "shutting down");
        self.endpoint.set_server_config(None);
        // Shutting down sends what is pending; nothing joins afterwards.
        presence.abort();
        let present = self.shared.room.shut_down(&reason);
        if let Some(cluster) = &self.cluster {
            cluster.leave(present).await;
        }
        tracker.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = tracker.len(),
                "sessions still open after the drain timeout"
            );
        }
        self.endpoint.close(
            VarInt::from_u32(wire::close_code::SHUTTING_DOWN),
            reason.as_bytes(),
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
        Ok(())
    }
}

/// Socket buffer asked of the kernel, each direction. One socket carries every client: a burst of
/// handshakes and of acknowledgements after a room-wide fan-out overflows Linux's default 208 KiB
/// receive buffer, and every dropped datagram costs a retransmission (a lost handshake packet, a
/// second or more). The kernel caps the request at `net.core.rmem_max` / `wmem_max`; asking for more
/// than it allows is not an error.
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// Binds UDP; an IPv6 wildcard address also accepts IPv4, whatever the system default.
fn bind_socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    if let Err(e) = socket
        .set_recv_buffer_size(SOCKET_BUFFER)
        .and_then(|()| socket.set_send_buffer_size(SOCKET_BUFFER))
    {
        tracing::warn!(error = %e, "cannot enlarge the UDP socket buffers; keeping the defaults");
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}
