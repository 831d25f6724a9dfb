//! Requests about names, devices and moderation waiting for their reply. The library matches a
//! `Reply` to its request only by id; a dialog wants its own answer, so each request is sent with
//! the code that shows its answer, kept here under its id until the reply comes or the session ends.

use std::collections::HashMap;

use client::wire::Reply;

/// What shows one answer: the reply, or why none will come.
pub type OnReply = Box<dyn FnOnce(Result<Reply, String>)>;

/// The requests of one session still waiting for their reply.
#[derive(Default)]
pub struct PendingReplies(HashMap<u32, OnReply>);

impl std::fmt::Debug for PendingReplies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl PendingReplies {
    pub fn add(&mut self, id: u32, on_reply: OnReply) {
        self.0.insert(id, on_reply);
    }

    /// The code waiting for the reply `id`, if any (a reply nobody waits for is dropped).
    pub fn take(&mut self, id: u32) -> Option<OnReply> {
        self.0.remove(&id)
    }

    /// The session ended: no reply will come to any of them.
    pub fn take_all(&mut self) -> Vec<OnReply> {
        self.0.drain().map(|(_, on_reply)| on_reply).collect()
    }
}

/// Who waits for the server's list of rooms: `ListRooms` has no id, and its answer is for all of
/// them.
#[derive(Default)]
pub struct PendingRooms(Vec<Box<dyn FnOnce(Vec<client::wire::RoomInfo>)>>);

impl std::fmt::Debug for PendingRooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} waiting for the rooms", self.0.len())
    }
}

impl PendingRooms {
    pub fn add(&mut self, on_rooms: Box<dyn FnOnce(Vec<client::wire::RoomInfo>)>) {
        self.0.push(on_rooms);
    }

    /// The answer came (or the session ended): everybody waiting.
    pub fn take_all(&mut self) -> Vec<Box<dyn FnOnce(Vec<client::wire::RoomInfo>)>> {
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::RefCell, rc::Rc};

    use super::*;

    #[test]
    fn each_reply_goes_to_its_request_once_and_the_rest_fail_at_the_end() {
        let got = Rc::new(RefCell::new(Vec::new()));
        let mut pending = PendingReplies::default();
        for id in [1, 2] {
            let got = got.clone();
            pending.add(id, Box::new(move |r| got.borrow_mut().push((id, r))));
        }
        let done = Reply::Done {
            detail: "ok".into(),
        };
        if let Some(f) = pending.take(2) {
            f(Ok(done.clone()));
        }
        assert!(pending.take(2).is_none(), "answered once");
        for f in pending.take_all() {
            f(Err("ended".into()));
        }
        assert_eq!(*got.borrow(), [(2, Ok(done)), (1, Err("ended".to_owned()))]);
    }
}
