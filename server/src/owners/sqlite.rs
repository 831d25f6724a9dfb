//! The book of owners in SQLite: the history's database file (its own connection), or memory for
//! `--no-persist`.
//!
//! Every question is one `IMMEDIATE` transaction, so two connections asking for the same free name
//! at once cannot both get it: the second waits for the first's write lock, then reads its binding.
//! The transactions are a few small rows, written to the WAL without a sync (`synchronous=NORMAL`,
//! like the history): a SIGKILL loses nothing, a power cut may lose the last binding.

use std::{path::Path, sync::Mutex, time::Duration};

use certs::Fingerprint;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{
    Claim, CodeKind, Device, OwnersError, Record, Registration, Revoke, codes::Code, decide,
};

pub(crate) struct SqliteOwners {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS name_keys (
        name_key      TEXT    NOT NULL,
        fingerprint   BLOB    NOT NULL,
        display       TEXT    NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms  INTEGER NOT NULL,
        PRIMARY KEY (name_key, fingerprint)
    );
    CREATE INDEX IF NOT EXISTS name_keys_by_key ON name_keys (fingerprint);
    CREATE TABLE IF NOT EXISTS revoked_keys (
        name_key    TEXT    NOT NULL,
        fingerprint BLOB    NOT NULL,
        at_ms       INTEGER NOT NULL,
        PRIMARY KEY (name_key, fingerprint)
    );
    -- A ban covers the name and every key it had when banned.
    CREATE TABLE IF NOT EXISTS banned_names (
        name_key TEXT    PRIMARY KEY,
        reason   TEXT    NOT NULL,
        at_ms    INTEGER NOT NULL
    );
    -- Pending link and invite codes, by their SHA-256 (see codes.rs); name_key is '' for invites.
    CREATE TABLE IF NOT EXISTS codes (
        hash       BLOB    PRIMARY KEY,
        kind       TEXT    NOT NULL,
        name_key   TEXT    NOT NULL,
        display    TEXT    NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS banned_keys (
        fingerprint BLOB NOT NULL,
        name_key    TEXT NOT NULL,
        reason      TEXT NOT NULL,
        PRIMARY KEY (fingerprint, name_key)
    );";

impl SqliteOwners {
    pub(crate) fn open(path: &Path) -> Result<Self, OwnersError> {
        let conn = Connection::open(path)?;
        // The history's writer holds the write lock for one short transaction at a time.
        conn.busy_timeout(Duration::from_secs(5))?;
        Self::init(conn)
    }

    pub(crate) fn in_memory() -> Result<Self, OwnersError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, OwnersError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, OwnersError>,
    ) -> Result<T, OwnersError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// May `key` sign in as `name` (`name_key` its look-alike key)? Binds a free name when allowed.
    pub(crate) fn claim(
        &self,
        name_key: &str,
        display: &str,
        key: &Fingerprint,
        registration: Registration,
        now_ms: u64,
    ) -> Result<Claim, OwnersError> {
        self.with(|tx| {
            let record = record(tx, name_key, key)?;
            let claim = decide(&record, key, registration);
            match claim {
                Claim::Registered => insert_key(tx, name_key, display, key, now_ms)?,
                Claim::Owner => {
                    tx.prepare_cached(
                        "UPDATE name_keys SET last_seen_ms = ?3
                         WHERE name_key = ?1 AND fingerprint = ?2",
                    )?
                    .execute(params![
                        name_key,
                        &key.as_bytes()[..],
                        to_i64(now_ms)
                    ])?;
                }
                _ => {}
            }
            Ok(claim)
        })
    }

    /// Adds `key` to a name (a device linked with a code). A banned key stays out.
    pub(crate) fn link(
        &self,
        name_key: &str,
        display: &str,
        key: &Fingerprint,
        now_ms: u64,
    ) -> Result<Claim, OwnersError> {
        self.with(|tx| {
            let record = record(tx, name_key, key)?;
            if let Some(reason) = record.ban {
                return Ok(Claim::Banned { reason });
            }
            if record.keys.contains(key) {
                return Ok(Claim::Owner);
            }
            tx.execute(
                "DELETE FROM revoked_keys WHERE name_key = ?1 AND fingerprint = ?2",
                params![name_key, &key.as_bytes()[..]],
            )?;
            insert_key(tx, name_key, display, key, now_ms)?;
            Ok(Claim::Registered)
        })
    }

    /// The keys of a name, oldest first.
    pub(crate) fn devices(&self, name_key: &str) -> Result<Vec<Device>, OwnersError> {
        self.with(|tx| {
            let mut statement = tx.prepare(
                "SELECT fingerprint, first_seen_ms, last_seen_ms FROM name_keys
                 WHERE name_key = ?1 ORDER BY first_seen_ms, fingerprint",
            )?;
            let rows = statement.query_map(params![name_key], |row| {
                Ok((
                    row.get::<_, Vec<u8>>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })?;
            let mut devices = Vec::new();
            for row in rows {
                let (fingerprint, first, last) = row?;
                devices.push(Device {
                    fingerprint: fingerprint_from(&fingerprint)?,
                    first_seen_ms: to_u64(first),
                    last_seen_ms: to_u64(last),
                });
            }
            Ok(devices)
        })
    }

    /// Removes the key of `name_key` that `typed` names (a fingerprint or a prefix of at least the
    /// short form); from then on that key is refused for the name.
    pub(crate) fn revoke(
        &self,
        name_key: &str,
        typed: &str,
        now_ms: u64,
    ) -> Result<Revoke, OwnersError> {
        let devices = self.devices(name_key)?;
        let matching: Vec<Fingerprint> = devices
            .iter()
            .map(|d| d.fingerprint)
            .filter(|f| f.matches(typed))
            .collect();
        let fingerprint = match matching.as_slice() {
            [] => return Ok(Revoke::NoSuchDevice),
            [one] => *one,
            _ => return Ok(Revoke::Ambiguous),
        };
        if devices.len() == 1 {
            return Ok(Revoke::LastDevice);
        }
        self.with(|tx| {
            tx.execute(
                "DELETE FROM name_keys WHERE name_key = ?1 AND fingerprint = ?2",
                params![name_key, &fingerprint.as_bytes()[..]],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO revoked_keys (name_key, fingerprint, at_ms)
                 VALUES (?1, ?2, ?3)",
                params![name_key, &fingerprint.as_bytes()[..], to_i64(now_ms)],
            )?;
            Ok(Revoke::Revoked(fingerprint))
        })
    }

    /// Bans a name and every key it has now.
    pub(crate) fn ban(&self, name_key: &str, reason: &str, now_ms: u64) -> Result<(), OwnersError> {
        self.with(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO banned_names (name_key, reason, at_ms) VALUES (?1, ?2, ?3)",
                params![name_key, reason, to_i64(now_ms)],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO banned_keys (fingerprint, name_key, reason)
                 SELECT fingerprint, name_key, ?2 FROM name_keys WHERE name_key = ?1",
                params![name_key, reason],
            )?;
            Ok(())
        })
    }

    /// Lifts a ban of the name and of its keys. Returns whether there was one.
    pub(crate) fn unban(&self, name_key: &str) -> Result<bool, OwnersError> {
        self.with(|tx| {
            let names = tx.execute(
                "DELETE FROM banned_names WHERE name_key = ?1",
                params![name_key],
            )?;
            let keys = tx.execute(
                "DELETE FROM banned_keys WHERE name_key = ?1",
                params![name_key],
            )?;
            Ok(names + keys > 0)
        })
    }

    /// Forgets who owns a name (an abandoned name becomes free). Returns whether it was owned.
    pub(crate) fn release(&self, name_key: &str) -> Result<bool, OwnersError> {
        self.with(|tx| {
            let keys = tx.execute(
                "DELETE FROM name_keys WHERE name_key = ?1",
                params![name_key],
            )?;
            tx.execute(
                "DELETE FROM revoked_keys WHERE name_key = ?1",
                params![name_key],
            )?;
            Ok(keys > 0)
        })
    }
}

impl SqliteOwners {
    /// Keeps `code` until `expires_ms`, for the name `(name_key, display)` (empty for invites).
    /// Codes that expired unused go at the same time: without that, every `/link` nobody redeemed
    /// would stay in the file for good.
    pub(crate) fn add_code(
        &self,
        kind: CodeKind,
        code: &Code,
        name: (&str, &str),
        expires_ms: u64,
    ) -> Result<(), OwnersError> {
        self.with(|tx| {
            tx.execute(
                "DELETE FROM codes WHERE expires_ms <= ?1",
                params![to_i64(crate::store::now_ms())],
            )?;
            tx.execute(
                "INSERT INTO codes (hash, kind, name_key, display, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    &code.hash()[..],
                    kind.as_str(),
                    name.0,
                    name.1,
                    to_i64(expires_ms)
                ],
            )?;
            Ok(())
        })
    }

