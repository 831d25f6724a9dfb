//! The protocol's rules for one member's session, as a state machine without I/O.
//!
//! [`MemberSession::handle`] takes what happened (a decoded frame, a decode error, the end of the
//! stream, a lost connection, a room event) and the time, and returns the one [`Action`] the driver
//! must carry out: no sockets, no tasks, no clock reads, so every rule is unit-tested and fuzzed at
//! full speed (`crate::fuzzing`). What the rules decide: the first frame must be a `Hello` of our
//! version with a valid name; a second `Hello` is a `Problem`; `Say` and `ListUsers` spend from one
//! rate bucket, and a frame over it is answered with `Problem(TooFast)` (naming the `Say`'s nonce)
//! until the client has been told `too_fast_strikes` times in a row, when it is disconnected with
//! `TOO_FAST`; and how each way of ending closes the connection.

use std::{borrow::Cow, time::Instant};

use wire::{
    ClientFrame, DecodeError, FrameDecoder, LeaveReason, ProblemCode, RefuseReason, ServerFrame,
    close_code,
};

use crate::{config::Limits, limits::RateLimit, names::validate_name, room::Rejection};

/// What happened to the session.
#[derive(Debug)]
pub enum Input {
    /// A whole frame from the client.
    Frame(ClientFrame),
    /// The client's bytes are not a frame.
    Broken(DecodeError),
    /// The client finished its stream (on a frame boundary).
    Finished,
    /// The connection is gone (read or write failed).
    Lost(LeaveReason),
    /// No `Hello` came in time.
    HelloTimeout,
    /// The book of owners' answer to [`Action::Claim`]: may this key use this name?
    Claimed(Result<(), RefuseReason>),
    /// The room's answer to [`Action::Join`].
    Joined(Result<(), RefuseReason>),
    /// An operator removed the member: the room let go of it (telling the others `why`), and its
    /// queue, ending with the `Removed` frame, is written.
    // Read by the tests only, for now.
    #[allow(dead_code)]
    Removed(LeaveReason),
    /// The room disconnected the member for falling behind.
    Kicked,
    /// The member's queue is closed and everything in it written.
    Flushed,
}

/// How to close the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    /// One of [`wire::close_code`].
    pub code: u32,
    pub reason: Cow<'static, str>,
}

impl Close {
    fn new(code: u32, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// The close for a client whose bytes broke the protocol.
    fn for_decode(e: &DecodeError) -> Self {
        let code = match e {
            DecodeError::FrameTooLarge { .. } => close_code::FRAME_TOO_LARGE,
            _ => close_code::PROTOCOL_ERROR,
        };
        Self::new(code, e.to_string())
    }
}

/// What the driver does next.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Nothing to send or do.
    Nothing,
    /// Ask the book of owners whether this connection's key may use `user` (a valid name), with the
    /// code given in `Redeem`, if any; report with [`Input::Claimed`].
    Claim { user: String, code: Option<String> },
    /// Ask the room to admit `user` (a valid name), then report with [`Input::Joined`].
    Join {
        user: String,
        resume_after: Option<u64>,
    },
    /// Send `Refused`, flush, close with `REFUSED`; the session ends.
    Refuse(RefuseReason),
    /// Queue this frame for this client only.
    Reply(ServerFrame),
    /// Say this line (with those that arrived together with it: [`MemberSession::gather_lines`]),
    /// then report each outcome to [`MemberSession::said`].
    Say { nonce: u64, text: String },
    /// Queue the room's user list for this client.
    ListUsers,
    /// Carry out a request about names, devices or moderation and queue its `Reply` with `id`.
    Request { id: u32, request: wire::Request },
    /// Leave the room and stop reading; write what is queued until [`Input::Flushed`].
    Leave(LeaveReason),
    /// The session ends now: leave the room (when `leave` says why) and close the connection
    /// (when `close` says how; else it is already gone or was never more than a handshake).
    End {
        leave: Option<LeaveReason>,
        close: Option<Close>,
    },
    /// Finish the stream, give the peer a moment to acknowledge it, then close; the session ends.
    FinishAndClose(Close),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the first frame.
    Hello,
    /// Asked the book of owners about the name.
    Claiming,
    /// Asked the room to join.
    Joining,
    /// In the room, reading frames.
    Member,
    /// Left the room, writing what is queued.
    Leaving,
    /// Nothing more to do.
    Ended,
}

