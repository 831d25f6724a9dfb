use adw::subclass::prelude::*;
use gtk::{CompositeTemplate, glib};

#[derive(Debug, Default, CompositeTemplate)]
#[template(file = "users_popover.ui")]
pub struct UsersPopover {
    #[template_child]
    pub count_label: TemplateChild<gtk::Label>,
    #[template_child]
    pub list: TemplateChild<gtk::ListBox>,
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

impl ObjectImpl for UsersPopover {}
impl WidgetImpl for UsersPopover {}
impl PopoverImpl for UsersPopover {}
