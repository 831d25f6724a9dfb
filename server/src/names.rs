//! What a valid user name is, and the key that makes two names "the same".

use thiserror::Error;

/// Why a name was rejected. The text is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("the name is empty or blank")]
    Blank,
    #[error("the name is longer than {max} bytes")]
    TooLong { max: usize },
    #[error("the name contains control characters")]
    ControlCharacters,
    #[error("the name starts or ends with white space")]
    SurroundingSpace,
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
    if name.trim() != name {
        return Err(NameError::SurroundingSpace);
    }
    Ok(())
}

/// Two names with the same key cannot be in the room at once.
pub(crate) fn name_key(name: &str) -> String {
    name.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in ["alice", "Bob 2", "Zoë", "李小龙", "a"] {
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
            validate_name(&"x".repeat(33)),
            Err(NameError::TooLong { max: 32 })
        );
    }

    #[test]
    fn keys_ignore_case() {
        assert_eq!(name_key("Alice"), name_key("aLICE"));
        assert_ne!(name_key("alice"), name_key("alice2"));
    }
}
