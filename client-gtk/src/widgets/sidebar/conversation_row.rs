//! `ChatConversationRow`: how one [`Conversation`] looks in the sidebar, following its unread
//! count: the badge shows while there is something unread, and the row reads bold (`unread`).

use adw::subclass::prelude::*;
use gtk::{glib, prelude::*};

use crate::{
    i18n::{fill, gettext, ngettext},
    model::Conversation,
};

mod imp {
    use std::cell::RefCell;

    use super::*;
    use gtk::CompositeTemplate;

    #[derive(Debug, Default, CompositeTemplate)]
    #[template(file = "conversation_row.ui")]
    pub struct ConversationRow {
        #[template_child]
        pub spoken: TemplateChild<gtk::Label>,
        #[template_child]
        pub room_icon: TemplateChild<gtk::Image>,
        #[template_child]
        pub avatar: TemplateChild<adw::Avatar>,
        #[template_child]
        pub name: TemplateChild<gtk::Label>,
        #[template_child]
        pub badge_spoken: TemplateChild<gtk::Label>,
        #[template_child]
        pub badge: TemplateChild<gtk::Label>,
        /// The conversation shown and the handler that follows its unread count.
        pub bound: RefCell<Option<(Conversation, glib::SignalHandlerId)>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ConversationRow {
        const NAME: &'static str = "ChatConversationRow";
        type Type = super::ConversationRow;
        type ParentType = gtk::ListBoxRow;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for ConversationRow {
        fn dispose(&self) {
            if let Some((conversation, handler)) = self.bound.take() {
                conversation.disconnect(handler);
            }
        }
    }
    impl WidgetImpl for ConversationRow {}
    impl ListBoxRowImpl for ConversationRow {}
}

glib::wrapper! {
    pub struct ConversationRow(ObjectSubclass<imp::ConversationRow>)
        @extends gtk::ListBoxRow, gtk::Widget,
        @implements gtk::Actionable, gtk::Buildable, gtk::ConstraintTarget;
}

impl ConversationRow {
    pub fn new(conversation: &Conversation) -> Self {
        let row: Self = glib::Object::new();
        let imp = row.imp();
        let name = conversation.name();
        // The name doubles as a stable handle for tests and for finding a row.
        row.set_widget_name(&format!("conversation:{name}"));
        let direct = conversation.direct();
        imp.room_icon.set_visible(!direct);
        imp.avatar.set_visible(direct);
        imp.avatar.set_text(Some(&name));
        imp.name.set_label(name.strip_prefix('#').unwrap_or(&name));
        let weak = row.downgrade();
        let handler = conversation.connect_unread_notify(move |conversation| {
            if let Some(row) = weak.upgrade() {
                row.update(conversation);
            }
        });
        imp.bound.replace(Some((conversation.clone(), handler)));
        row.update(conversation);
        row
    }

    /// What the badge shows; `None` while it is hidden.
    pub fn badge(&self) -> Option<String> {
        let badge = &self.imp().badge;
        badge.is_visible().then(|| badge.label().to_string())
    }

    /// How a screen reader reads the row.
    pub fn spoken(&self) -> String {
        self.imp().spoken.label().to_string()
    }

    fn update(&self, conversation: &Conversation) {
        let imp = self.imp();
        let unread = conversation.unread();
        let count = fill(
            &ngettext("{count} unread", "{count} unread", unread),
            &[("count", &unread.to_string())],
        );
        imp.badge.set_visible(unread > 0);
        imp.badge.set_label(&unread.to_string());
        imp.badge.set_tooltip_text(Some(&count));
        imp.badge_spoken.set_label(&count);
        if unread > 0 {
            self.add_css_class("unread");
        } else {
            self.remove_css_class("unread");
        }
        let kind = if conversation.direct() {
            gettext("direct conversation")
        } else {
            gettext("room")
        };
        let name = conversation.name();
        imp.spoken.set_label(&if unread > 0 {
            // Translators: how a screen reader reads a sidebar row, e.g. "#rust, room, 3 unread".
            fill(
                &gettext("{name}, {kind}, {unread}"),
                &[("name", &name), ("kind", &kind), ("unread", &count)],
            )
        } else {
            // Translators: how a screen reader reads a sidebar row without unread lines.
            fill(
                &gettext("{name}, {kind}"),
                &[("name", &name), ("kind", &kind)],
            )
        });
    }
}
