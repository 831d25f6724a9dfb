//! Rooms and direct conversations in the real window, against a real server on loopback (issue 18):
//! the sidebar, unread counts, the join dialog, the Users list's Message button, mentions and
//! their notifications. Run like `tests/ui.rs`: `dbus-run-session -- xvfb-run -a cargo test -p
//! client-gtk --test rooms`. The other ends are client library sessions with keys of their own.

use adw::prelude::*;
use client::{Conversation, Event, Session};
use client_gtk::widgets::{MessageRow, Window};
use support::*;

mod support;

/// Waits for `events` to bring what `wanted` picks out of one event.
fn expect<T>(
    events: &async_channel::Receiver<Event>,
    what: &str,
    mut wanted: impl FnMut(&Event) -> Option<T>,
) -> T {
    let mut found = None;
    assert!(
        wait_until(|| {
            while found.is_none()
                && let Ok(event) = events.try_recv()
            {
                found = wanted(&event);
            }
            found.is_some()
        }),
        "no {what}"
    );
    found.expect("found")
}

/// `who` joins `room` and waits until the server says so.
fn join(who: &Session, events: &async_channel::Receiver<Event>, room: &str) {
    who.join_room(room).expect("join sent");
    expect(events, "RoomJoined", |e| {
        matches!(e, Event::RoomJoined(view) if view.room == room).then_some(())
    });
}

fn texts(window: &Window) -> Vec<String> {
    messages(window).iter().map(|m| m.text()).collect()
}

/// Selects `name`'s row in the sidebar, as a click does.
fn select(window: &Window, name: &str) {
    let sidebar = window.sidebar();
    let row = sidebar.row(name).unwrap_or_else(|| panic!("no row {name}"));
    sidebar.list().select_row(Some(&row));
}

fn say(session: &Session, to: Conversation, text: &str) {
    session.say_to(to, text).expect("said");
}

fn room(name: &str) -> Conversation {
    Conversation::Room(name.into())
}

/// The join dialog lists the server's rooms (with topic) and joins the one chosen, or makes the
/// one typed; each room shows only its own lines; a line in the room not shown raises its unread
/// count, and showing the room clears it.
#[gtk::test]
fn rooms_joined_through_the_dialog_keep_their_own_lines_and_unread_counts() {
    let server = start_server();
    let (bob, bob_events) = server.connect_as("bob", other_identity());
    join(&bob, &bob_events, "#rust");
    bob.set_topic("#rust", "crabs").expect("topic sent");
    expect(&bob_events, "Topic", |e| {
        matches!(e, Event::Topic { .. }).then_some(())
    });

    let window = window_for(&server, "ann");
    sign_in(&window);
    let sidebar = window.sidebar();
    assert_eq!(sidebar.shown_names(), ["#general"]);
    assert_eq!(window.header_title(), "#general");
    assert!(wait_until(|| window.is_active()), "the window is active");

    // Ctrl+J's action: the dialog lists #general and #rust; choosing #rust joins and shows it.
    menu(&window, "win.join-room");
    let dialog = dialog_over(&window);
    let mut rust_row = None;
    assert!(wait_until(|| {
        rust_row = descendants(&dialog)
            .into_iter()
            .find(|w| w.widget_name() == "room:#rust")
            .and_downcast::<adw::ActionRow>();
        rust_row.is_some()
    }));
    let rust_row = rust_row.expect("the #rust row");
    assert_eq!(rust_row.subtitle().as_deref(), Some("crabs"));
    ActionRowExt::activate(&rust_row);
    assert!(
        wait_until(|| window.header_title() == "#rust"),
        "#rust shown after joining: {}",
        window.header_title()
    );
    assert_eq!(window.subtitle(), "crabs", "the topic under the name");
    assert_eq!(sidebar.shown_names(), ["#general", "#rust"]);
    // A window manager gives the focus back to the window when the dialog closes; Xvfb has
    // none, so the test does it.
    window.present();
    assert!(
        wait_until(|| window.is_active()),
        "the window is active again once the dialog is gone"
    );

    // Each room shows only its own lines; the other one counts what arrives unseen.
    say(&bob, room("#general"), "in general");
    say(&bob, room("#rust"), "in rust");
    assert!(wait_until(|| texts(&window).contains(&"in rust".to_owned())));
    assert!(
        wait_until(|| sidebar.badge("#general").as_deref() == Some("1")),
        "an unread count on #general: {:?}",
        sidebar.badge("#general")
    );
    assert!(!texts(&window).contains(&"in general".to_owned()));
    assert_eq!(sidebar.badge("#rust"), None, "nothing unread where we look");

    select(&window, "#general");
    assert_eq!(window.header_title(), "#general");
    assert!(texts(&window).contains(&"in general".to_owned()));
    assert!(!texts(&window).contains(&"in rust".to_owned()));
    assert_eq!(sidebar.badge("#general"), None, "seen, so no longer unread");

    // Alt+Down's action goes to the next conversation.
    menu(&window, "win.next-conversation");
    assert_eq!(window.header_title(), "#rust");

    // A new room typed into the dialog is made, joined and shown.
    menu(&window, "win.join-room");
    let dialog = dialog_over(&window);
    named::<adw::EntryRow>(&dialog, "room-name").set_text("#brand-new");
    dialog.response("join");
    assert!(
        wait_until(|| window.header_title() == "#brand-new"),
        "{}",
        window.header_title()
    );
    assert_eq!(sidebar.shown_names(), ["#general", "#brand-new", "#rust"]);

    // Set Topic… shows the new topic under the name.
    window.present();
    menu(&window, "win.set-topic");
    let dialog = dialog_over(&window);
    named::<adw::EntryRow>(&dialog, "topic").set_text("launch plans");
    dialog.response("set");
    assert!(
        wait_until(|| window.subtitle() == "launch plans"),
        "{}",
        window.subtitle()
    );

    // Leave Room takes the room out and goes back to the default room, which cannot be left.
    menu(&window, "win.leave-room");
    assert!(
        wait_until(|| sidebar.shown_names() == ["#general", "#rust"]),
        "{:?}",
        sidebar.shown_names()
    );
    assert_eq!(window.header_title(), "#general");
    assert!(
        !window
            .lookup_action("leave-room")
            .is_some_and(|a| a.is_enabled()),
        "no Leave Room for the default room"
    );

    // What the server refuses is said in plain words.
    window.present();
    menu(&window, "win.join-room");
    let dialog = dialog_over(&window);
    named::<adw::EntryRow>(&dialog, "room-name").set_text("#no spaces please");
    dialog.response("join");
    assert!(
        wait_until(|| window.last_toast().starts_with("That is not a room name")),
        "toast: {}",
        window.last_toast()
    );
    exit(&window);
    server.rt.block_on(bob.quit());
}

