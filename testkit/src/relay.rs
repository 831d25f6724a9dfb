//! A UDP relay between one client and a server that a test can cut, to make a client vanish
//! without a close (no packet in either direction after [`Relay::cut`]).

use std::{io, net::SocketAddr};

use tokio::{net::UdpSocket, task::JoinHandle};

/// Forwards datagrams between the last client that sent to [`Relay::addr`] and the server.
#[derive(Debug)]
pub struct Relay {
    /// Where the client connects instead of the server.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Relay {
    /// A relay on a loopback port in front of `server`.
    pub async fn start(server: SocketAddr) -> io::Result<Self> {
        let front = UdpSocket::bind("127.0.0.1:0").await?;
        let back = UdpSocket::bind("127.0.0.1:0").await?;
        back.connect(server).await?;
        let addr = front.local_addr()?;
        let task = tokio::spawn(async move {
            let mut client: Option<SocketAddr> = None;
            let mut a = vec![0u8; 65536];
            let mut b = vec![0u8; 65536];
            loop {
                tokio::select! {
                    r = front.recv_from(&mut a) => {
                        let Ok((n, from)) = r else { return };
                        client = Some(from);
                        let _ = back.send(&a[..n]).await;
                    }
                    r = back.recv(&mut b) => {
                        let Ok(n) = r else { return };
                        if let Some(to) = client {
                            let _ = front.send_to(&b[..n], to).await;
                        }
                    }
                }
            }
        });
        Ok(Self { addr, task })
    }

    /// Stops forwarding, in both directions, for good.
    pub fn cut(&self) {
        self.task.abort();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
