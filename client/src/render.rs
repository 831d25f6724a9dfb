//! How `chat-cli` prints events: one line each, for people or (`--json`) for programs.
//!
//! The JSON keeps the shape the terminal client printed when it passed protocol frames through
//! (`{"Chat":{"id":1,...}}`, `{"Joined":{"user":...}}`...), so scripts written against it keep
//! working; only what has no frame (`Disconnected`, `Reconnected`, `Closed`) has its own name.
//! Since protocol 5 every event about a conversation says which: `"conversation"` (a line:
//! `{"Room":"#general"}` or `{"Direct":"bob"}`) or `"room"`. Text lines start with the
//! conversation in brackets: `[#general]`, `[bob]`.

use serde_json::{Value, json};

use crate::{CloseReason, Event, Line, RoomView, SignedIn};

/// The first lines of a session: who we are, who is here, and the recent history.
pub fn signed_in_text(signed_in: &SignedIn) -> String {
    let mut out = format!(
        "[{}] * welcome, {}; {} here: {}",
        signed_in.room,
        signed_in.you,
        signed_in.users.len(),
        signed_in.users.join(", ")
    );
    if !signed_in.topic.is_empty() {
        out.push_str(&format!(
            "\n[{}] * topic: {}",
            signed_in.room, signed_in.topic
        ));
    }
    for line in &signed_in.history {
        out.push('\n');
        out.push_str(&line_text(line));
    }
    out
}

pub fn signed_in_json(signed_in: &SignedIn) -> String {
    json!({ "Welcome": {
        "you": signed_in.you,
        "room": signed_in.room,
        "topic": signed_in.topic,
        "users": signed_in.users,
        "history": signed_in.history.iter().map(line_json).collect::<Vec<_>>(),
    }})
    .to_string()
}

/// One line of text for an event, as a person reads it.
pub fn text(event: &Event) -> String {
    match event {
        Event::Line(line) | Event::Receipt(line) => line_text(line),
        Event::UserJoined { room, user } => format!("[{room}] * {user} joined"),
        Event::UserLeft { room, user, why } => format!("[{room}] * {user} left ({why})"),
        Event::Users { room, list } => {
            format!("[{room}] * {} here: {}", list.len(), list.join(", "))
        }
        Event::RoomJoined(view) => room_text(view),
        Event::RoomLeft { room } => format!("[{room}] * you left {room}"),
        Event::Rooms(list) => {
            let mut out = format!(
                "* {} room{}:",
                list.len(),
                if list.len() == 1 { "" } else { "s" }
            );
            for room in list {
                out.push_str(&format!(
                    "\n*   {} ({} member{}){}{}",
                    room.room,
                    room.members,
                    if room.members == 1 { "" } else { "s" },
                    if room.topic.is_empty() { "" } else { ": " },
                    room.topic
                ));
            }
            out
        }
        Event::Topic { room, topic, by } if topic.is_empty() => {
            format!("[{room}] * {by} cleared the topic")
        }
        Event::Topic { room, topic, by } => format!("[{room}] * {by} set the topic: {topic}"),
        Event::Problem { code, detail, .. } => format!("! {code}: {detail}"),
        Event::ServerShuttingDown { reason } => format!("! server shutting down: {reason}"),
        Event::Disconnected {
            error,
            attempt,
            retry_in,
        } => format!(
            "* disconnected ({error}); retry {attempt} in {:.1}s",
            retry_in.as_secs_f64()
        ),
        Event::Reconnected { users, missed } => format!(
            "* reconnected; {} here: {}; {missed} missed line{}",
            users.len(),
            users.join(", "),
            if *missed == 1 { "" } else { "s" }
        ),
        Event::Reply { reply, .. } => reply_text(reply),
        Event::Removed { by, reason, banned } => format!(
            "! {} by {by}: {reason}",
            if *banned { "banned" } else { "kicked" }
        ),
        Event::Replaced { fingerprint } => format!(
            "! your name signed in again elsewhere (device {}); this session ends",
            fingerprint.short()
        ),
        Event::Closed(reason) => closed_text(reason),
    }
}

