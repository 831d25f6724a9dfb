//! Client certificates: every client presents one, and its key is who the user is.
//!
//! There is no chain and no CA to check: the certificate is self-signed, made by the client on first
//! use, and only its public key matters (the fingerprint, see `certs::Fingerprint`). What proves the
//! client holds that key is the TLS 1.3 CertificateVerify signature, which rustls checks through
//! [`IdentityVerifier::verify_tls13_signature`]. Before that, [`certs::check_client_certificate`]
//! refuses what we do not want to parse further: more than a couple of kilobytes, anything that is not
//! X.509, keys other than Ed25519, P-256 and P-384. Validity dates are ignored on purpose: they are not
//! identity, and a user whose clock is wrong must not lose their name.

use std::sync::Arc;

use rustls::{
    DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    crypto::{WebPkiSupportedAlgorithms, verify_tls13_signature},
    pki_types::{CertificateDer, UnixTime},
    server::danger::{ClientCertVerified, ClientCertVerifier},
};

/// Accepts any self-signed certificate whose key is of an accepted kind, and requires one.
#[derive(Debug)]
pub(crate) struct IdentityVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl IdentityVerifier {
    pub(crate) fn new(provider: &rustls::crypto::CryptoProvider) -> Self {
        Self {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

/// The signature schemes of the accepted keys; TLS 1.3 ties each ECDSA curve to one hash.
const SCHEMES: [SignatureScheme; 3] = [
    SignatureScheme::ED25519,
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ECDSA_NISTP384_SHA384,
];

/// What the server's CertificateRequest lists: the accepted schemes and RSA's. A client whose key
/// is RSA then sends its certificate and is told why it is refused, instead of sending none (its
/// TLS library finds no listed scheme it can sign with) and hearing only "no certificates".
const OFFERED: [SignatureScheme; 6] = [
    SignatureScheme::ED25519,
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ECDSA_NISTP384_SHA384,
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PSS_SHA512,
];

fn refused(why: impl std::error::Error + Send + Sync + 'static) -> rustls::Error {
    // `Other` carries the reason's own words into the handshake failure the client sees.
    rustls::Error::Other(OtherError(Arc::new(why)))
}

/// A chain was sent where one self-signed certificate is expected.
#[derive(Debug, thiserror::Error)]
#[error("send one self-signed client certificate, not a chain of {0}")]
struct NotAlone(usize);

impl ClientCertVerifier for IdentityVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if !intermediates.is_empty() {
            return Err(refused(NotAlone(intermediates.len() + 1)));
        }
        certs::check_client_certificate(end_entity).map_err(refused)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The server's configuration offers TLS 1.3 only, so this is never reached.
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if !SCHEMES.contains(&dss.scheme) {
            return Err(rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            ));
        }
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        OFFERED.to_vec()
    }
}

/// The fingerprint of the key a connection's client proved it holds, from its handshake.
pub(crate) fn peer_fingerprint(connection: &quinn::Connection) -> Option<certs::Fingerprint> {
    let chain = connection
        .peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()?;
    let (_, fingerprint) = certs::check_client_certificate(chain.first()?).ok()?;
    Some(fingerprint)
}

#[cfg(test)]
mod tests {
    //! Real QUIC handshakes on loopback between a quinn server using [`IdentityVerifier`] and quinn
    //! clients presenting various certificates.

    use std::{net::SocketAddr, sync::Arc, time::Duration};

    use quinn::{Endpoint, crypto::rustls::QuicClientConfig, crypto::rustls::QuicServerConfig};
    use rcgen::{CertificateParams, CustomExtension, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    use super::*;

    struct Server {
        endpoint: Endpoint,
        ca: Vec<CertificateDer<'static>>,
        _dir: tempfile::TempDir,
    }

    fn server() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let (dev, _) = certs::ensure(dir.path()).expect("dev certs");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("tls 1.3")
            .with_client_cert_verifier(Arc::new(IdentityVerifier::new(&provider)))
            .with_single_cert(
                certs::load_certs(&dev.server_cert).expect("cert"),
                certs::load_key(&dev.server_key).expect("key"),
            )
            .expect("server config");
        tls.alpn_protocols = vec![b"test".to_vec()];
        let crypto = QuicServerConfig::try_from(tls).expect("quic server config");
        let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let endpoint =
            Endpoint::server(config, "127.0.0.1:0".parse().expect("addr")).expect("endpoint");
        Server {
            endpoint,
            ca: certs::load_certs(&dev.ca_cert).expect("ca"),
            _dir: dir,
        }
    }

