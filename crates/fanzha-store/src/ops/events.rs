//! Events, checkpoints, signals, leads and rules (see [`crate::events`]).

use super::audit::{self, Pending};
use super::in_list;
use super::residents::parse_date;
use crate::Scope;
use crate::db::{Db, Dialect, P, Q, Row, params};
use crate::error::{Result, StoreError};
use crate::events::*;
use crate::model::{AuditRecord, SealedPhone};
use fanzha_core::org::OrgPath;
use fanzha_core::{FraudType, Grade, NodeId, ResidentId, Timestamp};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// Most rows in one multi-row INSERT. Batches are cut into chunks of a
/// power of two, so that at most a handful of statements are prepared.
const MAX_ROWS: usize = 256;
/// Chunk sizes used: 256, 128, …, 1.
const SIZES: usize = 9;

fn chunk_len(remaining: usize) -> usize {
    if remaining >= MAX_ROWS {
        MAX_ROWS
    } else {
        // The largest power of two not above `remaining` (≥ 1).
        1 << (usize::BITS - 1 - remaining.leading_zeros())
    }
}

/// `INSERT … VALUES ($1, …), … <tail>` for `rows` rows of `cols` columns,
/// built once per size.
fn multi_insert(
    cache: &'static [OnceLock<String>; SIZES],
    head: &str,
    cols: usize,
    rows: usize,
    tail: &str,
) -> &'static str {
    let slot = (MAX_ROWS.trailing_zeros() - rows.trailing_zeros()) as usize;
    cache[slot.min(SIZES - 1)].get_or_init(|| {
        let mut s = String::with_capacity(head.len() + rows * cols * 6 + tail.len());
        s.push_str(head);
        let mut n = 0;
        for r in 0..rows {
            s.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..cols {
                n += 1;
                if c > 0 {
                    s.push_str(", ");
                }
                s.push('$');
                s.push_str(&n.to_string());
            }
            s.push(')');
        }
        s.push_str(tail);
        s
    })
}

fn check_len(v: &str, max: usize, what: &str) -> Result<()> {
    if v.len() > max {
        return Err(StoreError::invalid(format!("{what} is longer than {max} bytes")));
    }
    Ok(())
}

fn grade_of(s: &str) -> Result<Grade> {
    Grade::parse(s).map_err(|_| StoreError::corrupt("unknown grade"))
}

fn fraud_opt(s: Option<String>) -> Result<Option<FraudType>> {
    s.map(|s| FraudType::parse(&s).map_err(|_| StoreError::corrupt("unknown fraud type")))
        .transpose()
}

fn pending(template: &AuditRecord, action: &str, target: String, detail: String) -> Pending {
    Pending {
        rec_at: template.at,
        actor_id: template.actor_id,
        actor: template.actor.clone(),
        action: action.to_string(),
        target,
        detail,
        ip: template.ip.clone(),
    }
}

// ------------------------------------------------------------------ events

static EVENT_INSERT: [OnceLock<String>; SIZES] = [const { OnceLock::new() }; SIZES];
static EVENT_INSERT_SQLITE: [OnceLock<String>; SIZES] = [const { OnceLock::new() }; SIZES];

