//! Direct messages on a cluster node: a pair's lines are a channel of the shared log (its ids go up
//! by one, as a room's), and each end has a record in the shared registry with the last id known
//! to have reached one of its connections (`delivered`).
//!
//! Every node follows the log and hands a direct line to whichever end is connected to it (the
//! sender's copy is its receipt, delivered at once). The receiver's record moves only when the
//! line is known to have arrived, as on a single node: its session ended with `Bye`, or a later
//! `Hello` names it in a resume point. At sign-in, on any node, a member is handed what came after
//! its resume point in each of its direct conversations, or after what is known delivered: a line
//! sent while it was offline arrives, and one handed to a connection that vanished comes again. Lines that reach this
//! node while that replay is being read wait in `held`, and are handed over after it, those the
//! replay did not have: none is lost, none comes twice.

use std::collections::HashMap;

use bytes::Bytes;

use super::{clustered::store_failed, direct::pair_key, log::Party, *};
use crate::names::{name_key, validate_name};

/// A direct line for a member whose sign-in replay is under way.
pub(crate) struct Held {
    pair: String,
    /// The other end's name.
    other: String,
    id: u64,
    frame: Bytes,
}

/// A pair's place in the log, as this node knows it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PairTail {
    /// Log position and id of its last line.
    tail: (u64, u64),
    /// Log position of the last line handed out here (a re-read one is not handed out twice).
    applied: u64,
}

impl Registry {
    pub(super) async fn say_direct_shared(
        &self,
        shared: &dyn SharedLog,
        who: &Who<'_>,
        to: &str,
        lines: Vec<(u64, String)>,
    ) -> Vec<Said> {
        if validate_name(to).is_err() {
            return fail_all(
                lines,
                &refusal(ProblemCode::NoSuchUser, format!("nobody is called {to}")),
            );
        }
        let to_key = name_key(to);
        let pair = pair_key(who.key, &to_key);
        // The name as its owner last used it, when it is connected somewhere.
        let to_name = lock(&self.online)
            .get(&to_key)
            .map(|o| o.name.clone())
            .or_else(|| lock(&self.remote).get(&to_key).cloned())
            .unwrap_or_else(|| to.to_owned());
        let known = lock(&self.pairs).get(&pair).is_some_and(|p| p.tail.0 > 0);
        if !known {
            let ends = [
                DirectRecord {
                    user: who.key.to_owned(),
                    other: to_key.clone(),
                    other_name: to_name.clone(),
                    delivered: 0,
                },
                DirectRecord {
                    user: to_key.clone(),
                    other: who.key.to_owned(),
                    other_name: who.name.to_owned(),
                    delivered: 0,
                },
            ];
            for end in &ends {
                if let Err(e) = shared.put_direct(end, true).await {
                    return fail_all(lines, &refusal_of(&e));
                }
            }
            match Self::line_tail(shared, Channel::Direct(&pair)).await {
                Ok(tail) => self.advance_pair(&pair, tail),
                Err(e) => return fail_all(lines, &refusal_of(&e)),
            }
        }
        let from = Party {
            key: who.key.to_owned(),
            name: who.name.to_owned(),
        };
        let to = Party {
            key: to_key,
            name: to_name,
        };
        let at_ms = now_ms();
        let mut outcomes = Vec::with_capacity(lines.len());
        for (nonce, text) in lines {
            let outcome = match self.check_text(&text) {
                Err(rejection) => Err(rejection),
                Ok(()) => {
                    let message = ChatMessage {
                        id: 0,
                        from: who.name.to_owned(),
                        nonce,
                        text,
                        at_ms,
                    };
                    self.publish_direct(shared, &pair, (&from, &to), message)
                        .await
                }
            };
            outcomes.push((nonce, outcome));
        }
        outcomes
    }

    async fn publish_direct(
        &self,
        shared: &dyn SharedLog,
        pair: &str,
        (from, to): (&Party, &Party),
        mut message: ChatMessage,
    ) -> Result<u64, Rejection> {
        let nonce = message.nonce;
        for _ in 0..16 {
            let (seq, id) = lock(&self.pairs)
                .get(pair)
                .map(|p| p.tail)
                .unwrap_or_default();
            message.id = id.saturating_add(1);
            let event = Event::Direct {
                from: from.clone(),
                to: to.clone(),
                message: message.clone(),
            };
            let appended = shared
                .append(
                    Channel::Direct(pair),
                    &event,
                    Some(seq).filter(|s| *s > 0),
                    Some(Dedup::Line(&from.key, nonce)),
                )
                .await
                .map_err(store_failed)?;
            match appended {
                Appended::Done {
                    duplicate: true, ..
                } => return Err(Rejection::Duplicate),
                Appended::Done { seq, .. } => {
                    self.advance_pair(pair, (seq, message.id));
                    return Ok(message.id);
                }
                Appended::Behind => {
                    let tail = Self::line_tail(shared, Channel::Direct(pair))
                        .await
                        .map_err(store_failed)?;
                    self.advance_pair(pair, tail);
                }
            }
        }
        Err(Rejection::Problem {
            code: ProblemCode::ServerError,
            detail: "the conversation is too busy right now; try again".into(),
        })
    }

    fn advance_pair(&self, pair: &str, (seq, id): (u64, u64)) {
        let mut pairs = lock(&self.pairs);
        let entry = pairs.entry(pair.to_owned()).or_default();
        if seq > entry.tail.0 {
            entry.tail = (seq, id);
        }
    }

