//! `ChatChatView`: the message list, the composer and the connection banner.
//!
//! Sticky scrolling: the view follows new lines while the user is at the bottom (`sticky`). When
//! they scroll up to read, new lines only raise the count on the "jump to newest" button. The
//! adjustment's `upper` grows after a layout pass, not when the model changes, so following is done
//! on `notify::upper`; scroll positions we cause ourselves are told apart from the user's by
//! `auto_scrolling`.
//!
//! One view shows every conversation: the window hands it the shown conversation's store, and it
//! shows that conversation's newest lines. (Going back to where the user was reading in it was
//! tried: setting the position before GTK 4.8's list view has measured the rows made the view stop
//! following the next line now and then; `ListView::scroll_to` needs GTK 4.12.)

mod imp;

use adw::subclass::prelude::*;
use gtk::{gio, glib, glib::closure_local, prelude::*};

use crate::{
    i18n::{fill, ngettext},
    model::Message,
    widgets::MessageRow,
};

glib::wrapper! {
    pub struct ChatView(ObjectSubclass<imp::ChatView>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

/// How close to the end (in pixels) still counts as "at the bottom".
const BOTTOM_SLACK: f64 = 4.0;

impl ChatView {
    fn setup(&self) {
        let imp = self.imp();
        let factory = gtk::SignalListItemFactory::new();
        factory.connect_setup(|_, item| {
            if let Some(item) = item.downcast_ref::<gtk::ListItem>() {
                item.set_activatable(false);
                item.set_selectable(false);
                item.set_child(Some(&MessageRow::new()));
            }
        });
        factory.connect_bind(|_, item| {
            let Some(item) = item.downcast_ref::<gtk::ListItem>() else {
                return;
            };
            if let (Some(row), Some(message)) = (
                item.child().and_downcast::<MessageRow>(),
                item.item().and_downcast::<Message>(),
            ) {
                row.bind(&message);
            }
        });
        factory.connect_unbind(|_, item| {
            if let Some(row) = item
                .downcast_ref::<gtk::ListItem>()
                .and_then(|i| i.child())
                .and_downcast::<MessageRow>()
            {
                row.unbind();
            }
        });
        imp.list_view.set_factory(Some(&factory));

        let adjustment = imp.scroller.vadjustment();
        adjustment.connect_value_changed(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |_| view.on_scrolled()
        ));
        for property in ["upper", "page-size"] {
            adjustment.connect_notify_local(
                Some(property),
                glib::clone!(
                    #[weak(rename_to = view)]
                    self,
                    move |_, _| {
                        if view.imp().sticky.get() {
                            view.scroll_down();
                        }
                    }
                ),
            );
        }

        imp.entry.connect_activate(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |_| view.submit()
        ));
        imp.send_button.connect_clicked(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |_| view.submit()
        ));
        imp.jump_button.connect_clicked(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |_| view.scroll_to_bottom()
        ));
        imp.reconnect_button.connect_clicked(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |_| view.emit_by_name::<()>("reconnect", &[])
        ));
    }

    /// Shows `model` (a store of [`Message`]s) and counts lines that arrive out of sight.
    pub fn set_model(&self, model: &gio::ListStore) {
        let imp = self.imp();
        if imp.model.borrow().as_ref().map(|(m, _)| m) == Some(model) {
            return;
        }
        if let Some((old, handler)) = imp.model.take() {
            old.disconnect(handler);
        }
        imp.list_view
            .set_model(Some(&gtk::NoSelection::new(Some(model.clone()))));
        imp.unseen.set(0);
        let handler = model.connect_items_changed(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |_, _, _, added| {
                let imp = view.imp();
                if added > 0 && !imp.sticky.get() {
                    imp.unseen.set(imp.unseen.get() + added);
                    view.update_jump_button();
                }
            }
        ));
        imp.model.replace(Some((model.clone(), handler)));
        self.scroll_to_bottom();
    }

    /// Follow the newest line again (after sending, or the jump button).
    pub fn scroll_to_bottom(&self) {
        let imp = self.imp();
        imp.sticky.set(true);
        imp.unseen.set(0);
        self.update_jump_button();
        self.scroll_down();
    }

    fn scroll_down(&self) {
        let imp = self.imp();
        imp.auto_scrolling.set(true);
        imp.scroller.emit_scroll_child(gtk::ScrollType::End, false);
        // If the list already sat at the end, no value change will clear the flag.
        if self.at_bottom() {
            imp.auto_scrolling.set(false);
        }
    }

    fn at_bottom(&self) -> bool {
        let adj = self.imp().scroller.vadjustment();
        adj.value() + adj.page_size() >= adj.upper() - BOTTOM_SLACK
    }

    fn on_scrolled(&self) {
        let imp = self.imp();
        let at_bottom = self.at_bottom();
        if imp.auto_scrolling.get() {
            if at_bottom {
                imp.auto_scrolling.set(false);
            }
            return;
        }
        imp.sticky.set(at_bottom);
        if at_bottom && imp.unseen.get() > 0 {
            imp.unseen.set(0);
            self.update_jump_button();
        }
    }

    fn update_jump_button(&self) {
        let imp = self.imp();
        let unseen = imp.unseen.get();
        imp.jump_button.set_visible(unseen > 0);
        imp.jump_label.set_label(&fill(
            &ngettext("{count} new message", "{count} new messages", unseen),
            &[("count", &unseen.to_string())],
        ));
    }

    fn submit(&self) {
        let imp = self.imp();
        let text = imp.entry.text().to_string();
        if text.trim().is_empty() || !imp.entry.is_sensitive() {
            return;
        }
        self.emit_by_name::<()>("send", &[&text]);
    }

    /// Called by whoever handles `send` once the line is on its way.
    pub fn clear_entry(&self) {
        self.imp().entry.set_text("");
    }

    pub fn connect_send<F: Fn(&Self, String) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "send",
            false,
            closure_local!(move |view: &ChatView, text: String| f(view, text)),
        )
    }

    pub fn connect_reconnect<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "reconnect",
            false,
            closure_local!(move |view: &ChatView| f(view)),
        )
    }

    /// Connection trouble, above the list. `reconnect` offers the Reconnect button.
    pub fn show_banner(&self, text: &str, reconnect: bool) {
        let imp = self.imp();
        imp.banner_label.set_label(text);
        imp.reconnect_button.set_visible(reconnect);
        imp.reconnect_button.set_sensitive(true);
        imp.banner.set_reveal_child(true);
    }

    pub fn hide_banner(&self) {
        self.imp().banner.set_reveal_child(false);
    }

    /// The composer only works while there is a session to send on.
    pub fn set_composer_sensitive(&self, sensitive: bool) {
        let imp = self.imp();
        imp.entry.set_sensitive(sensitive);
        imp.send_button.set_sensitive(sensitive);
    }

    /// Puts the cursor in the composer, after what it holds: a plain focus would select a
    /// conversation's draft, and the next key typed would replace it.
    pub fn focus_entry(&self) {
        self.imp().entry.grab_focus_without_selecting();
    }

    pub fn entry(&self) -> gtk::Entry {
        self.imp().entry.get()
    }

    pub fn send_button(&self) -> gtk::Button {
        self.imp().send_button.get()
    }

    pub fn reconnect_button(&self) -> gtk::Button {
        self.imp().reconnect_button.get()
    }

    pub fn jump_button(&self) -> gtk::Button {
        self.imp().jump_button.get()
    }

    pub fn list_view(&self) -> gtk::ListView {
        self.imp().list_view.get()
    }

    pub fn banner_text(&self) -> Option<glib::GString> {
        let imp = self.imp();
        imp.banner.reveals_child().then(|| imp.banner_label.label())
    }

    pub fn is_following(&self) -> bool {
        self.imp().sticky.get()
    }

    pub fn unseen(&self) -> u32 {
        self.imp().unseen.get()
    }
}
