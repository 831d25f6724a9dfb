//! A user's identity: a key pair and a self-signed certificate that the client presents on every
//! connection, and the fingerprint that names it.
//!
//! The identity is the public key, not the certificate: the fingerprint is SHA-256 over the
//! certificate's SubjectPublicKeyInfo, so re-issuing the certificate for the same key (new dates, new
//! serial) is the same identity, and the certificate's dates and names mean nothing. The TLS handshake
//! proves that the client holds the private key (its CertificateVerify signature), so the server needs
//! no chain and no CA: it only checks that the certificate is small and its key of a kind it accepts
//! ([`check_client_certificate`]), then looks at the fingerprint.

use std::{
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
};

use rcgen::{CertificateParams, DnType, KeyPair, PublicKeyData};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use sha2::{Digest, Sha256};
use thiserror::Error;
use x509_parser::{
    oid_registry::{
        OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
        OID_SIG_ED25519,
    },
    prelude::{FromDer, X509Certificate},
};

use crate::{CertError, files};

/// File names inside an identity directory.
pub const IDENTITY_CERT_FILE: &str = "identity.pem";
pub const IDENTITY_KEY_FILE: &str = "identity-key.pem";
/// Held while an identity is made, so that two clients started at once make one between them.
const IDENTITY_LOCK_FILE: &str = ".identity.lock";

/// The largest client certificate a server looks at. A self-signed Ed25519 certificate made here is
/// about 300 bytes and a P-384 one about 500; anything near this bound is not one of ours, and the
/// bound keeps what a stranger can make the server parse small.
pub const MAX_IDENTITY_CERT_BYTES: usize = 2048;

/// Where a user's identity lives by default: `$XDG_DATA_HOME/quic-chat/identity`.
pub fn default_identity_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "quicchat", "quic-chat")
        .map(|dirs| dirs.data_dir().join("identity"))
}

/// SHA-256 of a certificate's SubjectPublicKeyInfo: what owns a name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Bytes shown in [`Self::short`]: 64 bits, enough to tell a user's few devices apart at a glance
    /// (a name is bound to the whole fingerprint, never to the short form).
    const SHORT_BYTES: usize = 8;

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The fingerprint of a public key given as DER SubjectPublicKeyInfo.
    pub fn of_spki(spki_der: &[u8]) -> Self {
        Self(Sha256::digest(spki_der).into())
    }

    /// The first 8 bytes as hex in groups of four digits: `3f2a:91c0:5be7:d410`.
    pub fn short(&self) -> String {
        grouped_hex(&self.0[..Self::SHORT_BYTES])
    }

    /// Whether `text` names this fingerprint: its full hex form or a prefix of at least the short form
    /// (colons, spaces and case ignored).
    pub fn matches(&self, text: &str) -> bool {
        let wanted: String = text
            .chars()
            .filter(|c| !matches!(c, ':' | ' '))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        wanted.len() >= 2 * Self::SHORT_BYTES
            && wanted.len() <= 64
            && hex(&self.0).starts_with(&wanted)
    }
}

impl fmt::Display for Fingerprint {
    /// The whole fingerprint, grouped like [`Self::short`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&grouped_hex(&self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.short())
    }
}

/// A fingerprint written out in full was not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("a fingerprint is 64 hexadecimal digits (colons allowed)")]
pub struct BadFingerprint;

impl FromStr for Fingerprint {
    type Err = BadFingerprint;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let digits: Vec<u8> = text
            .bytes()
            .filter(|b| !matches!(b, b':' | b' '))
            .map(|b| match b {
                b'0'..=b'9' => Ok(b - b'0'),
                b'a'..=b'f' => Ok(b - b'a' + 10),
                b'A'..=b'F' => Ok(b - b'A' + 10),
                _ => Err(BadFingerprint),
            })
            .collect::<Result<_, _>>()?;
        if digits.len() != 64 {
            return Err(BadFingerprint);
        }
        let mut bytes = [0; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = pair[0] << 4 | pair[1];
        }
        Ok(Self(bytes))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn grouped_hex(bytes: &[u8]) -> String {
    let hex = hex(bytes);
    let groups: Vec<&str> = hex
        .as_bytes()
        .chunks(4)
        .filter_map(|chunk| std::str::from_utf8(chunk).ok())
        .collect();
    groups.join(":")
}

/// The kinds of key a server accepts in a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Ed25519,
    EcdsaP256,
    EcdsaP384,
}

