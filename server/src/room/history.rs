//! The newest lines in memory, who said what (so a re-sent line is not said twice), and the replay
//! a newcomer gets: written once for both ways of joining. Older history than the cache comes from
//! the store (single node) or the stream (cluster), read by the caller before it takes the room's
//! lock; [`History::replay`] continues it from the cache under the lock, which is what makes the
//! replay meet the live stream with no gap and no duplicate.

use std::collections::{HashMap, VecDeque};

use wire::ChatMessage;

use crate::names::name_key;

pub(super) struct History {
    /// The id the next line gets (single node) or the room expects next from the stream (cluster).
    pub(super) next_id: u64,
    /// The newest messages, also in the store: newcomers and most resumes are served from here.
    cache: VecDeque<ChatMessage>,
    /// How many messages the cache keeps.
    len: usize,
    /// (sender key, nonce) → id of every message in `cache`, and of some just older ones until
    /// the next sweep: a `Say` re-sent after a reconnect is recognised and not said twice. Entries
    /// older than the cache are swept in bulk, so that no line has to work out the name key of
    /// the message it pushes out of the cache (Unicode folding, 10% of the CPU of fast chatter).
    said: HashMap<(String, u64), u64>,
}

impl History {
    /// A history whose newest lines are `cached` (oldest first), continuing at `next_id`.
    pub(super) fn new(next_id: u64, cached: Vec<ChatMessage>, len: usize) -> Self {
        let said = cached
            .iter()
            .map(|m| ((name_key(&m.from), m.nonce), m.id))
            .collect();
        Self {
            next_id,
            cache: cached.into(),
            len,
            said,
        }
    }

    /// The id of the oldest message in the cache (the next id when it is empty).
    pub(super) fn oldest(&self) -> u64 {
        self.cache.front().map_or(self.next_id, |m| m.id)
    }

    /// The last id a resume has seen, if what it missed starts before the cache: then the caller
    /// reads the older part from the store or the stream first.
    pub(super) fn older_than_cache(&self, resume_after: Option<u64>) -> Option<u64> {
        resume_after.filter(|last_seen| last_seen.saturating_add(1) < self.oldest())
    }

    /// Whether `key` already said the line with this nonce, as far as the cache reaches.
    pub(super) fn already_said(&self, key: &str, nonce: u64) -> bool {
        let oldest = self.oldest();
        self.said
            .get(&(key.to_owned(), nonce))
            .is_some_and(|&id| id >= oldest)
    }

    /// Keeps a line that was just sent to everyone.
    pub(super) fn keep(&mut self, key: String, message: ChatMessage) {
        if self.len == 0 {
            return;
        }
        if self.cache.len() >= self.len {
            self.cache.pop_front();
        }
        self.said.insert((key, message.nonce), message.id);
        self.cache.push_back(message);
        if self.said.len() >= 2 * self.len {
            self.forget_said_before_cache();
        }
    }

    /// Drops the entries of `said` for messages no longer in the cache.
    fn forget_said_before_cache(&mut self) {
        let oldest = self.oldest();
        self.said.retain(|_, id| *id >= oldest);
    }

    /// What a newcomer is sent: without `resume_after`, the newest `welcome` lines; with it, what
    /// it missed, at most `max_replay` lines: `older` (read from the store or the stream when the
    /// resume starts before the cache, else empty) continued from the cache.
    pub(super) fn replay(
        &self,
        mut older: Vec<ChatMessage>,
        resume_after: Option<u64>,
        welcome: usize,
        max_replay: usize,
    ) -> Vec<ChatMessage> {
        match resume_after {
            Some(last_seen) => {
                let after = older.last().map_or(last_seen, |m| m.id.max(last_seen));
                let room_left = max_replay.saturating_sub(older.len());
                older.extend(
                    self.cache
                        .iter()
                        .filter(|m| m.id > after)
                        .take(room_left)
                        .cloned(),
                );
                older
            }
            None => {
                let skip = self.cache.len().saturating_sub(welcome);
                self.cache.iter().skip(skip).cloned().collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: u64, from: &str, nonce: u64) -> ChatMessage {
        ChatMessage {
            id,
            from: from.into(),
            nonce,
            text: format!("line {id}"),
            at_ms: 0,
        }
    }

    fn ids(messages: &[ChatMessage]) -> Vec<u64> {
        messages.iter().map(|m| m.id).collect()
    }

    /// A cache of lines 6..=10, continuing at 11.
    fn history() -> History {
        History::new(11, (6..=10).map(|id| line(id, "al", id)).collect(), 5)
    }

    #[test]
    fn a_newcomer_gets_the_newest_lines() {
        assert_eq!(ids(&history().replay(Vec::new(), None, 3, 100)), [8, 9, 10]);
    }

    #[test]
    fn a_resume_inside_the_cache_gets_what_it_missed_up_to_the_limit() {
        let h = history();
        assert_eq!(h.older_than_cache(Some(7)), None);
        assert_eq!(h.older_than_cache(Some(5)), None);
        assert_eq!(ids(&h.replay(Vec::new(), Some(7), 3, 100)), [8, 9, 10]);
        assert_eq!(ids(&h.replay(Vec::new(), Some(6), 3, 2)), [7, 8]);
        assert!(h.replay(Vec::new(), Some(10), 3, 100).is_empty());
        assert!(h.replay(Vec::new(), Some(u64::MAX), 3, 100).is_empty());
    }

    #[test]
    fn an_older_resume_continues_from_the_cache_without_gap_or_duplicate() {
        let h = history();
        assert_eq!(h.older_than_cache(Some(2)), Some(2));
        assert_eq!(h.older_than_cache(Some(u64::MAX)), None);
        // The store had 3..=7 (overlapping the cache): the cache adds 8..=10 once each.
        let older = (3..=7).map(|id| line(id, "al", id)).collect();
        assert_eq!(
            ids(&h.replay(older, Some(2), 3, 100)),
            [3, 4, 5, 6, 7, 8, 9, 10]
        );
        // Bounded by max_replay, older lines first.
        let older = (3..=7).map(|id| line(id, "al", id)).collect();
        assert_eq!(ids(&h.replay(older, Some(2), 3, 6)), [3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn a_re_sent_line_is_known_while_its_original_is_cached() {
        let mut h = History::new(1, Vec::new(), 2);
        h.keep(name_key("Al"), line(1, "Al", 7));
        h.next_id = 2;
        assert!(h.already_said(&name_key("al"), 7));
        assert!(!h.already_said(&name_key("al"), 8));
        h.keep(name_key("Bo"), line(2, "Bo", 1));
        h.keep(name_key("Bo"), line(3, "Bo", 2));
        // Line 1 left the cache: its nonce may be used again.
        assert!(!h.already_said(&name_key("al"), 7));
        assert_eq!(h.oldest(), 2);
    }
}