/// One member's session, from the first frame to the close.
#[derive(Debug)]
pub struct MemberSession {
    phase: Phase,
    /// Set when the listener refused the connection before the handshake: told after `Hello`.
    refusal: Option<RefuseReason>,
    rate: RateLimit,
    /// `TooFast` answers in a row.
    strikes: u32,
    strikes_allowed: u32,
    /// Chosen when the client ended things: the close to send once the queue is flushed.
    closing: Option<Close>,
    /// The code of a `Redeem` before `Hello`.
    code: Option<String>,
    /// The `Hello` being claimed: its name and resume point, for the `Join` that follows.
    claiming: Option<(String, Option<u64>)>,
}

impl MemberSession {
    /// A session starting at `now`; `refusal` is what the listener decided before the handshake.
    pub fn new(limits: &Limits, refusal: Option<RefuseReason>, now: Instant) -> Self {
        Self {
            phase: Phase::Hello,
            refusal,
            rate: RateLimit::new(limits.messages_per_sec, limits.message_burst, now),
            strikes: 0,
            strikes_allowed: limits.too_fast_strikes,
            closing: None,
            code: None,
            claiming: None,
        }
    }

    /// Whether the member is in the room and its frames are acted on.
    pub fn is_member(&self) -> bool {
        self.phase == Phase::Member
    }

    /// Whether the client's frames are still read: before joining and while in the room.
    pub fn is_reading(&self) -> bool {
        matches!(self.phase, Phase::Hello | Phase::Member)
    }

    /// Whether the session has ended: nothing more is to be fed in.
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// What to do about `input`, at `now`.
    pub fn handle(&mut self, input: Input, now: Instant) -> Action {
        match (self.phase, input) {
            (Phase::Ended, _) => Action::Nothing,
            (Phase::Hello, input) => self.before_joining(input),
            (Phase::Claiming, Input::Claimed(Ok(()))) => match self.claiming.take() {
                Some((user, resume_after)) => {
                    self.phase = Phase::Joining;
                    Action::Join { user, resume_after }
                }
                None => self.end(None, None),
            },
            (Phase::Claiming, Input::Claimed(Err(reason))) => {
                self.phase = Phase::Ended;
                Action::Refuse(reason)
            }
            (Phase::Joining, Input::Joined(Ok(()))) => {
                self.phase = Phase::Member;
                Action::Nothing
            }
            (Phase::Joining, Input::Joined(Err(reason))) => {
                self.phase = Phase::Ended;
                Action::Refuse(reason)
            }
            (_, Input::HelloTimeout | Input::Joined(_) | Input::Claimed(_)) => Action::Nothing,
            (Phase::Claiming | Phase::Joining, input) => self.end_before_joining(input),
            (Phase::Member, Input::Frame(frame)) => self.frame(frame, now),
            (Phase::Member, Input::Finished) => self.leave(
                LeaveReason::Dropped,
                Close::new(close_code::NORMAL, "stream finished without Bye"),
            ),
            (Phase::Member, Input::Broken(e)) => {
                self.end(Some(LeaveReason::Misbehaved), Some(Close::for_decode(&e)))
            }
            (Phase::Member | Phase::Leaving, Input::Lost(why)) => self.end(Some(why), None),
            (Phase::Member | Phase::Leaving, Input::Kicked) => self.end(
                None,
                Some(Close::new(
                    close_code::TOO_SLOW,
                    "too slow to keep up with the room",
                )),
            ),
            (Phase::Member | Phase::Leaving, Input::Removed(_)) => {
                self.phase = Phase::Ended;
                Action::FinishAndClose(Close::new(close_code::REMOVED, "removed by an operator"))
            }
            (Phase::Member | Phase::Leaving, Input::Flushed) => {
                self.phase = Phase::Ended;
                // The client chose the code when it ended things; otherwise the room let go of
                // us because the server is shutting down.
                Action::FinishAndClose(self.closing.take().unwrap_or_else(|| {
                    Close::new(close_code::SHUTTING_DOWN, "server shutting down")
                }))
            }
            // Reading stopped when the member left; a driver that reads on is ignored.
            (Phase::Leaving, Input::Frame(_) | Input::Broken(_) | Input::Finished) => {
                Action::Nothing
            }
        }
    }