/// Why a client certificate is not accepted as an identity.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertificateRefusal {
    #[error(
        "client certificate of {bytes} bytes is larger than the {MAX_IDENTITY_CERT_BYTES} allowed"
    )]
    TooLarge { bytes: usize },
    #[error("client certificate is not valid X.509: {0}")]
    Malformed(String),
    #[error("client certificate key is {0}; only Ed25519, ECDSA P-256 and P-384 are accepted")]
    UnsupportedKey(String),
}

/// Checks what a server needs of a client certificate before the handshake's signature proves the
/// key: a bounded size, parseable, a key of an accepted kind. Returns the key's kind and fingerprint.
pub fn check_client_certificate(der: &[u8]) -> Result<(KeyKind, Fingerprint), CertificateRefusal> {
    if der.len() > MAX_IDENTITY_CERT_BYTES {
        return Err(CertificateRefusal::TooLarge { bytes: der.len() });
    }
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| CertificateRefusal::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CertificateRefusal::Malformed(
            "trailing bytes after the certificate".into(),
        ));
    }
    let spki = cert.public_key();
    let algorithm = &spki.algorithm;
    let kind = if algorithm.algorithm == OID_SIG_ED25519 {
        KeyKind::Ed25519
    } else if algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .ok_or_else(|| {
                CertificateRefusal::UnsupportedKey("ECDSA without a named curve".into())
            })?;
        if curve == OID_EC_P256 {
            KeyKind::EcdsaP256
        } else if curve == OID_NIST_EC_P384 {
            KeyKind::EcdsaP384
        } else {
            return Err(CertificateRefusal::UnsupportedKey(format!(
                "ECDSA on curve {curve}"
            )));
        }
    } else if algorithm.algorithm == OID_PKCS1_RSAENCRYPTION {
        return Err(CertificateRefusal::UnsupportedKey("RSA".into()));
    } else {
        return Err(CertificateRefusal::UnsupportedKey(format!(
            "of algorithm {}",
            algorithm.algorithm
        )));
    };
    Ok((kind, Fingerprint::of_spki(spki.raw)))
}

/// A user's key pair and certificate, loaded from or written to an identity directory.
#[derive(Debug)]
pub struct Identity {
    dir: PathBuf,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    fingerprint: Fingerprint,
}

/// Whether [`Identity::load_or_create`] found one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityOutcome {
    Loaded,
    Created,
}

impl Identity {
    /// A new identity kept in memory only: for load tools and tests, whose users need not come back.
    pub fn ephemeral() -> Result<Self, CertError> {
        let (key, cert) = new_key_and_cert()?;
        let der = cert.der().clone();
        let (_, fingerprint) = check_client_certificate(&der)
            .map_err(|e| invalid(Path::new("(memory)"), "identity certificate", e.to_string()))?;
        Ok(Self {
            dir: PathBuf::new(),
            cert: der,
            key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            fingerprint,
        })
    }

    /// One identity kept in memory for the whole process, made on first use: every client of a
    /// load tool or a test suite then is the same key (a key may own many names), so a name taken
    /// by one of them can be taken again by another.
    pub fn for_this_process() -> Result<std::sync::Arc<Self>, CertError> {
        static PROCESS: std::sync::Mutex<Option<std::sync::Arc<Identity>>> =
            std::sync::Mutex::new(None);
        let mut slot = PROCESS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(identity) = &*slot {
            return Ok(identity.clone());
        }
        let identity = std::sync::Arc::new(Self::ephemeral()?);
        *slot = Some(identity.clone());
        Ok(identity)
    }

