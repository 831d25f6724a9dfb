//! Who is in the room: a sorted `gio::ListStore` of [`User`]s, kept current from the session's
//! events (sign-in, `UserJoined`, `UserLeft`, `Users`, `Reconnected`).

use gtk::{
    gio,
    glib::{self, subclass::prelude::*},
    prelude::*,
};

mod imp {
    use std::cell::{Cell, RefCell};

    use super::*;

    #[derive(Debug, Default, glib::Properties)]
    #[properties(wrapper_type = super::User)]
    pub struct User {
        #[property(get, construct_only)]
        name: RefCell<String>,
        /// This is us (shown as "you" in the list).
        #[property(get, construct_only)]
        is_you: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for User {
        const NAME: &'static str = "ChatUser";
        type Type = super::User;
    }

    #[glib::derived_properties]
    impl ObjectImpl for User {}
}

glib::wrapper! {
    pub struct User(ObjectSubclass<imp::User>);
}

impl User {
    pub fn new(name: &str, is_you: bool) -> Self {
        glib::Object::builder()
            .property("name", name)
            .property("is-you", is_you)
            .build()
    }
}

#[derive(Debug)]
pub struct UserList {
    store: gio::ListStore,
}

impl Default for UserList {
    fn default() -> Self {
        Self::new()
    }
}

/// Names sort as people read them: case does not matter.
fn sort_key(name: &str) -> (String, String) {
    (name.to_lowercase(), name.to_owned())
}

impl UserList {
    pub fn new() -> Self {
        Self {
            store: gio::ListStore::new::<User>(),
        }
    }

    pub fn model(&self) -> gio::ListStore {
        self.store.clone()
    }

    pub fn len(&self) -> u32 {
        self.store.n_items()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn names(&self) -> Vec<String> {
        self.users().map(|u| u.name()).collect()
    }

    fn users(&self) -> impl Iterator<Item = User> + '_ {
        (0..self.store.n_items()).filter_map(|i| self.store.item(i).and_downcast::<User>())
    }

    /// Replaces the whole list (on sign-in, `Users` or `Reconnected`) in one `items-changed`.
    pub fn set_all(&self, names: &[String], you: &str) {
        let mut sorted: Vec<&String> = names.iter().collect();
        sorted.sort_by_key(|n| sort_key(n));
        sorted.dedup();
        let users: Vec<User> = sorted.iter().map(|n| User::new(n, *n == you)).collect();
        self.store.splice(0, self.store.n_items(), &users);
    }

    /// Somebody joined; false if they were already listed.
    pub fn add(&self, name: &str, you: &str) -> bool {
        if self.position(name).is_some() {
            return false;
        }
        let key = sort_key(name);
        let at = self
            .users()
            .position(|u| sort_key(&u.name()) > key)
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(self.store.n_items());
        self.store.insert(at, &User::new(name, name == you));
        true
    }

    /// Somebody left; false if they were not listed.
    pub fn remove(&self, name: &str) -> bool {
        match self.position(name) {
            Some(i) => {
                self.store.remove(i);
                true
            }
            None => false,
        }
    }

    fn position(&self, name: &str) -> Option<u32> {
        self.users()
            .position(|u| u.name() == name)
            .and_then(|i| u32::try_from(i).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_sorted_through_joins_and_leaves() {
        let users = UserList::new();
        users.set_all(&["carol".into(), "Ann".into(), "bob".into()], "bob");
        assert_eq!(users.names(), ["Ann", "bob", "carol"]);
        assert!(users.add("Bea", "bob"));
        assert!(!users.add("Bea", "bob"));
        assert_eq!(users.names(), ["Ann", "Bea", "bob", "carol"]);
        assert!(users.remove("Ann"));
        assert!(!users.remove("nobody"));
        assert!(users.add("zed", "bob"));
        assert_eq!(users.names(), ["Bea", "bob", "carol", "zed"]);
    }

    #[test]
    fn marks_you() {
        let users = UserList::new();
        users.set_all(&["ann".into(), "bob".into()], "bob");
        let you: Vec<bool> = users.users().map(|u| u.is_you()).collect();
        assert_eq!(you, [false, true]);
    }
}
