//! One client's life: handshake, `Hello`, then reading its frames and writing the room's, until it
//! says `Bye`, breaks the protocol, falls behind, vanishes, or the server shuts down.
//!
//! Split the way quinn-proto and smoltcp split a protocol from its I/O: `rules` holds what the
//! protocol says about one member (events in, actions out, no I/O, no clock), so it is unit-tested
//! and fuzzed without sockets; `driver` is the thin quinn side that feeds it and carries its
//! actions out against the room; `writer` turns the member's queue into stream writes; `branch`
//! wakes only the part of a session that can progress.

mod branch;
mod driver;
mod requests;
pub mod rules;
mod writer;

use std::sync::{Arc, atomic::AtomicUsize};

use wire::RefuseReason;

use crate::{
    config::LiveLimits,
    limits::AddressSlot,
    owners::{Guesses, Owners, Policy},
    room::Room,
    rooms::Registry,
};

pub(crate) use driver::serve;

/// What every session shares.
pub(crate) struct Shared {
    pub(crate) room: Arc<Room>,
    /// The other rooms, memberships and direct messages.
    pub(crate) rooms: std::sync::Arc<Registry>,
    /// The limits in force (the room's, which a reload replaces); a session reads them once.
    pub(crate) limits: Arc<LiveLimits>,
    /// Handshakes started and not yet finished, for the Retry decision.
    pub(crate) handshaking: AtomicUsize,
    /// Who owns which name.
    pub(crate) owners: Owners,
    /// Wrong link and invite codes per address.
    pub(crate) guesses: std::sync::Mutex<Guesses>,
    pub(crate) policy: Policy,
    pub(crate) operators: Vec<certs::Fingerprint>,
}

/// What the listener decided before the handshake; the session carries it out after `Hello`, so
/// that a refused client learns why.
pub(crate) enum Admission {
    Welcome(Option<AddressSlot>),
    Refuse(RefuseReason, Option<AddressSlot>),
}
