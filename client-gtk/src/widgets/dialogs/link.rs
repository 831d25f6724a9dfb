//! "Link Another Device…": asks the server for a single-use link code (`LinkCode`) and shows it
//! with how long it is valid and where to type it on the other device.

use adw::prelude::*;
use client::wire::{Reply, Request};

use super::{add_close, copy_button, value_label};
use crate::{
    i18n::{fill, gettext, ngettext},
    session::{ChatSession, reply_text},
};

/// The dialog over `parent`; it asks `session` for a code at once. `copied` runs after Copy.
pub fn link_dialog(
    parent: &impl IsA<gtk::Window>,
    session: &ChatSession,
    copied: impl Fn() + 'static,
) -> adw::MessageDialog {
    let dialog = adw::MessageDialog::new(
        Some(parent),
        Some(&gettext("Link Another Device")),
        Some(&gettext("Asking the server for a code…")),
    );
    add_close(&dialog);
    let content = gtk::Box::new(gtk::Orientation::Vertical, 12);
    let code = value_label("", "link-code", &["title-1", "monospace"]);
    code.set_visible(false);
    content.append(&code);
    let shown = code.clone();
    let copy = copy_button(
        &gettext("_Copy Code"),
        "copy-code",
        move || shown.label().to_string(),
        copied,
    );
    copy.set_visible(false);
    content.append(&copy);
    dialog.set_extra_child(Some(&content));

    let user = session.you();
    let weak = dialog.downgrade();
    session.request(Request::LinkCode, move |reply| {
        let Some(dialog) = weak.upgrade() else {
            return;
        };
        match reply {
            Ok(Reply::Code {
                code: text,
                valid_secs,
            }) => {
                let minutes = valid_secs.div_ceil(60);
                dialog.set_body(&fill(
                    &ngettext(
                        "On the other device, sign in as {user} with this code in the Link or Invite Code field, or run chat-cli --user {user} --link CODE. It is valid for {minutes} minute, once.",
                        "On the other device, sign in as {user} with this code in the Link or Invite Code field, or run chat-cli --user {user} --link CODE. It is valid for {minutes} minutes, once.",
                        minutes,
                    ),
                    &[("user", &user), ("minutes", &minutes.to_string())],
                ));
                code.set_label(&text);
                code.set_visible(true);
                copy.set_visible(true);
            }
            other => dialog.set_body(&fill(
                &gettext("No code: {reason}"),
                &[("reason", &reply_text(&other))],
            )),
        }
    });
    dialog
}
