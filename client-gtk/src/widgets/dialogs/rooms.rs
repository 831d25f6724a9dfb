//! Rooms: "Join or Create a Room…" lists the server's rooms (name, topic, members) and takes a new
//! `#name`; "Set Topic…" edits the shown room's topic. What the server refuses (no such room, too
//! many rooms, topic too long...) comes back as a `Problem` and shows as a toast over the chat.

use adw::prelude::*;
use client::wire::RoomInfo;

use crate::{
    i18n::{fill, gettext, ngettext},
    session::ChatSession,
};

/// Lists the server's rooms (they arrive a moment after the dialog opens) and joins the one
/// chosen, or the name typed; the window shows the room once it is in.
pub fn join_room_dialog(
    parent: &impl IsA<gtk::Window>,
    session: &ChatSession,
) -> adw::MessageDialog {
    let dialog = adw::MessageDialog::new(
        Some(parent),
        Some(&gettext("Join or Create a Room")),
        Some(&gettext(
            "Choose one of the server's rooms, or type a new name to make a room.",
        )),
    );
    let content = gtk::Box::new(gtk::Orientation::Vertical, 12);
    let rooms = gtk::ListBox::new();
    rooms.set_widget_name("rooms");
    rooms.set_selection_mode(gtk::SelectionMode::None);
    rooms.add_css_class("boxed-list");
    let waiting = adw::ActionRow::new();
    waiting.set_title(&gettext("Asking the server for its rooms…"));
    rooms.append(&waiting);
    let scroller = gtk::ScrolledWindow::new();
    scroller.set_hscrollbar_policy(gtk::PolicyType::Never);
    scroller.set_propagate_natural_height(true);
    scroller.set_max_content_height(280);
    scroller.set_child(Some(&rooms));
    content.append(&scroller);

    let name = adw::EntryRow::new();
    name.set_widget_name("room-name");
    name.set_title(&gettext("Room name, like #team"));
    let entry_list = gtk::ListBox::new();
    entry_list.set_selection_mode(gtk::SelectionMode::None);
    entry_list.add_css_class("boxed-list");
    entry_list.append(&name);
    content.append(&entry_list);
    dialog.set_extra_child(Some(&content));

    dialog.add_response("cancel", &gettext("_Cancel"));
    dialog.add_response("join", &gettext("_Join"));
    dialog.set_response_appearance("join", adw::ResponseAppearance::Suggested);
    dialog.set_response_enabled("join", false);
    dialog.set_default_response(Some("join"));
    dialog.set_close_response("cancel");
    name.connect_changed(glib_clone_dialog(&dialog, |dialog, entry| {
        dialog.set_response_enabled("join", !entry.text().trim().is_empty());
    }));
    name.connect_entry_activated(glib_clone_dialog(&dialog, |dialog, entry| {
        if !entry.text().trim().is_empty() {
            dialog.response("join");
        }
    }));

    let joining = session.clone();
    let typed = name.clone();
    dialog.connect_response(Some("join"), move |_, _| {
        joining.join_room(&typed.text());
    });

    let weak_rooms = rooms.downgrade();
    let weak_dialog = dialog.downgrade();
    let weak_name = name.downgrade();
    session.list_rooms(move |list| {
        if let (Some(rooms), Some(dialog), Some(name)) = (
            weak_rooms.upgrade(),
            weak_dialog.upgrade(),
            weak_name.upgrade(),
        ) {
            fill_rooms(&rooms, &dialog, &name, list);
        }
    });
    dialog
}

/// A closure for an entry row's signal that also gets the dialog (held weakly).
fn glib_clone_dialog(
    dialog: &adw::MessageDialog,
    f: impl Fn(&adw::MessageDialog, &adw::EntryRow) + 'static,
) -> impl Fn(&adw::EntryRow) + 'static {
    let dialog = dialog.downgrade();
    move |entry| {
        if let Some(dialog) = dialog.upgrade() {
            f(&dialog, entry);
        }
    }
}

/// The server's answer: one activatable row per room; choosing one joins it.
fn fill_rooms(
    rooms: &gtk::ListBox,
    dialog: &adw::MessageDialog,
    name: &adw::EntryRow,
    mut list: Vec<RoomInfo>,
) {
    while let Some(row) = rooms.row_at_index(0) {
        rooms.remove(&row);
    }
    if list.is_empty() {
        let none = adw::ActionRow::new();
        none.set_title(&gettext("No rooms yet: type a name to make the first."));
        rooms.append(&none);
        return;
    }
    list.sort_by_key(|r| r.room.to_lowercase());
    for room in list {
        let row = adw::ActionRow::new();
        row.set_widget_name(&format!("room:{}", room.room));
        row.set_use_markup(false);
        row.set_title(&room.room);
        row.set_subtitle(&room.topic);
        let members = gtk::Label::new(Some(&fill(
            &ngettext("{count} member", "{count} members", room.members),
            &[("count", &room.members.to_string())],
        )));
        members.add_css_class("dim-label");
        row.add_suffix(&members);
        row.set_activatable(true);
        let dialog = dialog.downgrade();
        let name = name.downgrade();
        let chosen = room.room.clone();
        row.connect_activated(move |_| {
            if let (Some(dialog), Some(name)) = (dialog.upgrade(), name.upgrade()) {
                name.set_text(&chosen);
                dialog.response("join");
                dialog.close();
            }
        });
        rooms.append(&row);
    }
}

/// Edits the topic of `room`; the server tells every member, the header shows it.
pub fn topic_dialog(
    parent: &impl IsA<gtk::Window>,
    session: &ChatSession,
    room: &str,
    topic: &str,
) -> adw::MessageDialog {
    let dialog = adw::MessageDialog::new(
        Some(parent),
        Some(&fill(&gettext("Topic of {room}"), &[("room", room)])),
        Some(&gettext(
            "Everybody in the room sees it under the room's name. Leave it empty to clear it.",
        )),
    );
    let entry = adw::EntryRow::new();
    entry.set_widget_name("topic");
    entry.set_title(&gettext("Topic"));
    entry.set_text(topic);
    let list = gtk::ListBox::new();
    list.set_selection_mode(gtk::SelectionMode::None);
    list.add_css_class("boxed-list");
    list.append(&entry);
    dialog.set_extra_child(Some(&list));
    dialog.add_response("cancel", &gettext("_Cancel"));
    dialog.add_response("set", &gettext("_Set Topic"));
    dialog.set_response_appearance("set", adw::ResponseAppearance::Suggested);
    dialog.set_default_response(Some("set"));
    dialog.set_close_response("cancel");
    entry.connect_entry_activated(glib_clone_dialog(&dialog, |dialog, _| {
        dialog.response("set");
        dialog.close();
    }));
    let session = session.clone();
    let room = room.to_owned();
    let typed = entry.clone();
    dialog.connect_response(Some("set"), move |_, _| {
        session.set_topic(&room, &typed.text());
    });
    dialog
}