pub(crate) async fn append<D: Db>(
    db: &D,
    events: &[NewEvent],
    received_at: Timestamp,
    rec: &AuditRecord,
) -> Result<Vec<Option<i64>>> {
    for (i, e) in events.iter().enumerate() {
        let bad = |m: String| StoreError::invalid(m).at_row(i);
        if e.id_hash.is_empty() || e.id_hash.len() > 64 {
            return Err(bad("the event id digest must be 1 to 64 bytes".into()));
        }
        if e.legacy_id_hash
            .as_ref()
            .is_some_and(|h| h.is_empty() || h.len() > 64)
        {
            return Err(bad("the legacy event id digest must be 1 to 64 bytes".into()));
        }
        if e.kind.is_empty() || e.kind.len() > MAX_EVENT_KIND {
            return Err(bad(format!("the event kind must be 1 to {MAX_EVENT_KIND} bytes")));
        }
        check_len(&e.source, MAX_EVENT_SOURCE, "the event source").map_err(|x| x.at_row(i))?;
        if e.payload.len() > MAX_EVENT_PAYLOAD {
            return Err(bad(format!(
                "the payload is longer than {MAX_EVENT_PAYLOAD} bytes"
            )));
        }
    }
    let mut out: Vec<Option<i64>> = vec![None; events.len()];
    // Events whose earlier-scheme digest is stored are duplicates already.
    let legacy: Vec<(usize, &[u8])> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.legacy_id_hash.as_deref().map(|h| (i, h)))
        .collect();
    let mut stored_legacy: HashSet<Vec<u8>> = HashSet::new();
    for chunk in legacy.chunks(MAX_ROWS) {
        // Padded to a power of two (repeating the last), so that few
        // distinct statements are prepared.
        let mut q = Q::new("SELECT id_hash FROM events WHERE id_hash IN (");
        for k in 0..chunk.len().next_power_of_two() {
            if k > 0 {
                q.push(", ");
            }
            q.bind(chunk.get(k).unwrap_or(&chunk[chunk.len() - 1]).1);
        }
        q.push(")");
        for mut r in db.query(&q.sql, &q.params).await? {
            stored_legacy.insert(r.blob(0)?);
        }
    }
    let todo: Vec<usize> = (0..events.len())
        .filter(|&i| {
            events[i]
                .legacy_id_hash
                .as_deref()
                .is_none_or(|h| !stored_legacy.contains(h))
        })
        .collect();
    let mut start = 0;
    while start < todo.len() {
        let n = chunk_len(todo.len() - start);
        let chunk = &todo[start..start + n];
        // On SQLite, `OR IGNORE` rather than an upsert clause: nothing in
        // the statement can then abort half-way, so SQLite keeps no
        // statement journal (a copy of every page the statement touches).
        // Every column is bound from a non-null value checked above, so
        // the only constraint it can meet is the duplicate digest.
        let sql = match db.dialect() {
            Dialect::Sqlite => multi_insert(
                &EVENT_INSERT_SQLITE,
                "INSERT OR IGNORE INTO events (id_hash, ts, kind, source, person_key, received_at, payload) \
                 VALUES ",
                7,
                n,
                " RETURNING seq, id_hash",
            ),
            Dialect::Postgres => multi_insert(
                &EVENT_INSERT,
                "INSERT INTO events (id_hash, ts, kind, source, person_key, received_at, payload) VALUES ",
                7,
                n,
                " ON CONFLICT (id_hash) DO NOTHING RETURNING seq, id_hash",
            ),
        };
        let mut ps: Vec<P<'_>> = Vec::with_capacity(n * 7);
        // First occurrence of each digest in the chunk.
        let mut first: HashMap<&[u8], usize> = HashMap::with_capacity(n);
        for &i in chunk {
            let e = &events[i];
            first.entry(e.id_hash.as_slice()).or_insert(i);
            ps.push(P::Blob(Cow::Borrowed(&e.id_hash)));
            ps.push(P::Int(e.ts.0));
            ps.push(P::Text(Cow::Borrowed(&e.kind)));
            ps.push(P::Text(Cow::Borrowed(&e.source)));
            ps.push(P::Int(e.person_key));
            ps.push(P::Int(received_at.0));
            ps.push(P::Blob(Cow::Borrowed(&e.payload)));
        }
        for mut r in db.query(sql, &ps).await? {
            let seq = r.i64(0)?;
            let hash = r.blob(1)?;
            if let Some(&i) = first.get(hash.as_slice()) {
                out[i] = Some(seq);
            }
        }
        start += n;
    }
    let accepted = out.iter().filter(|s| s.is_some()).count();
    let first = out.iter().flatten().min().copied();
    let last = out.iter().flatten().max().copied();
    let target = super::target_or(rec, || match (first, last) {
        (Some(a), Some(b)) => format!("events:{a}-{b}"),
        _ => "events".to_string(),
    });
    let mut detail = rec.detail.clone();
    if !detail.is_empty() {
        detail.push(' ');
    }
    detail.push_str(&format!(
        "accepted={accepted} duplicates={}",
        events.len() - accepted
    ));
    audit::append_many(db, vec![pending(rec, &rec.action, target, detail)]).await?;
    Ok(out)
}

const EVENT_COLS: &str = "seq, ts, kind, source, person_key, received_at, payload";

fn event_of(mut r: Row) -> Result<StoredEvent> {
    Ok(StoredEvent {
        seq: r.i64(0)?,
        ts: r.ts(1)?,
        kind: r.text(2)?,
        source: r.text(3)?,
        person_key: r.i64(4)?,
        received_at: r.ts(5)?,
        payload: r.blob(6)?,
    })
}

fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

pub(crate) async fn head<D: Db>(db: &D) -> Result<i64> {
    db.query_i64("SELECT COALESCE(MAX(seq), 0) FROM events", &[])
        .await
}

pub(crate) async fn after<D: Db>(db: &D, after: i64, limit: usize) -> Result<Vec<StoredEvent>> {
    db.query(
        &format!("SELECT {EVENT_COLS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"),
        params![after, limit_i64(limit)],
    )
    .await?
    .into_iter()
    .map(event_of)
    .collect()
}

