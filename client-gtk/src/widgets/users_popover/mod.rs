//! `ChatUsersPopover`: the people in the room shown, live (the list box is bound to that room's
//! user model, so joins and leaves show while it is open). Each other user's row has a Message
//! button, which emits `message-user` (the window opens the direct conversation); for an operator
//! also Kick and Ban, which emit `moderate`; the window asks for confirmation and sends the request.

mod imp;

use adw::subclass::prelude::*;
use gtk::{gio, glib, glib::closure_local, prelude::*};

use crate::{
    i18n::{fill, gettext, ngettext},
    model::User,
};

glib::wrapper! {
    pub struct UsersPopover(ObjectSubclass<imp::UsersPopover>)
        @extends gtk::Popover, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Native, gtk::ShortcutManager;
}

impl Default for UsersPopover {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl UsersPopover {
    /// Shows `users` (a store of [`User`]s), instead of the room shown before.
    pub fn set_model(&self, users: &gio::ListStore) {
        let imp = self.imp();
        if imp.model.borrow().as_ref() == Some(users) {
            return;
        }
        if let Some((old, handler)) = imp.count_handler.take() {
            old.disconnect(handler);
        }
        imp.model.replace(Some(users.clone()));
        self.bind_rows();
        self.update_count(users.n_items());
        let handler = users.connect_items_changed(glib::clone!(
            #[weak(rename_to = popover)]
            self,
            move |users, _, _, _| popover.update_count(users.n_items())
        ));
        imp.count_handler.replace(Some((users.clone(), handler)));
    }

    /// `f(popover, user)`: the user chose Message on `user`'s row.
    pub fn connect_message_user<F: Fn(&Self, String) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_closure(
            "message-user",
            false,
            closure_local!(move |popover: &Self, user: String| f(popover, user)),
        )
    }

    /// The Message button of `user`'s row, if shown.
    pub fn message_button(&self, user: &str) -> Option<gtk::Button> {
        self.row_widget(&format!("message:{user}"))
    }

    /// Whether to offer Kick and Ban (the server takes us for an operator).
    pub fn set_operator(&self, operator: bool) {
        if self.imp().operator.replace(operator) != operator {
            self.bind_rows();
        }
    }

    /// `f(popover, user, ban)`: an operator chose Kick (`ban` false) or Ban on `user`'s row.
    pub fn connect_moderate<F: Fn(&Self, String, bool) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_closure(
            "moderate",
            false,
            closure_local!(move |popover: &Self, user: String, ban: bool| f(popover, user, ban)),
        )
    }

    /// (Re)builds the rows from the model, with or without the operator's buttons.
    fn bind_rows(&self) {
        let imp = self.imp();
        let Some(users) = imp.model.borrow().clone() else {
            return;
        };
        let operator = imp.operator.get();
        let popover = self.downgrade();
        imp.list.bind_model(Some(&users), move |item| {
            let Some(user) = item.downcast_ref::<User>() else {
                return gtk::Label::new(None).upcast();
            };
            let row = user_row(user);
            if !user.is_you()
                && let Some(row) = row.downcast_ref::<gtk::Box>()
            {
                add_message_button(row, &user.name(), popover.clone());
            }
            if operator
                && !user.is_you()
                && let Some(row) = row.downcast_ref::<gtk::Box>()
            {
                add_moderation_buttons(row, &user.name(), popover.clone());
            }
            row
        });
    }

    /// The Kick (`ban` false) or Ban button of `user`'s row, if shown.
    pub fn moderation_button(&self, user: &str, ban: bool) -> Option<gtk::Button> {
        self.row_widget(&format!("{}:{user}", if ban { "ban" } else { "kick" }))
    }

    /// The widget named `wanted` in one of the rows.
    fn row_widget(&self, wanted: &str) -> Option<gtk::Button> {
        let list = &self.imp().list;
        (0..)
            .map_while(|i| list.row_at_index(i))
            .filter_map(|row| row.child())
            .flat_map(|child| {
                std::iter::successors(child.first_child(), gtk::Widget::next_sibling)
                    .collect::<Vec<_>>()
            })
            .find(|w| w.widget_name() == wanted)
            .and_downcast()
    }

    fn update_count(&self, n: u32) {
        self.imp().count_label.set_label(&match n {
            0 => gettext("Nobody online"),
            n => fill(
                &ngettext("{count} person online", "{count} people online", n),
                &[("count", &n.to_string())],
            ),
        });
    }

    /// The names as the list shows them, top to bottom.
    pub fn shown_names(&self) -> Vec<String> {
        let list = &self.imp().list;
        (0..)
            .map_while(|i| list.row_at_index(i))
            .filter_map(|row| row.child())
            .filter_map(|child| child.widget_name().strip_prefix("user:").map(str::to_owned))
            .collect()
    }
}

