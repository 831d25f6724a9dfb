//! chat-gtk as a screen-reader user and a keyboard-only user meet it: the real binary on a private X
//! server and a private D-Bus session, read through the real accessibility layer (AT-SPI, by
//! `tests/atspi/tree.py`), driven by key presses through the X server (`xdotool`), talking to a real
//! chat-server on loopback. Nothing here emits a widget signal: a hidden or insensitive control cannot
//! be used, exactly as for a person.
//!
//! Needs Xvfb, dbus-daemon, xdotool and python3-gi with the Atspi typelib (scripts/setup.sh installs
//! them). Each test starts its own display, bus, server and app, and ends them when it ends.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use client::{Event, LeaveReason, Session, SessionConfig, Trust};

const WAIT: Duration = Duration::from_secs(20);

/// The test server's line limit.
const MAX_MESSAGE_BYTES: usize = 40;

/// Debian's python, which has the `gi` bindings (a python3 earlier on PATH may not).
const PYTHON: &str = "/usr/bin/python3";

/// A child process killed when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private X display and D-Bus session bus (the accessibility bus is activated on it).
struct Desktop {
    display: String,
    bus: String,
    home: tempfile::TempDir,
    // Dropped last: the app goes before the bus and the display.
    _dbus: Reaped,
    _xvfb: XServer,
}

/// Xvfb on display `n`. Killed, it cannot remove its lock file and socket: that is done here, or
/// every run would use up a display number.
struct XServer {
    n: u32,
    process: Reaped,
}

impl Drop for XServer {
    fn drop(&mut self) {
        let _ = self.process.0.kill();
        let _ = self.process.0.wait();
        let _ = std::fs::remove_file(format!("/tmp/.X{}-lock", self.n));
        let _ = std::fs::remove_file(format!("/tmp/.X11-unix/X{}", self.n));
    }
}

impl Desktop {
    fn start() -> Self {
        let home = tempfile::tempdir().expect("temp home");
        let (display, xvfb) = start_xvfb();
        // The bus's socket lives in the temporary home, so it goes with it.
        let mut dbus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!("--address=unix:path={}/bus", home.path().display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map(Reaped)
            .expect("dbus-daemon runs (scripts/setup.sh installs dbus)");
        let mut line = String::new();
        BufReader::new(dbus.0.stdout.take().expect("dbus stdout"))
            .read_line(&mut line)
            .expect("dbus-daemon prints its address");
        let bus = line.trim().to_owned();
        assert!(bus.starts_with("unix:"), "dbus-daemon said {bus:?}");
        Desktop {
            display,
            bus,
            home,
            _dbus: dbus,
            _xvfb: xvfb,
        }
    }

    /// A command with this desktop's display, bus and a throw-away home.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        let home = self.home.path();
        command
            .env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("NO_AT_BRIDGE");
        command
    }

    /// Starts chat-gtk on this desktop with the sign-in page prefilled with `server`.
    fn launch(&self, server: &TestServer, language: Option<&str>) -> Reaped {
        let mut command = self.command(env!("CARGO_BIN_EXE_chat-gtk"));
        command
            .args(["--server", &server.addr.to_string(), "--ca"])
            .arg(&server.ca)
            // GTK 4.8 speaks AT-SPI only when asked to; settings stay in memory, not the user's.
            .env("GTK_A11Y", "atspi")
            .env("GSETTINGS_BACKEND", "memory")
            .env("GSK_RENDERER", "cairo")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match language {
            // Only C.UTF-8 may be installed; gettext honours LANGUAGE under any locale but plain C.
            Some(language) => command.env("LANGUAGE", language).env("LANG", "C.UTF-8"),
            None => command.env("LANGUAGE", "en").env("LANG", "C.UTF-8"),
        };
        command.spawn().map(Reaped).expect("chat-gtk starts")
    }