/// Message on bob's row of the Users list opens the direct conversation with him; what ann types
/// there reaches bob (and only as a direct line), and his answer lands in the same conversation.
/// A direct line from somebody not in the sidebar yet gets its own row with an unread count; a
/// line in a room that names ann is highlighted and notified.
#[gtk::test]
fn a_direct_conversation_starts_from_the_users_list_and_mentions_are_highlighted() {
    let server = start_server();
    let (bob, bob_events) = server.connect_as("bob", other_identity());
    let window = window_for(&server, "ann");
    sign_in(&window);
    let sidebar = window.sidebar();

    window.users_button().popup();
    let popover = window.users_popover();
    assert!(wait_until(|| popover.shown_names() == ["ann", "bob"]));
    assert!(
        popover.message_button("ann").is_none(),
        "no Message to ourselves"
    );
    popover
        .message_button("bob")
        .expect("Message on bob's row")
        .emit_clicked();
    assert_eq!(window.header_title(), "bob");
    assert_eq!(sidebar.shown_names(), ["#general", "bob"]);
    assert!(
        !window.users_button().is_visible(),
        "no users list in a direct conversation"
    );

    let view = window.chat_view();
    view.entry().set_text("hello bob, just you");
    view.send_button().emit_clicked();
    let line = expect(&bob_events, "ann's direct line", |e| match e {
        Event::Line(line) if line.from == "ann" => Some(line.clone()),
        _ => None,
    });
    assert_eq!(line.conversation, Conversation::Direct("ann".into()));
    assert_eq!(line.text, "hello bob, just you");

    say(
        &bob,
        Conversation::Direct("ann".into()),
        "hi ann, just you too",
    );
    assert!(
        wait_until(|| texts(&window).contains(&"hi ann, just you too".to_owned())),
        "bob's answer in the conversation with bob: {:?}",
        texts(&window)
    );
    assert!(
        texts(&window).contains(&"hello bob, just you".to_owned()),
        "both ends in one conversation"
    );

    // Somebody new writes: a row of their own, counted.
    let (carol, _carol_events) = server.connect_as("carol", other_identity());
    say(&carol, Conversation::Direct("ann".into()), "psst");
    assert!(
        wait_until(|| sidebar.badge("carol").as_deref() == Some("1")),
        "carol's row with 1 unread: {:?} {:?}",
        sidebar.shown_names(),
        sidebar.badge("carol")
    );
    assert_eq!(sidebar.shown_names(), ["#general", "bob", "carol"]);
    assert_eq!(
        window.last_notification(),
        Some(("carol".to_owned(), "carol".to_owned(), "psst".to_owned())),
        "a direct line elsewhere is notified"
    );
    // Clicking the notification (its default action) shows carol's conversation.
    app().activate_action("show-conversation", Some(&"carol".to_variant()));
    assert_eq!(window.header_title(), "carol");
    assert_eq!(sidebar.badge("carol"), None, "read once shown");
    select(&window, "bob");

    // A mention in #general while ann reads bob's conversation: notified, and highlighted there.
    say(&bob, room("#general"), "ANN: look at this");
    say(&bob, room("#general"), "annual numbers");
    assert!(
        wait_until(|| sidebar.badge("#general").as_deref() == Some("2")),
        "{:?}",
        sidebar.badge("#general")
    );
    assert_eq!(
        window.last_notification(),
        Some((
            "#general".to_owned(),
            "bob in #general".to_owned(),
            "ANN: look at this".to_owned()
        ))
    );
    select(&window, "#general");
    let highlighted = |text: &str| {
        descendants(&window.chat_view())
            .into_iter()
            .filter_map(|w| w.downcast::<MessageRow>().ok())
            .find(|row| row.message().is_some_and(|m| m.text() == text))
            .map(|row| row.has_css_class("mention"))
    };
    assert!(
        wait_until(|| highlighted("ANN: look at this") == Some(true)),
        "the mention is highlighted"
    );
    assert_eq!(highlighted("annual numbers"), Some(false), "not a mention");
    exit(&window);
    server.rt.block_on(bob.quit());
    server.rt.block_on(carol.quit());
}

