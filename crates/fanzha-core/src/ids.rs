//! Typed identifiers. Every row id is an `i64` assigned by the store; the
//! newtypes stop a resident id from being passed where a user id is wanted.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($($(#[$m:meta])* $name:ident),* $(,)?) => {$(
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse::<i64>().map($name)
            }
        }
    )*};
}

id_type!(
    /// A node of the org tree (county, township, village, grid).
    NodeId,
    /// A unit (乡属单位): school, police station, bank branch…
    UnitId,
    /// A resident of the registry (人口).
    ResidentId,
    /// A login account.
    UserId,
    /// An API token for machine clients.
    TokenId,
    /// An entry of the audit log.
    AuditId,
);