fn user_row(user: &User) -> gtk::Widget {
    let row = gtk::Box::new(gtk::Orientation::Horizontal, 10);
    // The name doubles as a stable handle for tests and for finding a row.
    row.set_widget_name(&format!("user:{}", user.name()));
    row.append(&adw::Avatar::new(24, Some(&user.name()), true));
    let name = gtk::Label::new(Some(&user.name()));
    name.set_xalign(0.0);
    name.set_hexpand(true);
    name.set_ellipsize(gtk::pango::EllipsizeMode::End);
    // Room for a short name beside an operator's Kick and Ban.
    name.set_width_chars(8);
    row.append(&name);
    if user.is_you() {
        // Translators: shown beside your own name in the list of users.
        let you = gtk::Label::new(Some(&gettext("you")));
        you.add_css_class("dim-label");
        you.add_css_class("caption");
        row.append(&you);
    }
    row.upcast()
}

/// Message: write to `name` in a direct conversation.
fn add_message_button(row: &gtk::Box, name: &str, popover: glib::WeakRef<UsersPopover>) {
    let button = gtk::Button::with_label(&gettext("Message"));
    button.set_widget_name(&format!("message:{name}"));
    button.add_css_class("flat");
    button.set_valign(gtk::Align::Center);
    button.set_tooltip_text(Some(&fill(
        &gettext("Write to {user} in a direct conversation"),
        &[("user", name)],
    )));
    let name = name.to_owned();
    button.connect_clicked(move |_| {
        if let Some(popover) = popover.upgrade() {
            popover.popdown();
            popover.emit_by_name::<()>("message-user", &[&name]);
        }
    });
    row.append(&button);
}

/// An operator's Kick and Ban for `name`, at the end of its row.
fn add_moderation_buttons(row: &gtk::Box, name: &str, popover: glib::WeakRef<UsersPopover>) {
    // Text buttons, not icons: GTK 4.8's Rust API cannot name an icon button for a screen reader,
    // a label names itself. The tooltip says whom.
    for (ban, label, tooltip) in [
        (
            false,
            gettext("Kick"),
            fill(&gettext("Disconnect {user}"), &[("user", name)]),
        ),
        (
            true,
            gettext("Ban"),
            fill(
                &gettext("Disconnect {user} and refuse the name's keys"),
                &[("user", name)],
            ),
        ),
    ] {
        let button = gtk::Button::with_label(&label);
        button.set_widget_name(&format!("{}:{name}", if ban { "ban" } else { "kick" }));
        button.add_css_class("flat");
        button.set_valign(gtk::Align::Center);
        button.set_tooltip_text(Some(&tooltip));
        let popover = popover.clone();
        let name = name.to_owned();
        button.connect_clicked(move |_| {
            if let Some(popover) = popover.upgrade() {
                popover.popdown();
                popover.emit_by_name::<()>("moderate", &[&name, &ban]);
            }
        });
        row.append(&button);
    }
}