    /// The identity in `dir`, made (Ed25519, key file mode 0600) when the directory holds none.
    pub fn load_or_create(dir: &Path) -> Result<(Self, IdentityOutcome), CertError> {
        let cert_path = dir.join(IDENTITY_CERT_FILE);
        let key_path = dir.join(IDENTITY_KEY_FILE);
        // Both files there: made before (each is written whole, then renamed into place). One
        // alone may be another client's creation half done: wait for its lock below.
        if cert_path.exists() && key_path.exists() {
            return Ok((Self::load(dir)?, IdentityOutcome::Loaded));
        }
        files::create_private_dir(dir)?;
        // Two clients started at once (two chat-cli, chat-cli and chat-gtk) would each make a key
        // and write over the other's: the second to get the lock loads the first one's identity.
        let _lock = files::lock(&dir.join(IDENTITY_LOCK_FILE))?;
        if cert_path.exists() || key_path.exists() {
            return Ok((Self::load(dir)?, IdentityOutcome::Loaded));
        }
        let (key, cert) = new_key_and_cert()?;
        // The key first: a crash between the two writes leaves a key without a certificate, which
        // `load` reports, rather than a certificate whose key is lost.
        files::write_private(&key_path, &key.serialize_pem())?;
        files::write_public(&cert_path, &cert.pem())?;
        Ok((Self::load(dir)?, IdentityOutcome::Created))
    }

    /// The identity in `dir`; an error when it is missing, unreadable, or the key does not match.
    pub fn load(dir: &Path) -> Result<Self, CertError> {
        let cert_path = dir.join(IDENTITY_CERT_FILE);
        let key_path = dir.join(IDENTITY_KEY_FILE);
        let cert = crate::load_certs(&cert_path)?
            .into_iter()
            .next()
            .ok_or_else(|| invalid(&cert_path, "certificate", "empty".into()))?;
        let key_pem = std::fs::read_to_string(&key_path).map_err(|source| CertError::Io {
            path: key_path.clone(),
            source,
        })?;
        let pair = KeyPair::from_pem(&key_pem)
            .map_err(|e| invalid(&key_path, "private key", e.to_string()))?;
        let (_, fingerprint) = check_client_certificate(&cert)
            .map_err(|e| invalid(&cert_path, "identity certificate", e.to_string()))?;
        if Fingerprint::of_spki(&pair.subject_public_key_info()) != fingerprint {
            return Err(invalid(
                &key_path,
                "private key",
                format!("it does not belong to {}", cert_path.display()),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| invalid(&key_path, "private key", e.to_string()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            cert,
            key,
            fingerprint,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The certificate to present, as the one-element chain rustls takes.
    pub fn cert_chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert.clone()]
    }

    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }
}

fn new_key_and_cert() -> Result<(KeyPair, rcgen::Certificate), CertError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "quic-chat identity");
    // Dates are not identity (see the module docs); a long validity only keeps strict parsers from
    // calling the certificate expired.
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = params.not_before + time::Duration::days(365 * 100);
    let cert = params.self_signed(&key)?;
    Ok((key, cert))
}

