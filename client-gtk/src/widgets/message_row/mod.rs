//! `ChatMessageRow`: how one [`Message`] looks in the list. Own lines carry the `own` style class,
//! system lines `system`; the delivery state shows as `pending` / `failed` and a status text.

mod imp;

use adw::subclass::prelude::*;
use gtk::{glib, prelude::*};

use crate::{
    i18n::{fill, gettext},
    model::{DeliveryState, Message, MessageKind},
};

glib::wrapper! {
    pub struct MessageRow(ObjectSubclass<imp::MessageRow>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl Default for MessageRow {
    fn default() -> Self {
        Self::new()
    }
}

impl MessageRow {
    pub fn new() -> Self {
        glib::Object::new()
    }

    pub fn message(&self) -> Option<Message> {
        self.imp().bound.borrow().as_ref().map(|(m, _)| m.clone())
    }

    /// Shows `message` and follows its changes (pending → delivered) until rebound.
    pub fn bind(&self, message: &Message) {
        self.unbind();
        let row = self.downgrade();
        let handler = message.connect_notify_local(None, move |message, _| {
            if let Some(row) = row.upgrade() {
                row.update(message);
            }
        });
        self.imp().bound.replace(Some((message.clone(), handler)));
        self.update(message);
    }

    pub fn unbind(&self) {
        if let Some((message, handler)) = self.imp().bound.take() {
            message.disconnect(handler);
        }
    }

    /// The delivery text as shown ("" when delivered), for tests and accessibility checks.
    pub fn status_text(&self) -> glib::GString {
        self.imp().status.label()
    }

    fn update(&self, message: &Message) {
        let imp = self.imp();
        let kind = message.kind();
        let system = kind == MessageKind::System;
        imp.avatar.set_visible(!system);
        imp.header.set_visible(!system);
        imp.avatar.set_text(Some(&message.sender()));
        imp.sender.set_label(&message.sender());
        imp.time.set_label(&message.time());
        imp.text.set_label(&message.text());
        imp.text.set_xalign(if system { 0.5 } else { 0.0 });
        imp.text.set_halign(if system {
            gtk::Align::Center
        } else {
            gtk::Align::Start
        });

        let state = message.state();
        let status = match state {
            DeliveryState::Delivered => String::new(),
            DeliveryState::Pending => gettext("Sending…"),
            DeliveryState::Failed => fill(
                &gettext("Not delivered — {reason}"),
                &[("reason", &message.status())],
            ),
        };
        imp.status.set_label(&status);
        imp.status
            .set_tooltip_text(Some(status.as_str()).filter(|s| !s.is_empty()));
        imp.spoken.set_label(&if system {
            message.text()
        } else {
            // Translators: how a screen reader reads one chat line, e.g. "ann: hello".
            fill(
                &gettext("{sender}: {text}"),
                &[("sender", &message.sender()), ("text", &message.text())],
            )
        });
        self.set_class("own", kind == MessageKind::Own);
        self.set_class("system", system);
        self.set_class("mention", message.mention());
        self.set_class("pending", state == DeliveryState::Pending);
        self.set_class("failed", state == DeliveryState::Failed);
    }

    fn set_class(&self, class: &str, on: bool) {
        if on {
            self.add_css_class(class);
        } else {
            self.remove_css_class(class);
        }
    }
}
