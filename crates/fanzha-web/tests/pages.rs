//! Page tests: the real app on port 0 with a fresh SQLite database and the
//! labelled demo, driven over HTTP like a browser without JavaScript.

#[path = "pages/support.rs"]
mod support;

#[path = "pages/admin.rs"]
mod admin;
#[path = "pages/forms.rs"]
mod forms;
#[path = "pages/import.rs"]
mod import;
#[path = "pages/intel.rs"]
mod intel;
#[path = "pages/leads.rs"]
mod leads;
#[path = "pages/matrix.rs"]
mod matrix;
#[path = "pages/tasks.rs"]
mod tasks;