    /// The first frame, or how the connection ended before one.
    fn before_joining(&mut self, input: Input) -> Action {
        let (user, resume_after) = match input {
            Input::Frame(ClientFrame::Hello {
                version,
                user,
                resume_after,
            }) => {
                if version != wire::PROTOCOL_VERSION {
                    let reason = RefuseReason::UnsupportedVersion {
                        supported: wire::PROTOCOL_VERSION,
                    };
                    return self.refuse(reason);
                }
                (user, resume_after)
            }
            // A code may come first, once.
            Input::Frame(ClientFrame::Redeem { code }) if self.code.is_none() => {
                self.code = Some(code);
                return Action::Nothing;
            }
            Input::Frame(_) => {
                return self.end(
                    None,
                    Some(Close::new(
                        close_code::PROTOCOL_ERROR,
                        "the first frame must be Hello (after at most one Redeem)",
                    )),
                );
            }
            Input::HelloTimeout => {
                return self.end(
                    None,
                    Some(Close::new(close_code::HELLO_TIMEOUT, "no Hello in time")),
                );
            }
            other => return self.end_before_joining(other),
        };
        if let Some(reason) = self.refusal.take() {
            return self.refuse(reason);
        }
        if let Err(e) = validate_name(&user) {
            return self.refuse(RefuseReason::InvalidName(e.to_string()));
        }
        self.phase = Phase::Claiming;
        self.claiming = Some((user.clone(), resume_after));
        Action::Claim {
            user,
            code: self.code.take(),
        }
    }

    /// The connection ended (or broke the protocol) before the member was in the room.
    fn end_before_joining(&mut self, input: Input) -> Action {
        match input {
            Input::Broken(e) => self.end(None, Some(Close::for_decode(&e))),
            _ => self.end(None, None),
        }
    }

    /// A frame from a member.
    fn frame(&mut self, frame: ClientFrame, now: Instant) -> Action {
        // Saying something and asking for the user list (which can be large and is built for
        // this client alone) spend from the same bucket.
        if matches!(
            frame,
            ClientFrame::Say { .. } | ClientFrame::ListUsers | ClientFrame::Request { .. }
        ) {
            if self.rate.allow(now) {
                self.strikes = 0;
            } else {
                self.strikes += 1;
                if self.strikes > self.strikes_allowed {
                    // Leave first, then let the writer flush: the client gets every TooFast
                    // answer before the close that explains them.
                    return self.leave(
                        LeaveReason::Misbehaved,
                        Close::new(
                            close_code::TOO_FAST,
                            "kept sending too fast after being told to slow down",
                        ),
                    );
                }
                let nonce = match &frame {
                    ClientFrame::Say { nonce, .. } => Some(*nonce),
                    _ => None,
                };
                return Action::Reply(ServerFrame::Problem {
                    code: ProblemCode::TooFast,
                    nonce,
                    detail: "slow down: this was not carried out; try again in a moment".into(),
                });
            }
        }
        match frame {
            ClientFrame::Say { nonce, text } => Action::Say { nonce, text },
            ClientFrame::ListUsers => Action::ListUsers,
            ClientFrame::Hello { .. } => Action::Reply(ServerFrame::Problem {
                code: ProblemCode::AlreadyJoined,
                nonce: None,
                detail: "Hello was already accepted on this connection".into(),
            }),
            ClientFrame::Bye => {
                self.leave(LeaveReason::Quit, Close::new(close_code::NORMAL, "bye"))
            }
            ClientFrame::Request { id, request } => Action::Request { id, request },
            ClientFrame::Redeem { .. } => Action::Reply(ServerFrame::Problem {
                code: ProblemCode::AlreadyJoined,
                nonce: None,
                detail: "a code is redeemed before Hello, on a new connection".into(),
            }),
        }
    }

