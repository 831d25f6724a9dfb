//! How `chat-cli` prints events: one line each, for people or (`--json`) for programs.

use wire::{ChatMessage, ServerFrame};

use crate::CloseReason;

/// One line of text for a frame, as a person reads it. `Welcome` may need several lines.
pub fn text(frame: &ServerFrame) -> String {
    match frame {
        ServerFrame::Welcome {
            you,
            users,
            history,
        } => {
            let mut out = format!(
                "* welcome, {you}; {} here: {}",
                users.len(),
                users.join(", ")
            );
            for m in history {
                out.push('\n');
                out.push_str(&chat_line(m));
            }
            out
        }
        ServerFrame::Refused { reason } => format!("! refused: {reason}"),
        ServerFrame::Chat(m) => chat_line(m),
        ServerFrame::Joined { user } => format!("* {user} joined"),
        ServerFrame::Left { user, why } => format!("* {user} left ({why})"),
        ServerFrame::Users { list } => format!("* {} here: {}", list.len(), list.join(", ")),
        ServerFrame::Problem { code, detail, .. } => format!("! {code}: {detail}"),
        ServerFrame::ShuttingDown { reason } => format!("! server shutting down: {reason}"),
        // The reader unpacks these into single changes; printed the same way if one gets here.
        ServerFrame::Presence { changes } => changes
            .iter()
            .map(|c| text(&ServerFrame::from(c.clone())))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn chat_line(m: &ChatMessage) -> String {
    let secs = m.at_ms / 1000 % 86_400;
    format!(
        "[{:02}:{:02}:{:02}] {}: {}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        m.from,
        m.text
    )
}

/// One JSON object for a frame: the frame's name as the only key, e.g. `{"Chat":{"id":1,...}}`.
pub fn json(frame: &ServerFrame) -> String {
    serde_json::to_string(frame).unwrap_or_else(|e| format!("{{\"Error\":\"{e}\"}}"))
}

/// The last line of a session.
pub fn closed_text(reason: &CloseReason) -> String {
    format!("* {reason}")
}

pub fn closed_json(reason: &CloseReason) -> String {
    serde_json::json!({ "Closed": { "reason": reason.to_string() } }).to_string()
}
