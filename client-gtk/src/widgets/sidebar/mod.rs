//! `ChatSidebar`: the conversations, rooms first (the default room on top), then direct
//! conversations; each row has the name and, when there is something unread, a count badge and a
//! bold name. Choosing a row emits `conversation-selected`; the window shows that conversation.
//!
//! A `GtkListBox` bound to the session's conversation store (a few dozen rows at most: no need
//! for a recycling list view), with the `navigation-sidebar` style GNOME apps use for this.

mod conversation_row;
mod imp;

pub use conversation_row::ConversationRow;

use adw::subclass::prelude::*;
use gtk::{gio, glib, glib::closure_local, prelude::*};

use crate::model::Conversation;

glib::wrapper! {
    pub struct Sidebar(ObjectSubclass<imp::Sidebar>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl Default for Sidebar {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl Sidebar {
    fn setup(&self) {
        let imp = self.imp();
        imp.list.connect_row_selected(glib::clone!(
            #[weak(rename_to = sidebar)]
            self,
            move |_, row| {
                let Some(conversation) = row.and_then(|row| sidebar.conversation_at(row.index()))
                else {
                    return;
                };
                if !sidebar.imp().selecting.get() {
                    sidebar.emit_by_name::<()>("conversation-selected", &[&conversation]);
                }
            }
        ));
        // Clicking the row already shown (e.g. in a folded window, to get back to it) shows it too.
        imp.list.connect_row_activated(glib::clone!(
            #[weak(rename_to = sidebar)]
            self,
            move |_, row| {
                if let Some(conversation) = sidebar.conversation_at(row.index()) {
                    sidebar.emit_by_name::<()>("conversation-selected", &[&conversation]);
                }
            }
        ));
    }

    /// Lists the conversations of `model` (a store of [`Conversation`]s), kept live.
    pub fn set_model(&self, model: &gio::ListStore) {
        self.imp().model.replace(Some(model.clone()));
        self.imp().list.bind_model(Some(model), |item| {
            match item.downcast_ref::<Conversation>() {
                Some(conversation) => ConversationRow::new(conversation).upcast(),
                None => gtk::Label::new(None).upcast(),
            }
        });
    }

    fn conversation_at(&self, index: i32) -> Option<Conversation> {
        let model = self.imp().model.borrow().clone()?;
        model
            .item(u32::try_from(index).ok()?)
            .and_downcast::<Conversation>()
    }

    /// Marks `conversation`'s row as the one shown, without emitting `conversation-selected`.
    pub fn select(&self, conversation: &Conversation) {
        let imp = self.imp();
        let Some(position) = imp
            .model
            .borrow()
            .as_ref()
            .and_then(|m| m.find(conversation))
        else {
            return;
        };
        let row = i32::try_from(position)
            .ok()
            .and_then(|i| imp.list.row_at_index(i));
        imp.selecting.set(true);
        imp.list.select_row(row.as_ref());
        imp.selecting.set(false);
    }

    /// `f(sidebar, conversation)`: the user chose a conversation.
    pub fn connect_conversation_selected<F: Fn(&Self, Conversation) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_closure(
            "conversation-selected",
            false,
            closure_local!(move |sidebar: &Self, conversation: Conversation| f(
                sidebar,
                conversation
            )),
        )
    }

    /// The row of the conversation named `name` (tests; keyboard focus).
    pub fn row(&self, name: &str) -> Option<gtk::ListBoxRow> {
        let list = &self.imp().list;
        (0..)
            .map_while(|i| list.row_at_index(i))
            .find(|row| row.widget_name() == format!("conversation:{name}"))
    }

    /// The names as the sidebar lists them, top to bottom.
    pub fn shown_names(&self) -> Vec<String> {
        let list = &self.imp().list;
        (0..)
            .map_while(|i| list.row_at_index(i))
            .filter_map(|row| {
                row.widget_name()
                    .strip_prefix("conversation:")
                    .map(str::to_owned)
            })
            .collect()
    }

    /// What the badge of `name`'s row shows; `None` when it is hidden (nothing unread).
    pub fn badge(&self, name: &str) -> Option<String> {
        self.row(name)
            .and_downcast::<ConversationRow>()
            .and_then(|row| row.badge())
    }

    pub fn list(&self) -> gtk::ListBox {
        self.imp().list.get()
    }
}
