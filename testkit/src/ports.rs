//! Free loopback ports. Another process may take one before it is used; a server started on it then
//! fails to bind and says so, which fails the test loudly rather than wrongly.

use std::{io, net::Ipv4Addr};

/// A TCP port nobody listens on right now.
pub fn free_tcp_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A UDP port nobody is bound to right now.
pub fn free_udp_port() -> io::Result<u16> {
    Ok(std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
