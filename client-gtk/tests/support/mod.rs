//! The real window against a real server on loopback, shared by the UI test files: a server of
//! its own per test, the application registered once per test thread, and bounded waits that
//! iterate the GLib main loop.
#![allow(dead_code)]

use std::{
    cell::OnceCell,
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use adw::prelude::*;
use client::{Event, Session, SessionConfig, Trust};
use client_gtk::{Application, LaunchOptions, model::Message, widgets::Window};
use gtk::{gio, glib};

pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub rt: tokio::runtime::Runtime,
    pub addr: SocketAddr,
    pub ca: PathBuf,
    pub dir: tempfile::TempDir,
    pub shutdown: server::ShutdownHandle,
}

pub fn start_server() -> TestServer {
    start_server_with(|_| {})
}

/// A server with its configuration changed by `configure` (operators, invite-only...).
pub fn start_server_with(configure: impl FnOnce(&mut server::Config)) -> TestServer {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("test runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (addr, ca, shutdown) = bind_with(
        &rt,
        &dir,
        "127.0.0.1:0".parse().expect("address"),
        configure,
    );
    TestServer {
        rt,
        addr,
        ca,
        dir,
        shutdown,
    }
}

pub fn bind(
    rt: &tokio::runtime::Runtime,
    dir: &tempfile::TempDir,
    listen: SocketAddr,
) -> (SocketAddr, PathBuf, server::ShutdownHandle) {
    bind_with(rt, dir, listen, |_| {})
}

pub fn bind_with(
    rt: &tokio::runtime::Runtime,
    dir: &tempfile::TempDir,
    listen: SocketAddr,
    configure: impl FnOnce(&mut server::Config),
) -> (SocketAddr, PathBuf, server::ShutdownHandle) {
    rt.block_on(async {
        let mut config = server::Config::new(
            listen,
            server::TlsSource::DevCerts {
                dir: dir.path().to_path_buf(),
            },
        );
        configure(&mut config);
        let srv = server::Server::bind(config).expect("server binds");
        let addr = srv.local_addr().expect("local address");
        let ca = srv.dev_ca().expect("dev CA").to_path_buf();
        let shutdown = srv.shutdown_handle();
        tokio::spawn(srv.run());
        (addr, ca, shutdown)
    })
}

impl TestServer {
    /// A second user, straight on the client library, with the windows' identity (a key may own
    /// several names).
    pub fn connect(&self, user: &str) -> (Session, async_channel::Receiver<Event>) {
        self.connect_as(user, app_identity())
    }

    /// A second user with an identity of its own.
    pub fn connect_as(
        &self,
        user: &str,
        identity: Arc<client::Identity>,
    ) -> (Session, async_channel::Receiver<Event>) {
        self.try_connect(user, identity, None)
            .expect("second client connects")
    }

    /// A user on the client library, with a link or invite code if given; the refusal if any.
    pub fn try_connect(
        &self,
        user: &str,
        identity: Arc<client::Identity>,
        code: Option<String>,
    ) -> Result<(Session, async_channel::Receiver<Event>), client::ClientError> {
        let config = SessionConfig {
            server: self.addr.to_string().parse().expect("server address"),
            user: user.into(),
            trust: Trust::CaFile(self.ca.clone()),
            identity,
            code,
        };
        let (session, _, events) = self.rt.block_on(Session::connect(config))?;
        Ok((session, events))
    }
}

thread_local! {
    static APP: OnceCell<Application> = const { OnceCell::new() };
    static IDENTITY_DIR: OnceCell<tempfile::TempDir> = const { OnceCell::new() };
}

/// The identity folder the application is given (`--identity DIR`): a temporary one, never the
/// user's own.
pub fn identity_dir() -> PathBuf {
    IDENTITY_DIR.with(|cell| {
        cell.get_or_init(|| tempfile::tempdir().expect("temp dir"))
            .path()
            .join("identity")
    })
}

/// The key in [`identity_dir`], as the windows use it.
pub fn app_identity() -> Arc<client::Identity> {
    app().identity().expect("the application's identity")
}

/// A new key, for a user who is somebody else.
pub fn other_identity() -> Arc<client::Identity> {
    Arc::new(client::Identity::ephemeral().expect("a new identity"))
}

