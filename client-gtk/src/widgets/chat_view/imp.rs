use std::{
    cell::{Cell, RefCell},
    sync::OnceLock,
};

use adw::subclass::prelude::*;
use gtk::{
    CompositeTemplate, gio,
    glib::{self, subclass::Signal},
    prelude::*,
};

#[derive(Debug, Default, CompositeTemplate)]
#[template(file = "chat_view.ui")]
pub struct ChatView {
    #[template_child]
    pub banner: TemplateChild<gtk::Revealer>,
    #[template_child]
    pub banner_label: TemplateChild<gtk::Label>,
    #[template_child]
    pub reconnect_button: TemplateChild<gtk::Button>,
    #[template_child]
    pub scroller: TemplateChild<gtk::ScrolledWindow>,
    #[template_child]
    pub list_view: TemplateChild<gtk::ListView>,
    #[template_child]
    pub jump_button: TemplateChild<gtk::Button>,
    #[template_child]
    pub jump_label: TemplateChild<gtk::Label>,
    #[template_child]
    pub entry: TemplateChild<gtk::Entry>,
    #[template_child]
    pub send_button: TemplateChild<gtk::Button>,
    /// Follow new lines: true while the user sits at the bottom.
    pub sticky: Cell<bool>,
    /// We moved the view ourselves and it has not reached the bottom yet; scroll events meanwhile
    /// are ours, not the user's.
    pub auto_scrolling: Cell<bool>,
    /// Lines added while the user was reading further up.
    pub unseen: Cell<u32>,
    /// The store shown and the handler that counts its new lines.
    pub model: RefCell<Option<(gio::ListStore, glib::SignalHandlerId)>>,
}

#[glib::object_subclass]
impl ObjectSubclass for ChatView {
    const NAME: &'static str = "ChatChatView";
    type Type = super::ChatView;
    type ParentType = gtk::Box;

    fn class_init(klass: &mut Self::Class) {
        klass.bind_template();
    }

    fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
        obj.init_template();
    }
}

impl ObjectImpl for ChatView {
    fn signals() -> &'static [Signal] {
        static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
        SIGNALS.get_or_init(|| {
            vec![
                // The user asked to send the entry's text (Enter or Send); not emitted for blanks.
                Signal::builder("send")
                    .param_types([String::static_type()])
                    .build(),
                Signal::builder("reconnect").build(),
            ]
        })
    }

    fn constructed(&self) {
        self.parent_constructed();
        self.sticky.set(true);
        self.obj().setup();
    }
}

impl WidgetImpl for ChatView {
    fn grab_focus(&self) -> bool {
        self.entry.grab_focus()
    }
}
impl BoxImpl for ChatView {}
