//! The append-only, hash-chained audit log.
//!
//! Appends read and advance the one-row `audit_head` inside the caller's
//! transaction. SQLite serialises them through its single writer;
//! PostgreSQL through `SELECT … FOR UPDATE` on that row, held to commit. So
//! sequence numbers have no gaps and every entry links to the one before.

use crate::db::{Db, Dialect, Q, Row, params};
use crate::error::Result;
use crate::model::{AuditFilter, AuditHead, AuditRecord};
use fanzha_core::audit::{AuditEntry, AuditFields, entry_hash};

/// An entry waiting for its sequence number.
pub(crate) struct Pending {
    pub(crate) rec_at: fanzha_core::Timestamp,
    pub(crate) actor_id: i64,
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) target: String,
    pub(crate) detail: String,
    pub(crate) ip: String,
}

impl Pending {
    /// The record as given, with `target` replacing an empty target.
    pub(crate) fn from_record(rec: &AuditRecord, target: String) -> Pending {
        Pending {
            rec_at: rec.at,
            actor_id: rec.actor_id,
            actor: rec.actor.clone(),
            action: rec.action.clone(),
            target,
            detail: rec.detail.clone(),
            ip: rec.ip.clone(),
        }
    }
}

async fn lock_head<D: Db>(db: &D) -> Result<(i64, String)> {
    let sql = match db.dialect() {
        Dialect::Postgres => "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
        Dialect::Sqlite => "SELECT seq, hash FROM audit_head WHERE id = 1",
    };
    let mut r = db.query_one(sql, &[]).await?;
    Ok((r.i64(0)?, r.text(1)?))
}

/// Entries written per INSERT statement.
const ROWS_PER_INSERT: usize = 32;

/// Appends entries in order; returns the last sequence number.
pub(crate) async fn append_many<D: Db>(db: &D, items: Vec<Pending>) -> Result<i64> {
    let (mut seq, mut prev) = lock_head(db).await?;
    if items.is_empty() {
        return Ok(seq);
    }
    let mut rows = Vec::with_capacity(items.len());
    for p in items {
        seq += 1;
        let fields = AuditFields {
            seq,
            at: p.rec_at,
            actor_id: p.actor_id,
            actor: p.actor,
            action: p.action,
            target: p.target,
            detail: p.detail,
            ip: p.ip,
        };
        let hash = entry_hash(&prev, &fields);
        rows.push((fields, std::mem::replace(&mut prev, hash.clone()), hash));
    }
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut q = Q::new(
            "INSERT INTO audit_log (seq, at, actor_id, actor, action, target, detail, ip, prev_hash, hash) VALUES ",
        );
        for (i, (f, prev_hash, hash)) in chunk.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" });
            q.bind(f.seq).push(", ").bind(f.at).push(", ").bind(f.actor_id);
            q.push(", ")
                .bind(&f.actor)
                .push(", ")
                .bind(&f.action)
                .push(", ")
                .bind(&f.target);
            q.push(", ").bind(&f.detail).push(", ").bind(&f.ip);
            q.push(", ").bind(prev_hash).push(", ").bind(hash).push(")");
        }
        db.exec(&q.sql, &q.params).await?;
    }
    db.exec(
        "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
        params![seq, &prev],
    )
    .await?;
    Ok(seq)
}

/// Appends one entry; `target` replaces an empty target in `rec`.
pub(crate) async fn append<D: Db>(db: &D, rec: &AuditRecord, target: String) -> Result<i64> {
    append_many(db, vec![Pending::from_record(rec, target)]).await
}

const COLS: &str = "seq, at, actor_id, actor, action, target, detail, ip, prev_hash, hash";

fn entry(mut r: Row) -> Result<AuditEntry> {
    Ok(AuditEntry {
        fields: AuditFields {
            seq: r.i64(0)?,
            at: r.ts(1)?,
            actor_id: r.i64(2)?,
            actor: r.text(3)?,
            action: r.text(4)?,
            target: r.text(5)?,
            detail: r.text(6)?,
            ip: r.text(7)?,
        },
        prev_hash: r.text(8)?,
        hash: r.text(9)?,
    })
}

fn filter_where<'a>(q: &mut Q<'a>, f: &'a AuditFilter) {
    q.push(" FROM audit_log WHERE 1 = 1");
    if let Some(a) = &f.actor {
        q.push(" AND actor = ").bind(a);
    }
    if let Some(p) = &f.action_prefix {
        // substr/length count characters in both backends.
        q.push(" AND substr(action, 1, ")
            .bind(p.chars().count() as i64)
            .push(") = ")
            .bind(p);
    }
    if let Some(t) = &f.target {
        q.push(" AND target = ").bind(t);
    }
    if let Some(from) = f.from {
        q.push(" AND at >= ").bind(from);
    }
    if let Some(to) = f.to {
        q.push(" AND at < ").bind(to);
    }
}

/// Entries matching `f`, newest first, and how many match in all.
pub(crate) async fn list<D: Db>(db: &D, f: &AuditFilter) -> Result<(Vec<AuditEntry>, i64)> {
    let mut q = Q::new("SELECT COUNT(*)");
    filter_where(&mut q, f);
    let total = db.query_i64(&q.sql, &q.params).await?;

    let mut q = Q::new(&format!("SELECT {COLS}"));
    filter_where(&mut q, f);
    q.push(" ORDER BY seq DESC LIMIT ")
        .bind(limit_of(f.limit))
        .push(" OFFSET ")
        .bind(f.offset as i64);
    let rows = db.query(&q.sql, &q.params).await?;
    Ok((rows.into_iter().map(entry).collect::<Result<_>>()?, total))
}

/// Up to `limit` entries from `from_seq` on, in chain order.
pub(crate) async fn chain<D: Db>(db: &D, from_seq: i64, limit: usize) -> Result<Vec<AuditEntry>> {
    let rows = db
        .query(
            &format!("SELECT {COLS} FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2"),
            params![from_seq, limit_of(Some(limit))],
        )
        .await?;
    rows.into_iter().map(entry).collect()
}

pub(crate) async fn head<D: Db>(db: &D) -> Result<AuditHead> {
    let mut r = db
        .query_one("SELECT seq, hash FROM audit_head WHERE id = 1", &[])
        .await?;
    Ok(AuditHead {
        seq: r.i64(0)?,
        hash: r.text(1)?,
    })
}

/// A page size as an SQL `LIMIT` value; `None` means no limit.
pub(crate) fn limit_of(limit: Option<usize>) -> i64 {
    limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX))
}
