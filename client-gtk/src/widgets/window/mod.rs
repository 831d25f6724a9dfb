//! `ChatWindow`: sign-in, then the chat: the sidebar of conversations beside the one shown. It
//! only shows: the [`ChatSession`] it holds owns the connection, the models and Exit; the window
//! binds to its properties and signals, and tells it which conversation it shows and whether it
//! is active (which decides what is unread and what is worth a notification).

mod imp;

use std::{path::PathBuf, sync::Arc};

use adw::{prelude::*, subclass::prelude::*};
use client::{ServerAddr, SessionConfig, Trust};
use gtk::{gio, glib};

use crate::{
    i18n::{fill, gettext},
    model::Conversation,
    runtime,
    session::{ChatSession, SessionState},
    widgets::{
        ChatView, Sidebar, SignIn, UsersPopover,
        dialogs::{self, Moderation},
    },
};

/// A conversation's notification id: one per conversation, replaced by its next line, withdrawn
/// when the conversation is seen.
fn notification_id(key: &str) -> String {
    format!("conversation:{key}")
}

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
        let session = &imp.session;
        imp.chat_view.connect_reconnect(glib::clone!(
            #[weak]
            session,
            move |_| session.reconnect()
        ));
        imp.exit_button.connect_clicked(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_| window.request_exit()
        ));
        // The list is kept live from joins and leaves; asking again on open also repairs any drift.
        imp.users_popover.connect_show(glib::clone!(
            #[weak]
            session,
            move |_| session.list_users()
        ));

        // The session's conversations are the same for its whole life: bound once. Each has its
        // own messages and users, which the chat view and the users list show in turn.
        imp.sidebar.set_model(&session.conversations());
        imp.sidebar.connect_conversation_selected(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, conversation| window.show_conversation(&conversation)
        ));
        session.connect_show_conversation(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, key| {
                window.show_conversation_named(&key);
            }
        ));
        session.connect_attention(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, key, from, text, direct| window.notify_attention(&key, &from, &text, direct)
        ));
        imp.users_popover.connect_message_user(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, user| window.message_user(&user)
        ));
        imp.back_button.connect_clicked(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_| {
                window
                    .imp()
                    .leaflet
                    .navigate(adw::NavigationDirection::Back);
            }
        ));
        for property in ["folded", "visible-child"] {
            imp.leaflet.connect_notify_local(
                Some(property),
                glib::clone!(
                    #[weak(rename_to = window)]
                    self,
                    move |_, _| window.update_header()
                ),
            );
        }
        for property in ["state", "status-text", "can-reconnect", "leaving"] {
            session.connect_notify_local(
                Some(property),
                glib::clone!(
                    #[weak(rename_to = window)]
                    self,
                    move |_, _| window.show_status()
                ),
            );
        }
        session.connect_toast(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, text| window.toast(&text)
        ));
        session.connect_incoming_message(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, from, text| window.incoming(&from, &text)
        ));
        session.connect_operator_notify(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |session| window.imp().users_popover.set_operator(session.operator())
        ));
        imp.users_popover.connect_moderate(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, user, ban| {
                let what = if ban {
                    Moderation::Ban
                } else {
                    Moderation::Kick
                };
                window.confirm_moderation(&user, what);
            }
        ));
        session.connect_left(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_| window.close()
        ));
        self.connect_is_active_notify(|window| {
            window.session().set_active(window.is_active());
            if window.is_active() {
                window.mark_read();
            }
        });
        self.connect_map(|window| window.focus_start());
        self.setup_keyboard();
    }

    /// The shortcuts window (Ctrl+?, `win.show-help-overlay`) and Ctrl+U for the users list; the
    /// accelerators themselves are the application's (`Application::setup_actions`).
    fn setup_keyboard(&self) {
        let builder = gtk::Builder::new();
        builder.set_translation_domain(Some(crate::i18n::DOMAIN));
        match builder.add_from_string(include_str!("shortcuts.ui")) {
            Ok(()) => self.set_help_overlay(
                builder
                    .object::<gtk::ShortcutsWindow>("help_overlay")
                    .as_ref(),
            ),
            Err(e) => tracing::warn!(error = %e, "no shortcuts window"),
        }
        let show_users = gio::ActionEntry::builder("show-users")
            .activate(|window: &Self, _, _| {
                let button = window.users_button();
                if button.is_visible() {
                    button.popup();
                }
            })
            .build();
        let identity = gio::ActionEntry::builder("identity")
            .activate(|window: &Self, _, _| {
                window.show_identity();
            })
            .build();
        let link = gio::ActionEntry::builder("link-device")
            .activate(|window: &Self, _, _| {
                window.show_link_device();
            })
            .build();
        let devices = gio::ActionEntry::builder("devices")
            .activate(|window: &Self, _, _| {
                window.show_devices();
            })
            .build();
        let join = gio::ActionEntry::builder("join-room")
            .activate(|window: &Self, _, _| {
                window.show_join_room();
            })
            .build();
        let topic = gio::ActionEntry::builder("set-topic")
            .activate(|window: &Self, _, _| {
                window.show_set_topic();
            })
            .build();
        let leave = gio::ActionEntry::builder("leave-room")
            .activate(|window: &Self, _, _| window.leave_room())
            .build();
        let previous = gio::ActionEntry::builder("previous-conversation")
            .activate(|window: &Self, _, _| window.step_conversation(-1))
            .build();
        let next = gio::ActionEntry::builder("next-conversation")
            .activate(|window: &Self, _, _| window.step_conversation(1))
            .build();
        self.add_action_entries([
            show_users, identity, link, devices, join, topic, leave, previous, next,
        ]);
        self.set_signed_in_actions(false);
    }

    /// Actions that need a session: only offered while online; the room actions only for a room
    /// (Leave Room not for the default room, which nobody can leave).
    fn set_signed_in_actions(&self, online: bool) {
        let shown = self.session().shown();
        let room = shown.as_ref().is_some_and(|c| !c.direct());
        let leavable = room && shown.as_ref().is_some_and(|c| !c.default_room());
        for (name, enabled) in [
            ("link-device", online),
            ("devices", online),
            ("join-room", online),
            ("set-topic", online && room),
            ("leave-room", online && leavable),
        ] {
            if let Some(action) = self.lookup_action(name).and_downcast::<gio::SimpleAction>() {
                action.set_enabled(enabled);
            }
        }
    }

    /// "Join or Create a Room…" (Ctrl+J).
    pub fn show_join_room(&self) -> adw::MessageDialog {
        let dialog = dialogs::join_room_dialog(self, &self.session());
        dialog.present();
        dialog
    }

    /// "Set Topic…" for the room shown.
    pub fn show_set_topic(&self) -> Option<adw::MessageDialog> {
        let room = self.session().shown().filter(|c| !c.direct())?;
        let dialog = dialogs::topic_dialog(self, &self.session(), &room.name(), &room.topic());
        dialog.present();
        Some(dialog)
    }

    /// "Leave Room": the room shown (never the default room).
    fn leave_room(&self) {
        if let Some(room) = self
            .session()
            .shown()
            .filter(|c| !c.direct() && !c.default_room())
        {
            self.session().part_room(&room.name());
        }
    }

    /// The conversation `step` rows above (negative) or below the one shown, if there is one.
    fn step_conversation(&self, step: i32) {
        let session = self.session();
        let conversations = session.conversations();
        let Some(shown) = session.shown() else {
            return;
        };
        let Some(at) = conversations.find(&shown) else {
            return;
        };
        let target = i64::from(at) + i64::from(step);
        if let Some(next) = u32::try_from(target)
            .ok()
            .and_then(|i| conversations.item(i))
            .and_downcast::<Conversation>()
        {
            self.show_conversation(&next);
        }
    }

    /// Shows `conversation`: its lines, its users, its name and topic in the header, its draft in
    /// the composer; its row selected in the sidebar; on a folded window, the chat instead of the
    /// sidebar.
    pub fn show_conversation(&self, conversation: &Conversation) {
        let imp = self.imp();
        let session = self.session();
        if let Some(old) = session.shown().filter(|old| old != conversation) {
            let entry = imp.chat_view.entry();
            old.set_draft(entry.text().as_str());
            entry.set_text(&conversation.draft());
            entry.set_position(-1);
        }
        session.show(conversation);
        imp.chat_view.set_model(&conversation.messages().model());
        let room = !conversation.direct();
        if room {
            imp.users_popover.set_model(&conversation.users().model());
        } else {
            imp.users_button.popdown();
        }
        imp.sidebar.select(conversation);
        imp.leaflet.set_visible_child(&imp.chat_view.get());
        if let Some((old, handler)) = imp.topic_handler.take() {
            old.disconnect(handler);
        }
        let handler = conversation.connect_topic_notify(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_| window.update_header()
        ));
        imp.topic_handler
            .replace(Some((conversation.clone(), handler)));
        if self.is_active()
            && let Some(app) = self.application()
        {
            app.withdraw_notification(&notification_id(&conversation.name()));
        }
        self.set_signed_in_actions(session.state() == SessionState::Online && !session.leaving());
        self.update_header();
        imp.chat_view.focus_entry();
    }

    /// Shows the conversation an action's target names (a notification, the session); false if
    /// it is not listed.
    pub fn show_conversation_named(&self, key: &str) -> bool {
        match self.session().conversation(key) {
            Some(conversation) => {
                self.show_conversation(&conversation);
                true
            }
            None => false,
        }
    }

    /// Message on a user's row: the direct conversation with them, opened and shown.
    fn message_user(&self, user: &str) {
        let conversation = self.session().open_direct(user);
        self.show_conversation(&conversation);
    }

    /// The header: the conversation's name and topic; the connection's state while it is not
    /// online; on a folded window showing the sidebar, the app's name; the back button when
    /// folded on the chat.
    fn update_header(&self) {
        let imp = self.imp();
        let session = &imp.session;
        let on_chat = imp.stack.visible_child_name().as_deref() == Some("chat");
        let folded = imp.leaflet.is_folded();
        let sidebar_only = folded
            && imp.leaflet.visible_child().as_ref()
                == Some(imp.sidebar.upcast_ref::<gtk::Widget>());
        imp.back_button
            .set_visible(on_chat && folded && !sidebar_only);
        // A narrow header has no room for Exit beside the name: closing the window is Exit too.
        imp.exit_button.set_visible(on_chat && !folded);
        let signed_in = fill(
            // Translators: the window's subtitle when signed in, e.g. "ann on localhost:1234".
            &gettext("{user} on {server}"),
            &[("user", &session.you()), ("server", &session.server())],
        );
        let shown = session.shown().filter(|_| on_chat && !sidebar_only);
        // The users list is the shown room's: none for a direct conversation or the sidebar alone.
        imp.users_button
            .set_visible(shown.as_ref().is_some_and(|c| !c.direct()));
        imp.window_title.set_title(&match &shown {
            Some(conversation) => conversation.name(),
            None => gettext("Chat"),
        });
        if !on_chat {
            return;
        }
        let subtitle = if session.leaving() {
            gettext("Leaving…")
        } else {
            match session.state() {
                SessionState::Online => match &shown {
                    Some(c) if !c.topic().is_empty() => c.topic(),
                    _ => signed_in,
                },
                SessionState::Connecting | SessionState::Reconnecting => gettext("Reconnecting…"),
                SessionState::Closed => gettext("Offline"),
                SessionState::SignedOut => String::new(),
            }
        };
        imp.window_title.set_subtitle(&subtitle);
        imp.window_title
            .set_tooltip_text(Some(subtitle.as_str()).filter(|s| !s.is_empty()));
    }

    /// "Your Identity": the fingerprint (and, signed in, the names it owns), with Copy.
    pub fn show_identity(&self) -> Option<adw::MessageDialog> {
        let identity = match self.identity() {
            Ok(identity) => identity,
            Err(e) => {
                self.toast(&fill(
                    &gettext("Cannot use your identity: {error}."),
                    &[("error", &e)],
                ));
                return None;
            }
        };
        let window = self.downgrade();
        let dialog = dialogs::identity_dialog(self, &identity, &self.session(), move || {
            if let Some(window) = window.upgrade() {
                window.toast(&gettext("Copied"));
            }
        });
        dialog.present();
        Some(dialog)
    }

    /// "Link Another Device…": a single-use code for another device of this name.
    pub fn show_link_device(&self) -> adw::MessageDialog {
        let window = self.downgrade();
        let dialog = dialogs::link_dialog(self, &self.session(), move || {
            if let Some(window) = window.upgrade() {
                window.toast(&gettext("Copied"));
            }
        });
        dialog.present();
        dialog
    }

    /// "Devices…": the keys of this name, with Revoke.
    pub fn show_devices(&self) -> adw::MessageDialog {
        let window = self.downgrade();
        let dialog = dialogs::devices_dialog(self, &self.session(), move |text| {
            if let Some(window) = window.upgrade() {
                window.toast(&text);
            }
        });
        dialog.present();
        dialog
    }

    /// An operator chose Kick or Ban in the users list: confirm, then send it.
    pub fn confirm_moderation(&self, user: &str, what: Moderation) -> adw::MessageDialog {
        let window = self.downgrade();
        let dialog = dialogs::moderation_dialog(self, &self.session(), user, what, move |text| {
            if let Some(window) = window.upgrade() {
                window.toast(&text);
            }
        });
        dialog.present();
        dialog
    }

    /// Where to remember the sign-in and the window's size; prefills the page and sizes the window
    /// from them now.
    pub fn set_settings(&self, settings: Option<gio::Settings>) {
        if let Some(settings) = &settings {
            let (server, user) = crate::settings::sign_in(settings);
            self.prefill(Some(&server), Some(&user));
            self.set_default_size(settings.int("window-width"), settings.int("window-height"));
            if settings.boolean("is-maximized") {
                self.maximize();
            }
        }
        self.imp().settings.replace(settings);
    }

    /// The settings this window remembers into, if any.
    pub fn settings(&self) -> Option<gio::Settings> {
        self.imp().settings.borrow().clone()
    }

    /// Remembers the window's size (not while maximized: then the size to come back to is kept).
    pub(crate) fn remember_size(&self) {
        let Some(settings) = self.settings() else {
            return;
        };
        let maximized = self.is_maximized();
        let mut results = vec![settings.set_boolean("is-maximized", maximized)];
        if !maximized {
            let (width, height) = self.default_size();
            results.push(settings.set_int("window-width", width));
            results.push(settings.set_int("window-height", height));
        }
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            tracing::warn!(error = %e, "cannot remember the window's size");
        }
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

    /// Signs in with this identity instead of the application's (tests: several users in one
    /// process).
    pub fn set_identity(&self, identity: Option<Arc<client::Identity>>) {
        self.imp().identity.replace(identity);
    }

    /// The identity this window signs in with: its own if set, else the application's
    /// (`--identity DIR` or the default folder).
    pub fn identity(&self) -> Result<Arc<client::Identity>, String> {
        if let Some(identity) = self.imp().identity.borrow().as_ref() {
            return Ok(identity.clone());
        }
        self.application()
            .and_downcast::<crate::Application>()
            .ok_or_else(|| gettext("the window has no application"))?
            .identity()
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
            page.show_error(&gettext("Enter the name others will see you as."));
            return;
        }
        let server: ServerAddr = match page.server().parse() {
            Ok(server) => server,
            Err(e) => {
                page.show_error(&fill(
                    &gettext("Not a server address: {error}."),
                    &[("error", &e.to_string())],
                ));
                return;
            }
        };
        let trust = imp
            .ca
            .borrow()
            .clone()
            .map_or(Trust::Default, Trust::CaFile);
        let identity = match self.identity() {
            Ok(identity) => identity,
            Err(e) => {
                page.show_error(&fill(
                    &gettext("Cannot use your identity: {error}."),
                    &[("error", &e)],
                ));
                return;
            }
        };
        let config = SessionConfig {
            server,
            user,
            trust,
            identity,
            code: page.code(),
        };
        page.set_busy(true);
        runtime::spawn_local(glib::clone!(
            #[weak(rename_to = window)]
            self,
            async move {
                let result = window.session().sign_in(config.clone()).await;
                let page = &window.imp().sign_in;
                page.set_busy(false);
                match result {
                    Ok(()) => {
                        // A code is good for one sign-in: it was spent.
                        page.set_code("");
                        window.remember(&config);
                        window.show_chat();
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
        if let Some(settings) = self.settings() {
            crate::settings::remember_sign_in(
                &settings,
                &self.imp().sign_in.server(),
                &config.user,
            );
        }
    }

    /// Signed in: from the sign-in page to the chat, in the default room.
    fn show_chat(&self) {
        let imp = self.imp();
        imp.exit_button.set_visible(true);
        imp.stack.set_visible_child_name("chat");
        if let Some(room) = imp.session.chat().default_conversation() {
            self.show_conversation(&room);
        }
        imp.chat_view.scroll_to_bottom();
        imp.chat_view.focus_entry();
    }

    /// Sends a line from the composer.
    fn send(&self, text: &str) {
        let imp = self.imp();
        if imp.session.send(text) {
            imp.chat_view.clear_entry();
            imp.chat_view.scroll_to_bottom();
        }
    }

    /// Shows the session's connection state: banner, composer, subtitle.
    fn show_status(&self) {
        let imp = self.imp();
        let session = &imp.session;
        let view = &imp.chat_view;
        self.set_signed_in_actions(session.state() == SessionState::Online && !session.leaving());
        self.update_header();
        if session.leaving() {
            // How many lines are still on their way, once leaving takes a moment.
            if !session.status_text().is_empty() {
                view.show_banner(&session.status_text(), false);
            }
            view.set_composer_sensitive(false);
            imp.exit_button.set_sensitive(false);
            return;
        }
        match session.state() {
            SessionState::SignedOut => {}
            SessionState::Online => {
                view.hide_banner();
                view.set_composer_sensitive(true);
            }
            // Signing in shows on the sign-in page; Reconnect after the end shows here.
            SessionState::Connecting
                if imp.stack.visible_child_name().as_deref() != Some("chat") => {}
            SessionState::Connecting | SessionState::Reconnecting => {
                // The library queues lines said meanwhile, so the composer stays usable.
                view.show_banner(&session.status_text(), false);
            }
            SessionState::Closed => {
                view.set_composer_sensitive(false);
                if session.can_reconnect() {
                    view.show_banner(&session.status_text(), true);
                }
            }
        }
    }

    /// A line from somebody else: counted in the window's title while it is in the background.
    fn incoming(&self, _from: &str, _text: &str) {
        if self.is_active() {
            return;
        }
        let imp = self.imp();
        imp.unread.set(imp.unread.get() + 1);
        self.update_title();
    }

    /// A direct line or a mention where the user is not looking: a notification, which shows
    /// that conversation when clicked (`app.show-conversation`).
    fn notify_attention(&self, key: &str, from: &str, text: &str, direct: bool) {
        let Some(app) = self.application() else {
            return;
        };
        let title = if direct {
            from.to_owned()
        } else {
            // Translators: a notification's title for a line that mentions you, e.g. "bob in #rust".
            fill(
                &gettext("{user} in {room}"),
                &[("user", from), ("room", key)],
            )
        };
        let notification = gio::Notification::new(&title);
        notification.set_body(Some(text));
        notification
            .set_default_action_and_target_value("app.show-conversation", Some(&key.to_variant()));
        app.send_notification(Some(&notification_id(key)), &notification);
        self.imp()
            .last_notification
            .replace(Some((key.to_owned(), title, text.to_owned())));
    }

    /// The last notification sent: conversation key, title, body (for tests: GLib keeps none).
    pub fn last_notification(&self) -> Option<(String, String, String)> {
        self.imp().last_notification.borrow().clone()
    }

    fn mark_read(&self) {
        let imp = self.imp();
        if imp.unread.replace(0) > 0 {
            self.update_title();
        }
        if let (Some(app), Some(shown)) = (self.application(), imp.session.shown()) {
            app.withdraw_notification(&notification_id(&shown.name()));
        }
    }

    fn update_title(&self) {
        let unread = self.imp().unread.get();
        let title = if unread > 0 {
            // Translators: the window's title with the number of unread lines, e.g. "(3) Chat".
            fill(
                &gettext("({count}) Chat"),
                &[("count", &unread.to_string())],
            )
        } else {
            gettext("Chat")
        };
        self.set_title(Some(&title));
    }

    pub fn toast(&self, text: &str) {
        self.imp().last_toast.replace(text.to_owned());
        let toast = adw::Toast::new(text);
        toast.set_timeout(4);
        self.imp().toast_overlay.add_toast(toast);
    }

    /// Exit, window close and Ctrl+Q: the session says goodbye (bounded wait), then the window
    /// closes on its `left` signal.
    pub fn request_exit(&self) {
        self.imp().session.leave();
    }

    /// The text of the last toast shown (for tests: a toast has no API to read it back).
    pub fn last_toast(&self) -> String {
        self.imp().last_toast.borrow().clone()
    }

    /// Unread lines counted while the window was in the background.
    pub fn unread(&self) -> u32 {
        self.imp().unread.get()
    }

    /// The chat this window shows.
    pub fn session(&self) -> ChatSession {
        self.imp().session.clone()
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

    pub fn sidebar(&self) -> Sidebar {
        self.imp().sidebar.get()
    }

    pub fn leaflet(&self) -> adw::Leaflet {
        self.imp().leaflet.get()
    }

    pub fn back_button(&self) -> gtk::Button {
        self.imp().back_button.get()
    }

    /// The header's title: the conversation shown.
    pub fn header_title(&self) -> glib::GString {
        self.imp().window_title.title()
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