    /// `first` (from [`Action::Say`]) and the lines already decoded behind it, `most` in all, so
    /// that lines that arrived together are said together (one history transaction, one turn of
    /// the room lock). Gathering stops at anything else, which is left in `ahead` to be handled
    /// next: a frame other than `Say`, or a `Say` over the rate limit, which is then refused as
    /// usual. A malformed frame behind the lines is returned so that the lines before it are still
    /// said; hand it to [`MemberSession::handle`] afterwards.
    pub fn gather_lines(
        &mut self,
        decoder: &mut FrameDecoder,
        first: (u64, String),
        most: usize,
        now: Instant,
        ahead: &mut Option<ClientFrame>,
    ) -> (Vec<(u64, String)>, Option<DecodeError>) {
        let mut lines = vec![first];
        while lines.len() < most {
            match decoder.next_frame() {
                Ok(Some(ClientFrame::Say { nonce, text })) if self.rate.allow(now) => {
                    lines.push((nonce, text));
                }
                Ok(Some(other)) => {
                    *ahead = Some(other);
                    break;
                }
                Ok(None) => break,
                Err(e) => return (lines, Some(e)),
            }
        }
        (lines, None)
    }

    /// What to tell the sender about one of its lines: only a `Problem` is told (a line that was
    /// said comes back as `Chat`; a duplicate is found in the replay; a member that is gone hears
    /// nothing).
    pub fn said(&self, nonce: u64, outcome: Result<u64, Rejection>) -> Option<ServerFrame> {
        match outcome {
            Err(Rejection::Problem { code, detail }) => Some(ServerFrame::Problem {
                code,
                nonce: Some(nonce),
                detail,
            }),
            Ok(_) | Err(Rejection::Duplicate | Rejection::NotMember) => None,
        }
    }

    fn refuse(&mut self, reason: RefuseReason) -> Action {
        self.phase = Phase::Ended;
        Action::Refuse(reason)
    }

    fn leave(&mut self, why: LeaveReason, close: Close) -> Action {
        self.phase = Phase::Leaving;
        self.closing = Some(close);
        Action::Leave(why)
    }

