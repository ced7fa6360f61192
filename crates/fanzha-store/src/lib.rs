//! Persistence. The only crate that writes SQL.
