//! Direct messages: a conversation between two names, stored with its own ids (one sequence per
//! pair), visible to its two ends only.
//!
//! A line goes to the receiver's connection if it has one and always back to the sender (its
//! receipt); `direct_delivered` records, per name and pair, the last id known to have reached one
//! of that name's connections: handed to a session that then said `Bye`, or named in a `Hello`'s
//! resume point. A session that merely vanished may not have had its lines, so they are handed
//! over again (at least once, never lost). At sign-in the registry hands over what the client missed in each of its
//! direct conversations, right behind `Welcome`, as `Chat` frames: after its resume point there if
//! it gave one, else after what was last handed to the name (the lines sent while it was offline),
//! so a line sent to somebody offline arrives at their next sign-in, on whichever device, once.
//! Both happen under the sequencer, so a line said during a sign-in is either in its replay or
//! delivered live after it, never both.

use wire::{ChatMessage, Conversation, ProblemCode, ResumePoint, ServerFrame};

use super::{Online, Registry, RoomStore, Slow, Who, fail_all, lock, push_own, refusal};
use crate::{
    names::{name_key, validate_name},
    queue::PushError,
    room::{Rejection, Said},
    store::now_ms,
};

/// The key of a pair of names: both name keys, in order, so that either end finds it.
pub(super) fn pair_key(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}\n{b}")
    } else {
        format!("{b}\n{a}")
    }
}

impl Registry {
    /// Says lines to `to` (a name somebody owns: the caller checked). Ids go up by one per pair.
    pub(crate) async fn say_direct(
        &self,
        who: &Who<'_>,
        to: &str,
        lines: Vec<(u64, String)>,
    ) -> Vec<Said> {
        match &self.shared {
            Some(shared) => {
                self.say_direct_shared(shared.as_ref(), who, to, lines)
                    .await
            }
            None => self.say_direct_local(who, to, lines),
        }
    }

    fn say_direct_local(&self, who: &Who<'_>, to: &str, lines: Vec<(u64, String)>) -> Vec<Said> {
        if validate_name(to).is_err() {
            return fail_all(
                lines,
                &refusal(ProblemCode::NoSuchUser, format!("nobody is called {to}")),
            );
        }
        let mut store = match self.sequencer() {
            Ok(store) => store,
            Err(r) => return fail_all(lines, &r),
        };
        let to_key = name_key(to);
        let pair = pair_key(who.key, &to_key);
        let (last_id, stored_name) = match store.pair(&pair, &to_key) {
            Ok(found) => found,
            Err(e) => return fail_all(lines, &super::server_error(e)),
        };
        let receiver: Option<Online> = lock(&self.online).get(&to_key).cloned();
        // The name as its owner last used it: online, or when the two last wrote.
        let to_name = receiver
            .as_ref()
            .map(|o| o.name.clone())
            .or(stored_name)
            .unwrap_or_else(|| to.to_owned());
        let mut outcomes = Vec::with_capacity(lines.len());
        let mut messages: Vec<ChatMessage> = Vec::with_capacity(lines.len());
        let at_ms = now_ms();
        for (nonce, text) in lines {
            let outcome = if let Err(rejection) = self.check_text(&text) {
                Err(rejection)
            } else if messages.iter().any(|m| m.nonce == nonce)
                || store.direct_said(&pair, who.key, nonce).unwrap_or(false)
            {
                Err(Rejection::Duplicate)
            } else {
                let id = last_id + 1 + messages.len() as u64;
                messages.push(ChatMessage {
                    id,
                    from: who.name.to_owned(),
                    nonce,
                    text,
                    at_ms,
                });
                Ok(id)
            };
            outcomes.push((nonce, outcome));
        }
        if messages.is_empty() {
            return outcomes;
        }
        // The sender's own lines count as delivered to it; the receiver's only once it is known
        // to have them (see `Registry::sign_out`).
        if let Err(e) = store.append_direct(
            &pair,
            ((who.key, who.name), (&to_key, &to_name)),
            &messages,
            &[who.key],
        ) {
            tracing::error!(error = %e, "cannot store direct messages");
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
        if let (Some(receiver), Some(last)) = (&receiver, messages.last())
            && to_key != who.key
        {
            self.handed(
                (&to_key, receiver.conn),
                &pair,
                (who.key, who.name),
                last.id,
            );
        }
        let mut slow = Vec::new();
        for message in messages {
            if let Some(receiver) = receiver.as_ref().filter(|_| to_key != who.key) {
                let frame = ServerFrame::Chat {
                    conversation: Conversation::Direct(who.name.to_owned()),
                    message: message.clone(),
                };
                if let Ok(bytes) = wire::encode(&frame, wire::MAX_SERVER_FRAME)
                    && let Err(PushError::Full) = receiver.tx.push(bytes)
                {
                    slow.push((receiver.conn, to_key.clone()));
                }
            }
            let receipt = ServerFrame::Chat {
                conversation: Conversation::Direct(to_name.clone()),
                message,
            };
            if let Ok(bytes) = wire::encode(&receipt, wire::MAX_SERVER_FRAME) {
                push_own(who, bytes, &mut slow);
            }
        }
        drop(store);
        self.drop_slow(slow);
        outcomes
    }

    /// At sign-in (under the sequencer): what the member missed in each direct conversation.
    pub(super) fn replay_direct(
        &self,
        store: &RoomStore,
        who: &Who<'_>,
        resume: &[ResumePoint],
        slow: &mut Slow,
    ) {
        let pairs = match store.pairs_of(who.key) {
            Ok(pairs) => pairs,
            Err(e) => {
                tracing::error!(error = %e, "cannot read direct conversations");
                return;
            }
        };
        for pair in pairs {
            let other_key = name_key(&pair.other);
            let resumed = resume.iter().find_map(|point| match &point.conversation {
                Conversation::Direct(name) if name_key(name) == other_key => Some(point.last_id),
                _ => None,
            });
            // A resume point is the client saying what it has: delivered, for its other devices.
            if let Some(seen) = resumed.filter(|seen| *seen > pair.delivered)
                && let Err(e) = store.mark_delivered(who.key, &pair.pair, seen.min(pair.last_id))
            {
                tracing::error!(error = %e, "cannot record delivered direct messages");
            }
            let after = resumed.unwrap_or(pair.delivered);
            if pair.last_id <= after {
                continue;
            }
            let lines = match store.direct_lines(&pair.pair, after, self.sizes.max_replay) {
                Ok(lines) => lines,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read direct messages");
                    continue;
                }
            };
            let Some(last) = lines.last().map(|m| m.id) else {
                continue;
            };
            for message in lines {
                let frame = ServerFrame::Chat {
                    conversation: Conversation::Direct(pair.other.clone()),
                    message,
                };
                if let Ok(bytes) = wire::encode(&frame, wire::MAX_SERVER_FRAME) {
                    push_own(who, bytes, slow);
                }
            }
            self.handed(
                (who.key, who.conn),
                &pair.pair,
                (&other_key, &pair.other),
                last,
            );
        }
    }
}
