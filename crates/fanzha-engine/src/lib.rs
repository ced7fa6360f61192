//! The engine: pure, synchronous, no I/O. It never reads the clock; time is
//! passed in. Given the same inputs it gives the same outputs.
pub mod detect;
pub mod index;
pub mod text;
