//! Cutting a line that is too long for the server into parts that fit, where a reader would: at
//! white space when there is some, else between two characters (never inside one).

/// Splits `text` into parts of at most `longest` bytes, in order. A cut falls on the last white
/// space that keeps the part within `longest` (the white space itself is dropped), else on the
/// last character boundary. A text that fits comes back whole; `longest == 0` gives no parts.
pub fn split_line(text: &str, longest: usize) -> Vec<String> {
    let mut parts = Vec::new();
    if longest == 0 {
        return parts;
    }
    let mut rest = text;
    while rest.len() > longest {
        // The longest prefix that ends on a character boundary.
        let mut end = longest;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            // Cannot happen for longest >= 4 (a character is at most 4 bytes); take one character.
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let space = if rest[end..].starts_with(char::is_whitespace) {
            Some(end)
        } else {
            rest[..end]
                .char_indices()
                .rev()
                .find(|&(at, c)| at > 0 && c.is_whitespace())
                .map(|(at, _)| at)
        };
        let (part, next) = match space {
            Some(at) => (rest[..at].trim_end(), rest[at..].trim_start()),
            None => (&rest[..end], &rest[end..]),
        };
        if !part.is_empty() {
            parts.push(part.to_owned());
        }
        rest = next;
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest.to_owned());
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_that_fits_is_whole() {
        assert_eq!(split_line("hello there", 11), ["hello there"]);
        assert_eq!(split_line("", 10), [""]);
    }

    #[test]
    fn cuts_at_white_space() {
        assert_eq!(split_line("aaa bbb ccc", 7), ["aaa bbb", "ccc"]);
        assert_eq!(split_line("aaa bbb ccc", 8), ["aaa bbb", "ccc"]);
        assert_eq!(split_line("aaa bbb ccc", 5), ["aaa", "bbb", "ccc"]);
    }

    #[test]
    fn cuts_a_long_word_between_characters() {
        assert_eq!(split_line("abcdefgh", 3), ["abc", "def", "gh"]);
        // "é" is two bytes: never split inside it.
        let parts = split_line("éééé", 3);
        assert_eq!(parts, ["é", "é", "é", "é"]);
    }

    #[test]
    fn every_part_fits_and_nothing_but_white_space_is_lost() {
        let text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit ✓ sed do eiusmod \
                    tempor incididunt ut labore et dolore magna aliqua. Ütopia_without_spaces_here";
        for longest in 4..40 {
            let parts = split_line(text, longest);
            assert!(parts.iter().all(|p| p.len() <= longest && !p.is_empty()));
            let joined: String = parts.concat();
            let squeezed: String = text.split_whitespace().collect();
            assert_eq!(joined.replace(' ', ""), squeezed, "longest {longest}");
        }
    }
}
