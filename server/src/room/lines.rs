//! Saying lines: ids, storing, and sending them to everyone.
//!
//! On a single node the sequencer (the store's lock) is held from id assignment through the store
//! append to the broadcast; the room's lock is taken twice inside it, briefly, and never across the
//! commit. In a cluster a session publishes its line to the stream without any lock
//! ([`Room::speak_all`]) and the task following the stream applies every node's lines in stream
//! order ([`Room::apply`]).

use wire::{ChatMessage, ProblemCode, ServerFrame};

use super::{Peers, Rejection, Room, Said, State};
use crate::{names::name_key, store::now_ms};

impl Room {
    /// Says one member's lines: on a single node at once; in a cluster by publishing them to the
    /// stream one by one (each reaches everyone, the sender included, when the stream delivers it
    /// back).
    pub(crate) async fn speak_all(&self, key: &str, lines: Vec<(u64, String)>) -> Vec<Said> {
        let Some(peers) = &self.peers else {
            return self.say_all(key, lines);
        };
        let mut outcomes = Vec::with_capacity(lines.len());
        for (nonce, text) in lines {
            // Boxed: unboxed, the cluster's publish future (1.4 KB) was part of every session's
            // task, single node or not, for its whole life.
            let outcome = Box::pin(self.publish(peers.as_ref(), key, nonce, text)).await;
            outcomes.push((nonce, outcome));
        }
        outcomes
    }

    /// Stamps one member's lines and sends them to everyone, the sender included, in order. Lines
    /// that arrived together are stored in one transaction: a transaction per line (its WAL write
    /// and shared-memory locks) was more than half of the server's CPU under fast chatter.
    pub(crate) fn say_all(&self, key: &str, lines: Vec<(u64, String)>) -> Vec<Said> {
        // Held to the end: nothing else gets an id until these lines are stored and sent.
        let mut sequencer = self.sequencer();
        let mut outcomes = Vec::with_capacity(lines.len());
        let mut messages: Vec<ChatMessage> = Vec::with_capacity(lines.len());
        {
            let state = self.lock();
            let Some(from) = state.members.get(key).map(|m| m.name.clone()) else {
                return lines
                    .into_iter()
                    .map(|(nonce, _)| (nonce, Err(Rejection::NotMember)))
                    .collect();
            };
            let at_ms = now_ms();
            for (nonce, text) in lines {
                let outcome = if let Err(rejection) = self.check_text(&text) {
                    Err(rejection)
                } else if state.history.already_said(key, nonce)
                    || messages.iter().any(|m| m.nonce == nonce)
                {
                    Err(Rejection::Duplicate)
                } else {
                    let id = state.history.next_id + messages.len() as u64;
                    messages.push(ChatMessage {
                        id,
                        from: from.clone(),
                        nonce,
                        text,
                        at_ms,
                    });
                    Ok(id)
                };
                outcomes.push((nonce, outcome));
            }
        }
        if messages.is_empty() {
            return outcomes;
        }
        // Stored before anyone sees them: what was delivered survives a crash.
        if let Some(store) = sequencer.as_mut()
            && let Err(e) = store.append_all(&messages)
        {
            tracing::error!(error = %e, lines = messages.len(), "cannot store messages");
            for (_, outcome) in &mut outcomes {
                if outcome.is_ok() {
                    *outcome = Err(Rejection::Problem {
                        code: ProblemCode::ServerError,
                        detail: "the server cannot store messages right now; try again later"
                            .into(),
                    });
                }
            }
            return outcomes;
        }
        if let Some(store) = &sequencer {
            self.metrics.history_lines.set(store.lines() as i64);
        }
        let mut state = self.lock();
        for message in messages {
            self.record(&mut state, key.to_owned(), message);
        }
        drop(state);
        drop(sequencer);
        outcomes
    }

    /// Sends a line to everyone and keeps it in the history (the caller holds the lock).
    fn record(&self, state: &mut State, key: String, message: ChatMessage) {
        state.history.next_id = message.id + 1;
        let frame = ServerFrame::Chat {
            conversation: self.conversation(),
            message,
        };
        self.broadcast(state, &frame);
        if let ServerFrame::Chat { message, .. } = frame {
            state.history.keep(key, message);
        }
    }

    /// Length and blank checks on a line, before anything else is done with it.
    fn check_text(&self, text: &str) -> Result<(), Rejection> {
        let max = self.limits.current().max_message_bytes;
        if text.len() > max {
            return Err(Rejection::Problem {
                code: ProblemCode::TooLong,
                detail: format!("the message has {} bytes; the limit is {max}", text.len()),
            });
        }
        if text.trim().is_empty() {
            return Err(Rejection::Problem {
                code: ProblemCode::Empty,
                detail: "the message is empty".into(),
            });
        }
        Ok(())
    }

    /// One line through the cluster's stream; it comes back to every node (this one too) by
    /// [`Room::apply`].
    async fn publish(
        &self,
        peers: &dyn Peers,
        key: &str,
        nonce: u64,
        text: String,
    ) -> Result<u64, Rejection> {
        self.check_text(&text)?;
        let from = {
            let state = self.lock();
            let Some(member) = state.members.get(key) else {
                return Err(Rejection::NotMember);
            };
            if state.history.already_said(key, nonce) {
                return Err(Rejection::Duplicate);
            }
            member.name.clone()
        };
        let message = ChatMessage {
            id: 0,
            from,
            nonce,
            text,
            at_ms: now_ms(),
        };
        match peers.publish(key, &message).await {
            Ok(published) if published.duplicate => Err(Rejection::Duplicate),
            Ok(published) => Ok(published.id),
            Err(e) => {
                tracing::error!(error = %e, "cannot publish a message to the cluster");
                Err(Rejection::Problem {
                    code: ProblemCode::ServerError,
                    detail: "the chat cluster is unreachable right now; the line was not sent, \
                             try again in a moment"
                        .into(),
                })
            }
        }
    }

    /// The id the room expects next from the stream.
    pub(crate) fn next_id(&self) -> u64 {
        self.lock().history.next_id
    }

    /// A message from the stream, in stream order: sent to everyone here and cached.
    pub(crate) fn apply(&self, message: ChatMessage) {
        let mut state = self.lock();
        if message.id < state.history.next_id {
            return;
        }
        let key = name_key(&message.from);
        self.record(&mut state, key, message);
    }

    /// Passes over a stream message that cannot be applied.
    pub(crate) fn skip_to(&self, next_id: u64) {
        let mut state = self.lock();
        state.history.next_id = state.history.next_id.max(next_id);
    }
}
