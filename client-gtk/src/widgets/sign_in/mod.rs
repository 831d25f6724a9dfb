//! `ChatSignIn`: server address, user name, and an optional link or invite code. Emits `sign-in`; the window connects and calls back
//! with [`SignIn::set_busy`] / [`SignIn::show_error`], so a failure leaves the fields as typed for
//! another try.

mod imp;

use adw::{prelude::*, subclass::prelude::*};
use gtk::{glib, glib::closure_local};

use crate::i18n::gettext;

glib::wrapper! {
    pub struct SignIn(ObjectSubclass<imp::SignIn>)
        @extends adw::Bin, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl SignIn {
    fn setup(&self) {
        let imp = self.imp();
        let submit = glib::clone!(
            #[weak(rename_to = page)]
            self,
            move || page.submit()
        );
        let on_row = submit.clone();
        imp.server_row.connect_entry_activated(move |_| on_row());
        let on_row = submit.clone();
        imp.user_row.connect_entry_activated(move |_| on_row());
        let on_row = submit.clone();
        imp.code_row.connect_entry_activated(move |_| on_row());
        imp.sign_in_button.connect_clicked(move |_| submit());
    }

    fn submit(&self) {
        if self.imp().sign_in_button.is_sensitive() {
            self.emit_by_name::<()>("sign-in", &[]);
        }
    }

    pub fn connect_sign_in<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "sign-in",
            false,
            closure_local!(move |page: &SignIn| f(page)),
        )
    }

    pub fn server(&self) -> String {
        self.imp().server_row.text().trim().to_owned()
    }

    pub fn user(&self) -> String {
        self.imp().user_row.text().trim().to_owned()
    }

    /// The link or invite code, if one was typed (spaces around it dropped).
    pub fn code(&self) -> Option<String> {
        let code = self.imp().code_row.text().trim().to_owned();
        (!code.is_empty()).then_some(code)
    }

    pub fn set_code(&self, code: &str) {
        self.imp().code_row.set_text(code);
    }

    pub fn set_server(&self, server: &str) {
        self.imp().server_row.set_text(server);
    }

    pub fn set_user(&self, user: &str) {
        self.imp().user_row.set_text(user);
    }

    /// While connecting: the button spins and the fields stay put.
    pub fn set_busy(&self, busy: bool) {
        let imp = self.imp();
        imp.spinner.set_visible(busy);
        imp.spinner.set_spinning(busy);
        imp.button_label.set_label(&if busy {
            gettext("Connecting…")
        } else {
            gettext("_Sign In")
        });
        imp.sign_in_button.set_sensitive(!busy);
        imp.server_row.set_sensitive(!busy);
        imp.user_row.set_sensitive(!busy);
        imp.code_row.set_sensitive(!busy);
        if busy {
            imp.error_label.set_visible(false);
        }
    }

    pub fn show_error(&self, text: &str) {
        let imp = self.imp();
        imp.error_label.set_label(text);
        imp.error_label.set_visible(true);
    }

    /// The error shown, if any.
    pub fn error(&self) -> Option<glib::GString> {
        let label = &self.imp().error_label;
        label.is_visible().then(|| label.label())
    }

    /// Focus where typing is needed: the name if the server is filled in.
    pub fn focus_first_empty(&self) -> bool {
        let imp = self.imp();
        if imp.server_row.text().is_empty() {
            imp.server_row.grab_focus()
        } else {
            imp.user_row.grab_focus()
        }
    }

    pub fn sign_in_button(&self) -> gtk::Button {
        self.imp().sign_in_button.get()
    }
}
