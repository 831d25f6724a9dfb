//! "Your Identity": the key this app signs in with, which is who you are to a server. The
//! fingerprint is local, so the dialog works before signing in; signed in, it also asks the
//! server which names the key owns and whether it is an operator's (`WhoAmI`).

use std::rc::Rc;

use adw::prelude::*;
use client::wire::{Reply, Request};

use super::{add_close, copy_button, value_label};
use crate::{
    i18n::{fill, gettext},
    session::{ChatSession, SessionState},
};

/// The dialog for `identity` over `parent`; `copied` runs after Copy (the window's toast).
pub fn identity_dialog(
    parent: &impl IsA<gtk::Window>,
    identity: &client::Identity,
    session: &ChatSession,
    copied: impl Fn() + 'static,
) -> adw::MessageDialog {
    let fingerprint = identity.fingerprint();
    let dialog = adw::MessageDialog::new(
        Some(parent),
        Some(&gettext("Your Identity")),
        Some(&fill(
            &gettext(
                "This key is who you are on chat servers: a name belongs to the key that first used it. Keep its folder private: {folder}",
            ),
            &[("folder", &identity.dir().display().to_string())],
        )),
    );
    add_close(&dialog);

    let content = gtk::Box::new(gtk::Orientation::Vertical, 12);
    let short = value_label(&fingerprint.short(), "short-fingerprint", &["title-2"]);
    content.append(&short);
    let full_heading = gtk::Label::new(Some(&gettext("Full fingerprint")));
    full_heading.add_css_class("heading");
    content.append(&full_heading);
    let full_text = fingerprint.to_string();
    let full = value_label(&full_text, "fingerprint", &["monospace", "caption"]);
    content.append(&full);
    let status = value_label("", "identity-names", &["dim-label"]);
    content.append(&status);
    let copy_text = full_text.clone();
    content.append(&copy_button(
        &gettext("_Copy Fingerprint"),
        "copy-fingerprint",
        move || copy_text.clone(),
        copied,
    ));
    dialog.set_extra_child(Some(&content));

    if session.state() == SessionState::Online {
        status.set_label(&gettext("Asking the server which names are yours…"));
        let status = Rc::new(status);
        let user = session.you();
        session.request(Request::WhoAmI, move |reply| {
            status.set_label(&who_am_i_text(&reply, &user));
        });
    } else {
        status.set_label(&gettext(
            "Not signed in: once you are, this shows the names this key owns on that server.",
        ));
    }
    dialog
}

/// The server's answer to `WhoAmI`, for a person.
fn who_am_i_text(reply: &Result<Reply, String>, you: &str) -> String {
    match reply {
        Ok(Reply::Identity {
            operator, names, ..
        }) => {
            let names = if names.is_empty() {
                you.to_owned()
            } else {
                names.join(", ")
            };
            let text = fill(
                &gettext("On this server this key owns: {names}."),
                &[("names", &names)],
            );
            if *operator {
                format!("{text} {}", gettext("It is an operator's key."))
            } else {
                text
            }
        }
        Ok(other) => fill(
            &gettext("The server answered something else: {answer}"),
            &[("answer", &format!("{other:?}"))],
        ),
        Err(e) => fill(
            &gettext("The server did not say which names are yours: {error}."),
            &[("error", e)],
        ),
    }
}
