//! The sidebar's conversations, in the order people look for them: the default room on top, then
//! the other rooms, then direct conversations, each group by name (case does not matter). A
//! `gio::ListStore` the sidebar binds to; a row is inserted where it belongs, so the sidebar never
//! resorts or jumps.

use client::Conversation as Address;
use gtk::{gio, prelude::*};

use super::Conversation;

#[derive(Debug)]
pub struct ConversationList {
    store: gio::ListStore,
}

impl Default for ConversationList {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a conversation sorts: default room, rooms, direct conversations; then by name.
fn sort_key(c: &Conversation) -> (u8, String, String) {
    let group = match (c.default_room(), c.direct()) {
        (true, _) => 0,
        (false, false) => 1,
        (false, true) => 2,
    };
    (group, c.name().to_lowercase(), c.name())
}

/// Room names compare without case (the server folds look-alikes; case is the common one).
fn same(c: &Conversation, address: &Address) -> bool {
    match address {
        Address::Room(room) => !c.direct() && c.name().to_lowercase() == room.to_lowercase(),
        Address::Direct(name) => c.direct() && c.name() == *name,
    }
}

impl ConversationList {
    pub fn new() -> Self {
        Self {
            store: gio::ListStore::new::<Conversation>(),
        }
    }

    /// The model the sidebar shows.
    pub fn model(&self) -> gio::ListStore {
        self.store.clone()
    }

    pub fn len(&self) -> u32 {
        self.store.n_items()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, position: u32) -> Option<Conversation> {
        self.store.item(position).and_downcast()
    }

    pub fn iter(&self) -> impl Iterator<Item = Conversation> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    pub fn find(&self, address: &Address) -> Option<Conversation> {
        self.iter().find(|c| same(c, address))
    }

    pub fn position(&self, conversation: &Conversation) -> Option<u32> {
        self.store.find(conversation)
    }

    /// The conversation at `address`, added in its place if it is not listed yet.
    pub fn ensure(&self, address: &Address, default_room: bool) -> Conversation {
        if let Some(found) = self.find(address) {
            return found;
        }
        let conversation = Conversation::new(address, default_room);
        let key = sort_key(&conversation);
        let at = self
            .iter()
            .position(|c| sort_key(&c) > key)
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(self.len());
        self.store.insert(at, &conversation);
        conversation
    }

    /// Takes the conversation out of the list; false if it was not listed.
    pub fn remove(&self, address: &Address) -> bool {
        match self.find(address).and_then(|c| self.position(&c)) {
            Some(at) => {
                self.store.remove(at);
                true
            }
            None => false,
        }
    }

    /// The names as the sidebar lists them, top to bottom.
    pub fn names(&self) -> Vec<String> {
        self.iter().map(|c| c.name()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> Address {
        Address::Room(name.into())
    }

    fn direct(name: &str) -> Address {
        Address::Direct(name.into())
    }

    #[test]
    fn default_room_then_rooms_then_direct_conversations() {
        let list = ConversationList::new();
        list.ensure(&direct("zoe"), false);
        list.ensure(&room("#rust"), false);
        list.ensure(&room("#general"), true);
        list.ensure(&direct("Bob"), false);
        list.ensure(&room("#Art"), false);
        assert_eq!(list.names(), ["#general", "#Art", "#rust", "Bob", "zoe"]);
        // Found again, not added twice; rooms without regard to case.
        let rust = list.ensure(&room("#RUST"), false);
        assert_eq!(rust.name(), "#rust");
        assert_eq!(list.len(), 5);
        assert!(list.remove(&room("#art")));
        assert!(!list.remove(&room("#art")));
        assert_eq!(list.names(), ["#general", "#rust", "Bob", "zoe"]);
        // A direct conversation is not a room of the same name.
        assert!(list.find(&direct("#rust")).is_none());
    }
}
