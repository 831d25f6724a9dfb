//! What can go wrong on the client side, each with a message that says what to do.

use thiserror::Error;
use wire::RefuseReason;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("invalid server address {0:?}: expected HOST:PORT")]
    InvalidAddress(String),
    #[error("cannot find server {addr}: {source}")]
    Resolve {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the CA certificate: {0}")]
    Ca(#[from] certs::CertError),
    #[error("no trusted CA certificates: pass --ca with the server's CA file")]
    NoTrustAnchors,
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    #[error("cannot open a UDP socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("cannot connect to {addr}: {detail}")]
    Connect { addr: String, detail: String },
    #[error(
        "the server's certificate is not trusted ({0}); if it uses development certificates, pass its CA file with --ca"
    )]
    Certificate(String),
    #[error("no answer from {0}: is the server running?")]
    Unreachable(String),
    #[error("the server refused us: {0}")]
    Refused(RefuseReason),
    #[error("the connection was closed: {0}")]
    Closed(String),
    #[error("the server sent something we cannot read: {0}")]
    Protocol(String),
    #[error("the server did not answer in time")]
    Timeout,
    #[error(
        "the line is {bytes} bytes long and the server takes at most {longest}: split it and send the parts"
    )]
    LineTooLong { bytes: usize, longest: usize },
    #[error("the session has ended")]
    SessionEnded,
}

impl ClientError {
    pub(crate) fn from_connection(addr: &str, e: &quinn::ConnectionError) -> Self {
        use quinn::ConnectionError as C;
        match e {
            C::TimedOut => Self::Unreachable(addr.to_owned()),
            C::TransportError(t) if t.to_string().to_lowercase().contains("certificate") => {
                Self::Certificate(t.reason.clone())
            }
            C::ConnectionClosed(c)
                if c.reason
                    .to_vec()
                    .to_ascii_lowercase()
                    .windows(11)
                    .any(|w| w == b"certificate") =>
            {
                Self::Certificate(String::from_utf8_lossy(&c.reason).into_owned())
            }
            C::ApplicationClosed(c) => Self::Closed(format!(
                "{} (code {})",
                String::from_utf8_lossy(&c.reason),
                c.error_code
            )),
            other => Self::Closed(other.to_string()),
        }
    }
}