    /// Connects with `identity` (or none) and returns what each side saw: the server's fingerprint
    /// of the client, or the reason the client was given for the failed handshake.
    async fn handshake(
        server: &Server,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Result<certs::Fingerprint, String> {
        let mut roots = rustls::RootCertStore::empty();
        for ca in &server.ca {
            roots.add(ca.clone()).expect("root");
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("tls 1.3")
        .with_root_certificates(roots);
        let mut tls = match identity {
            // Through a resolver of our own: rustls's `with_client_auth_cert` would refuse to send
            // some of the certificates these tests need the server to see.
            Some((chain, key)) => {
                let signer = rustls::crypto::aws_lc_rs::default_provider()
                    .key_provider
                    .load_private_key(key)
                    .expect("signing key");
                builder.with_client_cert_resolver(Arc::new(Present(Arc::new(
                    rustls::sign::CertifiedKey::new(chain, signer),
                ))))
            }
            None => builder.with_no_client_auth(),
        };
        tls.alpn_protocols = vec![b"test".to_vec()];
        let crypto = QuicClientConfig::try_from(tls).expect("quic client config");
        let mut client =
            Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("client endpoint");
        client.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        let addr: SocketAddr = server.endpoint.local_addr().expect("addr");
        let accept = async {
            let incoming = server.endpoint.accept().await.expect("incoming");
            match incoming.await {
                Ok(conn) => Ok((peer_fingerprint(&conn).expect("a fingerprint"), conn)),
                Err(e) => Err(e.to_string()),
            }
        };
        let connect = async {
            let conn = client
                .connect(addr, "localhost")
                .expect("connect")
                .await
                .map_err(|e| e.to_string())?;
            // In TLS 1.3 the client's side is done before the server has read its certificate:
            // a refusal arrives as the connection's close.
            match tokio::time::timeout(Duration::from_millis(500), conn.closed()).await {
                Ok(e) => Err(e.to_string()),
                Err(_) => Ok(()),
            }
        };
        let (accepted, connected) = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::join!(accept, connect)
        })
        .await
        .expect("bounded handshake");
        match (accepted, connected) {
            (Ok((fingerprint, _conn)), Ok(())) => Ok(fingerprint),
            (_, Err(client_saw)) => Err(client_saw),
            (Err(server_saw), Ok(())) => panic!("server failed ({server_saw}), client did not"),
        }
    }

    /// Presents one certificate, whatever it holds.
    #[derive(Debug)]
    struct Present(Arc<rustls::sign::CertifiedKey>);

    impl rustls::client::ResolvesClientCert for Present {
        fn resolve(
            &self,
            _hints: &[&[u8]],
            _schemes: &[SignatureScheme],
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }

        fn has_certs(&self) -> bool {
            true
        }
    }

    fn self_signed(
        alg: &'static rcgen::SignatureAlgorithm,
        padding: usize,
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate_for(alg).expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        if padding > 0 {
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    &[1, 3, 6, 1, 4, 1, 55555, 1],
                    vec![0x55; padding],
                ));
        }
        let cert = params.self_signed(&key).expect("cert");
        (
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
    }

    #[tokio::test]
    async fn the_handshake_proves_the_key_and_names_its_fingerprint() {
        let server = server();
        let identity = certs::Identity::ephemeral().expect("identity");
        let seen = handshake(
            &server,
            Some((identity.cert_chain(), identity.private_key())),
        )
        .await;
        assert_eq!(seen, Ok(identity.fingerprint()));
        let (chain, key) = self_signed(&rcgen::PKCS_ECDSA_P384_SHA384, 0);
        assert!(handshake(&server, Some((chain, key))).await.is_ok());
    }

    #[tokio::test]
    async fn no_certificate_or_the_wrong_kind_fails_the_handshake_with_a_reason() {
        let server = server();
        let none = handshake(&server, None).await.expect_err("no certificate");
        assert!(none.contains("no certificates"), "{none}");
        let rsa = handshake(&server, Some(self_signed(&rcgen::PKCS_RSA_SHA256, 0)))
            .await
            .expect_err("RSA");
        assert!(rsa.contains("key is RSA; only Ed25519"), "{rsa}");
        let big = handshake(&server, Some(self_signed(&rcgen::PKCS_ED25519, 4000)))
            .await
            .expect_err("large");
        assert!(big.contains("larger than"), "{big}");
        let huge = handshake(&server, Some(self_signed(&rcgen::PKCS_ED25519, 64 * 1024)))
            .await
            .expect_err("64 KiB");
        // rustls reads handshake messages of up to 64 KiB, so this never reaches our parser: the
        // server fails the handshake as soon as the message is too long to buffer.
        assert!(huge.contains("HandshakePayloadTooLarge"), "{huge}");
    }
}