fn invalid(path: &Path, what: &'static str, detail: String) -> CertError {
    CertError::Invalid {
        path: path.to_path_buf(),
        what,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_loaded_with_the_same_fingerprint() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("identity");
        let (made, outcome) = Identity::load_or_create(&path).expect("create");
        assert_eq!(outcome, IdentityOutcome::Created);
        let (again, outcome) = Identity::load_or_create(&path).expect("load");
        assert_eq!(outcome, IdentityOutcome::Loaded);
        assert_eq!(made.fingerprint(), again.fingerprint());
        let (kind, fingerprint) = check_client_certificate(&made.cert_chain()[0]).expect("ours");
        assert_eq!(kind, KeyKind::Ed25519);
        assert_eq!(fingerprint, made.fingerprint());
        assert!(made.cert_chain()[0].len() < MAX_IDENTITY_CERT_BYTES / 4);
    }

    #[cfg(unix)]
    #[test]
    fn the_key_and_its_directory_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("identity");
        Identity::load_or_create(&path).expect("create");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&path.join(IDENTITY_KEY_FILE)), 0o600);
        assert_eq!(mode(&path), 0o700);
    }

    #[test]
    fn clients_started_at_once_make_one_identity_between_them() {
        const CLIENTS: usize = 8;
        let dir = tempfile::tempdir().expect("temp dir");
        for round in 0..10 {
            let path = dir.path().join(format!("identity{round}"));
            let start = std::sync::Barrier::new(CLIENTS);
            let made: Vec<_> = std::thread::scope(|scope| {
                let clients: Vec<_> = (0..CLIENTS)
                    .map(|_| {
                        scope.spawn(|| {
                            start.wait();
                            Identity::load_or_create(&path)
                                .map(|(identity, outcome)| (identity.fingerprint(), outcome))
                                .map_err(|e| e.to_string())
                        })
                    })
                    .collect();
                clients
                    .into_iter()
                    .map(|c| c.join().expect("no panic"))
                    .collect()
            });
            let made: Vec<_> = made
                .into_iter()
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            let created = made
                .iter()
                .filter(|(_, o)| *o == IdentityOutcome::Created)
                .count();
            assert_eq!(created, 1, "round {round}: {made:?}");
            assert!(
                made.iter().all(|(f, _)| *f == made[0].0),
                "round {round}: {made:?}"
            );
            assert_eq!(
                Identity::load(&path).expect("load").fingerprint(),
                made[0].0
            );
            let left: Vec<_> = std::fs::read_dir(&path)
                .expect("list")
                .map(|e| e.expect("entry").file_name())
                .filter(|n| n.to_string_lossy().contains(".tmp"))
                .collect();
            assert!(left.is_empty(), "temporary files left: {left:?}");
        }
    }

    #[test]
    fn ephemeral_identities_are_new_each_time() {
        let a = Identity::ephemeral().expect("a");
        let b = Identity::ephemeral().expect("b");
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(
            check_client_certificate(&a.cert_chain()[0]).map(|(_, f)| f),
            Ok(a.fingerprint())
        );
    }

    #[test]
    fn two_identities_differ_and_a_mismatched_key_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, _) = Identity::load_or_create(&dir.path().join("a")).expect("a");
        let (b, _) = Identity::load_or_create(&dir.path().join("b")).expect("b");
        assert_ne!(a.fingerprint(), b.fingerprint());
        std::fs::copy(
            dir.path().join("b").join(IDENTITY_KEY_FILE),
            dir.path().join("a").join(IDENTITY_KEY_FILE),
        )
        .expect("copy");
        let err = Identity::load(&dir.path().join("a")).expect_err("mismatch");
        assert!(err.to_string().contains("does not belong"), "{err}");
    }

    #[test]
    fn key_kinds_and_sizes_are_checked() {
        for (alg, kind) in [
            (&rcgen::PKCS_ECDSA_P256_SHA256, KeyKind::EcdsaP256),
            (&rcgen::PKCS_ECDSA_P384_SHA384, KeyKind::EcdsaP384),
        ] {
            let key = KeyPair::generate_for(alg).expect("key");
            let cert = CertificateParams::new(Vec::<String>::new())
                .expect("params")
                .self_signed(&key)
                .expect("cert");
            let (got, fingerprint) = check_client_certificate(cert.der()).expect("accepted");
            assert_eq!(got, kind);
            assert_eq!(
                fingerprint,
                Fingerprint::of_spki(&key.subject_public_key_info())
            );
        }
        let rsa = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
        let cert = CertificateParams::new(Vec::<String>::new())
            .expect("params")
            .self_signed(&rsa)
            .expect("cert");
        assert!(matches!(
            check_client_certificate(cert.der()),
            Err(CertificateRefusal::UnsupportedKey(_))
        ));
        assert!(matches!(
            check_client_certificate(&vec![0x30; MAX_IDENTITY_CERT_BYTES + 1]),
            Err(CertificateRefusal::TooLarge { .. })
        ));
        assert!(matches!(
            check_client_certificate(b"not a certificate"),
            Err(CertificateRefusal::Malformed(_))
        ));
    }

    #[test]
    fn fingerprints_print_parse_and_match_prefixes() {
        let fingerprint = Fingerprint::from_bytes(std::array::from_fn(|i| i as u8 * 7));
        let full = fingerprint.to_string();
        assert_eq!(full.parse::<Fingerprint>(), Ok(fingerprint));
        assert_eq!(fingerprint.short(), "0007:0e15:1c23:2a31");
        assert!(fingerprint.matches(&fingerprint.short()));
        assert!(fingerprint.matches(&full.to_uppercase()));
        assert!(!fingerprint.matches("0007:0e15"), "too short to name a key");
        assert!(!fingerprint.matches("0007:0e15:1c23:2a32"));
        assert_eq!("00:11".parse::<Fingerprint>(), Err(BadFingerprint));
        assert_eq!("zz".repeat(32).parse::<Fingerprint>(), Err(BadFingerprint));
    }
}