pub(crate) async fn by_seqs<D: Db>(db: &D, seqs: &[i64]) -> Result<Vec<StoredEvent>> {
    let mut sorted = seqs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = Vec::with_capacity(sorted.len());
    for chunk in sorted.chunks(MAX_ROWS) {
        let mut q = Q::new(&format!("SELECT {EVENT_COLS} FROM events WHERE seq IN "));
        in_list(&mut q, chunk);
        q.push(" ORDER BY seq");
        for r in db.query(&q.sql, &q.params).await? {
            out.push(event_of(r)?);
        }
    }
    Ok(out)
}

pub(crate) async fn first_seq_since<D: Db>(db: &D, from: Timestamp) -> Result<Option<i64>> {
    let mut r = db
        .query_one("SELECT MIN(seq) FROM events WHERE ts >= $1", params![from])
        .await?;
    r.opt_i64(0)
}

pub(crate) async fn in_range<D: Db>(
    db: &D,
    from: Timestamp,
    to: Timestamp,
    after: i64,
    limit: usize,
) -> Result<Vec<StoredEvent>> {
    db.query(
        &format!(
            "SELECT {EVENT_COLS} FROM events WHERE seq > $1 AND ts >= $2 AND ts < $3 ORDER BY seq LIMIT $4"
        ),
        params![after, from, to, limit_i64(limit)],
    )
    .await?
    .into_iter()
    .map(event_of)
    .collect()
}

// ------------------------------------------------------------------ pipeline

pub(crate) async fn checkpoints<D: Db>(db: &D, consumer: &str) -> Result<Vec<(u32, i64)>> {
    db.query(
        "SELECT part, seq FROM pipeline_checkpoints WHERE consumer = $1 ORDER BY part",
        params![consumer],
    )
    .await?
    .into_iter()
    .map(|mut r| {
        let p = u32::try_from(r.i64(0)?).map_err(|_| StoreError::corrupt("bad partition number"))?;
        Ok((p, r.i64(1)?))
    })
    .collect()
}

static SIGNAL_INSERT: [OnceLock<String>; SIZES] = [const { OnceLock::new() }; SIZES];
static LEAD_EVENT_INSERT: [OnceLock<String>; SIZES] = [const { OnceLock::new() }; SIZES];

async fn insert_signals<D: Db>(db: &D, signals: &[NewSignal]) -> Result<()> {
    let mut start = 0;
    while start < signals.len() {
        let n = chunk_len(signals.len() - start);
        let sql = multi_insert(
            &SIGNAL_INSERT,
            "INSERT INTO event_signals (seq, position, person_key, signal, fraud_type, weight_milli, evidence) VALUES ",
            7,
            n,
            " ON CONFLICT (seq, position) DO NOTHING",
        );
        let mut ps: Vec<P<'_>> = Vec::with_capacity(n * 7);
        for s in &signals[start..start + n] {
            ps.push(P::Int(s.seq));
            ps.push(P::Int(s.position));
            ps.push(P::Int(s.person_key));
            ps.push(P::Text(Cow::Borrowed(&s.signal)));
            ps.push(s.fraud_type.map(|f| f.code()).into());
            ps.push(P::Int(s.weight_milli));
            ps.push(P::Text(Cow::Borrowed(&s.evidence)));
        }
        db.exec(sql, &ps).await?;
        start += n;
    }
    Ok(())
}

async fn insert_lead_events<D: Db>(db: &D, lead_id: i64, seqs: &[i64]) -> Result<()> {
    let mut seqs = seqs.to_vec();
    seqs.sort_unstable();
    seqs.dedup();
    let mut start = 0;
    while start < seqs.len() {
        let n = chunk_len(seqs.len() - start);
        let sql = multi_insert(
            &LEAD_EVENT_INSERT,
            "INSERT INTO lead_events (lead_id, seq) VALUES ",
            2,
            n,
            " ON CONFLICT (lead_id, seq) DO NOTHING",
        );
        let mut ps: Vec<P<'_>> = Vec::with_capacity(n * 2);
        for s in &seqs[start..start + n] {
            ps.push(P::Int(lead_id));
            ps.push(P::Int(*s));
        }
        db.exec(sql, &ps).await?;
        start += n;
    }
    Ok(())
}

