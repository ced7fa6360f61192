//! Appeals.
