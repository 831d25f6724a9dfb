//! The real window against a real server on loopback: real QUIC, real (development) certificates.
//!
//! Run under a display: `dbus-run-session -- xvfb-run -a cargo test -p client-gtk`. `#[gtk::test]`
//! runs every test on one GTK thread; each test starts its own server on a tokio runtime of its own
//! and drives the window by emitting the real widgets' signals, iterating the GLib main loop in
//! bounded waits. `tests/a11y.rs` drives the real binary with key presses instead, as a person does.

use std::{
    cell::RefCell,
    time::{Duration, Instant},
};

use adw::prelude::*;
use client::{Event, LeaveReason};
use client_gtk::{
    model::{DeliveryState, Message, MessageKind},
    session::SessionState,
    widgets::Window,
};
use gtk::{gio, glib};
use support::*;

mod support;

#[gtk::test]
fn chat_round_trip_users_and_exit() {
    let server = start_server();
    let window = window_for(&server, "ann");
    let session = window.session();
    assert_eq!(session.state(), SessionState::SignedOut);
    let incoming = std::rc::Rc::new(RefCell::new(Vec::new()));
    session.connect_incoming_message(glib::clone!(
        #[strong]
        incoming,
        move |_, from, text| incoming.borrow_mut().push((from, text))
    ));
    sign_in(&window);
    assert_eq!(session.state(), SessionState::Online);
    assert_eq!(session.you(), "ann");
    assert_eq!(session.server(), server.addr.to_string());
    let view = window.chat_view();
    let entry = view.entry();
    assert!(
        wait_until(|| gtk::prelude::RootExt::focus(&window)
            .is_some_and(|w| w == entry.clone().upcast::<gtk::Widget>() || w.is_ancestor(&entry))),
        "focus starts in the entry"
    );

    // Send with the button: the row shows at once, pending, and turns delivered on the receipt.
    view.entry().set_text("hello from gtk");
    view.send_button().emit_clicked();
    let mine = find(&window, "hello from gtk").expect("own row shown at once");
    assert_eq!(mine.state(), DeliveryState::Pending);
    assert_eq!(mine.kind(), MessageKind::Own);
    assert_eq!(view.entry().text(), "", "entry cleared");
    assert!(wait_until(|| mine.state() == DeliveryState::Delivered));
    assert!(mine.id() > 0);

    // Enter sends too; blank text does not.
    view.entry().set_text("sent with enter");
    view.entry().emit_activate();
    assert!(find(&window, "sent with enter").is_some());
    let count = messages(&window).len();
    view.entry().set_text("   ");
    view.entry().emit_activate();
    view.send_button().emit_clicked();
    assert_eq!(messages(&window).len(), count, "blank lines are not sent");

    // A second user joins and talks.
    let (bob, bob_events) = server.connect("bob");
    bob.say("hi from bob").expect("bob says");
    assert!(wait_until(|| find(&window, "hi from bob").is_some()));
    let line = find(&window, "hi from bob").expect("bob's line");
    assert_eq!(line.sender(), "bob");
    assert_eq!(line.kind(), MessageKind::Chat);
    assert_eq!(
        *incoming.borrow(),
        [("bob".to_owned(), "hi from bob".to_owned())],
        "others' lines (only) ask for a notification"
    );
    assert!(
        find(&window, "bob joined").is_some(),
        "join as a system line"
    );

    // Users lists both, live.
    window.users_button().popup();
    let popover = window.users_popover();
    assert!(wait_until(|| popover.is_visible()));
    assert!(
        wait_until(|| popover.shown_names() == ["ann", "bob"]),
        "users shown: {:?}",
        popover.shown_names()
    );
    window.users_button().popdown();

    // Exit says goodbye: bob sees ann leave because she quit.
    exit(&window);
    assert!(session.leaving() && session.has_left());
    let mut left = false;
    assert!(
        wait_until(|| {
            while let Ok(event) = bob_events.try_recv() {
                if let Event::UserLeft { user, why, .. } = event {
                    left |= user == "ann" && why == LeaveReason::Quit;
                }
            }
            left
        }),
        "bob sees Left {{ ann, Quit }}"
    );
    server.rt.block_on(bob.quit());
}

