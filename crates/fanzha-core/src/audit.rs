//! The audit chain. Each entry's hash covers its own fields and the hash of
//! the entry before it, so that a changed, deleted or reordered entry breaks
//! every hash after it.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash that stands before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields of an audit entry that the chain protects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFields {
    /// Position in the chain, from 1, with no gaps.
    pub seq: i64,
    pub at: Timestamp,
    /// The acting user's id, or 0 for the system and the public.
    pub actor_id: i64,
    /// The acting user's login name, or `system` / `public`.
    pub actor: String,
    /// What was done, e.g. `resident.update`, `resident.reveal`.
    pub action: String,
    /// What it was done to, e.g. `resident:42`.
    pub target: String,
    /// Free detail, never carrying personal values in the clear.
    pub detail: String,
    /// Client IP, or empty.
    pub ip: String,
}

/// Computes the hex SHA-256 of an entry chained to `prev_hash`.
pub fn entry_hash(prev_hash: &str, f: &AuditFields) -> String {
    let mut h = Sha256::new();
    h.update(b"fanzha-audit-v1\0");
    for part in [
        prev_hash.as_bytes(),
        f.seq.to_string().as_bytes(),
        f.at.0.to_string().as_bytes(),
        f.actor_id.to_string().as_bytes(),
        f.actor.as_bytes(),
        f.action.as_bytes(),
        f.target.as_bytes(),
        f.detail.as_bytes(),
        f.ip.as_bytes(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

/// A stored entry: fields plus the chain hashes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    #[serde(flatten)]
    pub fields: AuditFields,
    pub prev_hash: String,
    pub hash: String,
}

/// Where the chain first goes wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error(
        "entry at position {position} has sequence {found}, expected {expected} (an entry was deleted or reordered)"
    )]
    Sequence {
        position: usize,
        expected: i64,
        found: i64,
    },
    #[error(
        "entry {seq} does not point at the hash of the entry before it (an entry was deleted, inserted or reordered)"
    )]
    Link { seq: i64 },
    #[error("entry {seq} does not match its hash (it was changed)")]
    Hash { seq: i64 },
}

/// Verifies a run of entries that starts at `first_seq` after `prev_hash`.
/// Returns the hash of the last entry.
pub fn verify_chain<'a>(
    mut prev_hash: String,
    first_seq: i64,
    entries: impl IntoIterator<Item = &'a AuditEntry>,
) -> Result<String, ChainError> {
    for (i, e) in entries.into_iter().enumerate() {
        let expected = first_seq + i as i64;
        if e.fields.seq != expected {
            return Err(ChainError::Sequence {
                position: i,
                expected,
                found: e.fields.seq,
            });
        }
        if e.prev_hash != prev_hash {
            return Err(ChainError::Link { seq: e.fields.seq });
        }
        if entry_hash(&prev_hash, &e.fields) != e.hash {
            return Err(ChainError::Hash { seq: e.fields.seq });
        }
        prev_hash = e.hash.clone();
    }
    Ok(prev_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let fields = AuditFields {
                    seq,
                    at: Timestamp(seq * 1000),
                    actor_id: 1,
                    actor: "admin".into(),
                    action: "resident.update".into(),
                    target: format!("resident:{seq}"),
                    detail: String::new(),
                    ip: "127.0.0.1".into(),
                };
                let hash = entry_hash(&prev, &fields);
                let e = AuditEntry {
                    fields,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    #[test]
    fn detects_tampering() {
        let good = chain(5);
        assert!(verify_chain(GENESIS.into(), 1, &good).is_ok());

        let mut changed = good.clone();
        changed[2].fields.detail = "x".into();
        assert_eq!(
            verify_chain(GENESIS.into(), 1, &changed),
            Err(ChainError::Hash { seq: 3 })
        );

        let mut deleted = good.clone();
        deleted.remove(2);
        assert!(matches!(
            verify_chain(GENESIS.into(), 1, &deleted),
            Err(ChainError::Sequence { .. })
        ));

        let mut reordered = good.clone();
        reordered.swap(1, 2);
        assert!(verify_chain(GENESIS.into(), 1, &reordered).is_err());
    }
}
