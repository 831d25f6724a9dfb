use std::sync::OnceLock;

use adw::subclass::prelude::*;
use gtk::{CompositeTemplate, glib, glib::subclass::Signal};

#[derive(Debug, Default, CompositeTemplate)]
#[template(file = "sign_in.ui")]
pub struct SignIn {
    #[template_child]
    pub server_row: TemplateChild<adw::EntryRow>,
    #[template_child]
    pub user_row: TemplateChild<adw::EntryRow>,
    #[template_child]
    pub code_row: TemplateChild<adw::EntryRow>,
    #[template_child]
    pub error_label: TemplateChild<gtk::Label>,
    #[template_child]
    pub sign_in_button: TemplateChild<gtk::Button>,
    #[template_child]
    pub spinner: TemplateChild<gtk::Spinner>,
    #[template_child]
    pub button_label: TemplateChild<gtk::Label>,
}

#[glib::object_subclass]
impl ObjectSubclass for SignIn {
    const NAME: &'static str = "ChatSignIn";
    type Type = super::SignIn;
    type ParentType = adw::Bin;

    fn class_init(klass: &mut Self::Class) {
        klass.bind_template();
    }

    fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
        obj.init_template();
    }
}

impl ObjectImpl for SignIn {
    fn signals() -> &'static [Signal] {
        static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
        // The user asked to sign in with the fields as they are.
        SIGNALS.get_or_init(|| vec![Signal::builder("sign-in").build()])
    }

    fn constructed(&self) {
        self.parent_constructed();
        self.obj().setup();
    }
}

impl WidgetImpl for SignIn {
    fn grab_focus(&self) -> bool {
        self.obj().focus_first_empty()
    }
}
impl BinImpl for SignIn {}