#[gtk::test]
fn follows_new_lines_at_the_bottom_but_not_while_reading() {
    let server = start_server();
    let window = window_for(&server, "ann");
    sign_in(&window);
    let view = window.chat_view();
    let (bob, _bob_events) = server.connect("bob");
    let say = |text: String| {
        bob.say(text).expect("bob says");
    };
    for i in 0..40 {
        say(format!("line {i}"));
    }
    assert!(wait_until(|| find(&window, "line 39").is_some()));
    let adjustment = view.list_view().vadjustment().expect("list scrolls");
    let at_bottom = || adjustment.value() + adjustment.page_size() >= adjustment.upper() - 4.0;
    assert!(wait_until(|| adjustment.upper() > adjustment.page_size()));
    assert!(wait_until(at_bottom), "followed the new lines");
    assert!(view.is_following());

    // The user scrolls up to read: new lines must not move the view, only count.
    adjustment.set_value(0.0);
    assert!(wait_until(|| !view.is_following()));
    for i in 0..3 {
        say(format!("unseen {i}"));
    }
    assert!(
        wait_until(|| view.unseen() == 3),
        "unseen: {}",
        view.unseen()
    );
    assert!(view.jump_button().is_visible());
    assert!(adjustment.value() < 1.0, "did not yank the reader down");

    // Jump to newest: back at the bottom, following again.
    view.jump_button().emit_clicked();
    assert!(wait_until(at_bottom));
    assert!(view.is_following());
    assert!(!view.jump_button().is_visible());

    // Sending from up the page goes to the bottom as well.
    adjustment.set_value(0.0);
    assert!(wait_until(|| !view.is_following()));
    view.entry().set_text("my reply");
    view.entry().emit_activate();
    assert!(view.is_following());
    assert!(wait_until(at_bottom));

    exit(&window);
    server.rt.block_on(bob.quit());
}

#[gtk::test]
fn refused_name_is_shown_and_can_be_corrected() {
    let server = start_server();
    // bob is somebody else (another key): his name is his.
    let (bob, _events) = server.connect_as("bob", other_identity());
    let window = window_for(&server, "bob");
    let page = window.sign_in_page();
    page.sign_in_button().emit_clicked();
    assert!(wait_until(|| page.error().is_some()), "an error is shown");
    let error = page.error().expect("error text");
    assert!(error.contains("bob belongs to another identity"), "{error}");
    assert_eq!(window.page().as_deref(), Some("sign-in"));
    assert!(page.sign_in_button().is_sensitive(), "can try again");

    page.set_user("ann");
    sign_in(&window);
    exit(&window);
    server.rt.block_on(bob.quit());
}

#[gtk::test]
fn untrusted_certificate_is_refused_with_a_reason() {
    let server = start_server();
    let window = window_for(&server, "ann");
    // The system store (and this machine's own dev CA, if any) does not know the test server's CA.
    window.set_ca(None);
    let page = window.sign_in_page();
    page.sign_in_button().emit_clicked();
    assert!(wait_until(|| page.error().is_some()), "an error is shown");
    let error = page.error().expect("error text");
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert_eq!(window.page().as_deref(), Some("sign-in"));
    exit(&window);
}

