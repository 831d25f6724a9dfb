//! Making and checking the certificates themselves.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::CertError;

/// How long a new development CA is valid.
pub const CA_VALIDITY_DAYS: i64 = 3650;
/// How long a new server certificate is valid.
pub const SERVER_VALIDITY_DAYS: i64 = 90;
/// A certificate that expires sooner than this is replaced at start-up.
pub const RENEW_BEFORE_DAYS: i64 = 7;

const CA_NAME: &str = "quic-chat development CA";

pub(crate) struct Ca {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
    issuer: Issuer<'static, KeyPair>,
    subject_der: Vec<u8>,
}

pub(crate) struct Leaf {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

pub(crate) fn new_ca(now: OffsetDateTime) -> Result<Ca, CertError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    // A name of its own per CA: a verifier picks the issuer by name, and two dev CAs with one name
    // would turn "not trusted" into a confusing "bad signature".
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    params.distinguished_name.push(
        DnType::CommonName,
        format!("{CA_NAME} {host} {}", now.unix_timestamp_nanos()),
    );
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + Duration::days(CA_VALIDITY_DAYS);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    let cert_pem = cert.pem();
    let key_pem = key.serialize_pem();
    let subject_der = subject_of(cert.der()).unwrap_or_default();
    Ok(Ca {
        cert_pem,
        key_pem,
        issuer: Issuer::new(params, key),
        subject_der,
    })
}

pub(crate) fn new_server(
    ca: &Ca,
    hosts: &[String],
    now: OffsetDateTime,
) -> Result<Leaf, CertError> {
    let mut params = CertificateParams::new(hosts.to_vec())?;
    params
        .distinguished_name
        .push(DnType::CommonName, hosts.first().map_or("localhost", |h| h));
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + Duration::days(SERVER_VALIDITY_DAYS);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca.issuer)?;
    Ok(Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The CA in the directory, if both files are there, parse, and the CA stays valid long enough.
pub(crate) fn load_ca(cert_path: &Path, key_path: &Path, now: OffsetDateTime) -> Option<Ca> {
    let cert_pem = std::fs::read_to_string(cert_path).ok()?;
    let key_pem = std::fs::read_to_string(key_path).ok()?;
    let der = first_der(&cert_pem)?;
    let (_, cert) = X509Certificate::from_der(&der).ok()?;
    if !lasts(&cert, now) {
        return None;
    }
    let subject_der = cert.subject().as_raw().to_vec();
    let key = KeyPair::from_pem(&key_pem).ok()?;
    if key.public_key_raw() != cert.public_key().subject_public_key.data.as_ref() {
        return None;
    }
    let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).ok()?;
    Some(Ca {
        cert_pem,
        key_pem,
        issuer,
        subject_der,
    })
}

/// Whether the server certificate on disk was issued by `ca`, covers `hosts`, lasts long enough and
/// matches its key.
pub(crate) fn server_is_usable(
    cert_path: &Path,
    key_path: &Path,
    ca: &Ca,
    hosts: &[String],
    now: OffsetDateTime,
) -> bool {
    let Some(der) = std::fs::read_to_string(cert_path)
        .ok()
        .and_then(|pem| first_der(&pem))
    else {
        return false;
    };
    let Ok((_, cert)) = X509Certificate::from_der(&der) else {
        return false;
    };
    let Some(key) = std::fs::read_to_string(key_path)
        .ok()
        .and_then(|pem| KeyPair::from_pem(&pem).ok())
    else {
        return false;
    };
    let covered = covered_names(&cert);
    lasts(&cert, now)
        && cert.issuer().as_raw() == ca.subject_der.as_slice()
        && key.public_key_raw() == cert.public_key().subject_public_key.data.as_ref()
        && hosts.iter().all(|h| covered.contains(h))
}

fn lasts(cert: &X509Certificate<'_>, now: OffsetDateTime) -> bool {
    let not_after = cert.validity().not_after.to_datetime();
    let not_before = cert.validity().not_before.to_datetime();
    not_before <= now && now + Duration::days(RENEW_BEFORE_DAYS) < not_after
}

fn covered_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some((*dns).to_owned()),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .ok()
                    .map(|b| std::net::Ipv4Addr::from(b).to_string()),
                16 => <[u8; 16]>::try_from(*bytes)
                    .ok()
                    .map(|b| std::net::Ipv6Addr::from(b).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn first_der(pem: &str) -> Option<Vec<u8>> {
    use rustls_pki_types::{CertificateDer, pem::PemObject};
    CertificateDer::from_pem_slice(pem.as_bytes())
        .ok()
        .map(|c| c.to_vec())
}

fn subject_of(der: &[u8]) -> Option<Vec<u8>> {
    X509Certificate::from_der(der)
        .ok()
        .map(|(_, c)| c.subject().as_raw().to_vec())
}
