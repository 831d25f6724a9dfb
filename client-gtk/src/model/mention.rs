//! Whether a line mentions a name: the name as a whole word, in any case ("Ann:", "hi @ann!"), not
//! inside another word ("annual", "joanne"). Word characters are letters, digits and `_`, so a
//! name made of those is found wherever people type it.

/// True when `text` holds `name` as a whole word, ignoring case.
pub fn mentions(text: &str, name: &str) -> bool {
    let name = name.trim();
    if name.is_empty() {
        return false;
    }
    let text = text.to_lowercase();
    let name = name.to_lowercase();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(&name).any(|(at, found)| {
        let before = text[..at].chars().next_back();
        let after = text[at + found.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn whole_words_in_any_case() {
        assert!(mentions("ann: look", "ann"));
        assert!(mentions("hi @Ann!", "ann"));
        assert!(mentions("thanks ANN", "ann"));
        assert!(mentions("ask Zoë.", "zoë"));
        assert!(!mentions("annual report", "ann"));
        assert!(!mentions("joanne", "ann"));
        assert!(!mentions("ann_b said", "ann"));
        assert!(
            mentions("joanne and ann", "ann"),
            "a later whole word counts"
        );
        assert!(!mentions("anything", ""));
    }
}
