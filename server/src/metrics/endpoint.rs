//! The scrape endpoint: `GET /metrics` over HTTP/1.1.
//!
//! Nothing in the tree speaks HTTP (no hyper, axum or tiny_http in Cargo.lock), and a scrape is one
//! request, one answer: so this is a small responder on tokio rather than an HTTP stack for one
//! route. Each connection gets one request, read with a size cap and a deadline, and an answer that
//! closes the connection (`Connection: close`, which HTTP/1.1 allows for every response), so there
//! is no keep-alive, chunking or pipelining to get wrong. A few scrapes at once are served; more
//! wait in the kernel's backlog. Bind it to a private address: the counts are not secret but
//! nothing here authenticates.

use std::{sync::Arc, time::Duration};

use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};

use super::Metrics;

/// Longest request head read; a scraper's is a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;
/// Time a client has to send its request and take the answer.
const DEADLINE: Duration = Duration::from_secs(5);
/// Scrapes answered at once.
const AT_ONCE: usize = 8;

/// Answers scrapes on `listener` for as long as the returned future runs.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    let slots = Arc::new(Semaphore::new(AT_ONCE));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(error = %e, "metrics endpoint cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(DEADLINE, answer(stream, &metrics)).await;
            drop(slot);
        });
    }
}

/// Reads one request head and writes the answer.
async fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "",
                "",
                false,
            )
            .await;
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (parts.next().unwrap_or_default(), parts.next());
    let path = target.map(|t| t.split(|&b| b == b'?').next().unwrap_or_default());
    match (method, path) {
        (_, None) => respond(&mut stream, "400 Bad Request", "", "", false).await,
        (b"GET" | b"HEAD", Some(b"/metrics")) => {
            // HEAD: the same head (its Content-Length included), no body.
            let body = metrics.encode();
            let head_only = method == b"HEAD";
            respond(&mut stream, "200 OK", CONTENT_TYPE, &body, head_only).await
        }
        (b"GET" | b"HEAD", Some(_)) => {
            let head_only = method == b"HEAD";
            respond(
                &mut stream,
                "404 Not Found",
                "text/plain",
                "try /metrics\n",
                head_only,
            )
            .await
        }
        _ => respond(&mut stream, "405 Method Not Allowed", "", "", false).await,
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
    head_only: bool,
) -> std::io::Result<()> {
    let mut text = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    if !content_type.is_empty() {
        text.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    if status.starts_with("405") {
        text.push_str("Allow: GET, HEAD\r\n");
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    if !head_only {
        text.push_str(body);
    }
    stream.write_all(text.as_bytes()).await?;
    stream.shutdown().await
}
