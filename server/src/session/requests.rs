//! Requests about names, devices and moderation: who may ask what, and what is answered.
//!
//! Everybody may ask about their own name (who am I, a link code, its devices, revoking one).
//! Kick, ban, unban, release and invite are for the keys given with `--operator`; anybody else is
//! answered `NotAllowed` and nothing happens. Every operator action is logged with the operator's
//! key.

use std::time::Duration;

use certs::Fingerprint;
use wire::{Device, LeaveReason, ProblemCode, Reply, Request, ServerFrame};

use super::Shared;
use crate::{
    names::name_key,
    owners::{Code, CodeKind, OwnersError, Revoke},
    room::Eviction,
    store::now_ms,
};

/// How long a link code may be used.
const LINK_VALID: Duration = Duration::from_secs(10 * 60);
/// How long an invite may be used.
const INVITE_VALID: Duration = Duration::from_secs(7 * 24 * 3600);

/// The member asking.
pub(super) struct Asker<'a> {
    pub(super) name: &'a str,
    pub(super) key: Fingerprint,
}

fn failed(code: ProblemCode, detail: impl Into<String>) -> Reply {
    Reply::Failed {
        code,
        detail: detail.into(),
    }
}

fn unavailable(e: &OwnersError) -> Reply {
    tracing::error!(error = %e, "a request about names failed");
    failed(
        ProblemCode::ServerError,
        "the server cannot reach its book of names just now; try again",
    )
}

fn done(detail: String) -> Reply {
    Reply::Done { detail }
}

pub(super) async fn answer(shared: &Shared, asker: &Asker<'_>, request: Request) -> Reply {
    let operator = shared.operators.contains(&asker.key);
    let owners = &shared.owners;
    let mine = name_key(asker.name);
    match request {
        Request::WhoAmI => Reply::Identity {
            fingerprint: *asker.key.as_bytes(),
            operator,
            names: vec![asker.name.to_owned()],
        },
        Request::LinkCode => {
            new_code(shared, CodeKind::Link, (&mine, asker.name), LINK_VALID).await
        }
        Request::Devices => match owners.devices(&mine).await {
            Ok(devices) => Reply::Devices {
                list: devices
                    .into_iter()
                    .map(|d| Device {
                        fingerprint: *d.fingerprint.as_bytes(),
                        first_seen_ms: d.first_seen_ms,
                        last_seen_ms: d.last_seen_ms,
                        this_device: d.fingerprint == asker.key,
                    })
                    .collect(),
            },
            Err(e) => unavailable(&e),
        },
        Request::Revoke { fingerprint } => match owners.revoke(&mine, &fingerprint, now_ms()).await
        {
            Ok(Revoke::Revoked(gone)) => {
                tracing::info!(revoked = %gone.short(), "device revoked");
                // Signed in with it just now: it goes (the others see it kicked).
                let reason = "this device was revoked";
                let _ = remove(
                    shared,
                    asker,
                    (asker.name, Some(&gone)),
                    reason,
                    LeaveReason::Kicked,
                )
                .await;
                done(format!(
                    "device {} can no longer sign in as {}",
                    gone.short(),
                    asker.name
                ))
            }
            Ok(Revoke::NoSuchDevice) => failed(ProblemCode::NoSuchDevice, fingerprint),
            Ok(Revoke::Ambiguous) => failed(ProblemCode::AmbiguousDevice, fingerprint),
            Ok(Revoke::LastDevice) => failed(
                ProblemCode::LastDevice,
                "that is the only device of this name",
            ),
            Err(e) => unavailable(&e),
        },
        _ if !operator => failed(ProblemCode::NotAllowed, "only operators may do that"),
        Request::Kick { user, reason } => {
            tracing::info!(operator = %asker.key.short(), %user, %reason, "kick");
            match remove(shared, asker, (&user, None), &reason, LeaveReason::Kicked).await {
                Some(name) => done(format!("{name} was kicked")),
                None => failed(ProblemCode::NoSuchUser, format!("{user} is not here")),
            }
        }
        Request::Ban { user, reason } => {
            tracing::info!(operator = %asker.key.short(), %user, %reason, "ban");
            if let Err(e) = owners.ban(&name_key(&user), &reason, now_ms()).await {
                return unavailable(&e);
            }
            let here = remove(shared, asker, (&user, None), &reason, LeaveReason::Banned).await;
            done(match here {
                Some(name) => format!("{name} was banned and disconnected"),
                None => format!("{user} is banned"),
            })
        }
        Request::Unban { user } => {
            tracing::info!(operator = %asker.key.short(), %user, "unban");
            match owners.unban(&name_key(&user)).await {
                Ok(true) => done(format!("{user} may sign in again")),
                Ok(false) => failed(ProblemCode::NoSuchUser, format!("{user} is not banned")),
                Err(e) => unavailable(&e),
            }
        }
        Request::Release { user } => {
            tracing::info!(operator = %asker.key.short(), %user, "release");
            match owners.release(&name_key(&user)).await {
                Ok(true) => done(format!("{user} is free for anybody to take")),
                Ok(false) => failed(ProblemCode::NoSuchUser, format!("nobody owns {user}")),
                Err(e) => unavailable(&e),
            }
        }
        Request::Invite => {
            tracing::info!(operator = %asker.key.short(), "invite");
            new_code(shared, CodeKind::Invite, ("", ""), INVITE_VALID).await
        }
    }
}

async fn new_code(shared: &Shared, kind: CodeKind, name: (&str, &str), valid: Duration) -> Reply {
    let code = Code::random();
    let expires = now_ms().saturating_add(u64::try_from(valid.as_millis()).unwrap_or(u64::MAX));
    match shared.owners.add_code(kind, &code, name, expires).await {
        Ok(()) => Reply::Code {
            code: code.to_string(),
            valid_secs: u32::try_from(valid.as_secs()).unwrap_or(u32::MAX),
        },
        Err(e) => unavailable(&e),
    }
}

/// Disconnects `user` (on whichever node) with a `Removed` frame, or only its `device`; the name it
/// had, if it was in the room.
async fn remove(
    shared: &Shared,
    asker: &Asker<'_>,
    (user, device): (&str, Option<&Fingerprint>),
    reason: &str,
    why: LeaveReason,
) -> Option<String> {
    let frame = ServerFrame::Removed {
        by: asker.name.to_owned(),
        reason: reason.to_owned(),
        banned: why == LeaveReason::Banned,
    };
    let eviction = Eviction::new(user, device, &frame, why).ok()?;
    shared.room.evict(&eviction).await
}