/// "10 minutes", "7 days": how long a code lasts, in the largest whole unit.
fn lasting(secs: u32) -> String {
    let (n, unit) = match secs {
        0..=5_399 => (secs.div_ceil(60), "minute"),
        5_400..=172_799 => (secs.div_ceil(3600), "hour"),
        _ => (secs.div_ceil(86_400), "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Entering a room: who is there, its topic, its recent lines.
fn room_text(view: &RoomView) -> String {
    let room = &view.room;
    let mut out = format!(
        "[{room}] * you are in {room}; {} here: {}",
        view.users.len(),
        view.users.join(", ")
    );
    if !view.topic.is_empty() {
        out.push_str(&format!("\n[{room}] * topic: {}", view.topic));
    }
    for line in &view.history {
        out.push('\n');
        out.push_str(&line_text(line));
    }
    out
}

fn line_text(line: &Line) -> String {
    let secs = line.at_ms / 1000 % 86_400;
    format!(
        "[{}] [{:02}:{:02}:{:02}] {}: {}",
        line.conversation,
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        line.from,
        line.text
    )
}

/// One JSON object for an event: its name as the only key, e.g. `{"Chat":{"id":1,...}}`.
pub fn json(event: &Event) -> String {
    let value = match event {
        // Our own lines and receipts alike: the receipt is our line coming back.
        Event::Line(line) | Event::Receipt(line) => json!({ "Chat": line_json(line) }),
        Event::UserJoined { room, user } => json!({ "Joined": { "room": room, "user": user } }),
        Event::UserLeft { room, user, why } => {
            json!({ "Left": { "room": room, "user": user, "why": why.name() } })
        }
        Event::Users { room, list } => json!({ "Users": { "room": room, "list": list } }),
        Event::RoomJoined(view) => json!({ "RoomJoined": {
            "room": view.room,
            "topic": view.topic,
            "users": view.users,
            "history": view.history.iter().map(line_json).collect::<Vec<_>>(),
        }}),
        Event::RoomLeft { room } => json!({ "RoomLeft": { "room": room } }),
        Event::Rooms(list) => json!({ "Rooms": { "list": list.iter().map(|r| json!({
            "room": r.room,
            "topic": r.topic,
            "members": r.members,
        })).collect::<Vec<_>>() }}),
        Event::Topic { room, topic, by } => {
            json!({ "Topic": { "room": room, "topic": topic, "by": by } })
        }
        Event::Problem {
            code,
            nonce,
            detail,
        } => json!({ "Problem": { "code": code.name(), "nonce": nonce, "detail": detail } }),
        Event::ServerShuttingDown { reason } => json!({ "ShuttingDown": { "reason": reason } }),
        Event::Disconnected {
            error,
            attempt,
            retry_in,
        } => json!({ "Disconnected": {
            "error": error,
            "attempt": attempt,
            "retry_in_ms": u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
        }}),
        Event::Reconnected { users, missed } => {
            json!({ "Reconnected": { "users": users, "missed": missed } })
        }
        Event::Reply { id, reply } => json!({ "Reply": { "id": id, "reply": reply_json(reply) } }),
        Event::Removed { by, reason, banned } => {
            json!({ "Removed": { "by": by, "reason": reason, "banned": banned } })
        }
        Event::Replaced { fingerprint } => {
            json!({ "Replaced": { "fingerprint": fingerprint.to_string() } })
        }
        Event::Closed(reason) => return closed_json(reason),
    };
    value.to_string()
}

fn line_json(line: &Line) -> Value {
    json!({
        "conversation": line.conversation,
        "id": line.id,
        "from": line.from,
        "nonce": line.nonce,
        "text": line.text,
        "at_ms": line.at_ms,
    })
}

/// The last line of a session.
pub fn closed_text(reason: &CloseReason) -> String {
    format!("* {reason}")
}

pub fn closed_json(reason: &CloseReason) -> String {
    json!({ "Closed": { "reason": reason.to_string() } }).to_string()
}

/// A time of day (UTC) from milliseconds since the epoch, as lines show it.
fn clock(at_ms: u64) -> String {
    let secs = at_ms / 1000 % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// The answer to a request, for a person.
pub fn reply_text(reply: &wire::Reply) -> String {
    use wire::Reply;
    match reply {
        Reply::Identity {
            fingerprint,
            operator,
            names,
        } => format!(
            "* you are {} with key {}{}",
            names.join(", "),
            certs::Fingerprint::from_bytes(*fingerprint),
            if *operator { " (operator)" } else { "" }
        ),
        Reply::Code { code, valid_secs } => format!(
            "* code {code}: valid {}, once; on the new device: chat-cli --link {code} (a link \
             code) or --invite {code} (an invite), or the code field of chat-gtk's sign-in",
            lasting(*valid_secs)
        ),
        Reply::Devices { list } => {
            let mut text = format!(
                "* {} device{}:",
                list.len(),
                if list.len() == 1 { "" } else { "s" }
            );
            for device in list {
                text.push_str(&format!(
                    "\n*   {}{} (first seen {}, last seen {})",
                    certs::Fingerprint::from_bytes(device.fingerprint).short(),
                    if device.this_device {
                        " this device"
                    } else {
                        ""
                    },
                    clock(device.first_seen_ms),
                    clock(device.last_seen_ms),
                ));
            }
            text
        }
        Reply::Done { detail } => format!("* {detail}"),
        Reply::Failed { code, detail } => {
            format!("! {}: {detail}", crate::ProblemCode::from(*code))
        }
    }
}

/// The answer to a request, for a program.
pub fn reply_json(reply: &wire::Reply) -> serde_json::Value {
    use wire::Reply;
    match reply {
        Reply::Identity {
            fingerprint,
            operator,
            names,
        } => json!({ "Identity": {
            "fingerprint": certs::Fingerprint::from_bytes(*fingerprint).to_string(),
            "operator": operator,
            "names": names,
        }}),
        Reply::Code { code, valid_secs } => {
            json!({ "Code": { "code": code, "valid_secs": valid_secs } })
        }
        Reply::Devices { list } => json!({ "Devices": list.iter().map(|d| json!({
            "fingerprint": certs::Fingerprint::from_bytes(d.fingerprint).to_string(),
            "first_seen_ms": d.first_seen_ms,
            "last_seen_ms": d.last_seen_ms,
            "this_device": d.this_device,
        })).collect::<Vec<_>>() }),
        Reply::Done { detail } => json!({ "Done": { "detail": detail } }),
        Reply::Failed { code, detail } => json!({ "Failed": {
            "code": crate::ProblemCode::from(*code).name(),
            "detail": detail,
        }}),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{LeaveReason, ProblemCode};

    #[test]
    fn codes_say_how_long_they_last_in_a_readable_unit() {
        assert_eq!(lasting(600), "10 minutes");
        assert_eq!(lasting(60), "1 minute");
        assert_eq!(lasting(7 * 24 * 3600), "7 days");
        assert_eq!(lasting(2 * 3600), "2 hours");
    }

    fn line() -> Line {
        Line {
            conversation: wire::Conversation::Room("#general".into()),
            id: 4,
            from: "ann".into(),
            text: "hi".into(),
            at_ms: 3_723_000,
            nonce: 9,
            mine: true,
        }
    }

    /// The JSON is what `serde_json` made of the protocol frames before: the same keys, the same
    /// enum names.
    #[test]
    fn json_keeps_the_frame_shapes() {
        let m = wire::ChatMessage {
            id: 4,
            from: "ann".into(),
            nonce: 9,
            text: "hi".into(),
            at_ms: 3_723_000,
        };
        let frame_json = |f: &wire::ServerFrame| serde_json::to_value(f).expect("frame to json");
        let ours = |e: &Event| serde_json::from_str::<Value>(&json(e)).expect("json");
        // A line: the message's fields, and its conversation as the frame has it.
        let mut chat = serde_json::to_value(&m).expect("json");
        chat["conversation"] =
            serde_json::to_value(wire::Conversation::Room("#general".into())).expect("json");
        assert_eq!(ours(&Event::Receipt(line())), json!({ "Chat": chat }));
        let mut left = frame_json(&wire::ServerFrame::Left {
            user: "bob".into(),
            why: wire::LeaveReason::TimedOut,
        });
        left["Left"]["room"] = json!("#general");
        assert_eq!(
            ours(&Event::UserLeft {
                room: "#general".into(),
                user: "bob".into(),
                why: LeaveReason::TimedOut
            }),
            left
        );
        assert_eq!(
            ours(&Event::Problem {
                code: ProblemCode::TooLong,
                nonce: Some(9),
                detail: "x".into()
            }),
            frame_json(&wire::ServerFrame::Problem {
                code: wire::ProblemCode::TooLong,
                nonce: Some(9),
                detail: "x".into()
            })
        );
        let signed_in = SignedIn {
            you: "ann".into(),
            room: "#general".into(),
            topic: "t".into(),
            users: vec!["ann".into()],
            history: vec![line()],
        };
        assert_eq!(
            serde_json::from_str::<Value>(&signed_in_json(&signed_in)).expect("json"),
            json!({ "Welcome": {
                "you": "ann",
                "room": "#general",
                "topic": "t",
                "users": ["ann"],
                "history": [chat],
            }})
        );
        assert_eq!(
            ours(&Event::Disconnected {
                error: "gone".into(),
                attempt: 2,
                retry_in: Duration::from_millis(1500)
            })["Disconnected"]["retry_in_ms"],
            1500
        );
    }

    #[test]
    fn text_reads_like_a_chat() {
        assert_eq!(text(&Event::Line(line())), "[#general] [01:02:03] ann: hi");
        let direct = Line {
            conversation: wire::Conversation::Direct("bob".into()),
            ..line()
        };
        assert_eq!(text(&Event::Line(direct)), "[bob] [01:02:03] ann: hi");
        assert_eq!(
            text(&Event::UserLeft {
                room: "#rust".into(),
                user: "bob".into(),
                why: LeaveReason::TimedOut
            }),
            "[#rust] * bob left (timed out)"
        );
    }
}
