//! The workloads and what they share: the server or cluster nodes under test ([`Target`]), the cost
//! meter around a phase ([`Meter`]), a pool of client sockets ([`Pool`]) and a member connection
//! that reads frames cheaply ([`Member`]).
//!
//! The load tool speaks the protocol with `wire` directly on top of `client::Connector` instead of
//! `client::Connection`, for two reasons: it times the TLS handshake and the `Hello`→`Welcome` join
//! separately, and it skips the frames it does not look at (thousands of `Joined` in a big room) by
//! their length prefix instead of decoding each one, so the load side stays cheap.

pub mod connect;
pub mod direct;
pub mod fanout;
pub mod idle;
pub mod room;
pub mod rooms;
pub mod soak;
mod tally;
mod traffic;

use std::{
    net::SocketAddr,
    sync::OnceLock,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use bytes::{Buf, BytesMut};
use client::{Connector, ServerAddr, Trust};
use quinn::{RecvStream, SendStream};
use wire::{ChatMessage, ClientFrame, Conversation, ServerFrame, ServerFrameKind, WelcomeRef};

use crate::{
    proc_stats::{Sample, UdpCounters, steal_time},
    report::Report,
};

/// Clients per UDP socket: enough sockets that one socket's queue is not the bottleneck, few enough
/// that 10,000 clients do not need 10,000 descriptors and endpoint drivers.
pub const CLIENTS_PER_SOCKET: usize = 256;
/// Upper bound on any single wait of a workload.
pub const WAIT: Duration = Duration::from_secs(60);

/// The server under test: one server, or the nodes of a cluster. Client `i` talks to node `i % N`.
#[derive(Debug, Clone)]
pub struct Target {
    addrs: Vec<SocketAddr>,
    pub trust: Trust,
    /// The servers' processes (one per node), when they are other processes whose costs can be read
    /// from `/proc`; empty otherwise.
    pids: Vec<u32>,
    /// The NATS server of a cluster the load tool started. Its costs are reported apart from the
    /// nodes': it is shared infrastructure, not a chat server.
    pub nats_pid: Option<u32>,
}

impl Target {
    /// `pids` is empty (costs unknown) or has one pid per address.
    pub fn new(addrs: Vec<SocketAddr>, trust: Trust, pids: Vec<u32>) -> Result<Self> {
        if addrs.is_empty() {
            bail!("no server address");
        }
        if !pids.is_empty() && pids.len() != addrs.len() {
            bail!(
                "{} server pids for {} addresses: give one per server or none",
                pids.len(),
                addrs.len()
            );
        }
        Ok(Self {
            addrs,
            trust,
            pids,
            nats_pid: None,
        })
    }

    /// One server.
    pub fn single(addr: SocketAddr, trust: Trust, pid: Option<u32>) -> Self {
        Self {
            addrs: vec![addr],
            trust,
            pids: pid.into_iter().collect(),
            nats_pid: None,
        }
    }

    pub fn nodes(&self) -> usize {
        self.addrs.len()
    }

    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn pids(&self) -> &[u32] {
        &self.pids
    }

    /// The node client `client` talks to.
    pub fn addr(&self, client: usize) -> SocketAddr {
        self.addrs[client % self.addrs.len()]
    }

    pub fn server_addr(&self, client: usize) -> ServerAddr {
        let addr = self.addr(client);
        ServerAddr {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

/// The servers' counters at the start of a phase; [`Meter::finish`] adds the difference to a report.
#[derive(Debug)]
pub struct Meter {
    pids: Vec<u32>,
    nats_pid: Option<u32>,
    start: Vec<Sample>,
    nats_start: Option<Sample>,
    /// The load tool's own counters.
    own_start: Sample,
    udp_start: UdpCounters,
    steal_start: Duration,
    began: Instant,
}

/// What a phase cost the servers. With several nodes, CPU and memory are the nodes' sums.
#[derive(Debug, Clone)]
pub struct Cost {
    pub wall: Duration,
    /// The load tool's own CPU over the phase (all its threads).
    pub own_cpu: Duration,
    pub cpu: Option<Duration>,
    pub before: Option<Sample>,
    pub after: Option<Sample>,
    /// Each node's CPU, in node order (a single server's too).
    pub node_cpu: Vec<Duration>,
    /// The NATS server's CPU, when the load tool started it.
    pub nats_cpu: Option<Duration>,
    pub nats_after: Option<Sample>,
    /// UDP datagrams the whole machine sent over the phase (see [`UdpCounters`]).
    pub datagrams: u64,
    /// UDP datagrams the machine dropped on full receive buffers over the phase.
    pub receive_drops: u64,
    /// CPU time the hypervisor took from the machine over the phase (see [`steal_time`]).
    pub steal: Duration,
}

impl Meter {
    pub fn start(target: &Target) -> Result<Self> {
        Ok(Self {
            pids: target.pids.clone(),
            nats_pid: target.nats_pid,
            start: read_all(&target.pids)?,
            nats_start: target.nats_pid.map(Sample::read).transpose()?,
            own_start: Sample::read(std::process::id())?,
            udp_start: UdpCounters::read()?,
            steal_start: steal_time()?,
            began: Instant::now(),
        })
    }

    pub fn finish(self) -> Result<Cost> {
        let wall = self.began.elapsed();
        let udp = UdpCounters::read()?;
        let datagrams = udp.sent.saturating_sub(self.udp_start.sent);
        let steal = steal_time()?.saturating_sub(self.steal_start);
        let receive_drops = udp
            .receive_drops
            .saturating_sub(self.udp_start.receive_drops);
        let after = read_all(&self.pids)?;
        let nats_after = self.nats_pid.map(Sample::read).transpose()?;
        let node_cpu: Vec<Duration> = self
            .start
            .iter()
            .zip(&after)
            .map(|(a, b)| b.cpu.saturating_sub(a.cpu))
            .collect();
        let cpu = (!node_cpu.is_empty()).then(|| node_cpu.iter().sum());
        let nats_cpu = match (self.nats_start, nats_after) {
            (Some(a), Some(b)) => Some(b.cpu.saturating_sub(a.cpu)),
            _ => None,
        };
        let own_cpu = Sample::read(std::process::id())?
            .cpu
            .saturating_sub(self.own_start.cpu);
        Ok(Cost {
            wall,
            own_cpu,
            cpu,
            before: Sample::sum(&self.start),
            after: Sample::sum(&after),
            node_cpu,
            nats_cpu,
            nats_after,
            datagrams,
            receive_drops,
            steal,
        })
    }
}

fn read_all(pids: &[u32]) -> Result<Vec<Sample>> {
    pids.iter().map(|&pid| Sample::read(pid)).collect()
}

impl Cost {
    /// Server CPU microseconds per unit of work (`None` without a server process to read).
    pub fn cpu_us_per(&self, units: u64) -> Option<f64> {
        us_per(self.cpu?, units)
    }

    /// Adds server CPU and memory figures to a report. A single server's fields are the same with or
    /// without a cluster around it; the per-node and NATS fields are added only where they apply.
    pub fn add_to(&self, report: &mut Report, per_unit: &str, units: u64) {
        report.add("wall_s", round2(self.wall.as_secs_f64()));
        // A core near wall_s of CPU was saturated: latency then says as much about the load tool
        // as about the server.
        report.add("load_tool_cpu_ms", ms(self.own_cpu));
        report.add(
            &format!("datagrams_per_{per_unit}"),
            (units > 0).then(|| round2(self.datagrams as f64 / units as f64)),
        );
        report.add("udp_receive_drops", self.receive_drops);
        // When not zero, the host ran something else on these cores, and latency outliers follow.
        report.add("host_steal_ms", ms(self.steal));
        if let Some(cpu) = self.cpu {
            report.add("server_cpu_ms", ms(cpu));
            report.add(
                &format!("server_cpu_us_per_{per_unit}"),
                self.cpu_us_per(units),
            );
        }
        if self.node_cpu.len() > 1 {
            let each: Vec<f64> = self.node_cpu.iter().copied().map(ms).collect();
            report.add("node_cpu_ms", each);
        }
        if let Some(nats) = self.nats_cpu {
            report.add("nats_cpu_ms", ms(nats));
            if let Some(cpu) = self.cpu {
                report.add(
                    &format!("cluster_cpu_us_per_{per_unit}"),
                    us_per(cpu + nats, units),
                );
            }
        }
        if let Some(after) = self.after {
            report.add("server_rss_kib", after.rss_kib);
            // With several nodes: the sum of each node's own peak, which can exceed the peak of
            // their sum (/proc keeps no joint peak).
            report.add("server_peak_rss_kib", after.hwm_kib);
        }
        if let Some(nats) = self.nats_after {
            report.add("nats_rss_kib", nats.rss_kib);
            report.add("nats_peak_rss_kib", nats.hwm_kib);
        }
    }
}

fn ms(d: Duration) -> f64 {
    round2(d.as_secs_f64() * 1e3)
}

fn us_per(cpu: Duration, units: u64) -> Option<f64> {
    (units > 0).then(|| round2(cpu.as_secs_f64() * 1e6 / units as f64))
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Nanoseconds since the load tool started: the send time carried in payloads. One process sends and
/// receives, so one monotonic clock serves both ends.
pub fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A prefix for user names that no earlier run used. The server remembers users (their nonces, for
/// exactly-once delivery across reconnects), so a rerun under the same names would look like replays.
pub fn unique_prefix(kind: char) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static RUN: AtomicU32 = AtomicU32::new(0);
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() % 1_000_000_000);
    format!("{kind}{clock:x}{}{run}-", std::process::id() % 1000)
}

/// Receive buffer asked for each client socket. One socket stands for 256 clients, each of which would
/// have its own buffer; with Linux's default 208 KiB, a room-wide burst from the server (a presence
/// frame to 10,000 members) overflowed the load tool's sockets, and the lost handshake packets of
/// clients still joining turned into retransmissions and, after several, a handshake timeout. The
/// kernel caps the request at `net.core.rmem_max`.
const CLIENT_SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// An unconnected UDP socket for clients of a server at `server`, with [`CLIENT_SOCKET_BUFFER`].
fn client_socket(server: SocketAddr) -> Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(server),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if let Err(e) = socket.set_recv_buffer_size(CLIENT_SOCKET_BUFFER) {
        tracing::warn!(error = %e, "cannot enlarge a client socket's receive buffer");
    }
    socket.bind(&Connector::local_addr_for(server).into())?;
    Ok(socket.into())
}

/// A few client sockets per node shared by many clients. Client `i` talks to node `i % N`, on one of
/// that node's sockets.
#[derive(Debug)]
pub struct Pool {
    by_node: Vec<Vec<Connector>>,
}

impl Pool {
    /// Enough sockets for `clients` clients spread over the target's nodes.
    pub fn new(target: &Target, clients: usize) -> Result<Self> {
        // aws-lc seeds its random number generator from CPU jitter on first use: 70 ms of CPU,
        // once per process, which would otherwise land in the first workload's measured window.
        quinn::rustls::crypto::aws_lc_rs::default_provider()
            .secure_random
            .fill(&mut [0u8; 16])
            .map_err(|_| anyhow::anyhow!("no random numbers for TLS"))?;
        let nodes = target.nodes();
        // One key for every client of the run: a key may own many names, and the server's work
        // per handshake is the same whoever signs.
        let identity = client::Identity::ephemeral().context("cannot make an identity")?;
        let by_node = target
            .addrs()
            .iter()
            .enumerate()
            .map(|(k, &addr)| {
                let on_node = clients.saturating_sub(k).div_ceil(nodes);
                let sockets = on_node.div_ceil(CLIENTS_PER_SOCKET).max(1);
                (0..sockets)
                    .map(|_| {
                        client_socket(addr)
                            .and_then(|s| Ok(Connector::with_socket(&target.trust, &identity, s)?))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()
            .context("cannot open a client socket")?;
        Ok(Self { by_node })
    }

    pub fn connector(&self, client: usize) -> &Connector {
        let nodes = self.by_node.len();
        let sockets = &self.by_node[client % nodes];
        &sockets[(client / nodes) % sockets.len()]
    }
}

/// One welcomed client, its stream halves, and how long getting there took.
#[derive(Debug)]
pub struct Member {
    pub conn: quinn::Connection,
    pub send: SendStream,
    pub recv: FrameSkipper,
    /// TLS handshake until the connection is established.
    pub handshake: Duration,
    /// Opening the stream, `Hello`, until `Welcome` arrived.
    pub join: Duration,
    /// Users listed in `Welcome`.
    pub users_in_welcome: usize,
}

/// Connects as `user` and waits for `Welcome`.
pub async fn join(pool: &Pool, i: usize, target: &Target, user: &str) -> Result<Member> {
    tokio::time::timeout(WAIT, join_inner(pool, i, target, user))
        .await
        .context("connecting timed out")?
}

async fn join_inner(pool: &Pool, i: usize, target: &Target, user: &str) -> Result<Member> {
    let started = Instant::now();
    let addr = target.addr(i);
    let host = addr.ip().to_string();
    let conn = pool
        .connector(i)
        .endpoint()
        .connect(addr, &host)
        .context("cannot start a connection")?
        .await
        .context("handshake failed")?;
    let handshake = started.elapsed();
    let (mut send, recv) = conn.open_bi().await.context("cannot open the stream")?;
    let hello = wire::encode(
        &ClientFrame::Hello {
            version: wire::PROTOCOL_VERSION,
            user: user.to_owned(),
            resume: Vec::new(),
        },
        wire::MAX_CLIENT_FRAME,
    )?;
    send.write_all(&hello).await.context("cannot send Hello")?;
    let mut recv = FrameSkipper::new(recv);
    let users_in_welcome = match recv.next_frame().await? {
        Some(Frame::Other(body)) => match ServerFrameKind::of(&body) {
            // Names borrowed from the frame: in a room of thousands, allocating every name of every
            // newcomer's `Welcome` was a large part of the load tool's own work.
            Some(ServerFrameKind::Welcome) => WelcomeRef::decode(&body)
                .with_context(|| format!("{user}: a malformed Welcome"))?
                .rooms
                .first()
                .map_or(0, |room| room.users.len()),
            Some(ServerFrameKind::Refused) => match wire::decode_body::<ServerFrame>(&body) {
                Ok(ServerFrame::Refused { reason }) => bail!("{user} refused: {reason}"),
                Ok(_) => bail!("{user}: a Refused that decodes as something else"),
                Err(e) => bail!("{user}: a malformed Refused: {e}"),
            },
            kind => bail!("{user}: expected Welcome or Refused, got {kind:?}"),
        },
        Some(Frame::Chat(..)) => bail!("{user}: Chat before Welcome"),
        None => bail!("{user}: stream ended before Welcome"),
    };
    Ok(Member {
        conn,
        send,
        recv,
        handshake,
        join: started.elapsed().saturating_sub(handshake),
        users_in_welcome,
    })
}

/// The room the load tool speaks in: the default room of a server with the default settings
/// (`chat-server --default-room`). Everybody is in it, so the workloads measure what they did
/// before rooms.
pub const ROOM: &str = "#general";

/// Sends one `Say` to [`ROOM`].
pub async fn say(send: &mut SendStream, nonce: u64, text: String) -> Result<()> {
    say_to(send, nonce, Conversation::Room(ROOM.to_owned()), text).await
}

/// Sends one `Say` to a room or another user.
pub async fn say_to(
    send: &mut SendStream,
    nonce: u64,
    to: Conversation,
    text: String,
) -> Result<()> {
    send_frame(send, &ClientFrame::Say { nonce, to, text }).await
}

/// Encodes and writes one client frame.
pub async fn send_frame(send: &mut SendStream, frame: &ClientFrame) -> Result<()> {
    let bytes = wire::encode(frame, wire::MAX_CLIENT_FRAME)?;
    send.write_all(&bytes)
        .await
        .with_context(|| format!("cannot send {:?}", frame_name(frame)))?;
    Ok(())
}

/// The variant's name, for error messages (a frame's text is not worth printing).
fn frame_name(frame: &ClientFrame) -> &'static str {
    match frame {
        ClientFrame::Say { .. } => "Say",
        ClientFrame::JoinRoom { .. } => "JoinRoom",
        ClientFrame::Bye => "Bye",
        _ => "a frame",
    }
}

/// Asks to enter `room` and reads until the server answers with its `RoomJoined`, skipping what
/// comes before it (other rooms' presence); a `Problem` instead is an error that names it.
pub async fn join_room(member: &mut Member, room: &str) -> Result<()> {
    send_frame(
        &mut member.send,
        &ClientFrame::JoinRoom {
            room: room.to_owned(),
        },
    )
    .await?;
    tokio::time::timeout(WAIT, async {
        loop {
            let body = match member.recv.next_frame().await? {
                Some(Frame::Other(body)) => body,
                Some(Frame::Chat(..)) => continue,
                None => bail!("stream ended before RoomJoined {room}"),
            };
            match ServerFrameKind::of(&body) {
                Some(ServerFrameKind::RoomJoined) => {
                    if let ServerFrame::RoomJoined(state) = wire::decode_body::<ServerFrame>(&body)?
                        && state.room == room
                    {
                        return Ok(());
                    }
                }
                Some(ServerFrameKind::Problem) => {
                    let problem = wire::decode_body::<ServerFrame>(&body)?;
                    bail!("joining {room}: {problem:?}");
                }
                _ => {}
            }
        }
    })
    .await
    .with_context(|| format!("no RoomJoined {room} in time"))?
}

/// A frame as the load tool sees it: a decoded `Chat` with its conversation, or the raw body of
/// anything else.
#[derive(Debug)]
pub enum Frame {
    Chat(Conversation, ChatMessage),
    Other(BytesMut),
}

/// Reads the server's frames, decoding only `Chat` (`wire::ServerFrameKind` reads a body's kind from
/// its first byte), and counts the rest without decoding them.
#[derive(Debug)]
pub struct FrameSkipper {
    recv: RecvStream,
    buf: BytesMut,
    pub skipped: u64,
}

impl FrameSkipper {
    fn new(recv: RecvStream) -> Self {
        Self {
            recv,
            buf: BytesMut::new(),
            skipped: 0,
        }
    }

    /// The next frame; `None` when the server finished the stream.
    pub async fn next_frame(&mut self) -> Result<Option<Frame>> {
        loop {
            if self.buf.len() >= wire::LENGTH_PREFIX {
                let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                let len = usize::try_from(len)?;
                if len > wire::MAX_SERVER_FRAME {
                    bail!("frame of {len} bytes is above the protocol limit");
                }
                if self.buf.len() >= wire::LENGTH_PREFIX + len {
                    self.buf.advance(wire::LENGTH_PREFIX);
                    let body = self.buf.split_to(len);
                    return Ok(Some(
                        if ServerFrameKind::of(&body) == Some(ServerFrameKind::Chat) {
                            match wire::decode_body::<ServerFrame>(&body)? {
                                ServerFrame::Chat {
                                    conversation,
                                    message,
                                } => Frame::Chat(conversation, message),
                                other => bail!("a Chat body decoded as {:?}", other.kind()),
                            }
                        } else {
                            Frame::Other(body)
                        },
                    ));
                }
            }
            match self.recv.read_chunk(256 * 1024, true).await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk.bytes),
                Ok(None) => return Ok(None),
                Err(e) => return Err(e).context("reading from the server"),
            }
        }
    }

    /// The next `Chat`, skipping everything else; `None` when the stream ended.
    pub async fn next_chat(&mut self) -> Result<Option<ChatMessage>> {
        Ok(self.next_chat_in().await?.map(|(_, m)| m))
    }

    /// The next `Chat` and the conversation it belongs to, skipping everything else; `None` when
    /// the stream ended.
    pub async fn next_chat_in(&mut self) -> Result<Option<(Conversation, ChatMessage)>> {
        loop {
            match self.next_frame().await? {
                Some(Frame::Chat(conversation, m)) => return Ok(Some((conversation, m))),
                Some(Frame::Other(_)) => self.skipped += 1,
                None => return Ok(None),
            }
        }
    }
}

/// Joins `n` clients named `{prefix}{i}` with at most `concurrency` connecting at once; returns them
/// in index order.
pub async fn join_all(
    pool: &std::sync::Arc<Pool>,
    target: &Target,
    prefix: &str,
    n: usize,
    concurrency: usize,
) -> Result<Vec<Member>> {
    let (pool, target, prefix) = (pool.clone(), target.clone(), prefix.to_owned());
    each_index(n, concurrency, move |i| {
        let (pool, target, user) = (pool.clone(), target.clone(), format!("{prefix}{i}"));
        async move { join(&pool, i, &target, &user).await }
    })
    .await
}

/// Runs `job(i)` for every `i` below `n`, at most `concurrency` at once (each worker takes the
/// next index when it is done with one); returns the results in index order.
async fn each_index<T, F, Fut>(n: usize, concurrency: usize, job: F) -> Result<Vec<T>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };
    let (job, next) = (Arc::new(job), Arc::new(AtomicUsize::new(0)));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.clamp(1, n.max(1)) {
        let (job, next) = (job.clone(), next.clone());
        workers.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                mine.push((i, job(i).await?));
            }
            anyhow::Ok(mine)
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(done) = workers.join_next().await {
        all.extend(done.context("a connecting task panicked")??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, t)| t).collect())
}

/// The settling line's text (see [`fill_and_settle`]).
const SETTLE_LINE: &str = "settle";

/// Joins `n` clients named `{prefix}{i}` (at most `concurrency` connecting at once), client `i` also
/// entering `room_of(i)` when given, and waits until every one has read what filling the server
/// left it (presence notices of everyone who came after it): one line in the default room, said
/// with nonce 0 by the first client once all are in, queued behind all of that, tells each it has
/// caught up. Each client's frames are read from its join on: unread for the minute a fill of
/// 10,000 takes, the first clients' queues overflowed and the server dropped them as too slow.
/// Returns the clients in index order.
pub async fn fill_and_settle(
    pool: &std::sync::Arc<Pool>,
    target: &Target,
    prefix: &str,
    n: usize,
    concurrency: usize,
    room_of: Option<std::sync::Arc<dyn Fn(usize) -> String + Send + Sync>>,
) -> Result<Vec<Member>> {
    let (pool, target, prefix) = (pool.clone(), target.clone(), prefix.to_owned());
    let mut all = each_index(n, concurrency, move |i| {
        let (pool, target, room_of) = (pool.clone(), target.clone(), room_of.clone());
        let user = format!("{prefix}{i}");
        async move {
            let mut member = join(&pool, i, &target, &user).await?;
            if let Some(room_of) = &room_of {
                join_room(&mut member, &room_of(i)).await?;
            }
            let Member {
                conn,
                send,
                mut recv,
                handshake,
                join,
                users_in_welcome,
            } = member;
            let reader = tokio::spawn(async move {
                loop {
                    match recv.next_chat_in().await? {
                        Some((Conversation::Room(room), m))
                            if room == ROOM && m.text == SETTLE_LINE =>
                        {
                            return anyhow::Ok(recv);
                        }
                        Some(_) => {}
                        None => bail!("stream ended before the settling line"),
                    }
                }
            });
            anyhow::Ok(((conn, send, handshake, join, users_in_welcome), reader))
        }
    })
    .await?;
    if let Some(((_, send, ..), _)) = all.first_mut() {
        say(send, 0, SETTLE_LINE.to_owned()).await?;
    }
    let mut members = Vec::with_capacity(n);
    for ((conn, send, handshake, join, users_in_welcome), reader) in all {
        let recv = tokio::time::timeout(WAIT, reader)
            .await
            .context("the settling line did not arrive in time")?
            .context("a settling task panicked")??;
        members.push(Member {
            conn,
            send,
            recv,
            handshake,
            join,
            users_in_welcome,
        });
    }
    Ok(members)
}