    fn end(&mut self, leave: Option<LeaveReason>, close: Option<Close>) -> Action {
        self.phase = Phase::Ended;
        Action::End { leave, close }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits() -> Limits {
        Limits {
            messages_per_sec: 10,
            message_burst: 3,
            too_fast_strikes: 2,
            ..Limits::default()
        }
    }

    fn hello(version: u16, user: &str) -> Input {
        Input::Frame(ClientFrame::Hello {
            version,
            user: user.into(),
            resume_after: Some(7),
        })
    }

    fn say(nonce: u64) -> Input {
        Input::Frame(ClientFrame::Say {
            nonce,
            text: format!("line {nonce}"),
        })
    }

    fn close(code: u32, reason: &'static str) -> Close {
        Close::new(code, reason)
    }

    /// A session whose member is in the room, and the time it joined.
    fn member() -> (MemberSession, Instant) {
        let now = Instant::now();
        let mut s = MemberSession::new(&limits(), None, now);
        assert_eq!(
            s.handle(hello(wire::PROTOCOL_VERSION, "al"), now),
            Action::Claim {
                user: "al".into(),
                code: None
            }
        );
        assert!(!s.is_member() && !s.is_reading());
        assert_eq!(
            s.handle(Input::Claimed(Ok(())), now),
            Action::Join {
                user: "al".into(),
                resume_after: Some(7)
            }
        );
        assert!(!s.is_member());
        assert_eq!(s.handle(Input::Joined(Ok(())), now), Action::Nothing);
        assert!(s.is_member() && s.is_reading());
        (s, now)
    }

    fn too_fast(nonce: Option<u64>) -> Action {
        Action::Reply(ServerFrame::Problem {
            code: ProblemCode::TooFast,
            nonce,
            detail: "slow down: this was not carried out; try again in a moment".into(),
        })
    }

    #[test]
    fn the_first_frame_must_be_hello() {
        let now = Instant::now();
        for frame in [ClientFrame::Bye, ClientFrame::ListUsers] {
            let mut s = MemberSession::new(&limits(), None, now);
            assert_eq!(
                s.handle(Input::Frame(frame), now),
                Action::End {
                    leave: None,
                    close: Some(close(
                        close_code::PROTOCOL_ERROR,
                        "the first frame must be Hello (after at most one Redeem)"
                    )),
                }
            );
            assert!(s.is_ended());
            // Nothing more happens once ended.
            assert_eq!(s.handle(say(1), now), Action::Nothing);
        }
    }

    #[test]
    fn hello_of_another_version_is_refused_before_anything_else() {
        let now = Instant::now();
        let mut s = MemberSession::new(&limits(), Some(RefuseReason::ServerFull), now);
        assert_eq!(
            s.handle(hello(wire::PROTOCOL_VERSION + 1, "not a name!"), now),
            Action::Refuse(RefuseReason::UnsupportedVersion {
                supported: wire::PROTOCOL_VERSION
            })
        );
        assert!(s.is_ended());
    }

    /// Version 3 added the limits to `Welcome`: a version 2 client could not read it, so it is
    /// refused and told which version the server speaks.
    #[test]
    fn an_older_client_is_refused_with_the_version_spoken() {
        let now = Instant::now();
        for old in [2, 3] {
            let mut s = MemberSession::new(&limits(), None, now);
            assert_eq!(
                s.handle(hello(old, "al"), now),
                Action::Refuse(RefuseReason::UnsupportedVersion { supported: 4 })
            );
        }
    }

    #[test]
    fn the_listeners_refusal_comes_after_hello_then_the_name_is_checked() {
        let now = Instant::now();
        let mut s = MemberSession::new(&limits(), Some(RefuseReason::ServerFull), now);
        assert_eq!(
            s.handle(hello(wire::PROTOCOL_VERSION, "al"), now),
            Action::Refuse(RefuseReason::ServerFull)
        );
        let mut s = MemberSession::new(&limits(), None, now);
        assert!(matches!(
            s.handle(hello(wire::PROTOCOL_VERSION, ""), now),
            Action::Refuse(RefuseReason::InvalidName(_))
        ));
        assert!(s.is_ended());
    }

    #[test]
    fn the_rooms_refusal_is_passed_on() {
        let now = Instant::now();
        let mut s = MemberSession::new(&limits(), None, now);
        assert!(matches!(
            s.handle(hello(wire::PROTOCOL_VERSION, "al"), now),
            Action::Claim { .. }
        ));
        assert!(matches!(
            s.handle(Input::Claimed(Ok(())), now),
            Action::Join { .. }
        ));
        assert_eq!(
            s.handle(Input::Joined(Err(RefuseReason::NameTaken)), now),
            Action::Refuse(RefuseReason::NameTaken)
        );
        assert!(s.is_ended());
    }

    #[test]
    fn no_hello_in_time_or_no_hello_at_all() {
        let now = Instant::now();
        let mut s = MemberSession::new(&limits(), None, now);
        assert_eq!(
            s.handle(Input::HelloTimeout, now),
            Action::End {
                leave: None,
                close: Some(close(close_code::HELLO_TIMEOUT, "no Hello in time")),
            }
        );
        let mut s = MemberSession::new(&limits(), None, now);
        assert_eq!(
            s.handle(Input::Finished, now),
            Action::End {
                leave: None,
                close: None
            }
        );
        let mut s = MemberSession::new(&limits(), None, now);
        let e = DecodeError::FrameTooLarge {
            len: 1 << 20,
            max: 10,
        };
        assert_eq!(
            s.handle(Input::Broken(e.clone()), now),
            Action::End {
                leave: None,
                close: Some(Close::new(close_code::FRAME_TOO_LARGE, e.to_string())),
            }
        );
    }

    #[test]
    fn a_member_says_lists_and_is_told_about_a_second_hello() {
        let (mut s, now) = member();
        assert_eq!(
            s.handle(say(1), now),
            Action::Say {
                nonce: 1,
                text: "line 1".into()
            }
        );
        assert_eq!(
            s.handle(Input::Frame(ClientFrame::ListUsers), now),
            Action::ListUsers
        );
        assert_eq!(
            s.handle(hello(wire::PROTOCOL_VERSION, "bo"), now),
            Action::Reply(ServerFrame::Problem {
                code: ProblemCode::AlreadyJoined,
                nonce: None,
                detail: "Hello was already accepted on this connection".into(),
            })
        );
        assert!(s.is_member());
    }

    #[test]
    fn too_fast_is_answered_then_disconnected_after_the_strikes() {
        let (mut s, now) = member();
        // The burst of 3 passes (Say and ListUsers spend from one bucket).
        assert!(matches!(s.handle(say(1), now), Action::Say { .. }));
        assert!(matches!(s.handle(say(2), now), Action::Say { .. }));
        assert_eq!(
            s.handle(Input::Frame(ClientFrame::ListUsers), now),
            Action::ListUsers
        );
        // Then two strikes are told, naming the line's nonce (none for ListUsers).
        assert_eq!(s.handle(say(3), now), too_fast(Some(3)));
        assert_eq!(
            s.handle(Input::Frame(ClientFrame::ListUsers), now),
            too_fast(None)
        );
        // A second Hello is not rate-limited and does not count.
        assert!(matches!(
            s.handle(hello(wire::PROTOCOL_VERSION, "al"), now),
            Action::Reply(ServerFrame::Problem {
                code: ProblemCode::AlreadyJoined,
                ..
            })
        ));
        // The third is one too many: leave, flush what was told, close with TOO_FAST.
        assert_eq!(
            s.handle(say(4), now),
            Action::Leave(LeaveReason::Misbehaved)
        );
        assert!(!s.is_reading() && !s.is_ended());
        assert_eq!(s.handle(say(5), now), Action::Nothing);
        assert_eq!(
            s.handle(Input::Flushed, now),
            Action::FinishAndClose(close(
                close_code::TOO_FAST,
                "kept sending too fast after being told to slow down"
            ))
        );
        assert!(s.is_ended());
    }

    #[test]
    fn a_frame_within_the_rate_forgives_the_strikes() {
        let (mut s, now) = member();
        for nonce in 0..3 {
            assert!(matches!(s.handle(say(nonce), now), Action::Say { .. }));
        }
        let mut t = now;
        for round in 0..5 {
            // Two strikes, then a tenth of a second refills one token.
            assert_eq!(s.handle(say(10 + round), t), too_fast(Some(10 + round)));
            assert_eq!(s.handle(say(20 + round), t), too_fast(Some(20 + round)));
            t += Duration::from_millis(100);
            assert!(matches!(s.handle(say(30 + round), t), Action::Say { .. }));
        }
        assert!(s.is_member());
    }

    #[test]
    fn bye_and_a_finished_stream_leave_then_close_normally_after_the_flush() {
        let (mut s, now) = member();
        assert_eq!(
            s.handle(Input::Frame(ClientFrame::Bye), now),
            Action::Leave(LeaveReason::Quit)
        );
        assert_eq!(
            s.handle(Input::Flushed, now),
            Action::FinishAndClose(close(close_code::NORMAL, "bye"))
        );
        let (mut s, now) = member();
        assert_eq!(
            s.handle(Input::Finished, now),
            Action::Leave(LeaveReason::Dropped)
        );
        assert_eq!(
            s.handle(Input::Flushed, now),
            Action::FinishAndClose(close(close_code::NORMAL, "stream finished without Bye"))
        );
    }

    #[test]
    fn a_queue_closed_by_the_room_means_shutdown() {
        let (mut s, now) = member();
        assert_eq!(
            s.handle(Input::Flushed, now),
            Action::FinishAndClose(close(close_code::SHUTTING_DOWN, "server shutting down"))
        );
    }

    #[test]
    fn broken_frames_lost_connections_and_kicks_end_at_once() {
        let (mut s, now) = member();
        assert_eq!(
            s.handle(Input::Broken(DecodeError::UnknownVariant), now),
            Action::End {
                leave: Some(LeaveReason::Misbehaved),
                close: Some(Close::new(
                    close_code::PROTOCOL_ERROR,
                    DecodeError::UnknownVariant.to_string()
                )),
            }
        );
        let (mut s, now) = member();
        assert_eq!(
            s.handle(Input::Lost(LeaveReason::TimedOut), now),
            Action::End {
                leave: Some(LeaveReason::TimedOut),
                close: None
            }
        );
        let (mut s, now) = member();
        assert_eq!(
            s.handle(Input::Kicked, now),
            Action::End {
                leave: None,
                close: Some(close(
                    close_code::TOO_SLOW,
                    "too slow to keep up with the room"
                )),
            }
        );
        // A write failing after Bye: the leave is repeated (the room ignores it), nothing closed.
        let (mut s, now) = member();
        s.handle(Input::Frame(ClientFrame::Bye), now);
        assert_eq!(
            s.handle(Input::Lost(LeaveReason::Dropped), now),
            Action::End {
                leave: Some(LeaveReason::Dropped),
                close: None
            }
        );
    }

    #[test]
    fn only_problems_are_told_about_lines() {
        let (s, _) = member();
        assert_eq!(s.said(1, Ok(5)), None);
        assert_eq!(s.said(1, Err(Rejection::Duplicate)), None);
        assert_eq!(s.said(1, Err(Rejection::NotMember)), None);
        assert_eq!(
            s.said(
                2,
                Err(Rejection::Problem {
                    code: ProblemCode::TooLong,
                    detail: "long".into()
                })
            ),
            Some(ServerFrame::Problem {
                code: ProblemCode::TooLong,
                nonce: Some(2),
                detail: "long".into()
            })
        );
    }

    fn encoded_say(nonce: u64) -> Vec<u8> {
        let frame = ClientFrame::Say {
            nonce,
            text: format!("line {nonce}"),
        };
        wire::encode(&frame, 1 << 16).expect("encodes").to_vec()
    }

    #[test]
    fn lines_are_gathered_up_to_the_limit_and_the_rest_stays_read() {
        let now = Instant::now();
        let unlimited = Limits {
            messages_per_sec: 0,
            ..Limits::default()
        };
        let mut s = MemberSession::new(&unlimited, None, now);
        let mut decoder = FrameDecoder::new(1 << 16);
        for nonce in 1..=5 {
            decoder.push(&encoded_say(nonce));
        }
        decoder.push(&wire::encode(&ClientFrame::ListUsers, 64).expect("encodes"));
        let mut ahead = None;
        let first = (0, "line 0".to_owned());
        let (lines, broken) = s.gather_lines(&mut decoder, first.clone(), 3, now, &mut ahead);
        let nonces: Vec<u64> = lines.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            (nonces, broken.is_none(), ahead.is_none()),
            (vec![0, 1, 2], true, true)
        );
        // The next call takes up what is left and stops at the frame that is not a line.
        let (lines, _) = s.gather_lines(&mut decoder, first, 32, now, &mut ahead);
        let nonces: Vec<u64> = lines.iter().map(|(n, _)| *n).collect();
        assert_eq!(nonces, vec![0, 3, 4, 5]);
        assert!(matches!(ahead, Some(ClientFrame::ListUsers)));
    }