#[gtk::test]
fn server_restart_is_shown_and_the_session_carries_on() {
    let server = start_server();
    let window = window_for(&server, "ann");
    let session = window.session();
    let toasts = std::rc::Rc::new(RefCell::new(Vec::<String>::new()));
    session.connect_toast(glib::clone!(
        #[strong]
        toasts,
        move |_, text| toasts.borrow_mut().push(text)
    ));
    sign_in(&window);
    let view = window.chat_view();
    view.entry().set_text("before the restart");
    view.entry().emit_activate();
    let before = find(&window, "before the restart").expect("own row");
    assert!(wait_until(|| before.state() == DeliveryState::Delivered));

    // The server goes away: the window says so (and why), the library retries with back-off.
    server.shutdown.shutdown("maintenance");
    assert!(
        wait_until(|| view
            .banner_text()
            .is_some_and(|t| t.contains("Reconnecting"))),
        "reconnecting banner; banner: {:?}",
        view.banner_text()
    );
    assert!(
        messages(&window)
            .iter()
            .any(|m| m.kind() == MessageKind::System && m.text().contains("maintenance")),
        "the shutdown reason is shown"
    );
    assert_eq!(window.subtitle(), "Reconnecting…");
    assert_eq!(session.state(), SessionState::Reconnecting);
    assert!(
        session.status_text().contains("Reconnecting in"),
        "{}",
        session.status_text()
    );
    assert!(!session.can_reconnect(), "the library retries by itself");

    // A line typed meanwhile waits, pending; the library sends it once the server is back.
    assert!(
        view.entry().is_sensitive(),
        "typing goes on while reconnecting"
    );
    view.entry().set_text("said while away");
    view.entry().emit_activate();
    let away = find(&window, "said while away").expect("own row");
    assert_eq!(away.state(), DeliveryState::Pending);

    // The server comes back on the same port with the same certificates.
    let deadline = Instant::now() + WAIT;
    let restarted = loop {
        let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            bind(&server.rt, &server.dir, server.addr)
        }));
        match attempt {
            Ok(bound) => break bound,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => std::panic::resume_unwind(e),
        }
    };
    assert!(
        wait_until(|| view.banner_text().is_none()),
        "back online; banner: {:?}",
        view.banner_text()
    );
    assert!(
        wait_until(|| away.state() == DeliveryState::Delivered),
        "the queued line was delivered after the resume"
    );
    assert!(window.subtitle().starts_with("ann on "));
    assert_eq!(session.state(), SessionState::Online);
    assert_eq!(session.status_text(), "");
    assert!(
        toasts.borrow().iter().any(|t| t.contains("shutting down"))
            && toasts.borrow().iter().any(|t| t == "Reconnected"),
        "toasts: {:?}",
        toasts.borrow()
    );
    assert!(
        find(&window, "before the restart").is_some(),
        "the conversation is kept"
    );
    exit(&window);
    restarted.2.shutdown("done");
}

#[gtk::test]
fn ctrl_q_and_closing_the_window_say_goodbye_too() {
    let server = start_server();
    let (bob, bob_events) = server.connect("bob");
    let saw_quit = |name: &str| {
        let mut left = false;
        wait_until(|| {
            while let Ok(event) = bob_events.try_recv() {
                if let Event::UserLeft { user, why, .. } = event {
                    left |= user == name && why == LeaveReason::Quit;
                }
            }
            left
        })
    };

    // Ctrl+Q is the app's quit action: every window says goodbye before it closes.
    assert_eq!(app().accels_for_action("app.quit"), ["<Control>q"]);
    let window = window_for(&server, "ann");
    sign_in(&window);
    app().activate_action("quit", None);
    assert!(saw_quit("ann"), "bob sees ann quit after Ctrl+Q");
    assert!(wait_until(|| !window.is_visible()), "window closed");

    // The window's close button goes the same way.
    let window = window_for(&server, "carol");
    sign_in(&window);
    window.close();
    assert!(window.is_visible(), "stays open until the goodbye is done");
    assert!(saw_quit("carol"), "bob sees carol quit after closing");
    assert!(wait_until(|| !window.is_visible()), "window closed");
    server.rt.block_on(bob.quit());
}

#[gtk::test]
fn unreachable_server_is_reported_and_the_window_stays_usable() {
    let server = start_server();
    // A port nobody listens on: take one from the system and let it go again.
    let free = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port");
    let window = window_for(&server, "ann");
    let page = window.sign_in_page();
    page.set_server(&free.to_string());
    page.sign_in_button().emit_clicked();
    assert!(
        !page.sign_in_button().is_sensitive(),
        "busy while connecting"
    );
    // The library gives up on a silent server after its connect timeout (6 s).
    assert!(
        wait_for(Duration::from_secs(20), || page.error().is_some()),
        "an error is shown"
    );
    let error = page.error().expect("error text");
    assert!(error.starts_with("Cannot reach the server"), "{error}");
    assert!(page.sign_in_button().is_sensitive(), "can try again");

    // Retry against the real server from the same page.
    page.set_server(&server.addr.to_string());
    sign_in(&window);
    exit(&window);
}

/// Settings on GSettings's memory backend: what a test stores never reaches the user's own.
fn memory_settings() -> gio::Settings {
    let schema = client_gtk::settings::schema().expect("the schema build.rs compiled");
    gio::Settings::new_full(&schema, Some(&gio::memory_settings_backend_new()), None)
}

