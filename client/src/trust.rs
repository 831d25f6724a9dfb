//! Which servers the client believes: rustls verification against chosen roots, never switched off.

use std::{path::PathBuf, sync::Arc, time::Duration};

use quinn::{IdleTimeout, TransportConfig, VarInt, crypto::rustls::QuicClientConfig};
use rustls::RootCertStore;

use crate::ClientError;

/// The certificates a client accepts.
#[derive(Debug, Clone, Default)]
pub enum Trust {
    /// The system's trust store, plus the development CA of a server on this machine when present.
    #[default]
    Default,
    /// Only this CA (PEM): for a server with development certificates on another machine.
    CaFile(PathBuf),
}

/// Keep-alives well inside the server's idle timeout keep a quiet user connected, and let either side
/// notice a vanished peer within the idle timeout.
const KEEP_ALIVE: Duration = Duration::from_secs(3);
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

impl Trust {
    fn roots(&self) -> Result<RootCertStore, ClientError> {
        let mut roots = RootCertStore::empty();
        match self {
            Self::CaFile(path) => {
                for cert in certs::load_certs(path)? {
                    roots
                        .add(cert)
                        .map_err(|e| ClientError::Tls(format!("{}: {e}", path.display())))?;
                }
            }
            Self::Default => {
                let native = rustls_native_certs::load_native_certs();
                for e in &native.errors {
                    tracing::debug!(error = %e, "skipping part of the system trust store");
                }
                roots.add_parsable_certificates(native.certs);
                if let Some(ca) = certs::default_dir()
                    .map(|dir| dir.join(certs::CA_CERT_FILE))
                    .filter(|path| path.exists())
                {
                    match certs::load_certs(&ca) {
                        Ok(found) => {
                            roots.add_parsable_certificates(found);
                        }
                        Err(e) => tracing::warn!(error = %e, "ignoring the local development CA"),
                    }
                }
            }
        }
        if roots.is_empty() {
            return Err(ClientError::NoTrustAnchors);
        }
        Ok(roots)
    }

    /// The quinn client configuration: TLS 1.3 with our ALPN, verified against [`Self::roots`],
    /// presenting `identity` as the client certificate (the server knows the user by its key).
    pub fn client_config(
        &self,
        identity: &certs::Identity,
    ) -> Result<quinn::ClientConfig, ClientError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(self.roots()?)
            .with_client_auth_cert(identity.cert_chain(), identity.private_key())
            .map_err(|e| ClientError::Tls(format!("identity: {e}")))?;
        tls.alpn_protocols = vec![wire::ALPN.to_vec()];
        tls.enable_early_data = false;
        let crypto =
            QuicClientConfig::try_from(tls).map_err(|e| ClientError::Tls(e.to_string()))?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = TransportConfig::default();
        transport.keep_alive_interval(Some(KEEP_ALIVE));
        transport.max_idle_timeout(IdleTimeout::try_from(IDLE_TIMEOUT).ok());
        // The client never accepts streams from the server.
        transport.max_concurrent_bidi_streams(VarInt::from_u32(0));
        transport.max_concurrent_uni_streams(VarInt::from_u32(0));
        // Path MTU probes (four per connection, each padded to its size, each acknowledged) buy
        // nothing for the small frames of a chat: larger frames take more 1200-byte packets.
        transport.mtu_discovery_config(None);
        config.transport_config(Arc::new(transport));
        Ok(config)
    }
}
