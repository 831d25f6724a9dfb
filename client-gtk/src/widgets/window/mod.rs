//! `ChatWindow`: sign-in, then the chat; owns the session and drives the models through the bridge.

mod imp;

use std::{path::PathBuf, rc::Rc};

use adw::{prelude::*, subclass::prelude::*};
use client::{ServerAddr, SessionConfig, Trust};
use gtk::{gio, glib};

use crate::{
    bridge::{self, ChatState, Connected, Effect, Status},
    runtime,
    settings::Settings,
    widgets::{ChatView, SignIn, UsersPopover},
};

/// The notification id: one at a time, replaced by the next message, withdrawn on focus.
const NOTIFICATION_ID: &str = "new-message";

glib::wrapper! {
    pub struct Window(ObjectSubclass<imp::Window>)
        @extends adw::ApplicationWindow, gtk::ApplicationWindow, gtk::Window, gtk::Widget,
        @implements gio::ActionGroup, gio::ActionMap, gtk::Buildable,
            gtk::ConstraintTarget, gtk::Native, gtk::Root, gtk::ShortcutManager;
}

impl Window {
    pub fn new(app: &impl IsA<gtk::Application>) -> Self {
        glib::Object::builder().property("application", app).build()
    }

    fn setup(&self) {
        let imp = self.imp();
        imp.sign_in.set_server(crate::settings::DEFAULT_SERVER);
        imp.sign_in.connect_sign_in(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_| window.sign_in()
        ));
        imp.chat_view.connect_send(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, text| window.send(&text)
        ));
        imp.chat_view.connect_reconnect(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_| window.reconnect()
        ));
        imp.exit_button.connect_clicked(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_| window.request_exit()
        ));
        // The list is kept live from Joined / Left; asking again on open also repairs any drift.
        imp.users_popover.connect_show(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_| {
                if let Some(session) = window.imp().session.borrow().as_ref() {
                    // A failure only means the session is ending; the status shows that already.
                    let _ = session.list_users();
                }
            }
        ));
        self.connect_is_active_notify(|window| {
            if window.is_active() {
                window.mark_read();
            }
        });
        self.connect_map(|window| window.focus_start());
    }

    /// Where to remember the sign-in fields; loads them now to prefill the page.
    pub fn set_settings_path(&self, path: Option<PathBuf>) {
        if let Some(path) = &path {
            let settings = Settings::load(path);
            self.prefill(Some(&settings.server), Some(&settings.user));
        }
        self.imp().settings_path.replace(path);
    }

    /// Fills the sign-in fields (from flags or the remembered settings).
    pub fn prefill(&self, server: Option<&str>, user: Option<&str>) {
        let page = &self.imp().sign_in;
        if let Some(server) = server.filter(|s| !s.is_empty()) {
            page.set_server(server);
        }
        if let Some(user) = user {
            page.set_user(user);
        }
    }

    /// `--ca`: trust only this CA file.
    pub fn set_ca(&self, ca: Option<PathBuf>) {
        self.imp().ca.replace(ca);
    }

    fn focus_start(&self) {
        let imp = self.imp();
        if imp.stack.visible_child_name().as_deref() == Some("chat") {
            imp.chat_view.focus_entry();
        } else {
            imp.sign_in.focus_first_empty();
        }
    }

    /// Signs in with the fields of the sign-in page.
    pub fn sign_in(&self) {
        let imp = self.imp();
        let page = &imp.sign_in;
        let user = page.user();
        if user.is_empty() {
            page.show_error("Enter the name others will see you as.");
            return;
        }
        let server: ServerAddr = match page.server().parse() {
            Ok(server) => server,
            Err(e) => {
                page.show_error(&format!("{e}."));
                return;
            }
        };
        let trust = imp
            .ca
            .borrow()
            .clone()
            .map_or(Trust::Default, Trust::CaFile);
        let config = SessionConfig {
            server,
            user,
            trust,
        };
        page.set_busy(true);
        runtime::spawn_local(glib::clone!(
            #[weak(rename_to = window)]
            self,
            async move {
                let result = bridge::connect(config.clone()).await;
                let page = &window.imp().sign_in;
                page.set_busy(false);
                match result {
                    Ok(connected) => {
                        window.remember(&config);
                        window.imp().config.replace(Some(config));
                        window.enter_chat(connected, Rc::new(ChatState::new()));
                    }
                    Err(e) => {
                        page.show_error(&e);
                        page.focus_first_empty();
                    }
                }
            }
        ));
    }

    fn remember(&self, config: &SessionConfig) {
        let Some(path) = self.imp().settings_path.borrow().clone() else {
            return;
        };
        let settings = Settings {
            server: self.imp().sign_in.server(),
            user: config.user.clone(),
        };
        if let Err(e) = settings.save(&path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot remember the sign-in");
        }
    }

    /// Shows the chat for a new session; `state` is a fresh conversation or the one to carry on.
    fn enter_chat(&self, connected: Connected, state: Rc<ChatState>) {
        let imp = self.imp();
        let Connected {
            session,
            welcome,
            events,
        } = connected;
        let fresh = imp
            .state
            .borrow()
            .as_ref()
            .is_none_or(|old| !Rc::ptr_eq(old, &state));
        state.welcome(&welcome);
        if fresh {
            state.messages.add_system(&format!(
                "Welcome, {}. {} here: {}.",
                welcome.you,
                welcome.users.len(),
                welcome.users.join(", ")
            ));
            imp.chat_view.set_model(&state.messages.model());
            imp.users_popover.set_model(&state.users.model());
        } else {
            state.messages.add_system("Reconnected");
        }
        let event_loop = bridge::spawn_event_loop(
            events,
            state.clone(),
            glib::clone!(
                #[weak(rename_to = window)]
                self,
                move |effect| window.apply_effect(effect)
            ),
        );
        if let Some(old) = imp.event_loop.replace(Some(event_loop)) {
            old.abort();
        }
        imp.state.replace(Some(state));
        imp.session.replace(Some(session));
        self.set_status(&Status::Online);
        imp.users_button.set_visible(true);
        imp.exit_button.set_visible(true);
        imp.stack.set_visible_child_name("chat");
        imp.chat_view.scroll_to_bottom();
        imp.chat_view.focus_entry();
    }

    /// Sends a line from the composer.
    fn send(&self, text: &str) {
        let imp = self.imp();
        let (Some(session), Some(state)) =
            (imp.session.borrow().clone(), imp.state.borrow().clone())
        else {
            return;
        };
        match session.say(text) {
            Ok(nonce) => {
                state.said(nonce, text);
                imp.chat_view.clear_entry();
                imp.chat_view.scroll_to_bottom();
            }
            Err(e) => self.toast(&format!("Not sent: {e}")),
        }
    }

    fn apply_effect(&self, effect: Effect) {
        match effect {
            Effect::Incoming { from, text } => self.incoming(&from, &text),
            Effect::Status(status) => self.set_status(&status),
            Effect::Toast(text) => self.toast(&text),
        }
    }

    fn set_status(&self, status: &Status) {
        let imp = self.imp();
        let view = &imp.chat_view;
        match status {
            Status::Online => {
                view.hide_banner();
                view.set_composer_sensitive(true);
                if let Some(config) = imp.config.borrow().as_ref() {
                    imp.window_title
                        .set_subtitle(&format!("{} on {}", config.user, config.server));
                }
            }
            Status::Reconnecting(text) => {
                // The library queues lines said meanwhile, so the composer stays usable.
                view.show_banner(text, false);
                imp.window_title.set_subtitle("Reconnecting…");
            }
            Status::Closed {
                text,
                can_reconnect,
            } => {
                imp.session.replace(None);
                view.set_composer_sensitive(false);
                imp.window_title.set_subtitle("Offline");
                if *can_reconnect && !imp.exiting.get() {
                    view.show_banner(text, true);
                    self.toast(text);
                }
            }
        }
    }

    /// Reconnects with the last sign-in after the session ended, keeping the conversation.
    pub fn reconnect(&self) {
        let imp = self.imp();
        let (Some(config), Some(state)) = (imp.config.borrow().clone(), imp.state.borrow().clone())
        else {
            return;
        };
        imp.chat_view.show_banner("Reconnecting…", false);
        imp.window_title.set_subtitle("Reconnecting…");
        runtime::spawn_local(glib::clone!(
            #[weak(rename_to = window)]
            self,
            async move {
                match bridge::connect(config).await {
                    Ok(connected) => {
                        window.enter_chat(connected, state);
                        window.toast("Reconnected");
                    }
                    Err(e) => {
                        window.imp().chat_view.show_banner(&e, true);
                        window.imp().window_title.set_subtitle("Offline");
                    }
                }
            }
        ));
    }

    fn incoming(&self, from: &str, text: &str) {
        if self.is_active() {
            return;
        }
        let imp = self.imp();
        imp.unread.set(imp.unread.get() + 1);
        self.update_title();
        if let Some(app) = self.application() {
            let notification = gio::Notification::new(from);
            notification.set_body(Some(text));
            app.send_notification(Some(NOTIFICATION_ID), &notification);
        }
    }

    fn mark_read(&self) {
        let imp = self.imp();
        if imp.unread.replace(0) > 0 {
            self.update_title();
        }
        if let Some(app) = self.application() {
            app.withdraw_notification(NOTIFICATION_ID);
        }
    }

    fn update_title(&self) {
        let unread = self.imp().unread.get();
        let title = if unread > 0 {
            format!("({unread}) Chat")
        } else {
            "Chat".to_owned()
        };
        self.set_title(Some(&title));
        self.imp().window_title.set_title(&title);
    }

    pub fn toast(&self, text: &str) {
        let toast = adw::Toast::new(text);
        toast.set_timeout(4);
        self.imp().toast_overlay.add_toast(toast);
    }

    /// Exit, window close and Ctrl+Q: say goodbye (bounded wait), then close.
    pub fn request_exit(&self) {
        let imp = self.imp();
        if imp.exiting.replace(true) {
            return;
        }
        let Some(session) = imp.session.take() else {
            imp.may_close.set(true);
            self.close();
            return;
        };
        imp.window_title.set_subtitle("Leaving…");
        imp.chat_view.set_composer_sensitive(false);
        imp.exit_button.set_sensitive(false);
        runtime::spawn_local(glib::clone!(
            #[weak(rename_to = window)]
            self,
            async move {
                bridge::quit(session).await;
                window.imp().may_close.set(true);
                window.close();
            }
        ));
    }

    /// Unread lines counted while the window was in the background.
    pub fn unread(&self) -> u32 {
        self.imp().unread.get()
    }

    /// The current conversation's models, if signed in.
    pub fn state(&self) -> Option<Rc<ChatState>> {
        self.imp().state.borrow().clone()
    }

    /// The visible page: "sign-in" or "chat".
    pub fn page(&self) -> Option<glib::GString> {
        self.imp().stack.visible_child_name()
    }

    pub fn sign_in_page(&self) -> SignIn {
        self.imp().sign_in.get()
    }

    pub fn chat_view(&self) -> ChatView {
        self.imp().chat_view.get()
    }

    pub fn users_button(&self) -> gtk::MenuButton {
        self.imp().users_button.get()
    }

    pub fn users_popover(&self) -> UsersPopover {
        self.imp().users_popover.get()
    }

    pub fn exit_button(&self) -> gtk::Button {
        self.imp().exit_button.get()
    }

    pub fn subtitle(&self) -> glib::GString {
        self.imp().window_title.subtitle()
    }
}
