//! The book of owners in cluster mode: a JetStream key-value bucket every node reads and writes.
//!
//! One entry per name (`name.<hex of the name key>`) holds its keys, its revoked keys and its ban;
//! one entry per banned key (`ban.<hex fingerprint>`) and one per pending code (`code.<hex of its
//! SHA-256>`). Registering a free name is a KV `create`, which exactly one of two racing nodes wins;
//! every other change is a read, then an `update` that names the revision read, retried when another
//! node wrote in between. A code is used up by deleting its entry at the revision read, so two nodes
//! cannot both accept it. Like the rest of the cluster, the bucket lives in NATS's file store: a
//! node's SIGKILL loses no binding.

use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use certs::Fingerprint;
use serde::{Deserialize, Serialize};

use super::{
    Claim, CodeKind, Device, OwnersError, Record, Registration, Revoke, codes::Code, decide,
};

/// How long one request to NATS may take before the operation reports the cluster unavailable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Read-modify-write attempts before giving up on a name another node keeps changing.
const ATTEMPTS: usize = 8;

/// A name's entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct NameEntry {
    display: String,
    keys: Vec<KeyEntry>,
    revoked: Vec<[u8; 32]>,
    ban: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyEntry {
    fingerprint: [u8; 32],
    first_seen_ms: u64,
    last_seen_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CodeEntry {
    kind: String,
    name_key: String,
    display: String,
    expires_ms: u64,
}

pub(crate) struct NatsOwners {
    bucket: kv::Store,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn name_entry_key(name_key: &str) -> String {
    format!("name.{}", hex(name_key.as_bytes()))
}

fn ban_entry_key(key: &Fingerprint) -> String {
    format!("ban.{}", hex(key.as_bytes()))
}

fn code_entry_key(code: &Code) -> String {
    format!("code.{}", hex(&code.hash()))
}

fn unavailable(e: impl std::fmt::Display) -> OwnersError {
    OwnersError::Cluster(e.to_string())
}

async fn bounded<T, E: std::fmt::Display>(
    what: &str,
    request: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, OwnersError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
        Ok(result) => result.map_err(unavailable),
        Err(_) => Err(OwnersError::Cluster(format!("{what} timed out"))),
    }
}

impl NatsOwners {
    pub(crate) fn new(bucket: kv::Store) -> Self {
        Self { bucket }
    }

    /// A name's entry and its revision; `None` when the name is free (never written, or deleted).
    async fn read_name(&self, name_key: &str) -> Result<Option<(NameEntry, u64)>, OwnersError> {
        let entry = bounded(
            "reading a name",
            self.bucket.entry(name_entry_key(name_key)),
        )
        .await?;
        match entry {
            Some(entry) if entry.operation == Operation::Put => {
                let value: NameEntry = postcard::from_bytes(&entry.value)
                    .map_err(|e| OwnersError::Cluster(format!("a name's entry: {e}")))?;
                Ok(Some((value, entry.revision)))
            }
            _ => Ok(None),
        }
    }

    async fn key_ban(&self, key: &Fingerprint) -> Result<Option<String>, OwnersError> {
        let value = bounded("reading a ban", self.bucket.get(ban_entry_key(key))).await?;
        Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    async fn write_name(
        &self,
        name_key: &str,
        entry: &NameEntry,
        revision: Option<u64>,
    ) -> Result<bool, OwnersError> {
        let value = postcard::to_stdvec(entry)
            .map_err(|e| OwnersError::Cluster(e.to_string()))?
            .into();
        let key = name_entry_key(name_key);
        let written = match revision {
            None => tokio::time::timeout(REQUEST_TIMEOUT, self.bucket.create(key, value))
                .await
                .map_err(|_| OwnersError::Cluster("registering a name timed out".into()))?
                .map(|_| ())
                .map_err(|e| {
                    (
                        e.kind() == kv::CreateErrorKind::AlreadyExists,
                        e.to_string(),
                    )
                }),
            Some(revision) => {
                tokio::time::timeout(REQUEST_TIMEOUT, self.bucket.update(key, value, revision))
                    .await
                    .map_err(|_| OwnersError::Cluster("updating a name timed out".into()))?
                    .map(|_| ())
                    .map_err(|e| {
                        (
                            e.kind() == kv::UpdateErrorKind::WrongLastRevision,
                            e.to_string(),
                        )
                    })
            }
        };
        match written {
            Ok(()) => Ok(true),
            // Another node wrote first: read again and decide again.
            Err((true, _)) => Ok(false),
            Err((false, e)) => Err(OwnersError::Cluster(e)),
        }
    }

    /// Applies `change` to a name's entry until the write is not overtaken by another node's.
    /// `change` returns the value for the caller and whether to write.
    async fn modify<T>(
        &self,
        name_key: &str,
        mut change: impl FnMut(Option<NameEntry>) -> (T, Option<NameEntry>),
    ) -> Result<T, OwnersError> {
        for _ in 0..ATTEMPTS {
            let read = self.read_name(name_key).await?;
            let revision = read.as_ref().map(|(_, r)| *r);
            let (answer, write) = change(read.map(|(entry, _)| entry));
            match write {
                None => return Ok(answer),
                Some(entry) => {
                    if self.write_name(name_key, &entry, revision).await? {
                        return Ok(answer);
                    }
                }
            }
        }
        Err(OwnersError::Cluster(
            "a name kept changing on other nodes".into(),
        ))
    }

    pub(crate) async fn claim(
        &self,
        name_key: &str,
        display: &str,
        key: &Fingerprint,
        registration: Registration,
        now_ms: u64,
    ) -> Result<Claim, OwnersError> {
        let key_ban = self.key_ban(key).await?;
        let mut last_claim = Claim::OwnedByOther;
        self.modify(name_key, |entry| {
            let entry = entry.unwrap_or_default();
            let record = Record {
                keys: entry
                    .keys
                    .iter()
                    .map(|k| Fingerprint::from_bytes(k.fingerprint))
                    .collect(),
                ban: entry.ban.clone().or_else(|| key_ban.clone()),
                revoked: entry.revoked.contains(key.as_bytes()),
            };
            let claim = decide(&record, key, registration);
            last_claim = claim.clone();
            let write = match claim {
                Claim::Registered => Some(NameEntry {
                    display: display.to_owned(),
                    keys: vec![KeyEntry {
                        fingerprint: *key.as_bytes(),
                        first_seen_ms: now_ms,
                        last_seen_ms: now_ms,
                    }],
                    revoked: Vec::new(),
                    ban: None,
                }),
                // Last seen is written at most once a minute: a reconnecting client must not cost
                // a cluster-wide write each time.
                Claim::Owner => {
                    let mut entry = entry;
                    let stale = entry.keys.iter_mut().find(|k| {
                        k.fingerprint == *key.as_bytes()
                            && now_ms.saturating_sub(k.last_seen_ms) > 60_000
                    });
                    match stale {
                        Some(k) => {
                            k.last_seen_ms = now_ms;
                            Some(entry)
                        }
                        None => None,
                    }
                }
                _ => None,
            };
            ((), write)
        })
        .await?;
        Ok(last_claim)
    }

    pub(crate) async fn link(
        &self,
        name_key: &str,
        display: &str,
        key: &Fingerprint,
        now_ms: u64,
    ) -> Result<Claim, OwnersError> {
        let key_ban = self.key_ban(key).await?;
        self.modify(name_key, |entry| {
            let mut entry = entry.unwrap_or_else(|| NameEntry {
                display: display.to_owned(),
                ..NameEntry::default()
            });
            if let Some(reason) = entry.ban.clone().or_else(|| key_ban.clone()) {
                return (Claim::Banned { reason }, None);
            }
            if entry.keys.iter().any(|k| k.fingerprint == *key.as_bytes()) {
                return (Claim::Owner, None);
            }
            entry.revoked.retain(|r| r != key.as_bytes());
            entry.keys.push(KeyEntry {
                fingerprint: *key.as_bytes(),
                first_seen_ms: now_ms,
                last_seen_ms: now_ms,
            });
            (Claim::Registered, Some(entry))
        })
        .await
    }

    pub(crate) async fn devices(&self, name_key: &str) -> Result<Vec<Device>, OwnersError> {
        let entry = self.read_name(name_key).await?;
        Ok(entry
            .map(|(entry, _)| {
                entry
                    .keys
                    .iter()
                    .map(|k| Device {
                        fingerprint: Fingerprint::from_bytes(k.fingerprint),
                        first_seen_ms: k.first_seen_ms,
                        last_seen_ms: k.last_seen_ms,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    pub(crate) async fn revoke(&self, name_key: &str, typed: &str) -> Result<Revoke, OwnersError> {
        self.modify(name_key, |entry| {
            let Some(mut entry) = entry else {
                return (Revoke::NoSuchDevice, None);
            };
            let matching: Vec<[u8; 32]> = entry
                .keys
                .iter()
                .map(|k| k.fingerprint)
                .filter(|f| Fingerprint::from_bytes(*f).matches(typed))
                .collect();
            let fingerprint = match matching.as_slice() {
                [] => return (Revoke::NoSuchDevice, None),
                [one] => *one,
                _ => return (Revoke::Ambiguous, None),
            };
            if entry.keys.len() == 1 {
                return (Revoke::LastDevice, None);
            }
            entry.keys.retain(|k| k.fingerprint != fingerprint);
            entry.revoked.push(fingerprint);
            (
                Revoke::Revoked(Fingerprint::from_bytes(fingerprint)),
                Some(entry),
            )
        })
        .await
    }

    pub(crate) async fn ban(&self, name_key: &str, reason: &str) -> Result<(), OwnersError> {
        let keys = self
            .modify(name_key, |entry| {
                let mut entry = entry.unwrap_or_default();
                let keys: Vec<[u8; 32]> = entry.keys.iter().map(|k| k.fingerprint).collect();
                entry.ban = Some(reason.to_owned());
                (keys, Some(entry))
            })
            .await?;
        for key in keys {
            bounded(
                "banning a key",
                self.bucket.put(
                    ban_entry_key(&Fingerprint::from_bytes(key)),
                    reason.as_bytes().to_vec().into(),
                ),
            )
            .await?;
        }
        Ok(())
    }

    pub(crate) async fn unban(&self, name_key: &str) -> Result<bool, OwnersError> {
        let (was, keys) = self
            .modify(name_key, |entry| match entry {
                Some(mut entry) if entry.ban.is_some() => {
                    entry.ban = None;
                    let keys: Vec<[u8; 32]> = entry.keys.iter().map(|k| k.fingerprint).collect();
                    ((true, keys), Some(entry))
                }
                Some(entry) => (
                    (false, entry.keys.iter().map(|k| k.fingerprint).collect()),
                    None,
                ),
                None => ((false, Vec::new()), None),
            })
            .await?;
        for key in keys {
            bounded(
                "lifting a key's ban",
                self.bucket
                    .delete(ban_entry_key(&Fingerprint::from_bytes(key))),
            )
            .await?;
        }
        Ok(was)
    }

    pub(crate) async fn release(&self, name_key: &str) -> Result<bool, OwnersError> {
        let Some((entry, revision)) = self.read_name(name_key).await? else {
            return Ok(false);
        };
        if entry.keys.is_empty() {
            return Ok(false);
        }
        // A ban outlives the release: only the keys go.
        let kept = NameEntry {
            keys: Vec::new(),
            revoked: Vec::new(),
            ..entry
        };
        if kept.ban.is_some() {
            return self.write_name(name_key, &kept, Some(revision)).await;
        }
        bounded(
            "releasing a name",
            self.bucket
                .delete_expect_revision(name_entry_key(name_key), Some(revision)),
        )
        .await?;
        Ok(true)
    }

    pub(crate) async fn add_code(
        &self,
        kind: CodeKind,
        code: &Code,
        name: (&str, &str),
        expires_ms: u64,
    ) -> Result<(), OwnersError> {
        let entry = CodeEntry {
            kind: kind.as_str().to_owned(),
            name_key: name.0.to_owned(),
            display: name.1.to_owned(),
            expires_ms,
        };
        let value = postcard::to_stdvec(&entry)
            .map_err(|e| OwnersError::Cluster(e.to_string()))?
            .into();
        bounded(
            "storing a code",
            self.bucket.create(code_entry_key(code), value),
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn take_code(
        &self,
        kind: CodeKind,
        code: &Code,
        now_ms: u64,
    ) -> Result<Option<(String, String)>, OwnersError> {
        let key = code_entry_key(code);
        let Some(entry) = bounded("reading a code", self.bucket.entry(key.clone())).await? else {
            return Ok(None);
        };
        if entry.operation != Operation::Put {
            return Ok(None);
        }
        let value: CodeEntry = postcard::from_bytes(&entry.value)
            .map_err(|e| OwnersError::Cluster(format!("a code's entry: {e}")))?;
        if value.kind != kind.as_str() {
            return Ok(None);
        }
        // Used up by whoever deletes this revision first; a second node's delete fails.
        let taken = tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.bucket
                .delete_expect_revision(key, Some(entry.revision)),
        )
        .await
        .map_err(|_| OwnersError::Cluster("using a code timed out".into()))?;
        if taken.is_err() || value.expires_ms <= now_ms {
            return Ok(None);
        }
        Ok(Some((value.name_key, value.display)))
    }
}

#[cfg(test)]
mod tests {
    //! Against a real `nats-server -js` on loopback.

    use super::*;

    async fn nats() -> Option<(tokio::process::Child, String, tempfile::TempDir)> {
        let binary = testkit::nats::for_tests()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let port = testkit::ports::free_tcp_port().expect("port");
        let child = testkit::nats::spawn_ready(&binary, None, dir.path(), port)
            .await
            .expect("nats-server");
        Some((child, format!("nats://127.0.0.1:{port}"), dir))
    }

    async fn book(url: &str) -> NatsOwners {
        let client = async_nats::connect(url).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        let bucket =
            crate::cluster::open_bucket(&js, crate::cluster::OWNERS_BUCKET, Duration::ZERO)
                .await
                .expect("bucket");
        NatsOwners::new(bucket)
    }

    fn key(n: u8) -> Fingerprint {
        Fingerprint::from_bytes([n; 32])
    }

    #[tokio::test]
    async fn two_nodes_racing_for_a_name_give_it_to_one_and_the_rest_holds_too() {
        let Some((_nats, url, _dir)) = nats().await else {
            return;
        };
        let (a, b) = (book(&url).await, book(&url).await);
        let (k1, k2) = (key(1), key(2));
        let (ca, cb) = tokio::join!(
            a.claim("zed", "zed", &k1, Registration::Open, 1),
            b.claim("zed", "zed", &k2, Registration::Open, 1),
        );
        let mut claims = vec![ca.expect("a"), cb.expect("b")];
        claims.sort_by_key(|c| format!("{c:?}"));
        assert_eq!(claims, vec![Claim::OwnedByOther, Claim::Registered]);

        // Another node sees the binding; linking, revoking, banning and codes work across nodes.
        let owner = if a
            .claim("zed", "zed", &key(1), Registration::Open, 2)
            .await
            .expect("claim")
            == Claim::Owner
        {
            key(1)
        } else {
            key(2)
        };
        assert_eq!(
            b.claim("zed", "zed", &owner, Registration::NeedsInvite, 3)
                .await
                .expect("claim"),
            Claim::Owner
        );
        let code = Code::random();
        a.add_code(CodeKind::Link, &code, ("zed", "zed"), 1_000)
            .await
            .expect("code");
        assert_eq!(
            b.take_code(CodeKind::Invite, &code, 10)
                .await
                .expect("kind"),
            None
        );
        assert_eq!(
            b.take_code(CodeKind::Link, &code, 10).await.expect("take"),
            Some(("zed".into(), "zed".into()))
        );
        assert_eq!(
            a.take_code(CodeKind::Link, &code, 11).await.expect("again"),
            None
        );
        assert_eq!(
            a.link("zed", "zed", &key(3), 12).await.expect("link"),
            Claim::Registered
        );
        assert_eq!(b.devices("zed").await.expect("devices").len(), 2);
        assert_eq!(
            b.revoke("zed", &key(3).short()).await.expect("revoke"),
            Revoke::Revoked(key(3))
        );
        assert_eq!(
            a.claim("zed", "zed", &key(3), Registration::Open, 13)
                .await
                .expect("claim"),
            Claim::Revoked
        );
        a.ban("zed", "spam").await.expect("ban");
        let banned = Claim::Banned {
            reason: "spam".into(),
        };
        assert_eq!(
            b.claim("zed", "zed", &owner, Registration::Open, 14)
                .await
                .expect("c"),
            banned
        );
        assert_eq!(
            b.claim("zed2", "zed2", &owner, Registration::Open, 14)
                .await
                .expect("c"),
            banned
        );
        assert!(b.unban("zed").await.expect("unban"));
        assert_eq!(
            a.claim("zed2", "zed2", &owner, Registration::Open, 15)
                .await
                .expect("c"),
            Claim::Registered
        );
        assert!(a.release("zed").await.expect("release"));
        assert_eq!(
            b.claim("zed", "zed", &key(9), Registration::Open, 16)
                .await
                .expect("c"),
            Claim::Registered
        );
    }
}
