//! Whether a `Hello`'s name may be used by the key that proved itself in the handshake: the book's
//! answer, and what a code brought with `Redeem` changes about it.
//!
//! A code is looked at only when the book alone says no, so a code typed by an owner is not used up
//! for nothing. Any attempt with a code uses it up, right or wrong name (a code is single-use, and
//! whoever holds it could try again with the right name anyway). A wrong code counts against the
//! address (`Guesses`), and the connection ends with its refusal: one guess per connection.

use std::{net::IpAddr, sync::Mutex, time::Instant};

use certs::Fingerprint;
use wire::RefuseReason;

use super::{Claim, CodeKind, Guesses, Owners, OwnersError, Registration, codes::Code};
use crate::names::name_key;

/// Who asks for a name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Visitor<'a> {
    /// The name in `Hello`, already validated.
    pub(crate) name: &'a str,
    pub(crate) key: Fingerprint,
    pub(crate) ip: IpAddr,
    /// The code of a `Redeem` before the `Hello`.
    pub(crate) code: Option<&'a str>,
}

/// How the server registers names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    Open,
    InviteOnly,
}

fn unavailable(e: OwnersError) -> RefuseReason {
    tracing::error!(error = %e, "cannot check who owns a name");
    RefuseReason::Unavailable
}

/// `Ok` when `visitor` may use its name now (it owned it, or registered or linked it just now).
pub(crate) async fn admit(
    owners: &Owners,
    guesses: &Mutex<Guesses>,
    policy: Policy,
    visitor: Visitor<'_>,
    now: (Instant, u64),
) -> Result<(), RefuseReason> {
    let (instant, now_ms) = now;
    let Visitor {
        name,
        key,
        ip,
        code,
    } = visitor;
    let name_key = name_key(name);
    let registration = match policy {
        Policy::Open => Registration::Open,
        Policy::InviteOnly => Registration::NeedsInvite,
    };
    let claim = owners
        .claim(&name_key, name, &key, registration, now_ms)
        .await
        .map_err(unavailable)?;
    let (kind, without_code) = match claim {
        Claim::Owner | Claim::Registered => return Ok(()),
        Claim::Banned { reason } => return Err(RefuseReason::Banned { reason }),
        Claim::OwnedByOther => (CodeKind::Link, RefuseReason::NameOwned),
        Claim::Revoked => (CodeKind::Link, RefuseReason::Revoked),
        Claim::InviteRequired => (CodeKind::Invite, RefuseReason::InviteRequired),
    };
    let Some(typed) = code else {
        return Err(without_code);
    };
    let lock = || guesses.lock().unwrap_or_else(|e| e.into_inner());
    if !lock().may_try(ip, instant) {
        return Err(RefuseReason::TooManyGuesses);
    }
    let found = match Code::parse(typed) {
        Some(code) => owners
            .take_code(kind, &code, now_ms)
            .await
            .map_err(unavailable)?,
        None => None,
    };
    let admitted = match (kind, found) {
        (CodeKind::Link, Some((for_name, _))) if for_name == name_key => owners
            .link(&name_key, name, &key, now_ms)
            .await
            .map_err(unavailable)?,
        (CodeKind::Invite, Some(_)) => owners
            .claim(&name_key, name, &key, Registration::Open, now_ms)
            .await
            .map_err(unavailable)?,
        _ => {
            lock().wrong(ip, instant);
            return Err(RefuseReason::BadCode);
        }
    };
    match admitted {
        Claim::Owner | Claim::Registered => Ok(()),
        Claim::Banned { reason } => Err(RefuseReason::Banned { reason }),
        // Somebody registered the name between the two questions.
        _ => Err(RefuseReason::NameOwned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::owners::SqliteOwners;

    fn key(n: u8) -> Fingerprint {
        Fingerprint::from_bytes([n; 32])
    }

    fn visitor<'a>(name: &'a str, n: u8, code: Option<&'a str>) -> Visitor<'a> {
        Visitor {
            name,
            key: key(n),
            ip: "192.0.2.1".parse().expect("ip"),
            code,
        }
    }

    struct Book {
        owners: Owners,
        guesses: Mutex<Guesses>,
        start: Instant,
    }

    impl Book {
        fn new() -> Self {
            Self {
                owners: Owners::Local(SqliteOwners::in_memory().expect("book")),
                guesses: Mutex::default(),
                start: Instant::now(),
            }
        }

        async fn admit(&self, policy: Policy, v: Visitor<'_>) -> Result<(), RefuseReason> {
            admit(&self.owners, &self.guesses, policy, v, (self.start, 1_000)).await
        }

        async fn code(&self, kind: CodeKind, name: &str) -> String {
            let code = Code::random();
            self.owners
                .add_code(
                    kind,
                    &code,
                    (&name_key(name), name),
                    crate::store::now_ms() + 600_000,
                )
                .await
                .expect("code");
            code.to_string()
        }
    }

    #[tokio::test]
    async fn owned_names_refuse_other_keys_and_a_link_code_adds_one_once() {
        let book = Book::new();
        assert_eq!(
            book.admit(Policy::Open, visitor("alice", 1, None)).await,
            Ok(())
        );
        // Look-alikes are the same name.
        assert_eq!(
            book.admit(Policy::Open, visitor("ALICE", 2, None)).await,
            Err(RefuseReason::NameOwned)
        );
        let link = book.code(CodeKind::Link, "alice").await;
        // The owner's own sign-in does not use the code up.
        assert_eq!(
            book.admit(Policy::Open, visitor("alice", 1, Some(&link)))
                .await,
            Ok(())
        );
        assert_eq!(
            book.admit(Policy::Open, visitor("alice", 2, Some(&link)))
                .await,
            Ok(())
        );
        assert_eq!(
            book.admit(Policy::Open, visitor("alice", 2, None)).await,
            Ok(())
        );
        assert_eq!(
            book.admit(Policy::Open, visitor("alice", 3, Some(&link)))
                .await,
            Err(RefuseReason::BadCode),
            "a code is single-use"
        );
        // A link code for another name is no use here, and is used up by trying.
        let bobs = book.code(CodeKind::Link, "bob").await;
        assert_eq!(
            book.admit(Policy::Open, visitor("alice", 4, Some(&bobs)))
                .await,
            Err(RefuseReason::BadCode)
        );
    }

    #[tokio::test]
    async fn wrong_codes_are_limited_per_address() {
        let book = Book::new();
        assert_eq!(
            book.admit(Policy::Open, visitor("carol", 1, None)).await,
            Ok(())
        );
        let mut refusals = Vec::new();
        for guess in 0..12 {
            let code = format!("{:020}", guess);
            refusals.push(
                book.admit(Policy::Open, visitor("carol", 9, Some(&code)))
                    .await,
            );
        }
        assert!(
            refusals[..10]
                .iter()
                .all(|r| *r == Err(RefuseReason::BadCode))
        );
        assert!(
            refusals[10..]
                .iter()
                .all(|r| *r == Err(RefuseReason::TooManyGuesses))
        );
        // Even the right code waits out the window from that address.
        let link = book.code(CodeKind::Link, "carol").await;
        assert_eq!(
            book.admit(Policy::Open, visitor("carol", 9, Some(&link)))
                .await,
            Err(RefuseReason::TooManyGuesses)
        );
    }

    #[tokio::test]
    async fn invite_only_servers_register_new_names_only_with_an_invite() {
        let book = Book::new();
        assert_eq!(
            book.admit(Policy::InviteOnly, visitor("dan", 1, None))
                .await,
            Err(RefuseReason::InviteRequired)
        );
        let invite = book.code(CodeKind::Invite, "").await;
        assert_eq!(
            book.admit(Policy::InviteOnly, visitor("dan", 1, Some(&invite)))
                .await,
            Ok(())
        );
        // The owner comes back without one.
        assert_eq!(
            book.admit(Policy::InviteOnly, visitor("dan", 1, None))
                .await,
            Ok(())
        );
        assert_eq!(
            book.admit(Policy::InviteOnly, visitor("erin", 2, Some(&invite)))
                .await,
            Err(RefuseReason::BadCode),
            "an invite is single-use"
        );
    }

    #[tokio::test]
    async fn a_ban_refuses_with_its_reason_whatever_the_code() {
        let book = Book::new();
        assert_eq!(
            book.admit(Policy::Open, visitor("mallory", 6, None)).await,
            Ok(())
        );
        let link = book.code(CodeKind::Link, "mallory").await;
        book.owners
            .ban(&name_key("mallory"), "spam", 2)
            .await
            .expect("ban");
        let banned = Err(RefuseReason::Banned {
            reason: "spam".into(),
        });
        assert_eq!(
            book.admit(Policy::Open, visitor("mallory", 6, None)).await,
            banned
        );
        assert_eq!(
            book.admit(Policy::Open, visitor("mallory", 7, Some(&link)))
                .await,
            banned
        );
        assert_eq!(
            book.admit(Policy::Open, visitor("other", 6, None)).await,
            banned
        );
    }
}
