//! The relay forwards datagrams both ways, and after `cut` nothing passes in either direction.

use std::time::Duration;

use testkit::Relay;
use tokio::{net::UdpSocket, sync::mpsc, time::timeout};

const WAIT: Duration = Duration::from_secs(5);
/// How long "nothing arrives" is watched for after the cut.
const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn the_relay_forwards_both_ways_until_cut() {
    // An echo server that also reports every datagram it got.
    let server = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let server_addr = server.local_addr().expect("addr");
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = server.recv_from(&mut buf).await {
            let _ = seen_tx.send(buf[..n].to_vec());
            let _ = server.send_to(&buf[..n], from).await;
        }
    });

    let relay = Relay::start(server_addr).await.expect("the relay starts");
    assert_ne!(relay.addr, server_addr);
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    client.connect(relay.addr).await.expect("connect");
    let mut buf = [0u8; 1500];

    client.send(b"ping").await.expect("send");
    let n = timeout(WAIT, client.recv(&mut buf))
        .await
        .expect("the echo comes back through the relay in time")
        .expect("recv");
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(seen.recv().await.as_deref(), Some(&b"ping"[..]));

    relay.cut();
    client.send(b"after the cut").await.expect("send");
    assert!(
        timeout(QUIET, client.recv(&mut buf)).await.is_err(),
        "nothing comes back after the cut"
    );
    assert!(
        timeout(QUIET, seen.recv()).await.is_err(),
        "nothing reaches the server after the cut"
    );
}

#[test]
fn free_ports_are_free_and_on_loopback() {
    let tcp = testkit::ports::free_tcp_port().expect("a TCP port");
    std::net::TcpListener::bind(("127.0.0.1", tcp)).expect("the TCP port can be bound");
    let udp = testkit::ports::free_udp_port().expect("a UDP port");
    std::net::UdpSocket::bind(("127.0.0.1", udp)).expect("the UDP port can be bound");
}