    /// Uses up `code`: the name it was made for (`name_key`, `display`; empty for invites), or
    /// `None` when it is unknown, of another kind, used or expired.
    pub(crate) fn take_code(
        &self,
        kind: CodeKind,
        code: &Code,
        now_ms: u64,
    ) -> Result<Option<(String, String)>, OwnersError> {
        self.with(|tx| {
            tx.execute(
                "DELETE FROM codes WHERE expires_ms <= ?1",
                params![to_i64(now_ms)],
            )?;
            let found = tx
                .query_row(
                    "DELETE FROM codes WHERE hash = ?1 AND kind = ?2 RETURNING name_key, display",
                    params![&code.hash()[..], kind.as_str()],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
                )
                .optional()?;
            Ok(found)
        })
    }
}

fn record(
    tx: &rusqlite::Transaction<'_>,
    name_key: &str,
    key: &Fingerprint,
) -> Result<Record, OwnersError> {
    let mut statement =
        tx.prepare_cached("SELECT fingerprint FROM name_keys WHERE name_key = ?1")?;
    let keys = statement
        .query_map(params![name_key], |row| row.get::<_, Vec<u8>>(0))?
        .map(|bytes| fingerprint_from(&bytes?))
        .collect::<Result<Vec<_>, _>>()?;
    // Cached statements: this runs for every `Hello`, and parsing the SQL each time was most of
    // what the book cost a join.
    let ban = tx
        .prepare_cached(
            "SELECT reason FROM banned_names WHERE name_key = ?1
             UNION ALL SELECT reason FROM banned_keys WHERE fingerprint = ?2
             LIMIT 1",
        )?
        .query_row(params![name_key, &key.as_bytes()[..]], |row| {
            row.get::<_, String>(0)
        })
        .optional()?;
    let revoked = tx
        .prepare_cached("SELECT 1 FROM revoked_keys WHERE name_key = ?1 AND fingerprint = ?2")?
        .query_row(params![name_key, &key.as_bytes()[..]], |_| Ok(()))
        .optional()?
        .is_some();
    Ok(Record { keys, ban, revoked })
}

