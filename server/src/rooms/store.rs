//! Rooms, topics, memberships, the rooms' lines and direct messages on disk: new tables in the
//! history's SQLite file, on a connection of their own (the default room's lines stay in
//! `messages`, so a database from before rooms keeps its history and its ids).
//!
//! Every table is created with `IF NOT EXISTS`: opening an older file adds them and touches
//! nothing else. Writes happen under the registry's sequencer, before anyone is sent what they
//! record, so a SIGKILL loses nothing that was delivered (WAL, `synchronous=NORMAL`, as `store`).
//!
//! | table | one row per |
//! | --- | --- |
//! | `rooms` | room (the default room too, for its topic): its name, topic, who set it |
//! | `room_members` | name in a room (durable: a reconnect or another device is back in it) |
//! | `room_lines` | line said in a room; ids go up by one per room |
//! | `direct_pairs` | two names that wrote to each other: their names, the last id |
//! | `direct_lines` | direct message; ids go up by one per pair |
//! | `direct_delivered` | name and pair: the last id handed to one of that name's connections |

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use wire::ChatMessage;

use crate::store::{StoreError, open_file};

pub(crate) struct RoomStore {
    conn: Connection,
}

/// A room as stored.
pub(crate) struct StoredRoom {
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) topic: String,
    /// (name key, name) of every member.
    pub(crate) members: Vec<(String, String)>,
    pub(crate) last_id: u64,
}

/// A direct conversation as one end sees it.
pub(crate) struct StoredPair {
    pub(crate) pair: String,
    /// The other end's name.
    pub(crate) other: String,
    pub(crate) last_id: u64,
    /// The last id handed to a connection of this end.
    pub(crate) delivered: u64,
}

