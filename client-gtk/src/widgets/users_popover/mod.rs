//! `ChatUsersPopover`: the people in the room, live (the list box is bound to the user model, so
//! joins and leaves show while it is open).

mod imp;

use adw::subclass::prelude::*;
use gtk::{gio, glib, prelude::*};

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
    pub fn set_model(&self, users: &gio::ListStore) {
        let imp = self.imp();
        imp.list.bind_model(Some(users), |item| {
            let Some(user) = item.downcast_ref::<User>() else {
                return gtk::Label::new(None).upcast();
            };
            user_row(user)
        });
        self.update_count(users.n_items());
        users.connect_items_changed(glib::clone!(
            #[weak(rename_to = popover)]
            self,
            move |users, _, _, _| popover.update_count(users.n_items())
        ));
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
