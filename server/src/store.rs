//! The room's history on disk: SQLite (bundled, so nothing to install), one table of messages.
//!
//! Why SQLite: one file, crash-safe, a well-known format an operator can inspect with `sqlite3`, and
//! the bundled build needs only a C compiler. WAL mode with `synchronous=NORMAL`: each message is
//! appended to the write-ahead log before anyone receives it, so a server killed with SIGKILL loses
//! nothing it has delivered (the data is in the kernel's page cache); only a power cut may lose the
//! last transactions, never the database's consistency. Writes happen under the room lock, which
//! keeps ids, history and delivery order one and the same; the log's checkpoints, which do wait for
//! the disk, happen on a thread of their own (`checkpoint`).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use thiserror::Error;
use wire::ChatMessage;

use crate::checkpoint::Checkpointer;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("history database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("history database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("history database: cannot start the checkpoint thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// How much history to keep.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Keep at most this many messages (0: no count limit).
    pub max_messages: u64,
    /// Drop messages older than this many milliseconds (0: no age limit).
    pub max_age_ms: u64,
}

pub(crate) struct Store {
    conn: Connection,
    retention: Retention,
    appended_since_prune: u32,
    /// Messages in the table, kept up to date so that the history size costs no query.
    lines: u64,
    /// Copies the write-ahead log into the file, off the runtime thread (`None` in memory).
    _checkpointer: Option<Checkpointer>,
}

/// Prune after this many appends, so the cost is spread thin.
const PRUNE_EVERY: u32 = 1000;

impl Store {
    pub(crate) fn open(path: &Path, retention: Retention) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let mut store = Self::init(open_file(path)?, retention)?;
        // After `init` has put the file in WAL mode. Checkpoints are the other thread's from here.
        store.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        store._checkpointer =
            Some(Checkpointer::start(open_file(path)?).map_err(StoreError::Thread)?);
        Ok(store)
    }

    /// A store that forgets everything when the server stops (`--no-persist`, tests).
    pub(crate) fn in_memory(retention: Retention) -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?, retention)
    }

    fn init(conn: Connection, retention: Retention) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS messages (
                 id     INTEGER PRIMARY KEY,
                 sender TEXT    NOT NULL,
                 nonce  INTEGER NOT NULL,
                 text   TEXT    NOT NULL,
                 at_ms  INTEGER NOT NULL
             );
             -- Ids must never go back, even after every message was pruned.
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
        )?;
        let mut store = Self {
            conn,
            retention,
            appended_since_prune: 0,
            lines: 0,
            _checkpointer: None,
        };
        store.prune(now_ms())?;
        let lines: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))?;
        store.lines = to_u64(lines);
        Ok(store)
    }

    /// The highest id ever stored (0 when none).
    pub(crate) fn last_id(&self) -> Result<u64, StoreError> {
        let from_messages: Option<i64> =
            self.conn
                .query_row("SELECT MAX(id) FROM messages", [], |r| r.get(0))?;
        let from_meta: Option<i64> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'last_id'", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(from_messages.max(from_meta).map_or(0, to_u64))
    }

    /// Appends messages in one transaction: all of them or none.
    pub(crate) fn append_all(&mut self, messages: &[ChatMessage]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO messages (id, sender, nonce, text, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for m in messages {
                insert.execute(params![
                    to_i64(m.id),
                    m.from,
                    to_i64(m.nonce),
                    m.text,
                    to_i64(m.at_ms)
                ])?;
            }
        }
        tx.commit()?;
        self.lines += messages.len() as u64;
        let appended = u32::try_from(messages.len()).unwrap_or(u32::MAX);
        self.appended_since_prune = self.appended_since_prune.saturating_add(appended);
        if self.appended_since_prune >= PRUNE_EVERY
            && let Some(last) = messages.last()
        {
            self.prune(last.at_ms)?;
        }
        Ok(())
    }

    /// How many messages the database holds.
    pub(crate) fn lines(&self) -> u64 {
        self.lines
    }

    /// The newest `limit` messages, oldest first.
    pub(crate) fn recent(&self, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        let mut rows = self.query(
            "SELECT id, sender, nonce, text, at_ms FROM messages ORDER BY id DESC LIMIT ?1",
            &[&to_i64(limit as u64)],
        )?;
        rows.reverse();
        Ok(rows)
    }

    /// Up to `limit` messages with an id above `after`, oldest first.
    pub(crate) fn after(&self, after: u64, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        self.query(
            "SELECT id, sender, nonce, text, at_ms FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2",
            &[&to_i64(after), &to_i64(limit as u64)],
        )
    }

    fn query(
        &self,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(args, |r| {
            Ok(ChatMessage {
                id: to_u64(r.get(0)?),
                from: r.get(1)?,
                nonce: to_u64(r.get(2)?),
                text: r.get(3)?,
                at_ms: to_u64(r.get(4)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn prune(&mut self, now_ms: u64) -> Result<(), StoreError> {
        self.appended_since_prune = 0;
        let last = self.last_id()?;
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('last_id', ?1)
             ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
            [to_i64(last)],
        )?;
        if self.retention.max_messages > 0 {
            let deleted = self.conn.execute(
                "DELETE FROM messages WHERE id <= ?1",
                [to_i64(last.saturating_sub(self.retention.max_messages))],
            )?;
            self.lines = self.lines.saturating_sub(deleted as u64);
        }
        if self.retention.max_age_ms > 0 {
            // Everything before the oldest message young enough to keep. Times follow ids, so this
            // walks only the expired rows from the start of the table, where `at_ms < ?` (there is
            // no index on it) read every row: a full scan of 100,000 rows every thousand lines was
            // 9% of the server's CPU under fast chatter. Were the clock ever set back, an older
            // message after a newer one is kept a little longer, never dropped early.
            let deleted = self.conn.execute(
                "DELETE FROM messages WHERE id < COALESCE(
                     (SELECT id FROM messages WHERE at_ms >= ?1 ORDER BY id LIMIT 1),
                     9223372036854775807)",
                [to_i64(now_ms.saturating_sub(self.retention.max_age_ms))],
            )?;
            self.lines = self.lines.saturating_sub(deleted as u64);
        }
        Ok(())
    }
}

/// A connection to the database file at `path`, its errors naming the file.
pub(crate) fn open_file(path: &Path) -> Result<Connection, StoreError> {
    Connection::open(path).map_err(|source| StoreError::Open {
        path: path.display().to_string(),
        source,
    })
}

// SQLite integers are signed; ids, nonces and times are u64 on the wire. The mapping is a bijection
// (two's complement), so values round-trip exactly, and ordering holds for ids and times, which stay
// far below 2^63.
fn to_i64(v: u64) -> i64 {
    v as i64
}

fn to_u64(v: i64) -> u64 {
    v as u64
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: u64, at_ms: u64) -> ChatMessage {
        ChatMessage {
            id,
            from: "al".into(),
            nonce: u64::MAX - id,
            text: format!("line {id}"),
            at_ms,
        }
    }

    const KEEP_ALL: Retention = Retention {
        max_messages: 0,
        max_age_ms: 0,
    };

    #[test]
    fn the_log_reaches_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.sqlite3");
        let mut store = Store::open(&path, KEEP_ALL).expect("open");
        let auto: i64 = store
            .conn
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(auto, 0, "the room's connection must never checkpoint");
        let now = now_ms();
        store
            .append_all(&(1..=50).map(|id| msg(id, now)).collect::<Vec<_>>())
            .expect("append");

        // The database file alone (a copy, without its log) has the lines once the checkpoint
        // thread has run; bounded wait, a few of its rounds.
        let copy = dir.path().join("copy.sqlite3");
        let mut in_file = 0;
        for _ in 0..50 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            std::fs::copy(&path, &copy).expect("copy");
            let alone = Connection::open(&copy).expect("open the copy");
            in_file = alone
                .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
                .unwrap_or(0);
            if in_file == 50 {
                break;
            }
        }
        assert_eq!(in_file, 50);
    }

    #[test]
    fn messages_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.sqlite3");
        let now = now_ms();
        {
            let mut store = Store::open(&path, KEEP_ALL).expect("open");
            for id in 1..=5 {
                store.append_all(&[msg(id, now)]).expect("append");
            }
        }
        let store = Store::open(&path, KEEP_ALL).expect("reopen");
        assert_eq!(store.last_id().expect("last"), 5);
        assert_eq!(
            store.recent(2).expect("recent"),
            vec![msg(4, now), msg(5, now)]
        );
        assert_eq!(
            store.after(3, 10).expect("after"),
            vec![msg(4, now), msg(5, now)]
        );
    }

    #[test]
    fn a_batch_is_stored_whole_or_not_at_all() {
        let mut store = Store::in_memory(KEEP_ALL).expect("open");
        let now = now_ms();
        store
            .append_all(&[msg(1, now), msg(2, now), msg(3, now)])
            .expect("a batch");
        assert_eq!(store.recent(10).expect("recent").len(), 3);
        // Id 3 again: the whole batch fails, and 4 is not left behind.
        assert!(store.append_all(&[msg(4, now), msg(3, now)]).is_err());
        assert_eq!(store.last_id().expect("last"), 3);
        assert_eq!(store.after(3, 10).expect("after"), vec![]);
    }

    #[test]
    fn retention_drops_old_messages_but_ids_never_go_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.sqlite3");
        let now = now_ms();
        {
            let mut store = Store::open(&path, KEEP_ALL).expect("open");
            store
                .append_all(&[msg(1, now - 10_000_000)])
                .expect("append");
            store.append_all(&[msg(2, now)]).expect("append");
            store.append_all(&[msg(3, now)]).expect("append");
        }
        let by_age = Retention {
            max_messages: 0,
            max_age_ms: 1_000_000,
        };
        let store = Store::open(&path, by_age).expect("reopen");
        assert_eq!(store.recent(10).expect("recent").len(), 2);
        drop(store);
        let by_count = Retention {
            max_messages: 1,
            max_age_ms: 0,
        };
        let store = Store::open(&path, by_count).expect("reopen");
        assert_eq!(store.recent(10).expect("recent"), vec![msg(3, now)]);
        drop(store);
        let none_kept = Retention {
            max_messages: 0,
            max_age_ms: 1,
        };
        let store = Store::open(&path, none_kept).expect("reopen");
        assert!(store.recent(10).expect("recent").is_empty());
        assert_eq!(
            store.last_id().expect("last"),
            3,
            "ids continue after pruning"
        );
    }
}
