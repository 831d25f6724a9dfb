//! Development certificates: a local certificate authority and a server certificate it signs, for
//! `localhost`, `127.0.0.1`, `::1` and this machine's host name.
//!
//! The server calls [`ensure`] at start: certificates already in the directory are reused while they
//! are valid and cover this host, so clients that trust the CA keep working across restarts. A server
//! certificate that is missing, about to expire or made for another host name is re-issued by the same
//! CA; only a missing or expiring CA starts over. Clients on the same machine find the CA through
//! [`default_dir`] and trust it, which is what makes "start the server, start a client" work with no
//! set-up and no unverified mode.

mod files;
mod identity;
mod issue;

use std::path::{Path, PathBuf};

use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use thiserror::Error;

pub use identity::{
    BadFingerprint, CertificateRefusal, Fingerprint, IDENTITY_CERT_FILE, IDENTITY_KEY_FILE,
    Identity, IdentityOutcome, KeyKind, MAX_IDENTITY_CERT_BYTES, check_client_certificate,
    default_identity_dir,
};
pub use issue::{CA_VALIDITY_DAYS, RENEW_BEFORE_DAYS, SERVER_VALIDITY_DAYS};

/// File names inside the certificate directory.
pub const CA_CERT_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca-key.pem";
pub const SERVER_CERT_FILE: &str = "server.pem";
pub const SERVER_KEY_FILE: &str = "server-key.pem";

/// Where development certificates live by default: `$XDG_DATA_HOME/quic-chat/certs`.
pub fn default_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "quicchat", "quic-chat")
        .map(|dirs| dirs.data_dir().join("certs"))
}

/// The paths of a usable set of development certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevCerts {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// What [`ensure`] had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was present and valid.
    Reused,
    /// The CA was kept; the server certificate was (re-)issued.
    ServerReissued,
    /// A new CA and server certificate were made.
    Created,
}

#[derive(Debug, Error)]
pub enum CertError {
    #[error("cannot use certificate directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot generate certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path} holds no usable {what}: {detail}")]
    Invalid {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
}

/// Makes sure `dir` holds a valid CA and server certificate, creating or renewing what is needed.
pub fn ensure(dir: &Path) -> Result<(DevCerts, Outcome), CertError> {
    ensure_at(dir, time::OffsetDateTime::now_utc(), &host_names())
}

fn ensure_at(
    dir: &Path,
    now: time::OffsetDateTime,
    hosts: &[String],
) -> Result<(DevCerts, Outcome), CertError> {
    files::create_dir(dir)?;
    let certs = DevCerts {
        dir: dir.to_path_buf(),
        ca_cert: dir.join(CA_CERT_FILE),
        server_cert: dir.join(SERVER_CERT_FILE),
        server_key: dir.join(SERVER_KEY_FILE),
    };
    let ca_key = dir.join(CA_KEY_FILE);

    let ca = match issue::load_ca(&certs.ca_cert, &ca_key, now) {
        Some(ca) => ca,
        None => {
            let ca = issue::new_ca(now)?;
            files::write_private(&ca_key, &ca.key_pem)?;
            files::write_public(&certs.ca_cert, &ca.cert_pem)?;
            let server = issue::new_server(&ca, hosts, now)?;
            files::write_private(&certs.server_key, &server.key_pem)?;
            files::write_public(&certs.server_cert, &server.cert_pem)?;
            return Ok((certs, Outcome::Created));
        }
    };
    if issue::server_is_usable(&certs.server_cert, &certs.server_key, &ca, hosts, now) {
        return Ok((certs, Outcome::Reused));
    }
    let server = issue::new_server(&ca, hosts, now)?;
    files::write_private(&certs.server_key, &server.key_pem)?;
    files::write_public(&certs.server_cert, &server.cert_pem)?;
    Ok((certs, Outcome::ServerReissued))
}

/// The names the server certificate covers.
fn host_names() -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty() && !names.contains(h))
    {
        names.push(host);
    }
    names
}

/// Reads every certificate in a PEM file (a chain: leaf first).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let invalid = |detail: String| CertError::Invalid {
        path: path.to_path_buf(),
        what: "certificate",
        detail,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    if certs.is_empty() {
        return Err(invalid("no CERTIFICATE block".into()));
    }
    Ok(certs)
}

/// Reads the first private key in a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, CertError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| CertError::Invalid {
        path: path.to_path_buf(),
        what: "private key",
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests;
