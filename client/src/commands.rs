//! The slash commands about names, devices and moderation that a terminal user types, as requests.

use wire::Request;

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
}
