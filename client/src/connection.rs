//! One QUIC connection to the server, its stream, and the frames on it.

use std::{collections::VecDeque, net::SocketAddr, sync::Arc, time::Duration};

use bytes::BytesMut;
use quinn::{Endpoint, EndpointConfig, RecvStream, SendStream, TokioRuntime};
use wire::{
    ChatMessage, ClientFrame, DirectState, FrameDecoder, ResumePoint, RoomState, ServerFrame,
};

use crate::{ClientError, ServerAddr, Trust};

/// How long connecting (handshake plus `Welcome`) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(6);
const READ_CHUNK: usize = 256 * 1024;

/// What the server said when it let us in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub you: String,
    /// The default room first (a protocol 5 server sends it alone; the other rooms follow as
    /// `RoomJoined` frames).
    pub rooms: Vec<RoomState>,
    pub direct: Vec<DirectState>,
    /// What the server allows us: the session paces itself by these.
    pub limits: wire::Limits,
}

impl Welcome {
    /// The default room's name (empty from a server that sent no room).
    pub fn room(&self) -> &str {
        self.rooms.first().map_or("", |r| r.room.as_str())
    }

    /// Who is in the default room.
    pub fn users(&self) -> &[String] {
        self.rooms.first().map_or(&[], |r| r.users.as_slice())
    }

    /// The default room's recent lines (or what we missed there), oldest first.
    pub fn history(&self) -> &[ChatMessage] {
        self.rooms.first().map_or(&[], |r| r.history.as_slice())
    }
}

impl From<Welcome> for ServerFrame {
    fn from(w: Welcome) -> Self {
        ServerFrame::Welcome {
            you: w.you,
            rooms: w.rooms,
            direct: w.direct,
            limits: w.limits,
        }
    }
}

/// A client endpoint (one UDP socket) that can hold many connections, e.g. a load generator's.
#[derive(Debug, Clone)]
pub struct Connector {
    endpoint: Endpoint,
}

impl Connector {
    /// A connector for servers of the same address family as `server` (a local socket on an
    /// ephemeral port).
    pub fn new(
        trust: &Trust,
        identity: &certs::Identity,
        server: SocketAddr,
    ) -> Result<Self, ClientError> {
        let socket =
            std::net::UdpSocket::bind(Self::local_addr_for(server)).map_err(ClientError::Socket)?;
        Self::with_socket(trust, identity, socket)
    }

    /// The address [`Connector::new`] binds for a server at `server`: any local address of the same
    /// family, an ephemeral port. For callers that make the socket themselves.
    pub fn local_addr_for(server: SocketAddr) -> SocketAddr {
        if server.is_ipv6() {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        }
    }

    /// A connector on a socket the caller made.
    pub fn with_socket(
        trust: &Trust,
        identity: &certs::Identity,
        socket: std::net::UdpSocket,
    ) -> Result<Self, ClientError> {
        let mut endpoint = Endpoint::new(
            EndpointConfig::default(),
            None,
            socket,
            Arc::new(TokioRuntime),
        )
        .map_err(ClientError::Socket)?;
        endpoint.set_default_client_config(trust.client_config(identity)?);
        Ok(Self { endpoint })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Connects, opens the stream and says `Hello`; returns once the server welcomed us.
    pub async fn connect(
        &self,
        server: &ServerAddr,
        addr: SocketAddr,
        user: &str,
        resume: &[ResumePoint],
    ) -> Result<(Connection, Welcome), ClientError> {
        self.connect_redeeming(server, addr, user, resume, None)
            .await
    }

    /// Like [`Connector::connect`], first redeeming `code` (a link code from another device of
    /// `user`, or an operator's invite) when one is given.
    pub async fn connect_redeeming(
        &self,
        server: &ServerAddr,
        addr: SocketAddr,
        user: &str,
        resume: &[ResumePoint],
        code: Option<&str>,
    ) -> Result<(Connection, Welcome), ClientError> {
        tokio::time::timeout(
            CONNECT_TIMEOUT,
            self.connect_inner(server, addr, user, resume, code),
        )
        .await
        .map_err(|_| ClientError::Timeout)?
    }

    async fn connect_inner(
        &self,
        server: &ServerAddr,
        addr: SocketAddr,
        user: &str,
        resume: &[ResumePoint],
        code: Option<&str>,
    ) -> Result<(Connection, Welcome), ClientError> {
        let shown = server.to_string();
        let connecting =
            self.endpoint
                .connect(addr, &server.host)
                .map_err(|e| ClientError::Connect {
                    addr: shown.clone(),
                    detail: e.to_string(),
                })?;
        let conn = connecting
            .await
            .map_err(|e| ClientError::from_connection(&shown, &e))?;
        let (send, recv) = conn
            .open_bi()
            .await
            .map_err(|e| ClientError::from_connection(&shown, &e))?;
        let mut connection = Connection {
            conn,
            writer: FrameWriter::new(send),
            reader: FrameReader::new(recv),
        };
        if let Some(code) = code {
            connection
                .writer
                .send(&ClientFrame::Redeem {
                    code: code.to_owned(),
                })
                .await?;
        }
        connection
            .writer
            .send(&ClientFrame::Hello {
                version: wire::PROTOCOL_VERSION,
                user: user.to_owned(),
                resume: resume.to_vec(),
            })
            .await?;
        match connection.reader.next().await? {
            Some(ServerFrame::Welcome {
                you,
                rooms,
                direct,
                limits,
            }) => Ok((
                connection,
                Welcome {
                    you,
                    rooms,
                    direct,
                    limits,
                },
            )),
            Some(ServerFrame::Refused { reason }) => Err(ClientError::Refused(reason)),
            Some(other) => Err(ClientError::Protocol(format!(
                "expected Welcome, got {other:?}"
            ))),
            None => Err(ClientError::Closed("the server ended the stream".into())),
        }
    }
}

/// An established, welcomed connection.
#[derive(Debug)]
pub struct Connection {
    conn: quinn::Connection,
    writer: FrameWriter,
    reader: FrameReader,
}

impl Connection {
    /// The two directions, to be driven independently, and the QUIC connection itself.
    pub fn split(self) -> (FrameWriter, FrameReader, quinn::Connection) {
        (self.writer, self.reader, self.conn)
    }