    /// A direct line from the log: to whichever end is connected here.
    pub(super) fn apply_direct(
        &self,
        seq: u64,
        from: Party,
        to: Party,
        message: ChatMessage,
    ) -> Vec<DirectRecord> {
        let pair = pair_key(&from.key, &to.key);
        {
            let mut pairs = lock(&self.pairs);
            let entry = pairs.entry(pair.clone()).or_default();
            if seq <= entry.applied {
                return Vec::new();
            }
            entry.applied = seq;
            if seq > entry.tail.0 {
                entry.tail = (seq, message.id);
            }
        }
        let mut marks = Vec::new();
        let mut slow = Vec::new();
        let mut ends = vec![(&from, &to)];
        if to.key != from.key {
            ends.push((&to, &from));
        }
        for (end, other) in ends {
            let frame = ServerFrame::Chat {
                conversation: Conversation::Direct(other.name.clone()),
                message: message.clone(),
            };
            let Ok(bytes) = wire::encode(&frame, wire::MAX_SERVER_FRAME) else {
                continue;
            };
            let mut held = lock(&self.held);
            if let Some(waiting) = held.get_mut(&end.key) {
                waiting.push(Held {
                    pair: pair.clone(),
                    other: other.name.clone(),
                    id: message.id,
                    frame: bytes,
                });
                continue;
            }
            let online = lock(&self.online).get(&end.key).cloned();
            drop(held);
            if let Some(member) = online {
                if let Err(PushError::Full) = member.tx.push(bytes) {
                    slow.push((member.conn, end.key.clone()));
                }
                if end.key == from.key {
                    // Its own line is delivered at once; a confirmation pending for this
                    // connection must not later write an older id over it.
                    self.raise_handed((&end.key, member.conn), &pair, message.id);
                    marks.push(DirectRecord {
                        user: end.key.clone(),
                        other: other.key.clone(),
                        other_name: other.name.clone(),
                        delivered: message.id,
                    });
                } else {
                    self.handed(
                        (&end.key, member.conn),
                        &pair,
                        (&other.key, &other.name),
                        message.id,
                    );
                }
            }
        }
        self.drop_slow(slow);
        marks
    }

    /// At sign-in: what the member missed in each direct conversation, then what arrived meanwhile.
    pub(super) async fn replay_direct_shared(
        &self,
        shared: &dyn SharedLog,
        who: &Who<'_>,
        resume: &[ResumePoint],
        slow: &mut Slow,
    ) {
        let records = shared.directs(who.key).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read direct conversations");
            Vec::new()
        });
        let mut replayed: HashMap<String, u64> = HashMap::new();
        for record in records {
            let pair = pair_key(who.key, &record.other);
            let resumed = resume.iter().find_map(|point| match &point.conversation {
                Conversation::Direct(name) if name_key(name) == record.other => Some(point.last_id),
                _ => None,
            });
            let after = resumed.unwrap_or(record.delivered);
            replayed.insert(pair.clone(), after);
            let newest = match shared.last(Channel::Direct(&pair)).await {
                Ok(Some((_, event))) => event.line_id(),
                Ok(None) => 0,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read a direct conversation");
                    continue;
                }
            };
            // A resume point is the client saying what it has: delivered, for its other devices.
            if let Some(seen) = resumed.map(|seen| seen.min(newest))
                && seen > record.delivered
            {
                let mark = DirectRecord {
                    delivered: seen,
                    ..record.clone()
                };
                if let Err(e) = shared.put_direct(&mark, false).await {
                    tracing::error!(error = %e, "cannot record delivered direct messages");
                }
            }
            if newest <= after {
                continue;
            }
            let events = match shared.read(Channel::Direct(&pair)).await {
                Ok(events) => events,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read direct messages");
                    continue;
                }
            };
            let mut last = after;
            for (_, event) in events {
                let Event::Direct { from, to, message } = event else {
                    continue;
                };
                if message.id <= last {
                    continue;
                }
                last = message.id;
                let other = if from.key == who.key {
                    to.name
                } else {
                    from.name
                };
                let frame = ServerFrame::Chat {
                    conversation: Conversation::Direct(other),
                    message,
                };
                if let Ok(bytes) = wire::encode(&frame, wire::MAX_SERVER_FRAME) {
                    push_own(who, bytes, slow);
                }
                if last - after >= self.sizes.max_replay as u64 {
                    break;
                }
            }
            if last > after {
                self.handed(
                    (who.key, who.conn),
                    &pair,
                    (&record.other, &record.other_name),
                    last,
                );
            }
            replayed.insert(pair, last);
        }
        // Lines that came while the replay was read, those it did not have, in log order.
        let mut held = lock(&self.held);
        for line in held.remove(who.key).unwrap_or_default() {
            if replayed.get(&line.pair).is_none_or(|last| line.id > *last) {
                push_own(who, line.frame, slow);
                let other_key = line
                    .pair
                    .split('\n')
                    .find(|k| *k != who.key)
                    .unwrap_or(who.key);
                self.handed(
                    (who.key, who.conn),
                    &line.pair,
                    (other_key, &line.other),
                    line.id,
                );
            }
        }
    }
}

/// After a session's `Bye`: the direct lines it was handed arrived, to be recorded in the shared
/// registry.
pub(super) fn confirmation(
    shared: Arc<dyn SharedLog>,
    user: &str,
    handed: HashMap<String, Handed>,
) -> Confirmation {
    let records = handed
        .into_values()
        .map(|handed| DirectRecord {
            user: user.to_owned(),
            other: handed.other_key,
            other_name: handed.other_name,
            delivered: handed.last_id,
        })
        .collect();
    Confirmation(Some((shared, records)))
}

fn refusal_of(e: &crate::room::PeerError) -> Refusal {
    tracing::error!(error = %e, "direct messages in the cluster");
    refusal(
        ProblemCode::ServerError,
        "the cluster cannot be reached right now; try again later",
    )
}