#[gtk::test]
fn the_sign_in_and_the_window_size_are_remembered_in_gsettings() {
    let server = start_server();
    // Remembered from an earlier run: the page is filled in and the window sized from them.
    let settings = memory_settings();
    assert_eq!(
        settings.string("server"),
        "localhost:1234",
        "the schema's default"
    );
    settings
        .set_string("server", &server.addr.to_string())
        .expect("writable");
    settings.set_string("user", "zoe").expect("writable");
    settings.set_int("window-width", 640).expect("writable");
    settings.set_int("window-height", 500).expect("writable");
    let window = Window::new(&app());
    window.set_ca(Some(server.ca.clone()));
    window.set_settings(Some(settings.clone()));
    assert_eq!(window.sign_in_page().server(), server.addr.to_string());
    assert_eq!(window.sign_in_page().user(), "zoe");
    assert_eq!(window.default_size(), (640, 500));
    window.present();

    // Signing in as somebody else is remembered.
    window.sign_in_page().set_user("yann");
    sign_in(&window);
    assert_eq!(settings.string("user"), "yann");
    assert_eq!(settings.string("server"), server.addr.to_string());

    // The size on leaving is remembered.
    window.set_default_size(700, 520);
    exit(&window);
    assert_eq!(
        (settings.int("window-width"), settings.int("window-height")),
        (700, 520)
    );
    assert!(!settings.boolean("is-maximized"));
}

/// A paste of 60 lines (more than the library sends at once under the default limits) becomes 60
/// rows, pending until their receipts; Exit right after it waits, says how many lines are still
/// queued, and closes the window only when every line was accepted: bob sees all 60, in order.
#[gtk::test]
fn a_pasted_block_is_many_lines_and_exit_waits_for_them() {
    const LINES: usize = 60;
    let server = start_server();
    let window = window_for(&server, "ann");
    let session = window.session();
    sign_in(&window);
    let (bob, bob_events) = server.connect("bob");
    let pasted: Vec<String> = (1..=LINES).map(|i| format!("pasted {i}")).collect();
    let view = window.chat_view();
    view.entry().set_text(&pasted.join("\n"));
    view.entry().emit_activate();
    assert_eq!(view.entry().text(), "", "entry cleared");
    let rows: Vec<Message> = pasted
        .iter()
        .map(|text| find(&window, text).expect("a row per pasted line"))
        .collect();
    assert_eq!(
        rows.last().map(Message::state),
        Some(DeliveryState::Pending),
        "the last line waits in the queue"
    );

    window.exit_button().emit_clicked();
    let mut saw_progress = false;
    assert!(
        wait_for(Duration::from_secs(20), || {
            saw_progress |= session.status_text().contains("queued line");
            !window.is_visible()
        }),
        "Exit finished"
    );
    assert!(saw_progress, "the wait said how many lines were queued");
    assert!(
        rows.iter().all(|m| m.state() == DeliveryState::Delivered),
        "every pasted line was accepted before leaving"
    );
    let mut seen = Vec::new();
    assert!(
        wait_until(|| {
            while let Ok(event) = bob_events.try_recv() {
                if let Event::Line(line) = event
                    && line.from == "ann"
                {
                    seen.push(line.text);
                }
            }
            seen.len() >= LINES
        }),
        "bob got {} lines",
        seen.len()
    );
    assert_eq!(seen, pasted, "each line once, in order");
    server.rt.block_on(bob.quit());
}

#[gtk::test]
fn a_line_too_long_refuses_the_paste_and_keeps_the_text() {
    let server = start_server();
    let window = window_for(&server, "ann");
    let session = window.session();
    sign_in(&window);
    let toasts = std::rc::Rc::new(RefCell::new(Vec::new()));
    session.connect_toast(glib::clone!(
        #[strong]
        toasts,
        move |_, text| toasts.borrow_mut().push(text)
    ));
    let text = format!("short\n{}", "x".repeat(5000));
    window.chat_view().entry().set_text(&text);
    window.chat_view().entry().emit_activate();
    assert!(find(&window, "short").is_none(), "nothing sent");
    assert_eq!(window.chat_view().entry().text(), text, "the text stays");
    assert!(
        toasts
            .borrow()
            .iter()
            .any(|t| t.contains("line 2 is 5000 bytes") && t.contains("4096")),
        "{:?}",
        toasts.borrow()
    );
    exit(&window);
}