    /// The app's accessibility tree now, as a screen reader reads it; `Err` while the app is not
    /// on the accessibility bus yet.
    fn tree(&self) -> Result<Tree, String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/atspi/tree.py");
        let out = self
            .command(PYTHON)
            .arg(script)
            .arg("chat-gtk")
            .output()
            .expect("python3 runs (scripts/setup.sh installs python3-pyatspi)");
        if !out.status.success() {
            return Err(format!("tree.py: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let nodes = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).expect("tree.py prints JSON lines"))
            .collect();
        Ok(Tree(nodes))
    }

    /// Waits until the tree satisfies `done`; panics with the last tree when it never does.
    fn wait_for_tree(&self, what: &str, done: impl Fn(&Tree) -> bool) -> Tree {
        let deadline = Instant::now() + WAIT;
        loop {
            let last = match self.tree() {
                Ok(tree) if done(&tree) => return tree,
                Ok(tree) => tree.dump(),
                Err(e) => e,
            };
            assert!(
                Instant::now() < deadline,
                "waited {WAIT:?} for {what}; the tree:\n{last}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Key presses and typing through the X server, into the chat window.
    fn xdotool(&self, args: &[&str]) {
        let status = self
            .command("xdotool")
            .args(args)
            .status()
            .expect("xdotool runs (scripts/setup.sh installs it)");
        assert!(status.success(), "xdotool {args:?}: {status}");
    }

    /// Gives the chat window the keyboard focus (there is no window manager to do it).
    fn focus_window(&self) {
        self.xdotool(&[
            "search",
            "--sync",
            "--onlyvisible",
            "--name",
            "Chat$",
            "windowfocus",
            "--sync",
        ]);
    }

    fn type_text(&self, text: &str) {
        self.xdotool(&["type", "--delay", "20", text]);
    }

    fn key(&self, keys: &str) {
        self.xdotool(&["key", keys]);
    }
}

/// Xvfb on the first free display from 110 on.
fn start_xvfb() -> (String, XServer) {
    for n in 110..200 {
        if Path::new(&format!("/tmp/.X{n}-lock")).exists() {
            continue;
        }
        let display = format!(":{n}");
        let Ok(child) = Command::new("Xvfb")
            .args([
                display.as_str(),
                "-screen",
                "0",
                "1000x700x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            panic!("Xvfb runs (scripts/setup.sh installs xvfb)");
        };
        let mut xvfb = Reaped(child);
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = xvfb.0.try_wait() {
                break; // Lost the race for this display (its files are the winner's): next.
            }
            if socket.exists() {
                return (display, XServer { n, process: xvfb });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Still running but never ready: it holds the display, so it is ours to clean up.
        if !matches!(xvfb.0.try_wait(), Ok(Some(_))) {
            drop(XServer { n, process: xvfb });
        }
    }
    panic!("no free X display between :110 and :199");
}

/// One node of the accessibility tree (see `tests/atspi/tree.py`).
#[derive(Debug, Clone, serde::Deserialize)]
struct Node {
    role: String,
    name: String,
    description: String,
    states: Vec<String>,
}

struct Tree(Vec<Node>);

impl Tree {
    fn find(&self, role: &str, name: &str) -> Option<&Node> {
        self.0.iter().find(|n| n.role == role && n.name == name)
    }

    fn get(&self, role: &str, name: &str) -> &Node {
        self.find(role, name)
            .unwrap_or_else(|| panic!("no {role} named {name:?} in\n{}", self.dump()))
    }

    /// Buttons, fields and lists a person uses, whatever they are called.
    fn controls(&self) -> impl Iterator<Item = &Node> {
        self.0
            .iter()
            .filter(|n| ["push button", "toggle button", "text", "list"].contains(&n.role.as_str()))
    }

    fn dump(&self) -> String {
        self.0
            .iter()
            .map(|n| format!("{} {:?} {:?} {:?}", n.role, n.name, n.description, n.states))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Our controls all have names a screen reader can speak: none falls back to its GTK type name.
fn assert_every_control_is_named(tree: &Tree) {
    let window_controls = ["Minimize", "Maximize", "Close"];
    for node in tree.controls() {
        assert!(
            !node.name.is_empty() && !node.name.starts_with("Gtk") && !node.name.starts_with("Adw"),
            "a {} has no accessible name ({:?}); the tree:\n{}",
            node.role,
            node.name,
            tree.dump()
        );
        assert!(
            !node.name.contains('_') || window_controls.contains(&node.name.as_str()),
            "{:?} is read with its mnemonic underscore",
            node.name
        );
    }
}

struct TestServer {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

fn start_server() -> TestServer {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("test runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (addr, ca) = rt.block_on(async {
        let mut config = server::Config::new(
            "127.0.0.1:0".parse().expect("address"),
            server::TlsSource::DevCerts {
                dir: dir.path().to_path_buf(),
            },
        );
        // Short enough that a test can say a line the server refuses.
        config.limits.max_message_bytes = MAX_MESSAGE_BYTES;
        let srv = server::Server::bind(config).expect("server binds");
        let addr = srv.local_addr().expect("local address");
        let ca = srv.dev_ca().expect("dev CA").to_path_buf();
        tokio::spawn(srv.run());
        (addr, ca)
    });
    TestServer {
        rt,
        addr,
        ca,
        _dir: dir,
    }
}

impl TestServer {
    /// Another user on the client library, to see what arrives.
    fn connect(&self, user: &str) -> (Session, async_channel::Receiver<Event>) {
        let config = SessionConfig {
            server: self.addr.to_string().parse().expect("server address"),
            user: user.into(),
            trust: Trust::CaFile(self.ca.clone()),
            identity: client::Identity::for_this_process().expect("identity"),
            code: None,
        };
        let (session, _, events) = self
            .rt
            .block_on(Session::connect(config))
            .expect("second client connects");
        (session, events)
    }

    /// Waits for `user` to join.
    fn expect_joined(&self, events: &async_channel::Receiver<Event>, user: &str) {
        self.expect(
            events,
            &format!("{user} joining"),
            |e| matches!(e, Event::UserJoined { user: u, .. } if u == user),
        );
    }

    /// Waits for a line from `from` saying `text`.
    fn expect_line(&self, events: &async_channel::Receiver<Event>, from: &str, text: &str) {
        self.expect(
            events,
            &format!("{text:?} from {from}"),
            |e| matches!(e, Event::Line(line) if line.from == from && line.text == text),
        );
    }

    fn expect(
        &self,
        events: &async_channel::Receiver<Event>,
        what: &str,
        wanted: impl Fn(&Event) -> bool,
    ) {
        self.rt.block_on(async {
            tokio::time::timeout(WAIT, async {
                loop {
                    match events.recv().await {
                        Ok(event) if wanted(&event) => return,
                        Ok(_) => {}
                        Err(e) => panic!("the observer's session ended: {e}"),
                    }
                }
            })
            .await
            .unwrap_or_else(|_| panic!("{what} did not arrive within {WAIT:?}"))
        });
    }
}

/// One desktop at a time: two accessibility buses starting at once on two cores time out.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn keyboard_alone_signs_in_and_sends_and_a_screen_reader_can_name_every_control() {
    let _serial = one_at_a_time();
    let server = start_server();
    let (bob, bob_events) = server.connect("bob");
    let desktop = Desktop::start();
    let mut app = desktop.launch(&server, None);
    desktop.focus_window();

    // The sign-in page. The server is prefilled, so the focus starts in the name field: typing the
    // name and Enter signs in (GTK 4.8 does not report an entry's focus over AT-SPI; what the
    // keys do shows it).
    let tree = desktop.wait_for_tree("the sign-in page", |t| {
        t.find("text", "Name").is_some() && t.find("push button", "Sign In").is_some()
    });
    assert_eq!(
        tree.get("text", "Server").description,
        "The chat server's address, host:port"
    );
    assert_eq!(
        tree.get("text", "Name").description,
        "The name others will see"
    );
    assert_eq!(
        tree.get("text", "Link or Invite Code (optional)")
            .description,
        "A link code from another of your devices, or an invite code; used once"
    );
    tree.get("push button", "Sign In");
    tree.get("push button", "Main Menu");
    // Users and Exit are hidden until signed in: not there for a screen reader or a click either.
    assert!(
        tree.find("push button", "Users").is_none(),
        "{}",
        tree.dump()
    );
    assert!(
        tree.find("push button", "Exit").is_none(),
        "{}",
        tree.dump()
    );
    assert_every_control_is_named(&tree);

    desktop.type_text("ann");
    desktop.key("Return");

    // Signed in: Users and Exit appear, and the focus is in the message entry (typing below).
    server.expect_joined(&bob_events, "ann");
    let tree = desktop.wait_for_tree("the chat page", |t| t.find("push button", "Exit").is_some());
    assert_eq!(
        tree.get("text", "Message").description,
        "Type a message; Enter sends it"
    );
    assert_eq!(
        tree.get("push button", "Send").description,
        "Send the message"
    );
    assert_eq!(
        tree.get("push button", "Exit").description,
        "Leave the chat and quit"
    );
    let users = tree
        .0
        .iter()
        .find(|n| n.name == "Users" && n.role.ends_with("button"))
        .unwrap_or_else(|| panic!("no Users button in\n{}", tree.dump()));
    assert_eq!(users.description, "Who is in the chat now (Ctrl+U)");
    tree.get("list", "Messages");
    assert_every_control_is_named(&tree);

    desktop.type_text("hello from the keyboard");
    desktop.key("Return");
    server.expect_line(&bob_events, "ann", "hello from the keyboard");

    // The line reads as its sender and text; its delivery state (the description) is gone once
    // the server confirmed it.
    desktop.wait_for_tree("the sent line in the list", |t| {
        t.0.iter()
            .any(|n| n.name == "ann: hello from the keyboard" && n.description.is_empty())
    });
    // The focus stayed in the entry: the next line goes out without touching anything else.
    desktop.type_text("and another");
    desktop.key("Return");
    server.expect_line(&bob_events, "ann", "and another");

    // A line longer than the server takes (its Welcome said 40 bytes) is not sent: the client says
    // why in a toast, which a screen reader finds, and the text stays in the entry to be shortened.
    let long = "x".repeat(MAX_MESSAGE_BYTES + 1);
    desktop.type_text(&long);
    desktop.key("Return");
    let why = format!(
        "Not sent: the line is {} bytes long; the server takes at most {MAX_MESSAGE_BYTES}",
        MAX_MESSAGE_BYTES + 1
    );
    let tree = desktop.wait_for_tree("the reason the long line was not sent", |t| {
        t.find("label", &why).is_some()
    });
    assert!(
        !tree.0.iter().any(|n| n.name == format!("ann: {long}")),
        "a refused line is not in the list: {}",
        tree.dump()
    );
    // Empty the entry again for what follows.
    desktop.key("ctrl+a");
    desktop.key("BackSpace");

    // Ctrl+? opens the shortcuts window with the real shortcuts; Escape closes it.
    desktop.key("ctrl+question");
    desktop.wait_for_tree("the shortcuts window", |t| {
        t.find("label", "Send the message").is_some()
            && t.find("label", "Leave the chat and quit").is_some()
    });
    desktop.key("Escape");
    desktop.wait_for_tree("the shortcuts window to close", |t| {
        t.find("label", "Send the message").is_none()
    });

    // Ctrl+U opens the live list of users, named by its count; Escape closes it.
    desktop.key("ctrl+u");
    let tree = desktop.wait_for_tree("the users list", |t| {
        t.find("list", "2 people online").is_some()
    });
    tree.get("label", "bob");
    tree.get("label", "you");
    desktop.key("Escape");
    desktop.wait_for_tree("the users list to close", |t| {
        t.find("list", "2 people online").is_none()
    });

    // The sidebar is a named list. A direct line from bob gets a row that reads with its unread
    // count, and a badge that says it; Alt+Down shows that conversation (now read), Alt+Up goes
    // back; Ctrl+J opens the room dialog.
    desktop.wait_for_tree("the sidebar", |t| {
        t.find("list", "Conversations").is_some() && t.0.iter().any(|n| n.name == "#general, room")
    });
    bob.say_to(
        client::Conversation::Direct("ann".into()),
        "a word in private",
    )
    .expect("bob writes to ann");
    desktop.wait_for_tree("bob's row, unread", |t| {
        t.0.iter()
            .any(|n| n.name == "bob, direct conversation, 1 unread")
            && t.0
                .iter()
                .any(|n| n.role == "label" && n.description == "1 unread")
    });
    desktop.key("alt+Down");
    desktop.wait_for_tree("the conversation with bob, read", |t| {
        t.0.iter().any(|n| n.name == "bob, direct conversation")
            && t.0.iter().any(|n| n.name == "bob: a word in private")
    });
    desktop.key("alt+Up");
    desktop.key("ctrl+j");
    desktop.wait_for_tree("the room dialog", |t| {
        t.find("label", "Join or Create a Room").is_some()
    });
    desktop.key("Escape");
    desktop.wait_for_tree("the room dialog to close", |t| {
        t.find("label", "Join or Create a Room").is_none()
    });

    // F10 opens the main menu; its last item is the About window; Escape closes that.
    desktop.key("F10");
    desktop.wait_for_tree("the main menu", |t| {
        t.0.iter().any(|n| n.name == "About Chat")
    });
    desktop.key("Up");
    desktop.key("Return");
    desktop.wait_for_tree("the About window", |t| {
        t.find("label", "The quic-chat developers").is_some()
    });
    desktop.key("Escape");
    desktop.wait_for_tree("the About window to close", |t| {
        t.find("label", "The quic-chat developers").is_none()
    });

    // Alt+E is Exit's mnemonic: ann says goodbye (bob sees her quit) and the app ends by itself.
    desktop.key("alt+e");
    server.expect(
        &bob_events,
        "ann quitting",
        |e| matches!(e, Event::UserLeft { user, why: LeaveReason::Quit, .. } if user == "ann"),
    );
    let deadline = Instant::now() + WAIT;
    while app.0.try_wait().expect("chat-gtk's status").is_none() {
        assert!(
            Instant::now() < deadline,
            "chat-gtk did not quit after Exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn under_a_german_locale_the_window_speaks_german() {
    let _serial = one_at_a_time();
    let server = start_server();
    let desktop = Desktop::start();
    let _app = desktop.launch(&server, Some("de"));
    desktop.focus_window();

    let tree = desktop.wait_for_tree("the sign-in page", |t| {
        t.find("push button", "Anmelden").is_some()
    });
    tree.get("label", "Dem Chat beitreten");
    tree.get("push button", "Anmelden");
    tree.get("push button", "Hauptmenü");
    assert_eq!(
        tree.get("text", "Name").description,
        "Der Name, den andere sehen"
    );

    desktop.type_text("anna");
    desktop.key("Return");
    let tree = desktop.wait_for_tree("the German chat page", |t| {
        t.find("push button", "Beenden").is_some()
    });
    tree.get("push button", "Senden");
    tree.get("text", "Nachricht");
    tree.get("list", "Nachrichten");
    assert_every_control_is_named(&tree);
}
