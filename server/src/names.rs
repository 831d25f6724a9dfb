//! What a valid user name is, and the key that makes two names "the same".
//!
//! Two names are the same when they *look* the same: the key is the Unicode confusable skeleton
//! (UTS #39) of the NFKC-normalised, lower-cased name. So `Alice`, `ALICE`, `аlice` (Cyrillic а),
//! `ａｌｉｃｅ` (full-width) and `ali\u{200B}ce` (a zero-width space) all collide with `alice`, and nobody can
//! pass for somebody else in the user list.

use std::sync::LazyLock;

use thiserror::Error;
use unicode_normalization::UnicodeNormalization;
use unicode_security::{
    GeneralSecurityProfile, general_security_profile::IdentifierType, skeleton,
};

/// Names that belong to the system: users must not be able to pose as the server.
const RESERVED: &[&str] = &[
    "server",
    "system",
    "admin",
    "administrator",
    "root",
    "moderator",
    "chat",
    "everyone",
    "nobody",
];

/// Why a name was rejected. The text is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("the name is empty or blank")]
    Blank,
    #[error("the name is longer than {max} bytes")]
    TooLong { max: usize },
    #[error("the name contains control characters")]
    ControlCharacters,
    #[error("the name contains invisible characters")]
    InvisibleCharacters,
    #[error("the name starts or ends with white space")]
    SurroundingSpace,
    #[error("the name is reserved for the system")]
    Reserved,
}

/// Checks a requested name.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.trim().is_empty() {
        return Err(NameError::Blank);
    }
    if name.len() > wire::MAX_NAME_BYTES {
        return Err(NameError::TooLong {
            max: wire::MAX_NAME_BYTES,
        });
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::ControlCharacters);
    }
    if name
        .chars()
        .any(|c| c.identifier_type() == Some(IdentifierType::Default_Ignorable))
    {
        return Err(NameError::InvisibleCharacters);
    }
    if name.trim() != name {
        return Err(NameError::SurroundingSpace);
    }
    // Folded once: folding is Unicode work, and the list was folded again for every Hello.
    static RESERVED_KEYS: LazyLock<Vec<String>> =
        LazyLock::new(|| RESERVED.iter().map(|r| name_key(r)).collect());
    let key = name_key(name);
    if RESERVED_KEYS.contains(&key) {
        return Err(NameError::Reserved);
    }
    Ok(())
}

/// Checks a room's name: `#`, then a valid name without white space (so that `/join #room` and a
/// line that mentions a room need no quoting).
pub fn validate_room_name(room: &str) -> Result<(), String> {
    let Some(rest) = room.strip_prefix(wire::ROOM_PREFIX) else {
        return Err(format!("a room's name starts with {}", wire::ROOM_PREFIX));
    };
    validate_name(rest).map_err(|e| e.to_string().replacen("the name", "the room's name", 1))?;
    if rest.chars().any(char::is_whitespace) {
        return Err("the room's name contains white space".into());
    }
    if rest.starts_with(wire::ROOM_PREFIX) {
        return Err(format!(
            "the room's name starts with {} once",
            wire::ROOM_PREFIX
        ));
    }
    Ok(())
}

/// Two rooms with the same key are one room: `#` and the name's key.
pub(crate) fn room_key(room: &str) -> String {
    let rest = room.strip_prefix(wire::ROOM_PREFIX).unwrap_or(room);
    format!("{}{}", wire::ROOM_PREFIX, name_key(rest))
}

/// Two names with the same key cannot be in the room at once.
pub(crate) fn name_key(name: &str) -> String {
    let folded: String = name.nfkc().flat_map(char::to_lowercase).collect();
    skeleton(&folded)
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .nfkc()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_hash_and_a_name_compared_by_looks() {
        for room in ["#general", "#rust-lang", "#Zoë"] {
            assert_eq!(validate_room_name(room), Ok(()), "{room}");
        }
        for room in ["general", "#", "# x", "#a b", "##a", "#a\u{200b}b", "#"] {
            assert!(validate_room_name(room).is_err(), "{room}");
        }
        assert_eq!(room_key("#General"), room_key("#general"));
        assert_eq!(room_key("#\u{430}lice"), room_key("#alice"));
        assert_ne!(room_key("#alice"), name_key("alice"));
    }

    #[test]
    fn accepts_ordinary_names() {
        for name in ["alice", "Bob 2", "Zoë", "李小龙", "a", "Ольга"] {
            assert_eq!(validate_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn rejects_bad_names_with_the_reason() {
        assert_eq!(validate_name(""), Err(NameError::Blank));
        assert_eq!(validate_name("   "), Err(NameError::Blank));
        assert_eq!(validate_name("a\u{7}b"), Err(NameError::ControlCharacters));
        assert_eq!(validate_name("a\nb"), Err(NameError::ControlCharacters));
        assert_eq!(validate_name(" al"), Err(NameError::SurroundingSpace));
        assert_eq!(
            validate_name("ali\u{200B}ce"),
            Err(NameError::InvisibleCharacters)
        );
        assert_eq!(
            validate_name("evil\u{202E}txt"),
            Err(NameError::InvisibleCharacters)
        );
        assert_eq!(
            validate_name(&"x".repeat(33)),
            Err(NameError::TooLong { max: 32 })
        );
    }

    #[test]
    fn system_names_are_reserved_in_any_disguise() {
        for name in ["server", "System", "ADMIN", "ѕуѕtеm", "ｓｅｒｖｅｒ"] {
            assert_eq!(validate_name(name), Err(NameError::Reserved), "{name}");
        }
    }

    #[test]
    fn look_alikes_share_a_key() {
        let alice = name_key("alice");
        for same in ["Alice", "ALICE", "\u{430}lice", "ａｌｉｃｅ"] {
            assert_eq!(name_key(same), alice, "{same}");
        }
        assert_ne!(name_key("alicé"), alice);
        assert_ne!(name_key("alice2"), alice);
        // Composed and decomposed forms of the same letter are one name.
        assert_eq!(name_key("Zo\u{eb}"), name_key("Zoe\u{308}"));
    }
}
