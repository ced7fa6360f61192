//! API tests: the real app on port 0 with a fresh SQLite database and the
//! labelled demo, driven over HTTP.

#[path = "api/support.rs"]
mod support;

#[path = "api/garbage.rs"]
mod garbage;
#[path = "api/intel.rs"]
mod intel;
#[path = "api/leads.rs"]
mod leads;
#[path = "api/matrix.rs"]
mod matrix;
#[path = "api/routes.rs"]
mod routes;
#[path = "api/tasks.rs"]
mod tasks;
