//! What a `Problem` from the server means, in plain words for a toast or a failed line. The
//! library's own texts are English and terse ("no such room"); a person wants to know what went
//! wrong and, where there is one, what to do. The server's detail follows in brackets.

use client::ProblemCode;

use crate::i18n::{fill, gettext};

/// The sentence for a problem; `detail` (the server's words) is appended when there is one.
pub fn problem_text(code: ProblemCode, detail: &str) -> String {
    let plain = match code {
        ProblemCode::NoSuchRoom => gettext("There is no such room. Join it to make it."),
        ProblemCode::NotInRoom => gettext("You are not in that room. Join it first."),
        ProblemCode::InvalidRoomName => gettext(
            "That is not a room name: a room name is # and a name without spaces, like #general.",
        ),
        ProblemCode::TooManyRooms => {
            gettext("You are in as many rooms as the server allows. Leave one first.")
        }
        ProblemCode::ServerRoomsFull => {
            gettext("The server has as many rooms as it allows. Join an existing room.")
        }
        ProblemCode::RoomFull => gettext("That room is full."),
        ProblemCode::TopicTooLong => gettext("The topic is too long for this server."),
        ProblemCode::Unsupported => gettext("This server does not support that."),
        ProblemCode::NoSuchUser => gettext("Nobody has that name."),
        other => other.to_string(),
    };
    if detail.trim().is_empty() {
        plain
    } else {
        // Translators: a problem in plain words, then the server's own words about it.
        fill(
            &gettext("{problem} ({detail})"),
            &[("problem", &plain), ("detail", detail.trim())],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_problems_say_what_to_do_and_keep_the_servers_detail() {
        let text = problem_text(ProblemCode::TooManyRooms, "at most 2");
        assert_eq!(
            text,
            "You are in as many rooms as the server allows. Leave one first. (at most 2)"
        );
        assert_eq!(
            problem_text(ProblemCode::RoomFull, " "),
            "That room is full."
        );
        assert_eq!(
            problem_text(ProblemCode::TooLong, "limit is 4 bytes"),
            "message too long (limit is 4 bytes)"
        );
    }
}