/// Each conversation opens on its newest lines, following them: read halfway up a room, go to
/// another conversation and back, and the view is at the bottom again, and what is sent follows.
#[gtk::test]
fn switching_back_shows_the_newest_lines_and_follows_them() {
    let server = start_server();
    let (bob, _bob_events) = server.connect_as("bob", other_identity());
    let window = window_for(&server, "ann");
    sign_in(&window);
    let view = window.chat_view();
    for i in 0..40 {
        say(&bob, room("#general"), &format!("line {i}"));
    }
    assert!(wait_until(|| find(&window, "line 39").is_some()));
    let adjustment = view.list_view().vadjustment().expect("list scrolls");
    let at_bottom = || adjustment.value() + adjustment.page_size() >= adjustment.upper() - 4.0;
    assert!(wait_until(
        || adjustment.upper() > adjustment.page_size() * 1.5
    ));
    assert!(wait_until(at_bottom));
    adjustment.set_value((adjustment.upper() - adjustment.page_size()) / 2.0);
    assert!(wait_until(|| !view.is_following()));

    let direct = window.session().open_direct("bob");
    window.show_conversation(&direct);
    assert_eq!(window.header_title(), "bob");
    select(&window, "#general");
    assert!(wait_until(at_bottom), "back on the newest lines");
    assert!(view.is_following());
    view.entry().set_text("my reply");
    view.entry().emit_activate();
    assert!(wait_until(|| find(&window, "my reply").is_some()));
    assert!(
        wait_until(at_bottom),
        "{} + {} of {}",
        adjustment.value(),
        adjustment.page_size(),
        adjustment.upper()
    );
    assert!(view.is_following());
    exit(&window);
    server.rt.block_on(bob.quit());
}

/// What is typed and not sent stays with its conversation: half a line to bob, a look at
/// `#general` (an empty composer there, and a line typed for it), back to bob (his half line, to
/// be finished and sent to him), and back to `#general` (its own line still there).
#[gtk::test]
fn each_conversation_keeps_its_own_draft() {
    let server = start_server();
    let (bob, bob_events) = server.connect_as("bob", other_identity());
    let window = window_for(&server, "ann");
    sign_in(&window);
    let entry = window.chat_view().entry();
    select(&window, "#general");
    let direct = window.session().open_direct("bob");
    window.show_conversation(&direct);
    entry.set_text("half a thought");

    select(&window, "#general");
    assert_eq!(
        entry.text(),
        "",
        "bob's draft does not follow into #general"
    );
    entry.set_text("for everybody");
    select(&window, "bob");
    assert_eq!(entry.text(), "half a thought");
    assert_eq!(
        entry.selection_bounds(),
        None,
        "nothing selected: a key typed goes on with the draft"
    );
    entry.set_text("half a thought, finished");
    entry.emit_activate();
    let line = expect(&bob_events, "ann's direct line", |e| match e {
        Event::Line(line) if line.from == "ann" => Some(line.clone()),
        _ => None,
    });
    assert_eq!(line.conversation, Conversation::Direct("ann".into()));
    assert_eq!(line.text, "half a thought, finished");
    assert_eq!(entry.text(), "", "sent, so nothing is kept");
    select(&window, "#general");
    assert_eq!(entry.text(), "for everybody");
    select(&window, "bob");
    assert_eq!(entry.text(), "", "a sent line is not a draft");
    exit(&window);
    server.rt.block_on(bob.quit());
}