fn check_lead(l: &NewLead) -> Result<()> {
    if l.subscriber_kind.is_empty() || l.subscriber_kind.len() > 32 {
        return Err(StoreError::invalid("the subscriber kind must be 1 to 32 bytes"));
    }
    if l.subscriber.bidx.is_empty() || l.subscriber.enc.is_empty() {
        return Err(StoreError::invalid("the subscriber must be sealed"));
    }
    check_len(&l.subscriber.masked, 64, "the masked subscriber")?;
    check_len(&l.explanation, MAX_EXPLANATION, "the explanation")?;
    if let Some(u) = &l.upstream_id {
        if u.trim().is_empty() {
            return Err(StoreError::invalid("the upstream id is empty"));
        }
        check_len(u, MAX_UPSTREAM_ID, "the upstream id")?;
    }
    if let Some(n) = &l.name {
        check_len(&n.masked, 200, "the masked name")?;
    }
    if l.note.chars().count() > MAX_LEAD_NOTE {
        return Err(StoreError::invalid(format!(
            "the note is longer than {MAX_LEAD_NOTE} characters"
        )));
    }
    Ok(())
}

/// Inserts a lead unless its deciding event or upstream id is stored;
/// `Ok(None)` then.
async fn insert_lead<D: Db>(db: &D, l: &NewLead, now: Timestamp) -> Result<Option<i64>> {
    check_lead(l)?;
    let row = db
        .query_opt(
            "INSERT INTO leads (person_key, subscriber_kind, subscriber_enc, subscriber_bidx, subscriber_masked, \
             name_enc, name_masked, resident_id, node_id, grade, score_milli, fraud_type, status, source, \
             upstream_id, rules_version, opened_at, updated_at, raised_seq, last_seq, explanation, note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
             $21, $22) ON CONFLICT DO NOTHING RETURNING id",
            params![
                l.person_key,
                &l.subscriber_kind,
                &l.subscriber.enc,
                &l.subscriber.bidx,
                &l.subscriber.masked,
                l.name.as_ref().map(|n| n.enc.as_slice()),
                l.name.as_ref().map(|n| n.masked.as_str()),
                l.resident_id,
                l.node_id,
                l.grade.code(),
                l.score_milli,
                l.fraud_type.map(|f| f.code()),
                LeadStatus::Open.code(),
                l.source.code(),
                l.upstream_id.as_deref(),
                l.rules_version,
                l.opened_at,
                now,
                l.raised_seq,
                l.raised_seq.unwrap_or(0),
                &l.explanation,
                &l.note,
            ],
        )
        .await?;
    match row {
        Some(mut r) => {
            let id = r.i64(0)?;
            insert_lead_events(db, id, &l.event_seqs).await?;
            Ok(Some(id))
        }
        None => Ok(None),
    }
}

pub(crate) async fn commit<D: Db>(db: &D, c: &PipelineCommit) -> Result<Vec<LeadWriteOutcome>> {
    if c.consumer.is_empty() || c.consumer.len() > 64 {
        return Err(StoreError::invalid("the consumer name must be 1 to 64 bytes"));
    }
    for s in &c.signals {
        check_len(&s.signal, 64, "the signal type")?;
        check_len(&s.evidence, MAX_EXPLANATION, "the signal evidence")?;
    }
    insert_signals(db, &c.signals).await?;
    let mut outcomes = Vec::with_capacity(c.leads.len());
    let mut entries = Vec::new();
    let tpl = &c.audit;
    for w in &c.leads {
        match w {
            LeadWrite::Raise(l) => match insert_lead(db, l, tpl.at).await? {
                Some(id) => {
                    entries.push(pending(
                        tpl,
                        "lead.raise",
                        format!("lead:{id}"),
                        format!(
                            "source={} grade={} seq={} rules={}",
                            l.source.code(),
                            l.grade.code(),
                            l.raised_seq.unwrap_or(0),
                            l.rules_version.unwrap_or(0)
                        ),
                    ));
                    outcomes.push(LeadWriteOutcome::Raised(id));
                }
                None => {
                    let existing = match l.raised_seq {
                        Some(seq) => db
                            .query_opt("SELECT id FROM leads WHERE raised_seq = $1", params![seq])
                            .await?
                            .map(|mut r| r.i64(0))
                            .transpose()?,
                        None => None,
                    };
                    outcomes
                        .push(existing.map_or(LeadWriteOutcome::Skipped, LeadWriteOutcome::AlreadyRaised));
                }
            },
            LeadWrite::Update(u) => {
                check_len(&u.explanation, MAX_EXPLANATION, "the explanation")?;
                let row = db
                    .query_opt(
                        "UPDATE leads SET grade = $1, score_milli = $2, fraud_type = COALESCE($3, fraud_type), \
                         rules_version = $4, explanation = $5, last_seq = $6, updated_at = $7, \
                         updates = updates + 1 \
                         WHERE id = (SELECT id FROM leads WHERE person_key = $8 AND source = 'engine' \
                         ORDER BY id DESC LIMIT 1) AND last_seq < $6 RETURNING id",
                        params![
                            u.grade.code(),
                            u.score_milli,
                            u.fraud_type.map(|f| f.code()),
                            u.rules_version,
                            &u.explanation,
                            u.seq,
                            u.at,
                            u.person_key,
                        ],
                    )
                    .await?;
                match row {
                    Some(mut r) => {
                        let id = r.i64(0)?;
                        insert_lead_events(db, id, &u.event_seqs).await?;
                        entries.push(pending(
                            tpl,
                            "lead.update",
                            format!("lead:{id}"),
                            format!(
                                "grade={} seq={} rules={}",
                                u.grade.code(),
                                u.seq,
                                u.rules_version.unwrap_or(0)
                            ),
                        ));
                        outcomes.push(LeadWriteOutcome::Updated(id));
                    }
                    None => outcomes.push(LeadWriteOutcome::Skipped),
                }
            }
        }
    }
    for (part, seq) in &c.checkpoints {
        db.exec(
            "INSERT INTO pipeline_checkpoints (consumer, part, seq, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (consumer, part) DO UPDATE SET \
             seq = CASE WHEN excluded.seq > pipeline_checkpoints.seq THEN excluded.seq \
             ELSE pipeline_checkpoints.seq END, updated_at = excluded.updated_at",
            params![&c.consumer, i64::from(*part), *seq, tpl.at],
        )
        .await?;
    }
    if !entries.is_empty() {
        audit::append_many(db, entries).await?;
    }
    Ok(outcomes)
}

