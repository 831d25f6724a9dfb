//! What the sign-in page says when the server refuses us: the reason, and what to do about it.
//! Owned names (issue 17) bring refusals a person cannot act on from the bare reason ("belongs to
//! another identity": then what?), so each says whose the name is not and the next step, in the
//! app's own words (the sign-in page's code field, the main menu) rather than chat-cli's flags.

use client::wire::RefuseReason;

use crate::i18n::{fill, gettext};

/// The text for a refusal of `user` at sign-in.
pub fn refusal_text(reason: &RefuseReason, user: &str) -> String {
    match reason {
        RefuseReason::NameOwned => fill(
            &gettext(
                "The name {user} belongs to another identity, not to this one. Sign in where that identity is, or link this device: on a device signed in as {user}, choose Link Another Device… in the main menu and enter the code here. Or pick another name.",
            ),
            &[("user", user)],
        ),
        RefuseReason::Banned { reason } if reason.trim().is_empty() => {
            gettext("You are banned from this server.")
        }
        RefuseReason::Banned { reason } => fill(
            &gettext("You are banned from this server: {reason}."),
            &[("reason", reason.trim_end_matches('.'))],
        ),
        RefuseReason::Revoked => fill(
            &gettext(
                "This device was removed from {user}. Link it again with a code from another device of {user}, or pick another name.",
            ),
            &[("user", user)],
        ),
        RefuseReason::InviteRequired => gettext(
            "This server takes new names only with an invite. Ask an operator for an invite code and enter it under Link or Invite Code.",
        ),
        RefuseReason::BadCode => gettext(
            "The code is unknown, already used or expired. Ask for a new one, or leave the field empty.",
        ),
        RefuseReason::TooManyGuesses => {
            gettext("Too many wrong codes. Wait ten minutes, then try again.")
        }
        RefuseReason::Unavailable => {
            gettext("The server cannot check who owns names just now. Try again in a moment.")
        }
        other => fill(
            &gettext("The server refused the name: {reason}."),
            &[("reason", &other.to_string())],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_owned_name_refusal_says_what_to_do() {
        let owned = refusal_text(&RefuseReason::NameOwned, "ann");
        assert!(owned.contains("ann belongs to another identity"), "{owned}");
        assert!(owned.contains("Link Another Device"), "{owned}");
        let banned = refusal_text(
            &RefuseReason::Banned {
                reason: "spam".into(),
            },
            "ann",
        );
        assert_eq!(banned, "You are banned from this server: spam.");
        assert!(refusal_text(&RefuseReason::Revoked, "ann").contains("removed from ann"));
        assert!(refusal_text(&RefuseReason::InviteRequired, "ann").contains("invite code"));
        assert!(refusal_text(&RefuseReason::BadCode, "ann").contains("expired"));
        assert!(refusal_text(&RefuseReason::TooManyGuesses, "ann").contains("Wait"));
        assert!(refusal_text(&RefuseReason::Unavailable, "ann").contains("Try again"));
        let taken = refusal_text(&RefuseReason::NameTaken, "ann");
        assert!(taken.contains("already taken"), "{taken}");
    }
}
