//! The slash commands a terminal user types: about names, devices and moderation (as requests,
//! [`parse`]), and about rooms and direct conversations ([`parse_conversation`]).

use wire::{Conversation, Request};

/// A command about rooms and conversations (protocol 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationCommand {
    /// `/join #room`: enter (or make) a room, and speak there.
    Join(String),
    /// `/part [#room]`: leave a room (the one spoken in when none is named).
    Part(Option<String>),
    /// `/rooms`: list the server's rooms.
    Rooms,
    /// `/topic TEXT`: set the topic of the room spoken in.
    Topic(String),
    /// `/msg NAME TEXT`: one line to another user.
    Msg { to: String, text: String },
    /// `/switch #room` or `/switch NAME`: where plain lines go from now on.
    Switch(Conversation),
}

/// What a typed line that starts with a command about rooms asks, or why it cannot be done.
pub fn parse_conversation(text: &str) -> Option<Result<ConversationCommand, String>> {
    let text = text.trim();
    let (command, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let rest = rest.trim();
    let room = |usage: &str| {
        if rest.starts_with(wire::ROOM_PREFIX) && !rest.contains(char::is_whitespace) {
            Ok(rest.to_owned())
        } else {
            Err(format!("{usage} (a room's name starts with #)"))
        }
    };
    Some(match command {
        "/join" => room("/join needs a room: /join #room").map(ConversationCommand::Join),
        "/part" if rest.is_empty() => Ok(ConversationCommand::Part(None)),
        "/part" => {
            room("/part takes a room: /part #room").map(|r| ConversationCommand::Part(Some(r)))
        }
        "/rooms" => Ok(ConversationCommand::Rooms),
        "/topic" if rest.is_empty() => Err("/topic needs the text: /topic TEXT".into()),
        "/topic" => Ok(ConversationCommand::Topic(rest.to_owned())),
        "/msg" => match rest.split_once(char::is_whitespace) {
            Some((to, text)) if !text.trim().is_empty() => Ok(ConversationCommand::Msg {
                to: to.to_owned(),
                text: text.trim().to_owned(),
            }),
            _ => Err("/msg needs a name and a line: /msg NAME TEXT".into()),
        },
        "/switch" if rest.is_empty() => {
            Err("/switch needs a room or a name: /switch #room, /switch NAME".into())
        }
        "/switch" if rest.starts_with(wire::ROOM_PREFIX) => Ok(ConversationCommand::Switch(
            Conversation::Room(rest.to_owned()),
        )),
        "/switch" => Ok(ConversationCommand::Switch(Conversation::Direct(
            rest.to_owned(),
        ))),
        _ => return None,
    })
}

/// What a typed line that starts with one of these commands asks, or why it cannot be sent.
pub fn parse(text: &str) -> Option<Result<Request, String>> {
    let text = text.trim();
    let (command, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let rest = rest.trim();
    let (first, reason) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let reason = reason.trim().to_owned();
    let user = || {
        if first.is_empty() {
            Err(format!("{command} needs a name: {command} NAME"))
        } else {
            Ok(first.to_owned())
        }
    };
    Some(match command {
        "/whoami" => Ok(Request::WhoAmI),
        "/link" => Ok(Request::LinkCode),
        "/devices" => Ok(Request::Devices),
        "/invite" => Ok(Request::Invite),
        "/revoke" if first.is_empty() => {
            Err("/revoke needs a fingerprint from /devices: /revoke 3f2a:91c0:5be7:d410".into())
        }
        "/revoke" => Ok(Request::Revoke {
            fingerprint: rest.to_owned(),
        }),
        "/kick" => user().map(|user| Request::Kick { user, reason }),
        "/ban" => user().map(|user| Request::Ban { user, reason }),
        "/unban" => user().map(|user| Request::Unban { user }),
        "/release" => user().map(|user| Request::Release { user }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_become_requests() {
        assert_eq!(parse("/whoami"), Some(Ok(Request::WhoAmI)));
        assert_eq!(parse("  /link "), Some(Ok(Request::LinkCode)));
        assert_eq!(
            parse("/kick bob spamming the room"),
            Some(Ok(Request::Kick {
                user: "bob".into(),
                reason: "spamming the room".into()
            }))
        );
        assert_eq!(
            parse("/ban eve"),
            Some(Ok(Request::Ban {
                user: "eve".into(),
                reason: String::new()
            }))
        );
        assert_eq!(
            parse("/revoke 3f2a:91c0:5be7:d410"),
            Some(Ok(Request::Revoke {
                fingerprint: "3f2a:91c0:5be7:d410".into()
            }))
        );
        assert!(matches!(parse("/kick"), Some(Err(_))));
        assert!(matches!(parse("/revoke"), Some(Err(_))));
        assert_eq!(parse("/users"), None);
        assert_eq!(parse("hello /kick bob"), None);
    }

    #[test]
    fn room_commands_parse_with_their_usage() {
        use ConversationCommand as C;
        assert_eq!(
            parse_conversation("/join #rust"),
            Some(Ok(C::Join("#rust".into())))
        );
        assert!(matches!(parse_conversation("/join rust"), Some(Err(_))));
        assert_eq!(parse_conversation("/part"), Some(Ok(C::Part(None))));
        assert_eq!(
            parse_conversation("/part #rust"),
            Some(Ok(C::Part(Some("#rust".into()))))
        );
        assert_eq!(parse_conversation("/rooms"), Some(Ok(C::Rooms)));
        assert_eq!(
            parse_conversation("/topic crabs and  more"),
            Some(Ok(C::Topic("crabs and  more".into())))
        );
        assert!(matches!(parse_conversation("/topic"), Some(Err(_))));
        assert_eq!(
            parse_conversation("/msg bob hi there"),
            Some(Ok(C::Msg {
                to: "bob".into(),
                text: "hi there".into()
            }))
        );
        assert!(matches!(parse_conversation("/msg bob"), Some(Err(_))));
        assert_eq!(
            parse_conversation("/switch #rust"),
            Some(Ok(C::Switch(Conversation::Room("#rust".into()))))
        );
        assert_eq!(
            parse_conversation("/switch bob"),
            Some(Ok(C::Switch(Conversation::Direct("bob".into()))))
        );
        assert_eq!(parse_conversation("/users"), None);
        assert_eq!(parse_conversation("/whoami"), None);
    }
}
