//! Link and invite codes: what a user types on a second device, or what an operator hands a newcomer.
//!
//! A code is 100 random bits written as 20 Crockford base-32 digits in groups of five
//! (`7K2QD-M9XAT-4HC1R-ZP0WE`): easy to read aloud, no `I`/`L`/`O` to confuse with `1` and `0`
//! (typing them anyway is forgiven). The book keeps only the code's SHA-256, never the code: whoever
//! reads the database file cannot use a pending code. Looking a code up by its hash also means no
//! comparison runs over the code's own bytes, so timing tells a guesser nothing about how close a
//! guess was; guesses are rate-limited besides (`Guesses`). At 100 bits and a handful of guesses
//! per minute, guessing is hopeless for the code's 10 minutes.

use std::{
    collections::HashMap,
    net::IpAddr,
    time::{Duration, Instant},
};

use rand::RngExt;
use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const DIGITS: usize = 20;

/// A code as typed, or as made: 20 digits of Crockford base 32.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Code(String);

impl std::fmt::Debug for Code {
    /// Never printed whole: logs are not a place for secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Code({}…)", &self.0[..2])
    }
}

impl Code {
    pub(crate) fn random() -> Self {
        let mut rng = rand::rng();
        Self(
            (0..DIGITS)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect(),
        )
    }

    /// Reads a typed code: case, dashes and spaces ignored, `I`/`L` read as `1` and `O` as `0`.
    pub(crate) fn parse(typed: &str) -> Option<Self> {
        let mut digits = String::with_capacity(DIGITS);
        for c in typed.chars() {
            let c = match c.to_ascii_uppercase() {
                '-' | ' ' => continue,
                'I' | 'L' => '1',
                'O' => '0',
                c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
                _ => return None,
            };
            digits.push(c);
            if digits.len() > DIGITS {
                return None;
            }
        }
        (digits.len() == DIGITS).then_some(Self(digits))
    }

    /// How the book stores it.
    pub(crate) fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, chunk) in self.0.as_bytes().chunks(5).enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            f.write_str(std::str::from_utf8(chunk).map_err(|_| std::fmt::Error)?)?;
        }
        Ok(())
    }
}

/// Wrong codes allowed per address in a window, and the window.
const GUESSES_PER_ADDRESS: u32 = 10;
const GUESS_WINDOW: Duration = Duration::from_secs(600);

/// Wrong codes per source address: past the limit, codes from that address are not even looked up
/// until the window ends. (Per connection, a wrong code closes the connection: see the session.)
#[derive(Debug, Default)]
pub(crate) struct Guesses {
    by_address: HashMap<IpAddr, (Instant, u32)>,
}

impl Guesses {
    /// Whether `ip` may try a code now.
    pub(crate) fn may_try(&mut self, ip: IpAddr, now: Instant) -> bool {
        match self.by_address.get(&guesser(ip)) {
            Some((since, wrong)) => {
                now.saturating_duration_since(*since) >= GUESS_WINDOW
                    || *wrong < GUESSES_PER_ADDRESS
            }
            None => true,
        }
    }

    /// Counts a wrong code from `ip`.
    pub(crate) fn wrong(&mut self, ip: IpAddr, now: Instant) {
        // Forget windows that ended, so the map holds only addresses that guessed lately.
        self.by_address
            .retain(|_, (since, _)| now.saturating_duration_since(*since) < GUESS_WINDOW);
        let entry = self.by_address.entry(guesser(ip)).or_insert((now, 0));
        entry.1 += 1;
    }
}

/// Whom wrong guesses are counted against: an IPv4 address, or an IPv6 /64. One host usually
/// holds a whole /64 and could otherwise guess from a fresh address every time.
fn guesser(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_from_one_ipv6_slash_64_count_together() {
        let mut guesses = Guesses::default();
        let now = Instant::now();
        for i in 0..GUESSES_PER_ADDRESS {
            let ip: IpAddr = format!("2001:db8:1:2::{:x}", i + 1).parse().expect("ip");
            assert!(guesses.may_try(ip, now));
            guesses.wrong(ip, now);
        }
        let same_prefix: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        assert!(
            !guesses.may_try(same_prefix, now),
            "the /64 used its guesses"
        );
        let other_prefix: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert!(guesses.may_try(other_prefix, now));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(guesser(mapped), "192.0.2.1".parse::<IpAddr>().expect("ip"));
        assert!(
            guesses.may_try(same_prefix, now + GUESS_WINDOW),
            "the window ends"
        );
    }

    #[test]
    fn codes_are_random_readable_and_forgiving_to_type() {
        let code = Code::random();
        let shown = code.to_string();
        assert_eq!(shown.len(), 23);
        assert_eq!(shown.matches('-').count(), 3);
        assert_eq!(Code::parse(&shown), Some(code.clone()));
        assert_eq!(
            Code::parse(&shown.to_lowercase().replace('-', " ")),
            Some(code.clone())
        );
        assert_ne!(Code::random(), code, "100 random bits twice the same");
        assert_eq!(
            Code::parse("ilo00-00000-00000-00000"),
            Code::parse("11000-00000-00000-00000")
        );
        assert_eq!(Code::parse("short"), None);
        assert_eq!(Code::parse(&format!("{shown}1")), None);
        assert_eq!(
            Code::parse("UUUUU-00000-00000-00000"),
            None,
            "U is not a digit"
        );
        assert!(
            !format!("{code:?}").contains(&shown[3..]),
            "Debug hides the code"
        );
    }

    #[test]
    fn an_address_that_guesses_wrong_waits_out_the_window() {
        let mut guesses = Guesses::default();
        let ip: IpAddr = "192.0.2.7".parse().expect("ip");
        let other: IpAddr = "192.0.2.8".parse().expect("ip");
        let start = Instant::now();
        for _ in 0..GUESSES_PER_ADDRESS {
            assert!(guesses.may_try(ip, start));
            guesses.wrong(ip, start);
        }
        assert!(!guesses.may_try(ip, start + Duration::from_secs(1)));
        assert!(guesses.may_try(other, start));
        assert!(guesses.may_try(ip, start + GUESS_WINDOW));
    }
}
