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
        SCHEMES.to_vec()
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