    pub fn quic(&self) -> &quinn::Connection {
        &self.conn
    }

    pub async fn send(&mut self, frame: &ClientFrame) -> Result<(), ClientError> {
        self.writer.send(frame).await
    }

    /// The next frame, a `Presence` unpacked into `Joined` and `Left` frames of its changes (see
    /// [`FrameReader::next`]).
    pub async fn next(&mut self) -> Result<Option<ServerFrame>, ClientError> {
        self.reader.next().await
    }

    /// The next frame as the server sent it (see [`FrameReader::next_whole`]).
    pub async fn next_whole(&mut self) -> Result<Option<ServerFrame>, ClientError> {
        self.reader.next_whole().await
    }
}

/// The sending half: encodes frames onto the stream.
#[derive(Debug)]
pub struct FrameWriter {
    send: SendStream,
    buf: BytesMut,
}

impl FrameWriter {
    fn new(send: SendStream) -> Self {
        Self {
            send,
            buf: BytesMut::new(),
        }
    }

    pub async fn send(&mut self, frame: &ClientFrame) -> Result<(), ClientError> {
        self.buf.clear();
        wire::encode_into(frame, wire::MAX_CLIENT_FRAME, &mut self.buf)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.send
            .write_all(&self.buf)
            .await
            .map_err(|e| ClientError::Closed(e.to_string()))
    }

    /// Writes bytes as they are, framing or not: for tests that speak the protocol badly on purpose.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.send
            .write_all(bytes)
            .await
            .map_err(|e| ClientError::Closed(e.to_string()))
    }

    /// Ends our direction of the stream.
    pub fn finish(&mut self) {
        let _ = self.send.finish();
    }
}

/// The receiving half: decodes the server's frames.
#[derive(Debug)]
pub struct FrameReader {
    recv: RecvStream,
    decoder: FrameDecoder,
    /// The rest of the last `Presence` frame, one `Joined` or `Left` each.
    unpacked: VecDeque<ServerFrame>,
}

impl FrameReader {
    fn new(recv: RecvStream) -> Self {
        Self {
            recv,
            decoder: FrameDecoder::new(wire::MAX_SERVER_FRAME),
            unpacked: VecDeque::new(),
        }
    }

    /// The next frame; `Ok(None)` when the server finished the stream cleanly. A `Presence` frame
    /// comes out as one `Joined` or `Left` per change, in its order, without its room: for raw
    /// readers that deal in single changes of the default room (tests, the load tool).
    pub async fn next(&mut self) -> Result<Option<ServerFrame>, ClientError> {
        self.read(true).await
    }

    /// The next frame as the server sent it (a `Presence` whole, with its room).
    pub async fn next_whole(&mut self) -> Result<Option<ServerFrame>, ClientError> {
        self.read(false).await
    }

    async fn read(&mut self, unpack: bool) -> Result<Option<ServerFrame>, ClientError> {
        loop {
            if let Some(frame) = self.unpacked.pop_front() {
                return Ok(Some(frame));
            }
            match self
                .decoder
                .next_frame()
                .map_err(|e| ClientError::Protocol(e.to_string()))?
            {
                Some(ServerFrame::Presence { changes, .. }) if unpack => {
                    self.unpacked
                        .extend(changes.into_iter().map(ServerFrame::from));
                    continue;
                }
                Some(frame) => return Ok(Some(frame)),
                None => {}
            }
            match self.recv.read_chunk(READ_CHUNK, true).await {
                Ok(Some(chunk)) => self.decoder.push(&chunk.bytes),
                Ok(None) => {
                    self.decoder
                        .finish()
                        .map_err(|e| ClientError::Protocol(e.to_string()))?;
                    return Ok(None);
                }
                Err(quinn::ReadError::ConnectionLost(e)) => {
                    return Err(ClientError::from_connection("the server", &e));
                }
                Err(e) => return Err(ClientError::Closed(e.to_string())),
            }
        }
    }
}
