//! Kick and Ban, for operators: a confirmation with an optional reason; the server's answer shows
//! as a toast over the chat.

use adw::prelude::*;
use client::wire::Request;

use crate::{
    i18n::{fill, gettext},
    session::{ChatSession, reply_text},
};

/// What an operator does to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moderation {
    Kick,
    Ban,
}

impl Moderation {
    /// The dialog's response id for it.
    pub fn response(self) -> &'static str {
        match self {
            Self::Kick => "kick",
            Self::Ban => "ban",
        }
    }
}

/// Asks to confirm `what` against `user`; on confirmation sends it and hands the answer's text to
/// `answered` (the window's toast).
pub fn moderation_dialog(
    parent: &impl IsA<gtk::Window>,
    session: &ChatSession,
    user: &str,
    what: Moderation,
    answered: impl Fn(String) + 'static,
) -> adw::MessageDialog {
    let (heading, body, verb) = match what {
        Moderation::Kick => (
            fill(&gettext("Kick {user}?"), &[("user", user)]),
            fill(
                &gettext("{user} is disconnected now and may sign in again."),
                &[("user", user)],
            ),
            gettext("_Kick"),
        ),
        Moderation::Ban => (
            fill(&gettext("Ban {user}?"), &[("user", user)]),
            fill(
                &gettext(
                    "{user} is disconnected, and the keys that own the name are refused from now on, until an operator lifts the ban.",
                ),
                &[("user", user)],
            ),
            gettext("_Ban"),
        ),
    };
    let dialog = adw::MessageDialog::new(Some(parent), Some(&heading), Some(&body));
    // An entry row in a boxed list: its title is also its name for a screen reader.
    let reason = adw::EntryRow::new();
    reason.set_widget_name("reason");
    reason.set_title(&gettext("Reason (optional)"));
    let list = gtk::ListBox::new();
    list.set_selection_mode(gtk::SelectionMode::None);
    list.add_css_class("boxed-list");
    list.append(&reason);
    dialog.set_extra_child(Some(&list));
    dialog.add_response("cancel", &gettext("_Cancel"));
    dialog.add_response(what.response(), &verb);
    dialog.set_response_appearance(what.response(), adw::ResponseAppearance::Destructive);
    dialog.set_default_response(Some("cancel"));
    dialog.set_close_response("cancel");

    let session = session.clone();
    let user = user.to_owned();
    let answered = std::rc::Rc::new(answered);
    dialog.connect_response(Some(what.response()), move |_, _| {
        let reason = reason.text().trim().to_owned();
        let request = match what {
            Moderation::Kick => Request::Kick {
                user: user.clone(),
                reason,
            },
            Moderation::Ban => Request::Ban {
                user: user.clone(),
                reason,
            },
        };
        let answered = answered.clone();
        session.request(request, move |reply| answered(reply_text(&reply)));
    });
    dialog
}
