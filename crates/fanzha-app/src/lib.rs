//! Use cases. The permission gate lives here so that pages and API share it.
pub mod crypto;
pub mod table;