pub(crate) async fn signals_for<D: Db>(db: &D, seqs: &[i64]) -> Result<Vec<StoredSignal>> {
    let mut sorted = seqs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = Vec::new();
    for chunk in sorted.chunks(MAX_ROWS) {
        let mut q = Q::new(
            "SELECT seq, position, person_key, signal, fraud_type, weight_milli, evidence FROM event_signals \
             WHERE seq IN ",
        );
        in_list(&mut q, chunk);
        q.push(" ORDER BY seq, position");
        for mut r in db.query(&q.sql, &q.params).await? {
            out.push(NewSignal {
                seq: r.i64(0)?,
                position: r.i64(1)?,
                person_key: r.i64(2)?,
                signal: r.text(3)?,
                fraud_type: fraud_opt(r.opt_text(4)?)?,
                weight_milli: r.i64(5)?,
                evidence: r.text(6)?,
            });
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------ leads

pub(crate) async fn import_leads<D: Db>(
    db: &D,
    leads: &[NewLead],
    tpl: &AuditRecord,
) -> Result<Vec<LeadImportOutcome>> {
    let mut out = Vec::with_capacity(leads.len());
    let mut entries = Vec::new();
    for (i, l) in leads.iter().enumerate() {
        let Some(upstream) = l.upstream_id.as_deref() else {
            return Err(StoreError::invalid("an imported lead needs an upstream id").at_row(i));
        };
        match insert_lead(db, l, tpl.at).await.map_err(|e| e.at_row(i))? {
            Some(id) => {
                entries.push(pending(
                    tpl,
                    &tpl.action,
                    format!("lead:{id}"),
                    format!("source={} grade={}", l.source.code(), l.grade.code()),
                ));
                out.push(LeadImportOutcome::Inserted(id));
            }
            None => {
                let mut r = db
                    .query_opt(
                        "SELECT id FROM leads WHERE source = $1 AND upstream_id = $2",
                        params![l.source.code(), upstream],
                    )
                    .await?
                    .ok_or_else(|| {
                        StoreError::conflict("a lead with this deciding event already exists").at_row(i)
                    })?;
                out.push(LeadImportOutcome::Existing(r.i64(0)?));
            }
        }
    }
    if !entries.is_empty() {
        audit::append_many(db, entries).await?;
    }
    Ok(out)
}

const LEAD_COLS: &str = "l.id, l.subscriber_kind, l.subscriber_masked, l.name_masked, l.resident_id, l.node_id, \
     n.name, l.grade, l.score_milli, l.fraud_type, l.status, l.source, l.upstream_id, l.rules_version, \
     l.opened_at, l.updated_at, l.updates";

fn summary_of(r: &mut Row) -> Result<LeadSummary> {
    Ok(LeadSummary {
        id: r.i64(0)?,
        subscriber_kind: r.text(1)?,
        subscriber_masked: r.text(2)?,
        name_masked: r.opt_text(3)?,
        resident_id: r.opt_i64(4)?.map(ResidentId),
        node_id: r.opt_i64(5)?.map(NodeId),
        node_name: r.opt_text(6)?,
        grade: grade_of(&r.text(7)?)?,
        score_milli: r.i64(8)?,
        fraud_type: fraud_opt(r.opt_text(9)?)?,
        status: LeadStatus::parse(&r.text(10)?).ok_or_else(|| StoreError::corrupt("unknown lead status"))?,
        source: LeadSource::parse(&r.text(11)?).ok_or_else(|| StoreError::corrupt("unknown lead source"))?,
        upstream_id: r.opt_text(12)?,
        rules_version: r.opt_i64(13)?,
        opened_at: r.ts(14)?,
        updated_at: r.ts(15)?,
        updates: r.i64(16)?,
    })
}

pub(crate) async fn get_lead<D: Db>(db: &D, scope: &Scope, id: i64) -> Result<Option<Lead>> {
    let mut q = Q::new(&format!(
        "SELECT {LEAD_COLS}, l.person_key, l.subscriber_enc, l.subscriber_bidx, l.name_enc, n.path, \
         l.raised_seq, l.last_seq, l.explanation, l.note \
         FROM leads l LEFT JOIN org_nodes n ON n.id = l.node_id WHERE l.id = "
    ));
    q.bind(id);
    q.scope("n.path", scope);
    let Some(mut r) = db.query_opt(&q.sql, &q.params).await? else {
        return Ok(None);
    };
    let summary = summary_of(&mut r)?;
    let person_key = r.i64(17)?;
    let subscriber = SealedPhone {
        enc: r.blob(18)?,
        bidx: r.blob(19)?,
        masked: summary.subscriber_masked.clone(),
    };
    let name = match (r.opt_blob(20)?, summary.name_masked.clone()) {
        (Some(enc), Some(masked)) => Some(SealedName { enc, masked }),
        _ => None,
    };
    let node_path = match r.opt_text(21)? {
        Some(p) => Some(OrgPath::parse(&p).ok_or_else(|| StoreError::corrupt("malformed org path"))?),
        None => None,
    };
    let raised_seq = r.opt_i64(22)?;
    let last_seq = r.i64(23)?;
    let explanation = r.text(24)?;
    let note = r.text(25)?;
    let event_seqs = db
        .query(
            "SELECT seq FROM lead_events WHERE lead_id = $1 ORDER BY seq",
            params![id],
        )
        .await?
        .into_iter()
        .map(|mut r| r.i64(0))
        .collect::<Result<_>>()?;
    Ok(Some(Lead {
        summary,
        person_key,
        subscriber,
        name,
        node_path,
        raised_seq,
        last_seq,
        explanation,
        note,
        event_seqs,
    }))
}

fn lead_where<'a>(q: &mut Q<'a>, scope: &Scope, f: &'a LeadFilter) {
    q.push(" FROM leads l LEFT JOIN org_nodes n ON n.id = l.node_id WHERE 1 = 1");
    q.scope("n.path", scope);
    if let Some(p) = &f.node_path {
        q.subtree("n.path", p);
    }
    if let Some(g) = f.grade {
        q.push(" AND l.grade = ").bind(g.code());
    }
    if let Some(s) = f.status {
        q.push(" AND l.status = ").bind(s.code());
    }
    if let Some(t) = f.fraud_type {
        q.push(" AND l.fraud_type = ").bind(t.code());
    }
    if let Some(s) = f.source {
        q.push(" AND l.source = ").bind(s.code());
    }
    if let Some(r) = f.resident_id {
        q.push(" AND l.resident_id = ").bind(r);
    }
    if let Some(b) = &f.subscriber_bidx {
        q.push(" AND l.subscriber_bidx = ").bind(b.as_slice());
    }
    if let Some(t) = f.from {
        q.push(" AND l.opened_at >= ").bind(t);
    }
    if let Some(t) = f.to {
        q.push(" AND l.opened_at < ").bind(t);
    }
}

pub(crate) async fn list_leads<D: Db>(
    db: &D,
    scope: &Scope,
    f: &LeadFilter,
) -> Result<(Vec<LeadSummary>, i64)> {
    let mut q = Q::new("SELECT COUNT(*)");
    lead_where(&mut q, scope, f);
    let total = db.query_i64(&q.sql, &q.params).await?;
    let mut q = Q::new(&format!("SELECT {LEAD_COLS}"));
    lead_where(&mut q, scope, f);
    q.push(" ORDER BY l.opened_at DESC, l.id DESC LIMIT ")
        .bind(audit::limit_of(f.limit))
        .push(" OFFSET ")
        .bind(i64::try_from(f.offset).unwrap_or(i64::MAX));
    let items = db
        .query(&q.sql, &q.params)
        .await?
        .into_iter()
        .map(|mut r| summary_of(&mut r))
        .collect::<Result<_>>()?;
    Ok((items, total))
}

pub(crate) async fn set_status<D: Db>(
    db: &D,
    id: i64,
    status: LeadStatus,
    note: Option<&str>,
    rec: &AuditRecord,
) -> Result<()> {
    if let Some(n) = note
        && n.chars().count() > MAX_LEAD_NOTE
    {
        return Err(StoreError::invalid(format!(
            "the note is longer than {MAX_LEAD_NOTE} characters"
        )));
    }
    let old = db
        .query_opt("SELECT status FROM leads WHERE id = $1", params![id])
        .await?
        .ok_or(StoreError::NotFound { what: "lead" })?
        .text(0)?;
    db.exec(
        "UPDATE leads SET status = $1, note = COALESCE($2, note), updated_at = $3 WHERE id = $4",
        params![status.code(), note, rec.at, id],
    )
    .await?;
    let target = super::target_or(rec, || format!("lead:{id}"));
    let detail = format!("status {old} -> {}", status.code());
    audit::append_many(db, vec![pending(rec, &rec.action, target, detail)]).await?;
    Ok(())
}

// ------------------------------------------------------------------ rules

const RULES_COLS: &str = "version, name, toml, author, author_id, note, created_at, active";

fn rules_of(mut r: Row) -> Result<RulesVersion> {
    Ok(RulesVersion {
        version: r.i64(0)?,
        name: r.text(1)?,
        toml: r.text(2)?,
        author: r.text(3)?,
        author_id: r.i64(4)?,
        note: r.text(5)?,
        created_at: r.ts(6)?,
        active: r.bool(7)?,
    })
}

pub(crate) async fn active_rules<D: Db>(db: &D) -> Result<Option<RulesVersion>> {
    db.query_opt(
        &format!("SELECT {RULES_COLS} FROM rules_versions WHERE active = $1 ORDER BY version DESC LIMIT 1"),
        params![true],
    )
    .await?
    .map(rules_of)
    .transpose()
}

pub(crate) async fn get_rules<D: Db>(db: &D, version: i64) -> Result<Option<RulesVersion>> {
    db.query_opt(
        &format!("SELECT {RULES_COLS} FROM rules_versions WHERE version = $1"),
        params![version],
    )
    .await?
    .map(rules_of)
    .transpose()
}

pub(crate) async fn list_rules<D: Db>(db: &D, limit: usize) -> Result<Vec<RulesVersion>> {
    db.query(
        &format!("SELECT {RULES_COLS} FROM rules_versions ORDER BY version DESC LIMIT $1"),
        params![limit_i64(limit)],
    )
    .await?
    .into_iter()
    .map(rules_of)
    .collect()
}

pub(crate) async fn next_rules_version<D: Db>(db: &D) -> Result<i64> {
    db.query_i64("SELECT COALESCE(MAX(version), 0) + 1 FROM rules_versions", &[])
        .await
}

pub(crate) async fn save_rules<D: Db>(db: &D, new: &NewRulesVersion, rec: &AuditRecord) -> Result<()> {
    if new.version < 1 {
        return Err(StoreError::invalid("rules versions start at 1"));
    }
    if new.toml.trim().is_empty() {
        return Err(StoreError::invalid("the rules document is empty"));
    }
    check_len(&new.toml, MAX_RULES_TOML, "the rules document")?;
    let name = super::required(&new.name, "rules name")?;
    if new.note.chars().count() > MAX_LEAD_NOTE {
        return Err(StoreError::invalid(format!(
            "the note is longer than {MAX_LEAD_NOTE} characters"
        )));
    }
    let taken = db
        .query_opt(
            "SELECT 1 FROM rules_versions WHERE version = $1",
            params![new.version],
        )
        .await?;
    if taken.is_some() {
        return Err(StoreError::conflict(format!(
            "rules version {} was saved meanwhile",
            new.version
        )));
    }
    db.exec(
        "UPDATE rules_versions SET active = $1 WHERE active = $2",
        params![false, true],
    )
    .await?;
    db.exec(
        "INSERT INTO rules_versions (version, name, toml, author, author_id, note, created_at, active) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        params![
            new.version,
            &name,
            &new.toml,
            &rec.actor,
            rec.actor_id,
            &new.note,
            rec.at,
            true
        ],
    )
    .await?;
    let target = super::target_or(rec, || format!("rules:{}", new.version));
    let mut detail = rec.detail.clone();
    if detail.is_empty() {
        detail = format!("version={} name={name}", new.version);
    }
    audit::append_many(db, vec![pending(rec, &rec.action, target, detail)]).await?;
    Ok(())
}

pub(crate) async fn activate_rules<D: Db>(db: &D, version: i64, rec: &AuditRecord) -> Result<()> {
    if db
        .query_opt(
            "SELECT 1 FROM rules_versions WHERE version = $1",
            params![version],
        )
        .await?
        .is_none()
    {
        return Err(StoreError::NotFound {
            what: "rules version",
        });
    }
    db.exec(
        "UPDATE rules_versions SET active = $1 WHERE active = $2",
        params![false, true],
    )
    .await?;
    db.exec(
        "UPDATE rules_versions SET active = $1 WHERE version = $2",
        params![true, version],
    )
    .await?;
    let target = super::target_or(rec, || format!("rules:{version}"));
    audit::append_many(
        db,
        vec![pending(rec, &rec.action, target, format!("version={version}"))],
    )
    .await?;
    Ok(())
}

// ------------------------------------------------------------------ residents

pub(crate) async fn directory_page<D: Db>(
    db: &D,
    after: Option<ResidentId>,
    limit: usize,
) -> Result<Vec<DirectoryEntry>> {
    let rows = db
        .query(
            "SELECT id, grid_id, birth_date FROM residents WHERE id > $1 ORDER BY id LIMIT $2",
            params![after.map_or(0, |r| r.0), limit_i64(limit)],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut index: HashMap<i64, usize> = HashMap::with_capacity(rows.len());
    for mut r in rows {
        let id = r.i64(0)?;
        index.insert(id, out.len());
        out.push(DirectoryEntry {
            resident_id: ResidentId(id),
            grid_id: NodeId(r.i64(1)?),
            birth_date: parse_date(r.opt_text(2)?)?,
            phone_bidx: Vec::new(),
            tags: Vec::new(),
        });
    }
    let (Some(first), Some(last)) = (out.first(), out.last()) else {
        return Ok(out);
    };
    let (lo, hi) = (first.resident_id.0, last.resident_id.0);
    for mut r in db
        .query(
            "SELECT resident_id, bidx FROM resident_phones WHERE resident_id >= $1 AND resident_id <= $2 \
             ORDER BY resident_id, position",
            params![lo, hi],
        )
        .await?
    {
        if let Some(&i) = index.get(&r.i64(0)?) {
            out[i].phone_bidx.push(r.blob(1)?);
        }
    }
    for mut r in db
        .query(
            "SELECT resident_id, tag FROM resident_tags WHERE resident_id >= $1 AND resident_id <= $2 \
             ORDER BY resident_id, tag",
            params![lo, hi],
        )
        .await?
    {
        if let Some(&i) = index.get(&r.i64(0)?) {
            out[i].tags.push(r.text(1)?);
        }
    }
    Ok(out)
}

pub(crate) async fn residents_fingerprint<D: Db>(db: &D) -> Result<ResidentsFingerprint> {
    let mut r = db
        .query_one(
            "SELECT COUNT(*), COALESCE(MAX(id), 0), COALESCE(MAX(updated_at), 0) FROM residents",
            &[],
        )
        .await?;
    Ok(ResidentsFingerprint {
        count: r.i64(0)?,
        max_id: r.i64(1)?,
        max_updated_at: r.i64(2)?,
    })
}

pub(crate) async fn counts<D: Db>(db: &D) -> Result<EventCounts> {
    let head = head(db).await?;
    let mut r = db
        .query_one(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END), 0) FROM leads",
            &[],
        )
        .await?;
    Ok(EventCounts {
        head_seq: head,
        leads: r.i64(0)?,
        open_leads: r.i64(1)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two() {
        assert_eq!(chunk_len(1000), 256);
        assert_eq!(chunk_len(256), 256);
        assert_eq!(chunk_len(255), 128);
        assert_eq!(chunk_len(3), 2);
        assert_eq!(chunk_len(1), 1);
        static C: [OnceLock<String>; SIZES] = [const { OnceLock::new() }; SIZES];
        assert_eq!(multi_insert(&C, "I ", 2, 2, " T"), "I ($1, $2), ($3, $4) T");
        assert_eq!(multi_insert(&C, "I ", 2, 1, " T"), "I ($1, $2) T");
        assert_eq!(multi_insert(&C, "I ", 2, 256, "").matches('(').count(), 256);
    }
}
