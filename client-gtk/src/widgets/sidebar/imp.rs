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

use crate::model::Conversation;

#[derive(Debug, Default, CompositeTemplate)]
#[template(file = "sidebar.ui")]
pub struct Sidebar {
    #[template_child]
    pub list: TemplateChild<gtk::ListBox>,
    /// The store the list is bound to.
    pub model: RefCell<Option<gio::ListStore>>,
    /// The window is selecting a row itself: not the user's choice.
    pub selecting: Cell<bool>,
}

#[glib::object_subclass]
impl ObjectSubclass for Sidebar {
    const NAME: &'static str = "ChatSidebar";
    type Type = super::Sidebar;
    type ParentType = gtk::Box;

    fn class_init(klass: &mut Self::Class) {
        klass.bind_template();
    }

    fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
        obj.init_template();
    }
}

impl ObjectImpl for Sidebar {
    fn signals() -> &'static [Signal] {
        static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
        SIGNALS.get_or_init(|| {
            vec![
                Signal::builder("conversation-selected")
                    .param_types([Conversation::static_type()])
                    .build(),
            ]
        })
    }

    fn constructed(&self) {
        self.parent_constructed();
        self.obj().setup();
    }
}

impl WidgetImpl for Sidebar {}
impl BoxImpl for Sidebar {}
