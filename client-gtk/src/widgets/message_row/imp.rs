use std::cell::RefCell;

use adw::subclass::prelude::*;
use gtk::{CompositeTemplate, glib};

use crate::model::Message;

#[derive(Debug, Default, CompositeTemplate)]
#[template(file = "message_row.ui")]
pub struct MessageRow {
    #[template_child]
    pub avatar: TemplateChild<adw::Avatar>,
    #[template_child]
    pub header: TemplateChild<gtk::Box>,
    #[template_child]
    pub sender: TemplateChild<gtk::Label>,
    #[template_child]
    pub time: TemplateChild<gtk::Label>,
    #[template_child]
    pub status: TemplateChild<gtk::Label>,
    #[template_child]
    pub text: TemplateChild<gtk::Label>,
    /// Never shown: what a screen reader reads for the row.
    #[template_child]
    pub spoken: TemplateChild<gtk::Label>,
    /// The message shown and our `notify` handler on it; rows are recycled, so the handler must go
    /// when the row is bound to another message.
    pub bound: RefCell<Option<(Message, glib::SignalHandlerId)>>,
}

#[glib::object_subclass]
impl ObjectSubclass for MessageRow {
    const NAME: &'static str = "ChatMessageRow";
    type Type = super::MessageRow;
    type ParentType = gtk::Box;

    fn class_init(klass: &mut Self::Class) {
        klass.bind_template();
        // Not the default "generic" role, which AT-SPI flattens away with the row's name.
        klass.set_accessible_role(gtk::AccessibleRole::Group);
    }

    fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
        obj.init_template();
    }
}

impl ObjectImpl for MessageRow {
    fn dispose(&self) {
        self.obj().unbind();
    }
}
impl WidgetImpl for MessageRow {}
impl BoxImpl for MessageRow {}
