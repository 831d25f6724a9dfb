//! One book of owners for the session to ask, whichever kind the server keeps: SQLite on a single
//! node, the JetStream bucket in a cluster. An enum rather than a trait object: two kinds, known at
//! compile time, and async methods without boxing.

use certs::Fingerprint;

use super::{
    Claim, CodeKind, Device, NatsOwners, OwnersError, Registration, Revoke, SqliteOwners,
    codes::Code,
};

// One per server: the size of the cluster's variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Owners {
    /// A short SQLite transaction, run in place: like the history's appends, it is far shorter
    /// than a hand-off to a blocking thread would be.
    Local(SqliteOwners),
    Cluster(NatsOwners),
}

impl Owners {
    pub(crate) async fn claim(
        &self,
        name_key: &str,
        display: &str,
        key: &Fingerprint,
        registration: Registration,
        now_ms: u64,
    ) -> Result<Claim, OwnersError> {
        match self {
            Self::Local(book) => book.claim(name_key, display, key, registration, now_ms),
            Self::Cluster(book) => {
                book.claim(name_key, display, key, registration, now_ms)
                    .await
            }
        }
    }

    pub(crate) async fn link(
        &self,
        name_key: &str,
        display: &str,
        key: &Fingerprint,
        now_ms: u64,
    ) -> Result<Claim, OwnersError> {
        match self {
            Self::Local(book) => book.link(name_key, display, key, now_ms),
            Self::Cluster(book) => book.link(name_key, display, key, now_ms).await,
        }
    }

    pub(crate) async fn devices(&self, name_key: &str) -> Result<Vec<Device>, OwnersError> {
        match self {
            Self::Local(book) => book.devices(name_key),
            Self::Cluster(book) => book.devices(name_key).await,
        }
    }

    pub(crate) async fn revoke(
        &self,
        name_key: &str,
        typed: &str,
        now_ms: u64,
    ) -> Result<Revoke, OwnersError> {
        match self {
            Self::Local(book) => book.revoke(name_key, typed, now_ms),
            Self::Cluster(book) => book.revoke(name_key, typed).await,
        }
    }

    pub(crate) async fn ban(
        &self,
        name_key: &str,
        reason: &str,
        now_ms: u64,
    ) -> Result<(), OwnersError> {
        match self {
            Self::Local(book) => book.ban(name_key, reason, now_ms),
            Self::Cluster(book) => book.ban(name_key, reason).await,
        }
    }

    pub(crate) async fn unban(&self, name_key: &str) -> Result<bool, OwnersError> {
        match self {
            Self::Local(book) => book.unban(name_key),
            Self::Cluster(book) => book.unban(name_key).await,
        }
    }

    pub(crate) async fn release(&self, name_key: &str) -> Result<bool, OwnersError> {
        match self {
            Self::Local(book) => book.release(name_key),
            Self::Cluster(book) => book.release(name_key).await,
        }
    }

    pub(crate) async fn add_code(
        &self,
        kind: CodeKind,
        code: &Code,
        name: (&str, &str),
        expires_ms: u64,
    ) -> Result<(), OwnersError> {
        match self {
            Self::Local(book) => book.add_code(kind, code, name, expires_ms),
            Self::Cluster(book) => book.add_code(kind, code, name, expires_ms).await,
        }
    }

    pub(crate) async fn take_code(
        &self,
        kind: CodeKind,
        code: &Code,
        now_ms: u64,
    ) -> Result<Option<(String, String)>, OwnersError> {
        match self {
            Self::Local(book) => book.take_code(kind, code, now_ms),
            Self::Cluster(book) => book.take_code(kind, code, now_ms).await,
        }
    }
}