/// The application, registered once per test thread (windows need a registered application).
pub fn app() -> Application {
    APP.with(|cell| {
        cell.get_or_init(|| {
            adw::init().expect("libadwaita initialises");
            let app = Application::new(LaunchOptions {
                identity: Some(identity_dir()),
                ..LaunchOptions::default()
            });
            // Tests must not talk to (or be) a running chat-gtk.
            app.set_flags(gio::ApplicationFlags::NON_UNIQUE);
            app.register(None::<&gio::Cancellable>)
                .expect("application registers");
            client_gtk::application::install_style(&app);
            app
        })
        .clone()
    })
}

pub fn window_for(server: &TestServer, user: &str) -> Window {
    let window = Window::new(&app());
    window.set_ca(Some(server.ca.clone()));
    window.prefill(Some(&server.addr.to_string()), Some(user));
    window.present();
    window
}

/// Iterates the main loop until `done` holds; false when the deadline passes first.
pub fn wait_until(done: impl FnMut() -> bool) -> bool {
    wait_for(WAIT, done)
}

pub fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    let context = glib::MainContext::default();
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        while context.iteration(false) {}
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn messages(window: &Window) -> Vec<Message> {
    let model = window
        .chat_view()
        .list_view()
        .model()
        .expect("list has a model");
    (0..model.n_items())
        .filter_map(|i| model.item(i).and_downcast::<Message>())
        .collect()
}

pub fn find(window: &Window, text: &str) -> Option<Message> {
    messages(window).into_iter().find(|m| m.text() == text)
}

pub fn sign_in(window: &Window) {
    window.sign_in_page().sign_in_button().emit_clicked();
    assert!(
        wait_until(|| window.page().as_deref() == Some("chat")),
        "signed in; sign-in error: {:?}",
        window.sign_in_page().error()
    );
}

/// Exit and wait until the window is gone.
pub fn exit(window: &Window) {
    window.exit_button().emit_clicked();
    assert!(wait_until(|| !window.is_visible()), "window closed");
}

/// Every widget under `root`, depth first.
pub fn descendants(root: &impl IsA<gtk::Widget>) -> Vec<gtk::Widget> {
    let mut out = Vec::new();
    let mut stack = vec![root.clone().upcast::<gtk::Widget>()];
    while let Some(widget) = stack.pop() {
        let mut child = widget.first_child();
        while let Some(c) = child {
            child = c.next_sibling();
            stack.push(c.clone());
            out.push(c);
        }
    }
    out
}

/// The widget named `name` (`gtk_widget_set_name`) under `root`.
pub fn named<T: IsA<gtk::Widget>>(root: &impl IsA<gtk::Widget>, name: &str) -> T {
    descendants(root)
        .into_iter()
        .find(|w| w.widget_name() == name)
        .and_then(|w| w.downcast().ok())
        .unwrap_or_else(|| panic!("no {name} of that type"))
}

/// The button whose label reads `label` (mnemonic underscores ignored) under `root`.
pub fn button_labelled(root: &impl IsA<gtk::Widget>, label: &str) -> gtk::Button {
    descendants(root)
        .into_iter()
        .filter_map(|w| w.downcast::<gtk::Button>().ok())
        .find(|b| b.label().is_some_and(|l| l.replace('_', "") == label))
        .unwrap_or_else(|| panic!("no button labelled {label}"))
}

/// The message dialog open over `window`, once it shows.
pub fn dialog_over(window: &Window) -> adw::MessageDialog {
    let parent: &gtk::Window = window.upcast_ref();
    let mut found = None;
    assert!(
        wait_until(|| {
            found = gtk::Window::list_toplevels()
                .into_iter()
                .filter_map(|w| w.downcast::<adw::MessageDialog>().ok())
                .find(|d| d.is_visible() && d.transient_for().as_ref() == Some(parent));
            found.is_some()
        }),
        "a dialog opens over the window"
    );
    found.expect("the dialog")
}

/// Activates a window action, as its menu item does.
pub fn menu(window: &Window, action: &str) {
    WidgetExt::activate_action(window, action, None).expect("the action exists");
}