fn insert_key(
    tx: &rusqlite::Transaction<'_>,
    name_key: &str,
    display: &str,
    key: &Fingerprint,
    now_ms: u64,
) -> Result<(), OwnersError> {
    tx.prepare_cached(
        "INSERT INTO name_keys (name_key, fingerprint, display, first_seen_ms, last_seen_ms)
         VALUES (?1, ?2, ?3, ?4, ?4)",
    )?
    .execute(params![
        name_key,
        &key.as_bytes()[..],
        display,
        to_i64(now_ms)
    ])?;
    Ok(())
}

fn fingerprint_from(bytes: &[u8]) -> Result<Fingerprint, OwnersError> {
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| OwnersError::BadFingerprint)?;
    Ok(Fingerprint::from_bytes(bytes))
}

// Times are far below 2^63 ms; the cast keeps them exact (see store.rs).
fn to_i64(v: u64) -> i64 {
    v as i64
}

fn to_u64(v: i64) -> u64 {
    v as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Fingerprint {
        Fingerprint::from_bytes([n; 32])
    }

    #[test]
    fn codes_that_expired_unused_do_not_pile_up() {
        let book = SqliteOwners::in_memory().expect("book");
        let later = crate::store::now_ms() + 600_000;
        for _ in 0..3 {
            book.add_code(CodeKind::Link, &Code::random(), ("alice", "alice"), 1)
                .expect("an expired code");
        }
        book.add_code(CodeKind::Invite, &Code::random(), ("", ""), later)
            .expect("a live code");
        let pending: i64 = book
            .with(|tx| Ok(tx.query_row("SELECT COUNT(*) FROM codes", [], |row| row.get(0))?))
            .expect("count");
        assert_eq!(pending, 1);
    }

    #[test]
    fn first_key_owns_then_others_are_refused_and_it_survives_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("history.sqlite3");
        let book = SqliteOwners::open(&path).expect("open");
        assert_eq!(
            book.claim("alice", "Alice", &key(1), Registration::Open, 10)
                .expect("claim"),
            Claim::Registered
        );
        assert_eq!(
            book.claim("alice", "alice", &key(2), Registration::Open, 11)
                .expect("claim"),
            Claim::OwnedByOther
        );
        drop(book);
        let book = SqliteOwners::open(&path).expect("reopen");
        assert_eq!(
            book.claim("alice", "Alice", &key(1), Registration::NeedsInvite, 12)
                .expect("claim"),
            Claim::Owner
        );
        let devices = book.devices("alice").expect("devices");
        assert_eq!(
            devices,
            vec![Device {
                fingerprint: key(1),
                first_seen_ms: 10,
                last_seen_ms: 12
            }]
        );
    }

    #[test]
    fn linked_devices_revoking_and_the_last_device() {
        let book = SqliteOwners::in_memory().expect("book");
        book.claim("bob", "bob", &key(1), Registration::Open, 1)
            .expect("claim");
        assert_eq!(
            book.revoke("bob", &key(1).short(), 2).expect("revoke"),
            Revoke::LastDevice
        );
        assert_eq!(
            book.link("bob", "bob", &key(2), 3).expect("link"),
            Claim::Registered
        );
        assert_eq!(
            book.claim("bob", "bob", &key(2), Registration::Open, 4)
                .expect("claim"),
            Claim::Owner
        );
        assert_eq!(
            book.revoke("bob", "ffff:ffff:ffff:ffff", 5)
                .expect("revoke"),
            Revoke::NoSuchDevice
        );
        assert_eq!(
            book.revoke("bob", &key(2).to_string(), 5).expect("revoke"),
            Revoke::Revoked(key(2))
        );
        assert_eq!(
            book.claim("bob", "bob", &key(2), Registration::Open, 6)
                .expect("claim"),
            Claim::Revoked
        );
        // Linking again is how a revoked device comes back.
        assert_eq!(
            book.link("bob", "bob", &key(2), 7).expect("link"),
            Claim::Registered
        );
        assert_eq!(
            book.claim("bob", "bob", &key(2), Registration::Open, 8)
                .expect("claim"),
            Claim::Owner
        );
    }

    #[test]
    fn a_ban_covers_the_name_and_its_keys_until_lifted() {
        let book = SqliteOwners::in_memory().expect("book");
        book.claim("eve", "eve", &key(6), Registration::Open, 1)
            .expect("claim");
        book.ban("eve", "spam", 2).expect("ban");
        let banned = Claim::Banned {
            reason: "spam".into(),
        };
        assert_eq!(
            book.claim("eve", "eve", &key(6), Registration::Open, 3)
                .expect("claim"),
            banned
        );
        // The banned key cannot come back under another name, nor can another key take the name.
        assert_eq!(
            book.claim("eve2", "eve2", &key(6), Registration::Open, 3)
                .expect("claim"),
            banned
        );
        assert_eq!(
            book.claim("eve", "eve", &key(7), Registration::Open, 3)
                .expect("claim"),
            banned
        );
        assert!(book.unban("eve").expect("unban"));
        assert!(!book.unban("eve").expect("unban twice"));
        assert_eq!(
            book.claim("eve", "eve", &key(6), Registration::Open, 4)
                .expect("claim"),
            Claim::Owner
        );
        assert!(book.release("eve").expect("release"));
        assert_eq!(
            book.claim("eve", "eve", &key(7), Registration::Open, 5)
                .expect("claim"),
            Claim::Registered
        );
    }

    #[test]
    fn codes_are_single_use_expiring_and_of_one_kind() {
        let book = SqliteOwners::in_memory().expect("book");
        let code = Code::random();
        book.add_code(CodeKind::Link, &code, ("alice", "Alice"), 100)
            .expect("add");
        assert_eq!(
            book.take_code(CodeKind::Invite, &code, 50).expect("take"),
            None,
            "a link code is no invite"
        );
        assert_eq!(
            book.take_code(CodeKind::Link, &code, 50).expect("take"),
            Some(("alice".into(), "Alice".into()))
        );
        assert_eq!(
            book.take_code(CodeKind::Link, &code, 51).expect("again"),
            None
        );
        let late = Code::random();
        book.add_code(CodeKind::Invite, &late, ("", ""), 100)
            .expect("add");
        assert_eq!(
            book.take_code(CodeKind::Invite, &late, 100).expect("late"),
            None
        );
    }

    #[test]
    fn two_connections_racing_for_a_name_give_it_to_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("history.sqlite3");
        let a = SqliteOwners::open(&path).expect("a");
        let b = SqliteOwners::open(&path).expect("b");
        let claims = std::thread::scope(|scope| {
            let ta = scope.spawn(|| a.claim("zed", "zed", &key(1), Registration::Open, 1));
            let tb = scope.spawn(|| b.claim("zed", "zed", &key(2), Registration::Open, 1));
            [ta.join().expect("a"), tb.join().expect("b")]
        });
        let mut claims: Vec<Claim> = claims.into_iter().map(|c| c.expect("claim")).collect();
        claims.sort_by_key(|c| format!("{c:?}"));
        assert_eq!(claims, vec![Claim::OwnedByOther, Claim::Registered]);
    }
}
