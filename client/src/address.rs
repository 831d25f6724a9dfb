//! `HOST:PORT` as users type it.

use std::{fmt, net::SocketAddr, str::FromStr};

use crate::ClientError;

/// The port `chat-server` listens on by default.
pub const DEFAULT_PORT: u16 = 1234;

/// A server address: a host name or IP literal (the name checked against the certificate) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    pub host: String,
    pub port: u16,
}

impl FromStr for ServerAddr {
    type Err = ClientError;

    /// Accepts `host`, `host:port`, `1.2.3.4:port`, `[::1]:port` and `::1`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let invalid = || ClientError::InvalidAddress(s.to_owned());
        if s.is_empty() {
            return Err(invalid());
        }
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(Self {
                host: addr.ip().to_string(),
                port: addr.port(),
            });
        }
        if let Ok(ip) = s.parse::<std::net::IpAddr>() {
            return Ok(Self {
                host: ip.to_string(),
                port: DEFAULT_PORT,
            });
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| invalid())?),
            None => (s, DEFAULT_PORT),
        };
        if host.is_empty() || host.contains(['[', ']', ':', ' ', '/']) {
            return Err(invalid());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl ServerAddr {
    /// Looks the host up; literal addresses need no lookup.
    pub async fn resolve(&self) -> Result<SocketAddr, ClientError> {
        let mut addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|source| ClientError::Resolve {
                addr: self.to_string(),
                source,
            })?;
        addrs.next().ok_or_else(|| ClientError::Resolve {
            addr: self.to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address found"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ServerAddr {
        s.parse().expect("valid address")
    }

    #[test]
    fn parses_the_forms_people_type() {
        assert_eq!(parse("localhost:1234").host, "localhost");
        assert_eq!(parse("localhost").port, DEFAULT_PORT);
        assert_eq!(parse("127.0.0.1:99").port, 99);
        assert_eq!(parse("[::1]:5").host, "::1");
        assert_eq!(parse("::1").port, DEFAULT_PORT);
        assert_eq!(parse("[::1]:5").to_string(), "[::1]:5");
    }

    #[test]
    fn rejects_nonsense() {
        for s in ["", "host:port", "a b:1", "host:99999", ":12"] {
            assert!(s.parse::<ServerAddr>().is_err(), "{s}");
        }
    }
}
