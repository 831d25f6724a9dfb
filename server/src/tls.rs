//! TLS and QUIC transport configuration, each number with its reason.

use std::sync::Arc;

use quinn::{
    AckFrequencyConfig, IdleTimeout, TransportConfig, VarInt, crypto::rustls::QuicServerConfig,
};

use crate::{Limits, ServerError, TlsSource, client_auth::IdentityVerifier};

/// The certificate material the server presents, plus the CA file clients should trust when it is
/// a development certificate.
pub(crate) struct Identity {
    pub(crate) chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    pub(crate) key: rustls::pki_types::PrivateKeyDer<'static>,
    pub(crate) dev_ca: Option<std::path::PathBuf>,
}

pub(crate) fn load_identity(source: &TlsSource) -> Result<Identity, ServerError> {
    match source {
        TlsSource::Files { cert, key } => Ok(Identity {
            chain: certs::load_certs(cert)?,
            key: certs::load_key(key)?,
            dev_ca: None,
        }),
        TlsSource::DevCerts { dir } => {
            let (dev, outcome) = certs::ensure(dir)?;
            tracing::info!(?outcome, dir = %dev.dir.display(), "development certificates");
            Ok(Identity {
                chain: certs::load_certs(&dev.server_cert)?,
                key: certs::load_key(&dev.server_key)?,
                dev_ca: Some(dev.ca_cert),
            })
        }
    }
}

pub(crate) fn server_config(
    identity: Identity,
    limits: &Limits,
) -> Result<quinn::ServerConfig, ServerError> {
    let provider = crypto_provider();
    // aws-lc seeds its random number generator on first use from CPU jitter, which took 70 ms of
    // CPU here: done now, while starting, instead of in the first client's handshake.
    provider
        .secure_random
        .fill(&mut [0u8; 16])
        .map_err(|_| ServerError::Quic("no random numbers for TLS".into()))?;
    let verifier = Arc::new(IdentityVerifier::new(&provider));
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(ServerError::Tls)?
        // Every client presents its identity; see `client_auth`.
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain, identity.key)
        .map_err(ServerError::Tls)?;
    tls.alpn_protocols = vec![wire::ALPN.to_vec()];
    tls.ignore_client_order = true;
    // No 0-RTT: early data can be replayed, and a chat line must never be said twice.
    tls.max_early_data_size = 0;
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| ServerError::Quic(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport(limits)?));
    Ok(config)
}

/// aws-lc-rs with AES-128-GCM (SHA-256) as the first choice. With `ignore_client_order` the server
/// picks it even when the client lists AES-256 first, as rustls clients do: every new connection
/// derives its keys with HKDF, and SHA-384 (for AES-256) has no instructions of its own on x86 where
/// SHA-256 has, so HKDF-SHA-384 was 6.6% of the server's CPU in a profile of connecting clients.
/// AES-128 key schedules are also smaller, and it is TLS 1.3's mandatory suite.
fn crypto_provider() -> rustls::crypto::CryptoProvider {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|suite| suite.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    provider
}

/// Packets a client may receive before it must acknowledge them.
const ACK_ELICITING_THRESHOLD: u32 = 9;

fn transport(limits: &Limits) -> Result<TransportConfig, ServerError> {
    let mut t = TransportConfig::default();
    // Exactly one bidirectional stream per client and no unidirectional ones: the protocol has one
    // stream, so the transport itself refuses any other.
    t.max_concurrent_bidi_streams(VarInt::from_u32(1));
    t.max_concurrent_uni_streams(VarInt::from_u32(0));
    // What a client may send ahead of what we have read: at full speed every byte of it is a line
    // that has been said but waits (see Limits::receive_window_bytes). It used to be two frames of
    // the largest size (128 KiB), so that one frame never waited for a window update; a frame
    // larger than the window now takes a round trip per window, which only the rare long line
    // pays, while a full-speed speaker's lines no longer wait behind a thousand of its own.
    let receive_window = VarInt::from_u64(limits.receive_window_bytes.max(1))
        .map_err(|_| ServerError::Quic("receive window too large".into()))?;
    t.stream_receive_window(receive_window);
    t.receive_window(receive_window);
    // Unacknowledged data we keep per client; the per-client queue bounds the rest.
    t.send_window(limits.send_window_bytes.max(1));
    t.datagram_receive_buffer_size(None);
    // Without segmentation offload, quinn's per-connection transmit buffer holds one packet: with
    // it, the buffer grows to ten packets (13 KiB per connection, a quarter of an idle member's
    // memory in a heap profile) as soon as one large frame such as a Welcome goes out, and keeps
    // that size. A chat server's writes are mostly one small packet per member.
    t.enable_segmentation_offload(false);
    // No path MTU discovery: its probes are padded to the size being tried, and each side sent
    // four of them with their acknowledgements in every new connection, 16 of a join's 24
    // datagrams (a trace of one join). Chat frames are small; a large one (a Welcome) simply takes
    // more packets of the 1200 bytes every QUIC path carries.
    t.mtu_discovery_config(None);
    let idle = IdleTimeout::try_from(limits.idle_timeout)
        .map_err(|_| ServerError::Quic("idle timeout out of range".into()))?;
    t.max_idle_timeout(Some(idle));
    // Almost every packet of a chat server goes out (one line, many receivers), and by default
    // each receiver acknowledges every other packet: at full load nearly as many packets come
    // back as go out, each costing a receive, a decryption and loss-detection work. Asking
    // clients (who all support the extension; quinn advertises min_ack_delay) to acknowledge
    // every tenth packet, or after their usual 25 ms, removes most of them. Loss is still
    // detected by the packet threshold: out-of-order arrival is acknowledged at once.
    let mut acks = AckFrequencyConfig::default();
    acks.ack_eliciting_threshold(VarInt::from_u32(ACK_ELICITING_THRESHOLD));
    t.ack_frequency_config(Some(acks));
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_128_comes_first_and_nothing_is_dropped() {
        let ours = crypto_provider().cipher_suites;
        let default = rustls::crypto::aws_lc_rs::default_provider().cipher_suites;
        assert_eq!(
            ours.first().map(|s| s.suite()),
            Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
        );
        assert_eq!(ours.len(), default.len());
        assert!(default.iter().all(|d| ours.contains(d)));
    }
}
