//! The store's one error type.
//!
//! Messages never carry personal values: driver errors are reduced to their
//! code and message (PostgreSQL's `DETAIL`, which quotes key values, is
//! dropped) and constraint violations are turned into fixed sentences.

/// Everything a store call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The record the call names does not exist (or is outside the caller's scope).
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The call collides with stored data: a unique key is taken, a record is
    /// still referenced, a version check failed. `reason` says which.
    #[error("conflict: {reason}")]
    Conflict { reason: String },
    /// The call's input breaks a rule (wrong node kind, empty name, …).
    #[error("invalid: {reason}")]
    Invalid { reason: String },
    /// The database driver failed (connection lost, disk full, bad SQL…).
    #[error("database error: {0}")]
    Backend(String),
    /// A stored value could not be read back (unknown code, bad date…).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        StoreError::Invalid {
            reason: reason.into(),
        }
    }
    pub(crate) fn conflict(reason: impl Into<String>) -> Self {
        StoreError::Conflict {
            reason: reason.into(),
        }
    }
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        StoreError::Corrupt(what.into())
    }

    /// Prefixes the reason with the index of the batch row that caused it.
    pub(crate) fn at_row(self, row: usize) -> Self {
        match self {
            StoreError::NotFound { what } => StoreError::Invalid {
                reason: format!("row {row}: {what} not found"),
            },
            StoreError::Conflict { reason } => StoreError::Conflict {
                reason: format!("row {row}: {reason}"),
            },
            StoreError::Invalid { reason } => StoreError::Invalid {
                reason: format!("row {row}: {reason}"),
            },
            StoreError::Backend(m) => StoreError::Backend(format!("row {row}: {m}")),
            StoreError::Corrupt(m) => StoreError::Corrupt(format!("row {row}: {m}")),
        }
    }

    /// True for [`StoreError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
    /// True for [`StoreError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
    /// True for [`StoreError::Invalid`].
    pub fn is_invalid(&self) -> bool {
        matches!(self, StoreError::Invalid { .. })
    }
}

/// Known unique keys: a needle found in SQLite's message or PostgreSQL's
/// constraint name, and the sentence to show.
const UNIQUE_REASONS: &[(&str, &str, &str)] = &[
    (
        "residents.id_bidx",
        "residents_id_bidx_key",
        "a resident with this ID number already exists",
    ),
    (
        "users.username",
        "users_username_key",
        "this username is already taken",
    ),
    (
        "org_nodes_sibling_name",
        "org_nodes_sibling_name",
        "a sibling node with this name already exists",
    ),
    (
        "units.node_id, units.name",
        "units_node_name",
        "a unit with this name already exists at this node",
    ),
    (
        "sessions.token_hash",
        "sessions_pkey",
        "a session with this token already exists",
    ),
    (
        "api_tokens.token_hash",
        "api_tokens_token_hash_key",
        "a token with this hash already exists",
    ),
    (
        "audit_log.seq",
        "audit_log_pkey",
        "audit sequence number already used (concurrent append)",
    ),
];

pub(crate) fn unique_reason(sqlite_msg: Option<&str>, pg_constraint: Option<&str>) -> String {
    for (sq, pg, reason) in UNIQUE_REASONS {
        if sqlite_msg.is_some_and(|m| m.contains(sq)) || pg_constraint == Some(*pg) {
            return (*reason).to_string();
        }
    }
    "a record with the same key already exists".to_string()
}

pub(crate) const FK_REASON: &str = "a referenced record does not exist, or the record is still referenced";

pub(crate) type Result<T, E = StoreError> = std::result::Result<T, E>;
