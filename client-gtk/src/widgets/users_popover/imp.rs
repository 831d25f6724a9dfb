use std::{
    cell::{Cell, RefCell},
    sync::OnceLock,
};

use adw::subclass::prelude::*;
use gtk::{CompositeTemplate, gio, glib, glib::subclass::Signal, prelude::*};

#[derive(Debug, Default, CompositeTemplate)]
#[template(file = "users_popover.ui")]
pub struct UsersPopover {
    #[template_child]
    pub count_label: TemplateChild<gtk::Label>,
    #[template_child]
    pub list: TemplateChild<gtk::ListBox>,
    /// The users shown, to build the rows again when `operator` changes.
    pub model: RefCell<Option<gio::ListStore>>,
    /// Offer Kick and Ban on the others' rows.
    pub operator: Cell<bool>,
    /// The count follows the model shown: its handler, to let go when another room is shown.
    pub count_handler: RefCell<Option<(gio::ListStore, glib::SignalHandlerId)>>,
}

#[glib::object_subclass]
impl ObjectSubclass for UsersPopover {
    const NAME: &'static str = "ChatUsersPopover";
    type Type = super::UsersPopover;
    type ParentType = gtk::Popover;

    fn class_init(klass: &mut Self::Class) {
        klass.bind_template();
    }

    fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
        obj.init_template();
    }
}

impl ObjectImpl for UsersPopover {
    fn signals() -> &'static [Signal] {
        static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
        SIGNALS.get_or_init(|| {
            // An operator asked to kick (false) or ban (true) the user named.
            vec![
                Signal::builder("moderate")
                    .param_types([String::static_type(), bool::static_type()])
                    .build(),
                // The user asked to write to the user named (a direct conversation).
                Signal::builder("message-user")
                    .param_types([String::static_type()])
                    .build(),
            ]
        })
    }
}
impl WidgetImpl for UsersPopover {}
impl PopoverImpl for UsersPopover {}