    #[test]
    fn gathering_stops_at_a_line_over_the_rate_and_at_a_broken_frame() {
        let (mut s, now) = member();
        let mut decoder = FrameDecoder::new(1 << 16);
        for nonce in 1..=4 {
            decoder.push(&encoded_say(nonce));
        }
        let mut ahead = None;
        // The first line took a token already (burst 3): two more fit, the third stays ahead.
        assert!(matches!(s.handle(say(0), now), Action::Say { .. }));
        let (lines, broken) = s.gather_lines(&mut decoder, (0, "x".into()), 32, now, &mut ahead);
        assert_eq!(lines.len(), 3);
        assert!(broken.is_none());
        assert!(matches!(ahead, Some(ClientFrame::Say { nonce: 3, .. })));

        let mut decoder = FrameDecoder::new(1 << 16);
        decoder.push(&[0, 0, 0, 1, 0xff]);
        let (lines, broken) = s.gather_lines(&mut decoder, (9, "x".into()), 32, now, &mut None);
        assert_eq!(lines.len(), 1);
        assert!(broken.is_some());
    }

    #[test]
    fn a_code_may_come_once_before_hello_and_goes_with_the_claim() {
        let now = Instant::now();
        let mut s = MemberSession::new(&limits(), None, now);
        let redeem = |code: &str| Input::Frame(ClientFrame::Redeem { code: code.into() });
        assert_eq!(s.handle(redeem("ABCDE"), now), Action::Nothing);
        assert!(s.is_reading());
        assert_eq!(
            s.handle(hello(wire::PROTOCOL_VERSION, "al"), now),
            Action::Claim {
                user: "al".into(),
                code: Some("ABCDE".into())
            }
        );

        let mut twice = MemberSession::new(&limits(), None, now);
        assert_eq!(twice.handle(redeem("A"), now), Action::Nothing);
        assert!(matches!(
            twice.handle(redeem("B"), now),
            Action::End {
                leave: None,
                close: Some(Close {
                    code: close_code::PROTOCOL_ERROR,
                    ..
                })
            }
        ));
    }

