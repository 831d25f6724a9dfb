//! The small dialogs of owned names (issue 17): your identity, linking another device, your
//! devices, and the operators' Kick and Ban; and of rooms (issue 18): join or create, topic. Each is an `AdwMessageDialog` (libadwaita 1.2) built in code: a heading,
//! a sentence, a few labels and buttons; a template would be longer than the code. Widgets a test
//! or a screen reader needs to find carry a widget name (`fingerprint`, `link-code`, `reason`...).

mod devices;
mod identity;
mod link;
mod moderation;
mod rooms;

pub use devices::devices_dialog;
pub use identity::identity_dialog;
pub use link::link_dialog;
pub use moderation::{Moderation, moderation_dialog};
pub use rooms::{join_room_dialog, topic_dialog};

use adw::prelude::*;

use crate::i18n::gettext;

/// A label that can be selected and copied, wrapping anywhere (fingerprints and codes have no
/// spaces to break at).
fn value_label(text: &str, name: &str, css: &[&str]) -> gtk::Label {
    let label = gtk::Label::new(Some(text));
    label.set_widget_name(name);
    label.set_selectable(true);
    label.set_wrap(true);
    label.set_wrap_mode(gtk::pango::WrapMode::WordChar);
    label.set_justify(gtk::Justification::Center);
    for class in css {
        label.add_css_class(class);
    }
    label
}

/// A Copy button that puts `text()` on the clipboard and calls `copied` (a toast, usually).
fn copy_button(
    label: &str,
    name: &str,
    text: impl Fn() -> String + 'static,
    copied: impl Fn() + 'static,
) -> gtk::Button {
    let button = gtk::Button::with_mnemonic(label);
    button.set_widget_name(name);
    button.set_halign(gtk::Align::Center);
    button.add_css_class("pill");
    button.connect_clicked(move |button| {
        button.clipboard().set_text(&text());
        copied();
    });
    button
}

/// The dialog's Close response.
fn add_close(dialog: &adw::MessageDialog) {
    dialog.add_response("close", &gettext("_Close"));
    dialog.set_default_response(Some("close"));
    dialog.set_close_response("close");
}
