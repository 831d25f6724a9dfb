//! `ChatApplication`: the `AdwApplication` with the app-wide bits (style, Ctrl+Q, activation).

use std::{cell::RefCell, path::PathBuf, sync::Arc};

use adw::{prelude::*, subclass::prelude::*};
use gtk::{gio, glib};

use crate::{i18n::gettext, settings, widgets::Window};

pub const APP_ID: &str = "org.quicchat.Chat";

/// The icons `build.rs` copied for this build, in a hicolor layout.
const BUILT_ICONS: &str = concat!(env!("OUT_DIR"), "/icons");

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct LaunchOptions {
    pub server: Option<String>,
    pub user: Option<String>,
    pub ca: Option<PathBuf>,
    /// `--identity DIR`: the folder of the key this app signs in with (default:
    /// [`client::default_identity_dir`]).
    pub identity: Option<PathBuf>,
}

impl LaunchOptions {
    /// Both server and name given: skip the sign-in page.
    pub fn signs_in(&self) -> bool {
        self.server.is_some() && self.user.as_deref().is_some_and(|u| !u.trim().is_empty())
    }
}

mod imp {
    use super::*;

    #[derive(Debug, Default)]
    pub struct Application {
        pub options: RefCell<LaunchOptions>,
        /// The identity, loaded (or made) on first use and shared by every window.
        pub identity: RefCell<Option<Arc<client::Identity>>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Application {
        const NAME: &'static str = "ChatApplication";
        type Type = super::Application;
        type ParentType = adw::Application;
    }

    impl ObjectImpl for Application {}

    impl ApplicationImpl for Application {
        fn startup(&self) {
            // Before the first template is built: GtkBuilder translates them through our domain.
            crate::i18n::init();
            self.parent_startup();
            let app = self.obj();
            gtk::Window::set_default_icon_name(APP_ID);
            app.load_style();
            app.add_built_icons();
            app.setup_actions();
        }

        fn activate(&self) {
            self.parent_activate();
            let app = self.obj();
            if let Some(window) = app.active_window() {
                window.present();
                return;
            }
            let window = app.new_window();
            window.present();
            if app.imp().options.borrow().signs_in() {
                window.sign_in();
            }
        }
    }

    impl GtkApplicationImpl for Application {}
    impl AdwApplicationImpl for Application {}
}

glib::wrapper! {
    pub struct Application(ObjectSubclass<imp::Application>)
        @extends adw::Application, gtk::Application, gio::Application,
        @implements gio::ActionGroup, gio::ActionMap;
}

impl Application {
    pub fn new(options: LaunchOptions) -> Self {
        let app: Self = glib::Object::builder()
            .property("application-id", APP_ID)
            .property("flags", gio::ApplicationFlags::empty())
            .build();
        app.imp().options.replace(options);
        app
    }

    /// The identity every window signs in with: `--identity DIR` or the default folder, loaded on
    /// first use and made there if there is none yet. The text says what went wrong.
    pub fn identity(&self) -> Result<Arc<client::Identity>, String> {
        let imp = self.imp();
        if let Some(identity) = imp.identity.borrow().as_ref() {
            return Ok(identity.clone());
        }
        let dir = imp
            .options
            .borrow()
            .identity
            .clone()
            .or_else(client::default_identity_dir)
            .ok_or_else(|| gettext("there is no home folder to keep it in"))?;
        let (identity, outcome) =
            client::Identity::load_or_create(&dir).map_err(|e| e.to_string())?;
        if outcome == client::IdentityOutcome::Created {
            tracing::info!(
                dir = %dir.display(),
                key = %identity.fingerprint().short(),
                "made a new identity; keep that folder private: it is who you are"
            );
        }
        let identity = Arc::new(identity);
        imp.identity.replace(Some(identity.clone()));
        Ok(identity)
    }

    /// A window set up from the launch options and the remembered sign-in.
    fn new_window(&self) -> Window {
        let options = self.imp().options.borrow().clone();
        let window = Window::new(self);
        window.set_settings(settings::open());
        window.prefill(options.server.as_deref(), options.user.as_deref());
        window.set_ca(options.ca);
        window
    }

    /// A development build's icons (copied by `build.rs`): the installed ones come first, these
    /// only fill in when the app is not installed.
    fn add_built_icons(&self) {
        if let Some(display) = gtk::gdk::Display::default() {
            gtk::IconTheme::for_display(&display).add_search_path(BUILT_ICONS);
        }
    }

    fn load_style(&self) {
        let provider = gtk::CssProvider::new();
        provider.load_from_data(include_str!("../data/style.css"));
        if let Some(display) = gtk::gdk::Display::default() {
            gtk::style_context_add_provider_for_display(
                &display,
                &provider,
                gtk::STYLE_PROVIDER_PRIORITY_APPLICATION,
            );
        }
    }

    fn setup_actions(&self) {
        // Quit is Exit for every window: each says goodbye before it closes.
        let quit = gio::ActionEntry::builder("quit")
            .activate(|app: &Self, _, _| {
                for window in app.windows() {
                    match window.downcast::<Window>() {
                        Ok(window) => window.request_exit(),
                        Err(other) => other.close(),
                    }
                }
            })
            .build();
        let about = gio::ActionEntry::builder("about")
            .activate(|app: &Self, _, _| app.show_about())
            .build();
        // A notification's default action: the window, showing that conversation.
        let show = gio::ActionEntry::builder("show-conversation")
            .parameter_type(Some(glib::VariantTy::STRING))
            .activate(|app: &Self, _, target| {
                let Some(key) = target.and_then(|t| t.get::<String>()) else {
                    return;
                };
                if let Some(window) = app
                    .windows()
                    .into_iter()
                    .find_map(|w| w.downcast::<Window>().ok())
                {
                    window.present();
                    window.show_conversation_named(&key);
                }
            })
            .build();
        self.add_action_entries([quit, about, show]);
        self.set_accels_for_action("app.quit", &["<Control>q"]);
        self.set_accels_for_action("win.show-help-overlay", &["<Control>question"]);
        self.set_accels_for_action("win.show-users", &["<Control>u"]);
        self.set_accels_for_action("win.join-room", &["<Control>j"]);
        self.set_accels_for_action(
            "win.previous-conversation",
            &["<Alt>Up", "<Control>Page_Up"],
        );
        self.set_accels_for_action(
            "win.next-conversation",
            &["<Alt>Down", "<Control>Page_Down"],
        );
    }

    /// The About window, over the active window.
    fn show_about(&self) {
        let about = adw::AboutWindow::builder()
            .application_name(gettext("Chat"))
            .application_icon(APP_ID)
            .version(env!("CARGO_PKG_VERSION"))
            .comments(gettext("Chat with others on a QUIC chat server. Messages arrive exactly once, even across reconnects."))
            .developer_name("The quic-chat developers")
            .license_type(gtk::License::Custom)
            .license(gettext(
                "Licensed under the MIT license or the Apache License 2.0, at your option.",
            ))
            // Translators: your name (and e-mail), one translator a line; shown in About.
            .translator_credits(gettext("translator-credits"))
            .modal(true)
            .build();
        about.set_transient_for(self.active_window().as_ref());
        about.present();
    }
}

/// The app's style sheet, for tests that build windows without running the application.
pub fn install_style(app: &Application) {
    app.load_style();
}
