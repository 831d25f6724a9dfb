use std::{
    cell::{Cell, RefCell},
    path::PathBuf,
};

use adw::subclass::prelude::*;
use gtk::{CompositeTemplate, glib, prelude::*};

use crate::{
    model::Conversation,
    session::ChatSession,
    widgets::{ChatView, Sidebar, SignIn, UsersPopover},
};

#[derive(Debug, Default, CompositeTemplate)]
#[template(file = "window.ui")]
pub struct Window {
    #[template_child]
    pub window_title: TemplateChild<adw::WindowTitle>,
    #[template_child]
    pub back_button: TemplateChild<gtk::Button>,
    #[template_child]
    pub users_button: TemplateChild<gtk::MenuButton>,
    #[template_child]
    pub users_popover: TemplateChild<UsersPopover>,
    #[template_child]
    pub exit_button: TemplateChild<gtk::Button>,
    #[template_child]
    pub toast_overlay: TemplateChild<adw::ToastOverlay>,
    #[template_child]
    pub stack: TemplateChild<gtk::Stack>,
    #[template_child]
    pub sign_in: TemplateChild<SignIn>,
    #[template_child]
    pub leaflet: TemplateChild<adw::Leaflet>,
    #[template_child]
    pub sidebar: TemplateChild<Sidebar>,
    #[template_child]
    pub chat_view: TemplateChild<ChatView>,

    /// The chat this window shows: connection, models, events, Exit.
    pub session: ChatSession,
    /// `--ca`: trust only this CA instead of the defaults.
    pub ca: RefCell<Option<PathBuf>>,
    /// The identity to sign in with, when not the application's.
    pub identity: RefCell<Option<std::sync::Arc<client::Identity>>>,
    /// Where to remember the sign-in; `None` remembers nothing (tests).
    pub settings: RefCell<Option<gtk::gio::Settings>>,
    /// The last toast's text.
    pub last_toast: RefCell<String>,
    /// Lines from others that arrived while the window was not focused.
    pub unread: Cell<u32>,
    /// The last notification sent (conversation key, title, body).
    pub last_notification: RefCell<Option<(String, String, String)>>,
    /// The shown conversation's topic is followed into the header: its handler.
    pub topic_handler: RefCell<Option<(Conversation, glib::SignalHandlerId)>>,
}

#[glib::object_subclass]
impl ObjectSubclass for Window {
    const NAME: &'static str = "ChatWindow";
    type Type = super::Window;
    type ParentType = adw::ApplicationWindow;

    fn class_init(klass: &mut Self::Class) {
        // The template names these types; they must be registered before it is parsed.
        SignIn::ensure_type();
        ChatView::ensure_type();
        UsersPopover::ensure_type();
        Sidebar::ensure_type();
        klass.bind_template();
    }

    fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
        obj.init_template();
    }
}

impl ObjectImpl for Window {
    fn constructed(&self) {
        self.parent_constructed();
        self.obj().setup();
    }
}

impl WidgetImpl for Window {}

impl WindowImpl for Window {
    /// Closing the window is Exit: say goodbye first, then close for real.
    fn close_request(&self) -> glib::Propagation {
        self.obj().remember_size();
        if self.session.has_left() {
            return self.parent_close_request();
        }
        self.session.leave();
        glib::Propagation::Stop
    }
}

impl ApplicationWindowImpl for Window {}
impl AdwApplicationWindowImpl for Window {}
