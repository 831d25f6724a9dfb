//! Who owns which name: the keys bound to it, the bans, the revoked devices.
//!
//! Trust on first use: the first key that joins with a free name owns it from then on (names are
//! compared by their look-alike key, `names::key`, so `alice` and `аlice` are one name). A name may
//! have several keys (devices linked with a code) and a key may own several names. The book is
//! durable: a server restarted after SIGKILL still knows every binding and ban.
//!
//! `decide` holds the rules without I/O; `sqlite` keeps the book in the history's database file;
//! `nats` in a JetStream
//! key-value bucket for a cluster; `codes` makes and reads link and invite codes.

mod admission;
mod book;
mod codes;
mod nats;
mod sqlite;

pub(crate) use admission::{Policy, Visitor, admit};
pub(crate) use book::Owners;

pub(crate) use codes::{Code, Guesses};
pub(crate) use nats::NatsOwners;
pub(crate) use sqlite::SqliteOwners;

use certs::Fingerprint;

/// One key of a name, as `/devices` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Device {
    pub(crate) fingerprint: Fingerprint,
    pub(crate) first_seen_ms: u64,
    pub(crate) last_seen_ms: u64,
}

/// What the book knows about a name and a key, read in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Record {
    /// The keys bound to the name (empty: the name is free).
    pub(crate) keys: Vec<Fingerprint>,
    /// Why the name, or the key, is banned.
    pub(crate) ban: Option<String>,
    /// The key was once bound to the name and removed with `/revoke`.
    pub(crate) revoked: bool,
}

/// The answer to "may this key sign in with this name?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The key is one of the name's.
    Owner,
    /// The name was free and is now this key's.
    Registered,
    /// The name belongs to other keys.
    OwnedByOther,
    /// The key was removed from the name.
    Revoked,
    /// The name or the key is banned.
    Banned { reason: String },
    /// The name is free, but this server registers new names only with an invite.
    InviteRequired,
}

/// Whether a free name may be taken by the key asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Registration {
    Open,
    /// `--invite-only`, and the client brought no valid invite.
    NeedsInvite,
}

/// The rules, on what the book holds. A ban wins over everything, so a banned owner cannot come
/// back by any name; a revoked key is told so rather than "owned by somebody else".
pub(crate) fn decide(record: &Record, key: &Fingerprint, registration: Registration) -> Claim {
    if let Some(reason) = &record.ban {
        return Claim::Banned {
            reason: reason.clone(),
        };
    }
    if record.keys.contains(key) {
        return Claim::Owner;
    }
    if !record.keys.is_empty() {
        return if record.revoked {
            Claim::Revoked
        } else {
            Claim::OwnedByOther
        };
    }
    match registration {
        Registration::Open => Claim::Registered,
        Registration::NeedsInvite => Claim::InviteRequired,
    }
}

/// What `/revoke` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Revoke {
    Revoked(Fingerprint),
    /// No key of the name matches what was typed.
    NoSuchDevice,
    /// Several keys match: more digits are needed.
    Ambiguous,
    /// The name would be left with no key: `/release` gives a name up.
    LastDevice,
}

/// What a code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeKind {
    /// Adds a device to a name.
    Link,
    /// Lets a new name be registered on an invite-only server.
    Invite,
}

impl CodeKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Link => "link",
            Self::Invite => "invite",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OwnersError {
    #[error("name book in the cluster: {0}")]
    Cluster(String),
    #[error("name database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("name database holds a malformed fingerprint")]
    BadFingerprint,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Fingerprint {
        Fingerprint::from_bytes([n; 32])
    }

    #[test]
    fn the_rules_in_order() {
        let free = Record::default();
        assert_eq!(
            decide(&free, &key(1), Registration::Open),
            Claim::Registered
        );
        assert_eq!(
            decide(&free, &key(1), Registration::NeedsInvite),
            Claim::InviteRequired
        );
        let owned = Record {
            keys: vec![key(1), key(2)],
            ..Record::default()
        };
        assert_eq!(
            decide(&owned, &key(2), Registration::NeedsInvite),
            Claim::Owner
        );
        assert_eq!(
            decide(&owned, &key(3), Registration::Open),
            Claim::OwnedByOther
        );
        let revoked = Record {
            revoked: true,
            ..owned.clone()
        };
        assert_eq!(
            decide(&revoked, &key(3), Registration::Open),
            Claim::Revoked
        );
        let banned = Record {
            ban: Some("spam".into()),
            ..owned
        };
        assert_eq!(
            decide(&banned, &key(1), Registration::Open),
            Claim::Banned {
                reason: "spam".into()
            }
        );
    }
}
