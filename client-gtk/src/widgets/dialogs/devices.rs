//! "Devices": the keys that may sign in as this name (`Devices`), each with when it was first and
//! last seen, and Revoke for the others (`Revoke`): a lost or stolen device is refused from then on.

use std::rc::Rc;

use adw::prelude::*;
use client::wire::{Device, Reply, Request};

use super::add_close;
use crate::{
    i18n::{fill, gettext},
    session::{ChatSession, reply_text},
};

/// The dialog over `parent`; it asks `session` for the list at once, and again after a Revoke.
/// `answered` shows the server's answer to a Revoke (the window's toast).
pub fn devices_dialog(
    parent: &impl IsA<gtk::Window>,
    session: &ChatSession,
    answered: impl Fn(String) + 'static,
) -> adw::MessageDialog {
    let dialog = adw::MessageDialog::new(
        Some(parent),
        Some(&gettext("Your Devices")),
        Some(&fill(
            &gettext(
                "The keys that may sign in as {user}. Revoke one you lost: it is refused from then on.",
            ),
            &[("user", &session.you())],
        )),
    );
    add_close(&dialog);
    let list = gtk::ListBox::new();
    list.set_widget_name("devices");
    list.set_selection_mode(gtk::SelectionMode::None);
    list.add_css_class("boxed-list");
    dialog.set_extra_child(Some(&list));
    let shown = Rc::new(Shown {
        session: session.clone(),
        list,
        answered: Box::new(answered),
    });
    shown.ask();
    dialog
}

/// What a refresh needs: where to ask, where to show, where to tell.
struct Shown {
    session: ChatSession,
    list: gtk::ListBox,
    answered: Box<dyn Fn(String)>,
}

impl Shown {
    fn ask(self: &Rc<Self>) {
        let this = self.clone();
        self.session
            .request(Request::Devices, move |reply| match reply {
                Ok(Reply::Devices { list }) => this.show(&list),
                other => this.show_text(&reply_text(&other)),
            });
    }

    fn show_text(&self, text: &str) {
        self.clear();
        let row = adw::ActionRow::new();
        row.set_title(text);
        self.list.append(&row);
    }

    fn clear(&self) {
        while let Some(row) = self.list.row_at_index(0) {
            self.list.remove(&row);
        }
    }

    fn show(self: &Rc<Self>, devices: &[Device]) {
        self.clear();
        for device in devices {
            let fingerprint = client::Fingerprint::from_bytes(device.fingerprint);
            let row = adw::ActionRow::new();
            row.set_widget_name(&format!("device:{}", fingerprint.short()));
            row.set_title(&if device.this_device {
                fill(
                    // Translators: a device in the list of devices, e.g. "3f2a:91c0:5be7:d410 (this device)".
                    &gettext("{fingerprint} (this device)"),
                    &[("fingerprint", &fingerprint.short())],
                )
            } else {
                fingerprint.short()
            });
            row.set_subtitle(&fill(
                &gettext("First seen {first}, last seen {last}"),
                &[
                    ("first", &when(device.first_seen_ms)),
                    ("last", &when(device.last_seen_ms)),
                ],
            ));
            if !device.this_device {
                let revoke = gtk::Button::with_mnemonic(&gettext("_Revoke"));
                revoke.set_widget_name(&format!("revoke:{}", fingerprint.short()));
                revoke.set_valign(gtk::Align::Center);
                revoke.add_css_class("destructive-action");
                revoke.set_tooltip_text(Some(&gettext(
                    "This device can no longer sign in as this name",
                )));
                let this = self.clone();
                revoke.connect_clicked(move |button| {
                    button.set_sensitive(false);
                    let request = Request::Revoke {
                        fingerprint: fingerprint.to_string(),
                    };
                    let after = this.clone();
                    this.session.request(request, move |reply| {
                        (after.answered)(reply_text(&reply));
                        after.ask();
                    });
                });
                row.add_suffix(&revoke);
            }
            self.list.append(&row);
        }
    }
}

/// A moment in local time, minutes precise.
fn when(ms: u64) -> String {
    i64::try_from(ms / 1000)
        .ok()
        .and_then(|secs| gtk::glib::DateTime::from_unix_local(secs).ok())
        .and_then(|t| t.format("%Y-%m-%d %H:%M").ok())
        .map(|t| t.to_string())
        .unwrap_or_else(|| gettext("unknown"))
}