/// What the clipboard holds as text.
fn clipboard_text(window: &Window) -> String {
    let clipboard = window.clipboard();
    glib::MainContext::default()
        .block_on(glib::future_with_timeout(
            WAIT,
            clipboard.read_text_future(),
        ))
        .expect("the clipboard answers in time")
        .expect("the clipboard holds text")
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The main menu's "Your Identity": the fingerprint of the `--identity` folder, short and full;
/// Copy puts the full one on the clipboard with a toast; signed in, the names the key owns.
#[gtk::test]
fn the_identity_dialog_shows_and_copies_the_fingerprint() {
    let server = start_server();
    let window = window_for(&server, "ann");
    // The key is the one in the folder the application was given, read back from disk.
    let on_disk = client::Identity::load(&identity_dir()).expect("the identity folder");
    let fingerprint = on_disk.fingerprint();

    // Before signing in: the fingerprint is local.
    menu(&window, "win.identity");
    let dialog = dialog_over(&window);
    assert_eq!(
        named::<gtk::Label>(&dialog, "short-fingerprint").label(),
        fingerprint.short()
    );
    assert_eq!(
        named::<gtk::Label>(&dialog, "fingerprint").label(),
        fingerprint.to_string()
    );
    assert!(
        named::<gtk::Label>(&dialog, "identity-names")
            .label()
            .starts_with("Not signed in"),
    );
    window.clipboard().set_text("something else");
    named::<gtk::Button>(&dialog, "copy-fingerprint").emit_clicked();
    assert_eq!(clipboard_text(&window), fingerprint.to_string());
    assert_eq!(window.last_toast(), "Copied");
    button_labelled(&dialog, "Close").emit_clicked();
    assert!(wait_until(|| !dialog.is_visible()), "Close closes it");

    // Signed in: the server says which names the key owns.
    sign_in(&window);
    menu(&window, "win.identity");
    let dialog = dialog_over(&window);
    let names = named::<gtk::Label>(&dialog, "identity-names");
    assert!(
        wait_until(|| names.label().contains("this key owns: ann")),
        "{}",
        names.label()
    );
    assert!(!names.label().contains("operator"), "{}", names.label());
    dialog.close();
    exit(&window);
}

/// Owned names from the window: ann's name refuses another key and says what to do; a link code
/// from ann's menu, typed into the other window's sign-in page, joins it as ann.
#[gtk::test]
fn a_link_code_from_the_menu_signs_in_another_identity_as_the_owner() {
    let server = start_server();
    let owner = window_for(&server, "ann");
    let link = owner
        .lookup_action("link-device")
        .and_downcast::<gio::SimpleAction>()
        .expect("the link action");
    assert!(!link.is_enabled(), "no linking before signing in");
    sign_in(&owner);
    assert!(link.is_enabled(), "linking offered once signed in");

    // Another device (another key) asks for ann: refused, with what to do.
    let device = window_for(&server, "ann");
    device.set_identity(Some(other_identity()));
    let page = device.sign_in_page();
    page.sign_in_button().emit_clicked();
    assert!(wait_until(|| page.error().is_some()), "an error is shown");
    let error = page.error().expect("error text");
    assert!(
        error.contains("ann belongs to another identity") && error.contains("Link Another Device"),
        "{error}"
    );
    assert_eq!(device.page().as_deref(), Some("sign-in"));

    // A wrong code says so.
    page.set_code("not-a-code");
    page.sign_in_button().emit_clicked();
    assert!(
        wait_until(|| page
            .error()
            .is_some_and(|e| e.contains("unknown, already used"))),
        "{:?}",
        page.error()
    );

    // ann's menu: Link Another Device… shows a code, Copy puts it on the clipboard.
    menu(&owner, "win.link-device");
    let dialog = dialog_over(&owner);
    let code = named::<gtk::Label>(&dialog, "link-code");
    assert!(wait_until(|| code.is_visible()), "{:?}", dialog.body());
    assert!(
        dialog.body().contains("valid for 10 minutes"),
        "{}",
        dialog.body()
    );
    assert!(code.label().len() >= 16, "a long code: {}", code.label());
    named::<gtk::Button>(&dialog, "copy-code").emit_clicked();
    assert_eq!(clipboard_text(&owner), code.label());
    assert_eq!(owner.last_toast(), "Copied");
    dialog.close();

    // Typed into the other device's code field while ann is online: the code adds this key to
    // ann, and the new sign-in takes ann's place; the first window is told.
    page.set_code(&clipboard_text(&owner));
    sign_in(&device);
    assert_eq!(device.session().you(), "ann");
    assert_eq!(page.code(), None, "the code is cleared after use");
    assert!(
        wait_until(|| owner.last_toast().contains("signed in again elsewhere")),
        "{}",
        owner.last_toast()
    );
    exit(&device);
    exit(&owner);
}

/// Clicks Kick (or Ban) on `user`'s row of the Users list, checks the confirmation asks about
/// `user`, gives `reason` and confirms.
fn moderate(window: &Window, user: &str, ban: bool, reason: &str) {
    let action = if ban { "Ban" } else { "Kick" };
    window
        .users_popover()
        .moderation_button(user, ban)
        .unwrap_or_else(|| panic!("{action} for {user}"))
        .emit_clicked();
    let dialog = dialog_over(window);
    assert_eq!(
        dialog.heading().as_deref(),
        Some(format!("{action} {user}?").as_str())
    );
    named::<adw::EntryRow>(&dialog, "reason").set_text(reason);
    button_labelled(&dialog, action).emit_clicked();
}

/// An operator's window offers Kick and Ban on the others' rows; Kick with a reason disconnects
/// the user (who hears why) and the server's answer shows as a toast; Ban also refuses the user's
/// key from then on.
#[gtk::test]
fn an_operator_kicks_and_bans_from_the_users_list() {
    let operator_key = app_identity().fingerprint();
    let server = start_server_with(|config| config.operators = vec![operator_key]);
    let (bob, bob_events) = server.connect_as("bob", other_identity());
    let window = window_for(&server, "olga");
    let session = window.session();
    sign_in(&window);
    assert!(wait_until(|| session.operator()), "WhoAmI said operator");

    window.users_button().popup();
    let popover = window.users_popover();
    assert!(wait_until(|| popover.shown_names() == ["bob", "olga"]));
    assert!(
        popover.moderation_button("olga", false).is_none(),
        "no Kick on our own row"
    );
    assert!(
        popover.moderation_button("bob", true).is_some(),
        "Ban for bob"
    );
    moderate(&window, "bob", false, "spamming");

    let mut removed = None;
    assert!(
        wait_until(|| {
            while let Ok(event) = bob_events.try_recv() {
                if let Event::Removed { by, reason, banned } = event {
                    removed = Some((by, reason, banned));
                }
            }
            removed.is_some()
        }),
        "bob is told he was removed"
    );
    assert_eq!(
        removed,
        Some(("olga".to_owned(), "spamming".to_owned(), false))
    );
    assert!(
        wait_until(|| window.last_toast() == "bob was kicked"),
        "toast: {}",
        window.last_toast()
    );
    assert!(
        wait_until(|| popover.shown_names() == ["olga"]),
        "kicked means gone, not back at once: {:?}; {:?}",
        popover.shown_names(),
        messages(&window)
            .iter()
            .map(Message::text)
            .collect::<Vec<_>>()
    );
    drop(bob);

    // Ban: carl is removed, told so, and refused when he comes back.
    let carl_key = other_identity();
    let (_carl, carl_events) = server.connect_as("carl", carl_key.clone());
    window.users_button().popup();
    assert!(wait_until(|| popover.shown_names() == ["carl", "olga"]));
    moderate(&window, "carl", true, "trolling");
    let mut banned = false;
    assert!(
        wait_until(|| {
            while let Ok(event) = carl_events.try_recv() {
                banned |= matches!(event, Event::Removed { banned: true, ref reason, .. } if reason == "trolling");
            }
            banned
        }),
        "carl is told he was banned"
    );
    assert!(wait_until(|| popover.shown_names() == ["olga"]));
    let again = server.try_connect("carl", carl_key, None);
    assert!(
        matches!(
            &again,
            Err(client::ClientError::Refused(client::wire::RefuseReason::Banned { reason })) if reason == "trolling"
        ),
        "{:?}",
        again.map(|_| ())
    );
    exit(&window);
}

/// Without an operator's key the users list has no Kick or Ban.
#[gtk::test]
fn a_non_operator_sees_no_kick_or_ban() {
    let server = start_server();
    let (bob, _bob_events) = server.connect_as("bob", other_identity());
    let window = window_for(&server, "ann");
    sign_in(&window);
    // The identity dialog's answer comes after the one asked on signing in: both are in.
    menu(&window, "win.identity");
    let dialog = dialog_over(&window);
    let names = named::<gtk::Label>(&dialog, "identity-names");
    assert!(wait_until(|| names.label().contains("owns")));
    dialog.close();
    assert!(!window.session().operator());
    window.users_button().popup();
    let popover = window.users_popover();
    assert!(wait_until(|| popover.shown_names() == ["ann", "bob"]));
    assert!(popover.moderation_button("bob", false).is_none());
    assert!(popover.moderation_button("bob", true).is_none());
    window.users_button().popdown();
    exit(&window);
    server.rt.block_on(bob.quit());
}

/// The rows of the devices dialog, by widget name (`device:SHORT-FINGERPRINT`).
fn device_rows(dialog: &adw::MessageDialog) -> Vec<String> {
    let mut rows: Vec<String> = descendants(dialog)
        .into_iter()
        .map(|w| w.widget_name().to_string())
        .filter(|n| n.starts_with("device:"))
        .collect();
    rows.sort();
    rows
}

/// "Devices…": the keys of the name, this one marked and without Revoke; Revoke on another
/// device refuses it from then on.
#[gtk::test]
fn devices_lists_the_keys_and_revokes_another() {
    use client::{ClientError, wire::RefuseReason};

    let server = start_server();
    let owner = window_for(&server, "ann");
    sign_in(&owner);
    // A phone links itself with a code from ann's menu and leaves again; ann signs in again on
    // this device.
    menu(&owner, "win.link-device");
    let dialog = dialog_over(&owner);
    let code = named::<gtk::Label>(&dialog, "link-code");
    assert!(wait_until(|| code.is_visible()), "{}", dialog.body());
    let code = code.label().to_string();
    dialog.close();
    assert!(wait_until(|| !dialog.is_visible()));
    let phone = other_identity();
    let (phone_session, _) = server
        .try_connect("ann", phone.clone(), Some(code))
        .expect("the phone joins as ann");
    server.rt.block_on(phone_session.quit());
    assert!(
        wait_until(|| owner.last_toast().contains("signed in again elsewhere")),
        "{}",
        owner.last_toast()
    );
    exit(&owner);
    let owner = window_for(&server, "ann");
    sign_in(&owner);

    menu(&owner, "win.devices");
    let dialog = dialog_over(&owner);
    let mine = app_identity().fingerprint().short();
    let theirs = phone.fingerprint().short();
    let mut both = vec![format!("device:{mine}"), format!("device:{theirs}")];
    both.sort();
    assert!(
        wait_until(|| device_rows(&dialog) == both),
        "{:?}",
        device_rows(&dialog)
    );
    let this_row = named::<adw::ActionRow>(&dialog, &format!("device:{mine}"));
    assert!(
        this_row.title().ends_with("(this device)"),
        "{}",
        this_row.title()
    );
    assert!(
        descendants(&dialog)
            .iter()
            .all(|w| w.widget_name() != format!("revoke:{mine}")),
        "no Revoke for this device"
    );
    named::<gtk::Button>(&dialog, &format!("revoke:{theirs}")).emit_clicked();
    assert!(
        wait_until(|| owner.last_toast().contains("can no longer sign in as ann")),
        "toast: {}",
        owner.last_toast()
    );
    assert!(
        wait_until(|| device_rows(&dialog) == [format!("device:{mine}")]),
        "{:?}",
        device_rows(&dialog)
    );
    dialog.close();
    exit(&owner);

    // The phone is refused from now on, even with ann gone.
    let refused = server.try_connect("ann", phone, None);
    assert!(
        matches!(refused, Err(ClientError::Refused(RefuseReason::Revoked))),
        "{:?}",
        refused.map(|_| ())
    );
}

/// An invite-only server refuses a new name without an invite, and the page says where the
/// invite goes; a wrong code is told apart.
#[gtk::test]
fn an_invite_only_server_asks_for_an_invite_code() {
    let server = start_server_with(|config| config.invite_only = true);
    let window = window_for(&server, "newcomer");
    let page = window.sign_in_page();
    page.sign_in_button().emit_clicked();
    assert!(wait_until(|| page.error().is_some()), "an error is shown");
    let error = page.error().expect("error text");
    assert!(
        error.contains("only with an invite") && error.contains("Link or Invite Code"),
        "{error}"
    );
    page.set_code("WRONG-CODE-WRONG-CODE");
    page.sign_in_button().emit_clicked();
    assert!(
        wait_until(|| page
            .error()
            .is_some_and(|e| e.contains("unknown, already used"))),
        "{:?}",
        page.error()
    );
    assert_eq!(window.page().as_deref(), Some("sign-in"));
    exit(&window);
}