    #[test]
    fn the_owners_refusal_is_passed_on_and_nothing_joins() {
        let now = Instant::now();
        let mut s = MemberSession::new(&limits(), None, now);
        s.handle(hello(wire::PROTOCOL_VERSION, "al"), now);
        assert_eq!(
            s.handle(Input::Claimed(Err(RefuseReason::NameOwned)), now),
            Action::Refuse(RefuseReason::NameOwned)
        );
        assert!(s.is_ended());
        assert_eq!(s.handle(Input::Joined(Ok(())), now), Action::Nothing);
    }

    #[test]
    fn requests_spend_from_the_rate_bucket_and_a_redeem_after_hello_is_a_problem() {
        let (mut s, now) = member();
        let request = |id| {
            Input::Frame(ClientFrame::Request {
                id,
                request: wire::Request::WhoAmI,
            })
        };
        for id in 0..3 {
            assert_eq!(
                s.handle(request(id), now),
                Action::Request {
                    id,
                    request: wire::Request::WhoAmI
                }
            );
        }
        assert_eq!(s.handle(request(3), now), too_fast(None));
        let later = now + Duration::from_secs(1);
        assert!(matches!(
            s.handle(
                Input::Frame(ClientFrame::Redeem { code: "x".into() }),
                later
            ),
            Action::Reply(ServerFrame::Problem {
                code: ProblemCode::AlreadyJoined,
                ..
            })
        ));
    }

    #[test]
    fn a_removed_member_leaves_and_the_close_says_removed() {
        let (mut s, now) = member();
        assert_eq!(
            s.handle(Input::Removed(LeaveReason::Banned), now),
            Action::FinishAndClose(close(close_code::REMOVED, "removed by an operator"))
        );
        assert!(s.is_ended());
    }
}
