//! Use cases. The permission gate lives here so that pages and API share it.
