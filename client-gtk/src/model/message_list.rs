//! The conversation: a `gio::ListStore` of [`Message`]s plus what is needed to match receipts.
//!
//! Our own lines go in as pending rows at once (the user sees what they typed immediately); the
//! server's echo of the line (the library's `Receipt`, or a line marked `mine`), recognised by its
//! nonce, turns the same row delivered instead of adding a second one. A line the server replays
//! (after a resume, or in the history of a new sign-in) is recognised by id, sender and nonce and not shown twice. Not by the id alone: a
//! restarted server counts from 1 again.

use std::{
    cell::{Cell, RefCell},
    collections::{HashMap, HashSet},
};

use client::Line;
use gtk::{gio, prelude::*};

use super::message::Message;

/// What [`MessageList::add_line`] did with a line from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Added {
    /// The receipt of one of our pending lines.
    Receipt(Message),
    /// A new row.
    New(Message),
    /// Already shown.
    Duplicate,
}

#[derive(Debug)]
pub struct MessageList {
    store: gio::ListStore,
    /// Our lines waiting for their receipt, by nonce.
    pending: RefCell<HashMap<u64, Message>>,
    /// The newest server id shown.
    last_id: Cell<Option<u64>>,
    /// Every server line shown, as (id, sender, nonce).
    seen: RefCell<HashSet<(u64, String, u64)>>,
}

impl Default for MessageList {
    fn default() -> Self {
        Self::new()
    }
}

impl MessageList {
    pub fn new() -> Self {
        Self {
            store: gio::ListStore::new::<Message>(),
            pending: RefCell::default(),
            last_id: Cell::new(None),
            seen: RefCell::default(),
        }
    }

    /// The model the ListView shows.
    pub fn model(&self) -> gio::ListStore {
        self.store.clone()
    }

    pub fn len(&self) -> u32 {
        self.store.n_items()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, position: u32) -> Option<Message> {
        self.store.item(position).and_downcast()
    }

    pub fn last_id(&self) -> Option<u64> {
        self.last_id.get()
    }

    pub fn pending_count(&self) -> usize {
        self.pending.borrow().len()
    }

    /// Shows a line we just sent; it stays pending until [`Self::add_line`] sees its receipt.
    pub fn add_pending(&self, you: &str, nonce: u64, text: &str) -> Message {
        let message = Message::pending(you, nonce, text);
        self.pending.borrow_mut().insert(nonce, message.clone());
        self.store.append(&message);
        message
    }

    pub fn add_system(&self, text: &str) -> Message {
        let message = Message::system(text);
        self.store.append(&message);
        message
    }

    /// A line from the server: a receipt for one of ours, a new line, or a replay we already have.
    pub fn add_line(&self, m: &Line) -> Added {
        if m.mine {
            let pending = self.pending.borrow_mut().remove(&m.nonce);
            if let Some(row) = pending {
                row.mark_delivered(m);
                self.see(m);
                return Added::Receipt(row);
            }
        }
        if !self.see(m) {
            return Added::Duplicate;
        }
        let message = Message::from_line(m);
        self.store.append(&message);
        Added::New(message)
    }

    /// A `Problem` about one of our lines; false if no pending line has that nonce.
    pub fn fail(&self, nonce: u64, why: &str) -> bool {
        let pending = self.pending.borrow_mut().remove(&nonce);
        pending.map(|row| row.mark_failed(why)).is_some()
    }

    /// The session ended: nothing still pending will be confirmed.
    pub fn fail_all_pending(&self, why: &str) -> usize {
        let rows: Vec<Message> = self.pending.borrow_mut().drain().map(|(_, m)| m).collect();
        for row in &rows {
            row.mark_failed(why);
        }
        rows.len()
    }

    /// Records a server line; false if it was shown before.
    fn see(&self, m: &Line) -> bool {
        if self.last_id.get().is_none_or(|last| m.id > last) {
            self.last_id.set(Some(m.id));
        }
        self.seen
            .borrow_mut()
            .insert((m.id, m.from.clone(), m.nonce))
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::model::{DeliveryState, MessageKind, test_line as chat};

    #[test]
    fn receipt_turns_the_pending_row_delivered_without_a_new_row() {
        let list = MessageList::new();
        let row = list.add_pending("ann", 7, "hello");
        assert_eq!(list.len(), 1);
        assert_eq!(row.state(), DeliveryState::Pending);

        let added = list.add_line(&chat(3, "ann", 7, "hello"));
        assert_eq!(added, Added::Receipt(row.clone()));
        assert_eq!(list.len(), 1);
        assert_eq!(row.state(), DeliveryState::Delivered);
        assert_eq!(row.id(), 3);
        assert_eq!(list.pending_count(), 0);
    }

    #[test]
    fn others_lines_and_own_lines_from_elsewhere_are_new_rows() {
        let list = MessageList::new();
        list.add_pending("ann", 7, "mine");
        // Same nonce, but from somebody else: not our receipt.
        let Added::New(bob) = list.add_line(&chat(1, "bob", 7, "hi")) else {
            panic!("bob's line should be new");
        };
        assert_eq!(bob.kind(), MessageKind::Chat);
        // Our name with a nonce we do not know (history from an earlier run): an own line, delivered.
        let Added::New(old) = list.add_line(&chat(2, "ann", 99, "earlier")) else {
            panic!("an unknown nonce is a new line");
        };
        assert_eq!(old.kind(), MessageKind::Own);
        assert_eq!(old.state(), DeliveryState::Delivered);
        assert_eq!(list.len(), 3);
        assert_eq!(list.pending_count(), 1);
    }

    #[test]
    fn replayed_ids_are_not_shown_twice() {
        let list = MessageList::new();
        list.add_line(&chat(1, "bob", 1, "a"));
        list.add_line(&chat(2, "bob", 2, "b"));
        assert_eq!(list.add_line(&chat(2, "bob", 2, "b")), Added::Duplicate);
        assert!(matches!(
            list.add_line(&chat(3, "bob", 3, "c")),
            Added::New(_)
        ));
        assert_eq!(list.len(), 3);
        assert_eq!(list.last_id(), Some(3));
        // A restarted server counts from 1 again: a different line with an old id is new.
        assert!(matches!(
            list.add_line(&chat(1, "carol", 8, "after restart")),
            Added::New(_)
        ));
    }

    #[test]
    fn problems_fail_the_matching_row_only() {
        let list = MessageList::new();
        let a = list.add_pending("ann", 1, "a");
        let b = list.add_pending("ann", 2, "b");
        assert!(list.fail(2, "message too long"));
        assert!(!list.fail(2, "again"));
        assert_eq!(a.state(), DeliveryState::Pending);
        assert_eq!(b.state(), DeliveryState::Failed);
        assert_eq!(b.status(), "message too long");
        assert_eq!(list.fail_all_pending("connection lost"), 1);
        assert_eq!(a.state(), DeliveryState::Failed);
    }

    #[test]
    fn the_store_announces_each_append() {
        let list = MessageList::new();
        let added = Rc::new(Cell::new(0));
        let counter = added.clone();
        list.model().connect_items_changed(move |_, _, _, n| {
            counter.set(counter.get() + n);
        });
        list.add_system("ann joined");
        list.add_pending("ann", 1, "x");
        list.add_line(&chat(1, "ann", 1, "x")); // receipt: no new item
        assert_eq!(added.get(), 2);
    }
}