impl RoomStore {
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = open_file(path)?;
        // The history's checkpoint thread copies the whole log, this connection's writes too.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        Self::init(conn)
    }

    pub(crate) fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS rooms (
                 room_key   TEXT PRIMARY KEY,
                 name       TEXT    NOT NULL,
                 topic      TEXT    NOT NULL DEFAULT '',
                 topic_by   TEXT    NOT NULL DEFAULT '',
                 created_ms INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS room_members (
                 room_key  TEXT    NOT NULL,
                 user_key  TEXT    NOT NULL,
                 user_name TEXT    NOT NULL,
                 joined_ms INTEGER NOT NULL,
                 PRIMARY KEY (room_key, user_key)
             ) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS room_members_by_user ON room_members (user_key);
             CREATE TABLE IF NOT EXISTS room_lines (
                 room_key   TEXT    NOT NULL,
                 id         INTEGER NOT NULL,
                 sender     TEXT    NOT NULL,
                 sender_key TEXT    NOT NULL,
                 nonce      INTEGER NOT NULL,
                 text       TEXT    NOT NULL,
                 at_ms      INTEGER NOT NULL,
                 PRIMARY KEY (room_key, id)
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS direct_pairs (
                 pair    TEXT PRIMARY KEY,
                 a_key   TEXT    NOT NULL,
                 a_name  TEXT    NOT NULL,
                 b_key   TEXT    NOT NULL,
                 b_name  TEXT    NOT NULL,
                 last_id INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS direct_pairs_a ON direct_pairs (a_key);
             CREATE INDEX IF NOT EXISTS direct_pairs_b ON direct_pairs (b_key);
             CREATE TABLE IF NOT EXISTS direct_lines (
                 pair       TEXT    NOT NULL,
                 id         INTEGER NOT NULL,
                 sender     TEXT    NOT NULL,
                 sender_key TEXT    NOT NULL,
                 nonce      INTEGER NOT NULL,
                 text       TEXT    NOT NULL,
                 at_ms      INTEGER NOT NULL,
                 PRIMARY KEY (pair, id)
             ) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS direct_nonces ON direct_lines (pair, sender_key, nonce);
             CREATE TABLE IF NOT EXISTS direct_delivered (
                 user_key TEXT    NOT NULL,
                 pair     TEXT    NOT NULL,
                 last_id  INTEGER NOT NULL,
                 PRIMARY KEY (user_key, pair)
             ) WITHOUT ROWID;",
        )?;
        Ok(Self { conn })
    }

    /// Every room with its members and last id.
    pub(crate) fn rooms(&self) -> Result<Vec<StoredRoom>, StoreError> {
        let mut rooms = Vec::new();
        {
            let mut stmt = self.conn.prepare(
                "SELECT r.room_key, r.name, r.topic,
                        (SELECT MAX(id) FROM room_lines l WHERE l.room_key = r.room_key)
                 FROM rooms r ORDER BY r.room_key",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(StoredRoom {
                    key: r.get(0)?,
                    name: r.get(1)?,
                    topic: r.get(2)?,
                    members: Vec::new(),
                    last_id: r.get::<_, Option<i64>>(3)?.map_or(0, to_u64),
                })
            })?;
            for row in rows {
                rooms.push(row?);
            }
        }
        let mut stmt = self
            .conn
            .prepare("SELECT user_key, user_name FROM room_members WHERE room_key = ?1")?;
        for room in &mut rooms {
            let rows = stmt.query_map([&room.key], |r| Ok((r.get(0)?, r.get(1)?)))?;
            for row in rows {
                room.members.push(row?);
            }
        }
        Ok(rooms)
    }

    pub(crate) fn create_room(&self, key: &str, name: &str, now_ms: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO rooms (room_key, name, created_ms) VALUES (?1, ?2, ?3)",
            params![key, name, to_i64(now_ms)],
        )?;
        Ok(())
    }

    pub(crate) fn set_topic(&self, key: &str, topic: &str, by: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE rooms SET topic = ?2, topic_by = ?3 WHERE room_key = ?1",
            params![key, topic, by],
        )?;
        Ok(())
    }

    pub(crate) fn add_member(
        &self,
        room: &str,
        (user_key, user_name): (&str, &str),
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO room_members (room_key, user_key, user_name, joined_ms)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (room_key, user_key) DO UPDATE SET user_name = excluded.user_name",
            params![room, user_key, user_name, to_i64(now_ms)],
        )?;
        Ok(())
    }

    pub(crate) fn remove_member(&self, room: &str, user_key: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM room_members WHERE room_key = ?1 AND user_key = ?2",
            params![room, user_key],
        )?;
        Ok(())
    }

    /// Stores lines of one room in one transaction; `sender_key` said all of them.
    pub(crate) fn append_room_lines(
        &mut self,
        room: &str,
        sender_key: &str,
        lines: &[ChatMessage],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO room_lines (room_key, id, sender, sender_key, nonce, text, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for m in lines {
                insert.execute(params![
                    room,
                    to_i64(m.id),
                    m.from,
                    sender_key,
                    to_i64(m.nonce),
                    m.text,
                    to_i64(m.at_ms)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Up to `limit` lines of a room after `after`, oldest first; without `after`, the newest.
    pub(crate) fn room_lines(
        &self,
        room: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(String, ChatMessage)>, StoreError> {
        let limit = to_i64(limit as u64);
        match after {
            Some(after) => self.lines(
                "SELECT id, sender, nonce, text, at_ms, sender_key FROM room_lines
                 WHERE room_key = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                params![room, to_i64(after), limit],
            ),
            None => {
                let mut lines = self.lines(
                    "SELECT id, sender, nonce, text, at_ms, sender_key FROM room_lines
                     WHERE room_key = ?1 ORDER BY id DESC LIMIT ?2",
                    params![room, limit],
                )?;
                lines.reverse();
                Ok(lines)
            }
        }
    }

    /// The direct conversations of `user_key`, each with the last id handed to it.
    pub(crate) fn pairs_of(&self, user_key: &str) -> Result<Vec<StoredPair>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.pair, CASE WHEN p.a_key = ?1 THEN p.b_name ELSE p.a_name END, p.last_id,
                    COALESCE((SELECT d.last_id FROM direct_delivered d
                              WHERE d.user_key = ?1 AND d.pair = p.pair), 0)
             FROM direct_pairs p WHERE p.a_key = ?1 OR p.b_key = ?1",
        )?;
        let rows = stmt.query_map([user_key], |r| {
            Ok(StoredPair {
                pair: r.get(0)?,
                other: r.get(1)?,
                last_id: to_u64(r.get(2)?),
                delivered: to_u64(r.get(3)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The last id of a pair (0 when they never wrote), and the name the other end last had.
    pub(crate) fn pair(
        &self,
        pair: &str,
        other_key: &str,
    ) -> Result<(u64, Option<String>), StoreError> {
        let found: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT last_id, CASE WHEN a_key = ?2 THEN a_name ELSE b_name END
                 FROM direct_pairs WHERE pair = ?1",
                params![pair, other_key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(found.map_or((0, None), |(id, name)| (to_u64(id), Some(name))))
    }

    /// Whether `sender_key` already said `nonce` in `pair` (a re-send after a reconnect).
    pub(crate) fn direct_said(
        &self,
        pair: &str,
        sender_key: &str,
        nonce: u64,
    ) -> Result<bool, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT 1 FROM direct_lines WHERE pair = ?1 AND sender_key = ?2 AND nonce = ?3",
        )?;
        Ok(stmt.exists(params![pair, sender_key, to_i64(nonce)])?)
    }

    /// Stores direct messages from `from` (key, name) to `to` (key, name) in one transaction, and
    /// which of the two ends were handed them.
    pub(crate) fn append_direct(
        &mut self,
        pair: &str,
        (from, to): ((&str, &str), (&str, &str)),
        lines: &[ChatMessage],
        delivered_to: &[&str],
    ) -> Result<(), StoreError> {
        let Some(last) = lines.last() else {
            return Ok(());
        };
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO direct_lines (pair, id, sender, sender_key, nonce, text, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for m in lines {
                insert.execute(params![
                    pair,
                    to_i64(m.id),
                    m.from,
                    from.0,
                    to_i64(m.nonce),
                    m.text,
                    to_i64(m.at_ms)
                ])?;
            }
            // `a` is the end whose key sorts first, as in the pair's own key.
            let ((a_key, a_name), (b_key, b_name)) = if from.0 <= to.0 {
                (from, to)
            } else {
                (to, from)
            };
            tx.prepare_cached(
                "INSERT INTO direct_pairs (pair, a_key, a_name, b_key, b_name, last_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (pair) DO UPDATE SET a_name = excluded.a_name,
                     b_name = excluded.b_name, last_id = excluded.last_id",
            )?
            .execute(params![pair, a_key, a_name, b_key, b_name, to_i64(last.id)])?;
            let mut mark = tx.prepare_cached(
                "INSERT INTO direct_delivered (user_key, pair, last_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_key, pair) DO UPDATE SET last_id = MAX(last_id, excluded.last_id)",
            )?;
            for user in delivered_to {
                mark.execute(params![user, pair, to_i64(last.id)])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Records that `user_key` was handed the lines of `pair` up to `last_id`.
    pub(crate) fn mark_delivered(
        &self,
        user_key: &str,
        pair: &str,
        last_id: u64,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO direct_delivered (user_key, pair, last_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_key, pair) DO UPDATE SET last_id = MAX(last_id, excluded.last_id)",
            )?
            .execute(params![user_key, pair, to_i64(last_id)])?;
        Ok(())
    }

    /// Up to `limit` direct messages of `pair` after `after`, oldest first.
    pub(crate) fn direct_lines(
        &self,
        pair: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        Ok(self
            .lines(
                "SELECT id, sender, nonce, text, at_ms, sender_key FROM direct_lines
                 WHERE pair = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                params![pair, to_i64(after), to_i64(limit as u64)],
            )?
            .into_iter()
            .map(|(_, m)| m)
            .collect())
    }

    fn lines(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<(String, ChatMessage)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(args, |r| {
            Ok((
                r.get(5)?,
                ChatMessage {
                    id: to_u64(r.get(0)?),
                    from: r.get(1)?,
                    nonce: to_u64(r.get(2)?),
                    text: r.get(3)?,
                    at_ms: to_u64(r.get(4)?),
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

// As in `store`: a bijection between u64 and SQLite's i64.
fn to_i64(v: u64) -> i64 {
    v as i64
}

fn to_u64(v: i64) -> u64 {
    v as u64
}
