//! The intelligence base: indicators, allowlist, public reports, disposal
//! records and import jobs (see [`crate::intel`] for the design).

use super::audit::{self, Pending, limit_of};
use super::{counted, in_list};
use crate::db::{Db, Q, Row, params};
use crate::error::{Result, StoreError};
use crate::intel::*;
use crate::model::{AuditRecord, SealedPhone};
use fanzha_core::{FraudType, IndicatorKind, Timestamp};
use std::collections::{BTreeSet, HashMap};

/// Rows per `IN (…)` query.
const CHUNK: usize = 256;
/// Rows per multi-row INSERT.
const INSERT_ROWS: usize = 32;
/// Rows per sightings UPDATE.
const SIGHTING_ROWS: usize = 128;

// ---------------------------------------------------------------- checks

fn intel_text(s: &str, what: &str) -> Result<String> {
    let t = s.trim();
    if t.chars().count() > MAX_INTEL_TEXT {
        return Err(StoreError::invalid(format!(
            "{what} is longer than {MAX_INTEL_TEXT} characters"
        )));
    }
    Ok(t.to_string())
}

fn check_value(value: &str) -> Result<()> {
    if value.is_empty() || value.trim() != value {
        return Err(StoreError::invalid(
            "an indicator value must be canonical and not empty",
        ));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(StoreError::invalid(format!(
            "an indicator value is longer than {MAX_VALUE_BYTES} bytes"
        )));
    }
    Ok(())
}

fn check_confidence(c: u8) -> Result<()> {
    if c > 100 {
        return Err(StoreError::invalid("confidence must be between 0 and 100"));
    }
    Ok(())
}

fn check_new_status(s: IndicatorStatus) -> Result<()> {
    if !matches!(s, IndicatorStatus::Pending | IndicatorStatus::Confirmed) {
        return Err(StoreError::invalid("a new indicator is pending or confirmed"));
    }
    Ok(())
}

fn check_validity(from: Timestamp, until: Option<Timestamp>) -> Result<()> {
    if let Some(u) = until
        && u <= from
    {
        return Err(StoreError::invalid("valid_until must lie after valid_from"));
    }
    Ok(())
}

fn clean_external_id(e: Option<&String>) -> Result<Option<String>> {
    match e {
        None => Ok(None),
        Some(s) => {
            let t = s.trim();
            if t.chars().count() > 200 {
                return Err(StoreError::invalid(
                    "an external id is longer than 200 characters",
                ));
            }
            Ok(Some(t.to_string()).filter(|t| !t.is_empty()))
        }
    }
}

/// Trimmed, non-empty, unique, sorted tags.
fn clean_tags(tags: &[String]) -> Result<Vec<String>> {
    let mut out = BTreeSet::new();
    for t in tags {
        let t = t.trim();
        if t.is_empty() {
            continue;
        }
        if t.chars().count() > MAX_TAG_CHARS {
            return Err(StoreError::invalid(format!(
                "a tag is longer than {MAX_TAG_CHARS} characters"
            )));
        }
        out.insert(t.to_string());
    }
    if out.len() > MAX_INDICATOR_TAGS {
        return Err(StoreError::invalid(format!(
            "an indicator has at most {MAX_INDICATOR_TAGS} tags"
        )));
    }
    Ok(out.into_iter().collect())
}

// ---------------------------------------------------------------- codes

fn kind_of(s: &str) -> Result<IndicatorKind> {
    IndicatorKind::parse(s).map_err(|_| StoreError::corrupt("unknown indicator kind"))
}

fn fraud_of(s: &str) -> Result<FraudType> {
    FraudType::parse(s).map_err(|_| StoreError::corrupt("unknown fraud type"))
}

fn status_of(s: &str) -> Result<IndicatorStatus> {
    IndicatorStatus::parse(s).ok_or_else(|| StoreError::corrupt("unknown indicator status"))
}

fn source_of(s: &str) -> Result<IndicatorSource> {
    IndicatorSource::parse(s).map_err(|_| StoreError::corrupt("unknown indicator source"))
}

fn confidence_of(v: i64) -> Result<u8> {
    u8::try_from(v)
        .ok()
        .filter(|c| *c <= 100)
        .ok_or_else(|| StoreError::corrupt("confidence out of range"))
}

// ---------------------------------------------------------------- shared

fn entry(template: &AuditRecord, action: &str, target: String, detail: String) -> Pending {
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

fn target_of(rec: &AuditRecord, default: impl FnOnce() -> String) -> String {
    super::target_or(rec, default)
}

async fn bump_generation<D: Db>(db: &D) -> Result<()> {
    db.exec(
        "UPDATE intel_state SET generation = generation + 1 WHERE id = 1",
        &[],
    )
    .await?;
    Ok(())
}

/// Builds `($k, …)` for an `IN` list of text, padded like [`in_list`].
fn in_text_list<'a>(q: &mut Q<'a>, values: &[&'a str]) {
    q.push("(");
    let Some(last) = values.last() else {
        q.push("NULL)");
        return;
    };
    let padded = values.len().next_power_of_two();
    for i in 0..padded {
        if i > 0 {
            q.push(", ");
        }
        q.bind(*values.get(i).unwrap_or(last));
    }
    q.push(")");
}

// ---------------------------------------------------------------- indicators

const COLS: &str = "i.id, i.kind, i.value, i.fraud_type, i.confidence, i.source, i.status, i.valid_from, \
                    i.valid_until, i.first_seen, i.last_seen, i.sightings, i.description, i.notes, \
                    i.external_id, i.created_by, i.created_at, i.updated_at, i.version";

fn indicator(mut r: Row) -> Result<Indicator> {
    Ok(Indicator {
        id: r.i64(0)?,
        kind: kind_of(&r.text(1)?)?,
        value: r.text(2)?,
        fraud_type: fraud_of(&r.text(3)?)?,
        confidence: confidence_of(r.i64(4)?)?,
        source: source_of(&r.text(5)?)?,
        status: status_of(&r.text(6)?)?,
        valid_from: r.ts(7)?,
        valid_until: r.opt_ts(8)?,
        first_seen: r.ts(9)?,
        last_seen: r.ts(10)?,
        sightings: r.i64(11)?,
        tags: Vec::new(),
        description: r.text(12)?,
        notes: r.text(13)?,
        external_id: r.opt_text(14)?,
        created_by: r.i64(15)?,
        created_at: r.ts(16)?,
        updated_at: r.ts(17)?,
        version: r.i64(18)?,
    })
}

async fn tags_of<D: Db>(db: &D, ids: &[i64]) -> Result<HashMap<i64, Vec<String>>> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q = Q::new("SELECT indicator_id, tag FROM indicator_tags WHERE indicator_id IN ");
        in_list(&mut q, chunk);
        q.push(" ORDER BY indicator_id, tag");
        for mut r in db.query(&q.sql, &q.params).await? {
            out.entry(r.i64(0)?).or_default().push(r.text(1)?);
        }
    }
    Ok(out)
}

async fn attach_tags<D: Db>(db: &D, list: &mut [Indicator]) -> Result<()> {
    let ids: Vec<i64> = list.iter().map(|i| i.id).collect();
    let mut tags = tags_of(db, &ids).await?;
    for i in list.iter_mut() {
        i.tags = tags.remove(&i.id).unwrap_or_default();
    }
    Ok(())
}

async fn write_tags<D: Db>(db: &D, rows: &[(i64, &[String])]) -> Result<()> {
    let flat: Vec<(i64, &String)> = rows
        .iter()
        .flat_map(|(id, tags)| tags.iter().map(move |t| (*id, t)))
        .collect();
    for chunk in flat.chunks(INSERT_ROWS * 4) {
        let mut q = Q::new("INSERT INTO indicator_tags (indicator_id, tag) VALUES ");
        for (i, (id, t)) in chunk.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" });
            q.bind(*id).push(", ").bind(t.as_str()).push(")");
        }
        db.exec(&q.sql, &q.params).await?;
    }
    Ok(())
}

async fn replace_tags<D: Db>(db: &D, id: i64, tags: &[String]) -> Result<()> {
    db.exec("DELETE FROM indicator_tags WHERE indicator_id = $1", params![id])
        .await?;
    write_tags(db, &[(id, tags)]).await
}

async fn load<D: Db>(db: &D, id: i64) -> Result<Option<Indicator>> {
    let Some(r) = db
        .query_opt(
            &format!("SELECT {COLS} FROM indicators i WHERE i.id = $1"),
            params![id],
        )
        .await?
    else {
        return Ok(None);
    };
    let mut list = vec![indicator(r)?];
    attach_tags(db, &mut list).await?;
    Ok(list.pop())
}

pub(crate) async fn get<D: Db>(db: &D, id: i64) -> Result<Option<Indicator>> {
    load(db, id).await
}

pub(crate) async fn by_ids<D: Db>(db: &D, ids: &[i64]) -> Result<Vec<Indicator>> {
    let mut uniq: Vec<i64> = ids.to_vec();
    uniq.sort_unstable();
    uniq.dedup();
    let mut out = Vec::with_capacity(uniq.len());
    for chunk in uniq.chunks(CHUNK) {
        let mut q = Q::new(&format!("SELECT {COLS} FROM indicators i WHERE i.id IN "));
        in_list(&mut q, chunk);
        q.push(" ORDER BY i.id");
        for r in db.query(&q.sql, &q.params).await? {
            out.push(indicator(r)?);
        }
    }
    attach_tags(db, &mut out).await?;
    Ok(out)
}

pub(crate) async fn by_value<D: Db>(db: &D, kind: IndicatorKind, value: &str) -> Result<Vec<Indicator>> {
    let mut out = db
        .query(
            &format!("SELECT {COLS} FROM indicators i WHERE i.value = $1 AND i.kind = $2 ORDER BY i.id"),
            params![value, kind.code()],
        )
        .await?
        .into_iter()
        .map(indicator)
        .collect::<Result<Vec<_>>>()?;
    attach_tags(db, &mut out).await?;
    Ok(out)
}

/// The smallest string greater than every string that starts with `p`
/// (in byte order, as both backends compare these columns).
fn prefix_end(p: &str) -> String {
    let mut s = p.to_string();
    s.push(char::MAX);
    s
}

fn filter_where<'a>(q: &mut Q<'a>, f: &'a IndicatorFilter) {
    q.push(" FROM indicators i WHERE 1 = 1");
    if let Some(k) = f.kind {
        q.push(" AND i.kind = ").bind(k.code());
    }
    if !f.statuses.is_empty() {
        let codes: Vec<&'a str> = f.statuses.iter().map(|s| s.code()).collect();
        q.push(" AND i.status IN ");
        in_text_list(q, &codes);
    }
    if let Some(t) = f.fraud_type {
        q.push(" AND i.fraud_type = ").bind(t.code());
    }
    if let Some(s) = &f.source {
        q.push(" AND i.source = ").bind(s.trim());
    }
    if let Some(c) = f.min_confidence {
        q.push(" AND i.confidence >= ").bind(i64::from(c));
    }
    if let Some(p) = &f.value_prefix {
        let p = p.trim();
        if !p.is_empty() {
            q.push(" AND i.value >= ").bind(p);
            q.push(" AND i.value < ").bind(prefix_end(p));
        }
    }
    if let Some(t) = &f.tag {
        q.push(" AND EXISTS (SELECT 1 FROM indicator_tags t WHERE t.indicator_id = i.id AND t.tag = ")
            .bind(t.trim())
            .push(")");
    }
    if let Some(at) = f.valid_at {
        q.push(" AND i.valid_from <= ").bind(at);
        q.push(" AND (i.valid_until IS NULL OR i.valid_until > ")
            .bind(at)
            .push(")");
    }
}

pub(crate) async fn list<D: Db>(db: &D, f: &IndicatorFilter) -> Result<(Vec<Indicator>, i64)> {
    let mut q = Q::new("SELECT COUNT(*)");
    filter_where(&mut q, f);
    let total = db.query_i64(&q.sql, &q.params).await?;
    let mut q = Q::new(&format!("SELECT {COLS}"));
    filter_where(&mut q, f);
    q.push(" ORDER BY i.id DESC LIMIT ")
        .bind(limit_of(f.limit))
        .push(" OFFSET ")
        .bind(f.offset as i64);
    let mut out = db
        .query(&q.sql, &q.params)
        .await?
        .into_iter()
        .map(indicator)
        .collect::<Result<Vec<_>>>()?;
    attach_tags(db, &mut out).await?;
    Ok((out, total))
}

pub(crate) async fn page<D: Db>(
    db: &D,
    f: &IndicatorFilter,
    after: i64,
    limit: usize,
) -> Result<Vec<Indicator>> {
    let mut q = Q::new(&format!("SELECT {COLS}"));
    filter_where(&mut q, f);
    q.push(" AND i.id > ")
        .bind(after)
        .push(" ORDER BY i.id LIMIT ")
        .bind(limit_of(Some(limit)));
    let mut out = db
        .query(&q.sql, &q.params)
        .await?
        .into_iter()
        .map(indicator)
        .collect::<Result<Vec<_>>>()?;
    attach_tags(db, &mut out).await?;
    Ok(out)
}

/// A new indicator's checked fields.
struct CleanNew {
    tags: Vec<String>,
    description: String,
    notes: String,
    external_id: Option<String>,
}

fn clean_new(n: &NewIndicator) -> Result<CleanNew> {
    check_value(&n.value)?;
    check_confidence(n.confidence)?;
    check_new_status(n.status)?;
    check_validity(n.valid_from, n.valid_until)?;
    Ok(CleanNew {
        tags: clean_tags(&n.tags)?,
        description: intel_text(&n.description, "description")?,
        notes: intel_text(&n.notes, "notes")?,
        external_id: clean_external_id(n.external_id.as_ref())?,
    })
}

/// Inserts unless (value, kind, source) is taken; `None` when it is.
async fn insert_one<D: Db>(db: &D, n: &NewIndicator, c: &CleanNew, rec: &AuditRecord) -> Result<Option<i64>> {
    let Some(mut row) = db
        .query_opt(
            "INSERT INTO indicators (kind, value, fraud_type, confidence, source, status, valid_from, \
             valid_until, first_seen, last_seen, sightings, description, notes, external_id, created_by, \
             created_at, updated_at, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, 0, $10, $11, $12, $13, $9, $9, 1) \
             ON CONFLICT (value, kind, source) DO NOTHING RETURNING id",
            params![
                n.kind.code(),
                n.value.as_str(),
                n.fraud_type.code(),
                i64::from(n.confidence),
                n.source.code(),
                n.status.code(),
                n.valid_from,
                n.valid_until,
                rec.at,
                c.description.as_str(),
                c.notes.as_str(),
                c.external_id.as_deref(),
                rec.actor_id
            ],
        )
        .await?
    else {
        return Ok(None);
    };
    let id = row.i64(0)?;
    write_tags(db, &[(id, &c.tags)]).await?;
    Ok(Some(id))
}

const TAKEN: &str = "an indicator with this value from this source already exists";

pub(crate) async fn create<D: Db>(db: &D, n: &NewIndicator, rec: &AuditRecord) -> Result<i64> {
    let c = clean_new(n)?;
    let id = insert_one(db, n, &c, rec)
        .await?
        .ok_or_else(|| StoreError::conflict(TAKEN))?;
    bump_generation(db).await?;
    audit::append(db, rec, target_of(rec, || format!("indicator:{id}"))).await?;
    Ok(id)
}

pub(crate) async fn update<D: Db>(db: &D, id: i64, u: &IndicatorUpdate, rec: &AuditRecord) -> Result<i64> {
    check_confidence(u.confidence)?;
    check_validity(u.valid_from, u.valid_until)?;
    let tags = clean_tags(&u.tags)?;
    let description = intel_text(&u.description, "description")?;
    let notes = intel_text(&u.notes, "notes")?;
    let external_id = clean_external_id(u.external_id.as_ref())?;
    let old = load(db, id)
        .await?
        .ok_or(StoreError::NotFound { what: "indicator" })?;
    if let Some(v) = u.expected_version
        && v != old.version
    {
        return Err(StoreError::conflict(
            "the indicator was changed by someone else since it was read (version mismatch)",
        ));
    }
    let mut row = db
        .query_one(
            "UPDATE indicators SET fraud_type = $1, confidence = $2, valid_from = $3, valid_until = $4, \
             description = $5, notes = $6, external_id = $7, updated_at = $8, version = version + 1 \
             WHERE id = $9 RETURNING version",
            params![
                u.fraud_type.code(),
                i64::from(u.confidence),
                u.valid_from,
                u.valid_until,
                description.as_str(),
                notes.as_str(),
                external_id.as_deref(),
                rec.at,
                id
            ],
        )
        .await?;
    let version = row.i64(0)?;
    if tags != old.tags {
        replace_tags(db, id, &tags).await?;
    }
    let index_changed = old.fraud_type != u.fraud_type
        || old.confidence != u.confidence
        || old.valid_from != u.valid_from
        || old.valid_until != u.valid_until;
    if index_changed {
        bump_generation(db).await?;
    }
    audit::append(db, rec, target_of(rec, || format!("indicator:{id}"))).await?;
    Ok(version)
}

pub(crate) async fn delete<D: Db>(db: &D, id: i64, rec: &AuditRecord) -> Result<()> {
    let held = db
        .query_i64(
            "SELECT COUNT(*) FROM intel_disposal_items WHERE indicator_id = $1",
            params![id],
        )
        .await?;
    if held > 0 {
        return Err(StoreError::conflict(format!(
            "indicator is named in {}",
            counted(held, "disposal record", "disposal records")
        )));
    }
    let n = db
        .exec("DELETE FROM indicators WHERE id = $1", params![id])
        .await?;
    if n == 0 {
        return Err(StoreError::NotFound { what: "indicator" });
    }
    bump_generation(db).await?;
    audit::append(db, rec, target_of(rec, || format!("indicator:{id}"))).await?;
    Ok(())
}

/// (status, valid_until, kind) of the given indicators.
async fn states<D: Db>(
    db: &D,
    ids: &[i64],
) -> Result<HashMap<i64, (IndicatorStatus, Option<Timestamp>, IndicatorKind)>> {
    let mut uniq = ids.to_vec();
    uniq.sort_unstable();
    uniq.dedup();
    let mut out = HashMap::with_capacity(uniq.len());
    for chunk in uniq.chunks(CHUNK) {
        let mut q = Q::new("SELECT id, status, valid_until, kind FROM indicators WHERE id IN ");
        in_list(&mut q, chunk);
        for mut r in db.query(&q.sql, &q.params).await? {
            out.insert(
                r.i64(0)?,
                (status_of(&r.text(1)?)?, r.opt_ts(2)?, kind_of(&r.text(3)?)?),
            );
        }
    }
    Ok(out)
}

fn transition_detail(template: &AuditRecord, from: IndicatorStatus, to: IndicatorStatus) -> String {
    let t = format!("{from} -> {to}");
    if template.detail.is_empty() {
        t
    } else {
        format!("{} ({t})", template.detail)
    }
}

pub(crate) async fn change_status<D: Db>(
    db: &D,
    ids: &[i64],
    change: StatusChange,
    template: &AuditRecord,
) -> Result<Vec<ChangeOutcome>> {
    let at = template.at;
    if let StatusChange::Extend { valid_until } = change
        && valid_until <= at
    {
        return Err(StoreError::invalid(
            "the new end of validity must lie in the future",
        ));
    }
    let mut states = states(db, ids).await?;
    let mut out = Vec::with_capacity(ids.len());
    let mut entries = Vec::new();
    for &id in ids {
        let Some((status, until, kind)) = states.get(&id).copied() else {
            out.push(ChangeOutcome::NotFound);
            continue;
        };
        if !change.from_statuses().contains(&status) {
            out.push(if change.to_status() == Some(status) {
                ChangeOutcome::Unchanged
            } else {
                ChangeOutcome::Refused { status }
            });
            continue;
        }
        let new_status = change.to_status().unwrap_or(status);
        let new_until = match change {
            StatusChange::Confirm { renew } => match until {
                Some(u) if u <= at => renew.until(kind, at),
                other => other,
            },
            StatusChange::Extend { valid_until } => Some(valid_until),
            StatusChange::Dispose | StatusChange::Revoke => until,
        };
        if new_status == status && new_until == until {
            out.push(ChangeOutcome::Unchanged);
            continue;
        }
        db.exec(
            "UPDATE indicators SET status = $1, valid_until = $2, updated_at = $3, version = version + 1 \
             WHERE id = $4",
            params![new_status.code(), new_until, at, id],
        )
        .await?;
        // A repeated id sees its own change.
        states.insert(id, (new_status, new_until, kind));
        let detail = if new_status == status {
            let until = new_until.map_or_else(|| "none".to_string(), |u| u.0.to_string());
            if template.detail.is_empty() {
                format!("valid_until -> {until}")
            } else {
                format!("{} (valid_until -> {until})", template.detail)
            }
        } else {
            transition_detail(template, status, new_status)
        };
        entries.push(entry(
            template,
            &template.action,
            format!("indicator:{id}"),
            detail,
        ));
        out.push(ChangeOutcome::Changed);
    }
    if !entries.is_empty() {
        bump_generation(db).await?;
        audit::append_many(db, entries).await?;
    }
    Ok(out)
}

/// The fields of a stored indicator an import compares.
#[derive(Clone)]
struct Existing {
    id: i64,
    status: IndicatorStatus,
    fraud_type: FraudType,
    confidence: u8,
    valid_from: Timestamp,
    valid_until: Option<Timestamp>,
    description: String,
    external_id: Option<String>,
    tags: Vec<String>,
}

type Key = (IndicatorKind, String, String);

async fn existing<D: Db>(db: &D, rows: &[IndicatorUpsert]) -> Result<HashMap<Key, Existing>> {
    let mut values: Vec<&str> = rows.iter().map(|r| r.value.as_str()).collect();
    values.sort_unstable();
    values.dedup();
    let mut out: HashMap<Key, Existing> = HashMap::new();
    for chunk in values.chunks(CHUNK) {
        let mut q = Q::new(
            "SELECT id, kind, value, source, status, fraud_type, confidence, valid_from, valid_until, \
             description, external_id FROM indicators WHERE value IN ",
        );
        in_text_list(&mut q, chunk);
        for mut r in db.query(&q.sql, &q.params).await? {
            let id = r.i64(0)?;
            let key = (kind_of(&r.text(1)?)?, r.text(2)?, r.text(3)?);
            out.insert(
                key,
                Existing {
                    id,
                    status: status_of(&r.text(4)?)?,
                    fraud_type: fraud_of(&r.text(5)?)?,
                    confidence: confidence_of(r.i64(6)?)?,
                    valid_from: r.ts(7)?,
                    valid_until: r.opt_ts(8)?,
                    description: r.text(9)?,
                    external_id: r.opt_text(10)?,
                    tags: Vec::new(),
                },
            );
        }
    }
    let ids: Vec<i64> = out.values().map(|e| e.id).collect();
    let mut tags = tags_of(db, &ids).await?;
    for e in out.values_mut() {
        e.tags = tags.remove(&e.id).unwrap_or_default();
    }
    Ok(out)
}

/// A checked import row.
struct CleanUpsert<'a> {
    r: &'a IndicatorUpsert,
    source: String,
    tags: Vec<String>,
    description: Option<String>,
    external_id: Option<String>,
}

fn clean_upsert(r: &IndicatorUpsert) -> Result<CleanUpsert<'_>> {
    check_value(&r.value)?;
    check_new_status(r.status)?;
    if let Some(c) = r.confidence {
        check_confidence(c)?;
    }
    check_confidence(r.default_confidence)?;
    if let (Some(f), Some(u)) = (r.valid_from, r.valid_until) {
        check_validity(f, Some(u))?;
    }
    Ok(CleanUpsert {
        r,
        source: r.source.code(),
        tags: clean_tags(&r.tags)?,
        description: r
            .description
            .as_deref()
            .map(|d| intel_text(d, "description"))
            .transpose()?,
        external_id: clean_external_id(r.external_id.as_ref())?,
    })
}

/// The row as it would be after applying `c` to `e`; `None` when nothing
/// changes.
fn merged(c: &CleanUpsert<'_>, e: &Existing, at: Timestamp) -> Option<Existing> {
    let r = c.r;
    let mut n = e.clone();
    if let Some(t) = r.fraud_type {
        n.fraud_type = t;
    }
    if let Some(v) = r.confidence {
        n.confidence = v;
    }
    if let Some(f) = r.valid_from {
        n.valid_from = f;
    }
    if r.valid_until.is_some() {
        n.valid_until = r.valid_until;
    }
    if !c.tags.is_empty() {
        n.tags = c.tags.clone();
    }
    if let Some(d) = &c.description {
        n.description = d.clone();
    }
    if c.external_id.is_some() {
        n.external_id = c.external_id.clone();
    }
    // Listed again after its end: it lives again, with a fresh validity
    // unless the source gives one.
    let ended = n.valid_until.is_some_and(|u| u <= at);
    if e.status == IndicatorStatus::Expired || (e.status.is_active() && ended) {
        if ended && r.valid_until.is_none() {
            n.valid_until = r.default_valid_until.filter(|u| *u > at);
        }
        let still_ended = n.valid_until.is_some_and(|u| u <= at);
        if e.status == IndicatorStatus::Expired && !still_ended {
            n.status = r.status;
        }
    }
    if n.valid_until.is_some_and(|u| u <= n.valid_from) {
        n.valid_until = e.valid_until;
        n.valid_from = e.valid_from;
    }
    let same = n.status == e.status
        && n.fraud_type == e.fraud_type
        && n.confidence == e.confidence
        && n.valid_from == e.valid_from
        && n.valid_until == e.valid_until
        && n.tags == e.tags
        && n.description == e.description
        && n.external_id == e.external_id;
    if same { None } else { Some(n) }
}

pub(crate) async fn upsert_batch<D: Db>(
    db: &D,
    rows: &[IndicatorUpsert],
    template: &AuditRecord,
) -> Result<Vec<IntelUpsertOutcome>> {
    let at = template.at;
    let cleaned = rows
        .iter()
        .enumerate()
        .map(|(i, r)| clean_upsert(r).map_err(|e| e.at_row(i)))
        .collect::<Result<Vec<_>>>()?;
    let found = existing(db, rows).await?;
    let mut outcomes: Vec<Option<IntelUpsertOutcome>> = vec![None; rows.len()];
    let mut first_of: HashMap<Key, usize> = HashMap::new();
    let mut repeats: Vec<(usize, usize)> = Vec::new();
    let mut inserts: Vec<usize> = Vec::new();
    let mut changed_index = false;
    for (i, c) in cleaned.iter().enumerate() {
        let key = (c.r.kind, c.r.value.clone(), c.source.clone());
        if let Some(&first) = first_of.get(&key) {
            repeats.push((i, first));
            continue;
        }
        let Some(e) = found.get(&key) else {
            first_of.insert(key, i);
            inserts.push(i);
            continue;
        };
        first_of.insert(key, i);
        if e.status == IndicatorStatus::Revoked {
            outcomes[i] = Some(IntelUpsertOutcome::KeptRevoked(e.id));
            continue;
        }
        let Some(n) = merged(c, e, at) else {
            outcomes[i] = Some(IntelUpsertOutcome::Unchanged(e.id));
            continue;
        };
        db.exec(
            "UPDATE indicators SET status = $1, fraud_type = $2, confidence = $3, valid_from = $4, \
             valid_until = $5, description = $6, external_id = $7, updated_at = $8, \
             version = version + 1 WHERE id = $9",
            params![
                n.status.code(),
                n.fraud_type.code(),
                i64::from(n.confidence),
                n.valid_from,
                n.valid_until,
                n.description.as_str(),
                n.external_id.as_deref(),
                at,
                e.id
            ],
        )
        .await
        .map_err(|err| err.at_row(i))?;
        if n.tags != e.tags {
            replace_tags(db, e.id, &n.tags).await?;
        }
        changed_index |= n.status != e.status
            || n.fraud_type != e.fraud_type
            || n.confidence != e.confidence
            || n.valid_from != e.valid_from
            || n.valid_until != e.valid_until;
        outcomes[i] = Some(IntelUpsertOutcome::Updated(e.id));
    }

    // New rows, several per statement. Ids come back with their keys (the
    // order of RETURNING rows is not guaranteed).
    let mut new_ids: HashMap<Key, i64> = HashMap::new();
    for chunk in inserts.chunks(INSERT_ROWS) {
        let mut q = Q::new(
            "INSERT INTO indicators (kind, value, fraud_type, confidence, source, status, valid_from, \
             valid_until, first_seen, last_seen, sightings, description, notes, external_id, created_by, \
             created_at, updated_at, version) VALUES ",
        );
        for (j, &i) in chunk.iter().enumerate() {
            let c = &cleaned[i];
            let r = c.r;
            let until = r.valid_until.or(r.default_valid_until);
            let mut from = r.valid_from.unwrap_or(at);
            if let Some(u) = until {
                from = from.min(Timestamp(u.0 - 1));
            }
            // A source may list something whose validity already ended.
            let status = if until.is_some_and(|u| u <= at) {
                IndicatorStatus::Expired
            } else {
                r.status
            };
            q.push(if j == 0 { "(" } else { ", (" });
            q.bind(r.kind.code()).push(", ").bind(r.value.as_str()).push(", ");
            q.bind(r.fraud_type.unwrap_or(r.default_fraud_type).code())
                .push(", ");
            q.bind(i64::from(r.confidence.unwrap_or(r.default_confidence)))
                .push(", ");
            q.bind(c.source.as_str())
                .push(", ")
                .bind(status.code())
                .push(", ");
            q.bind(from).push(", ").bind(until).push(", ");
            q.bind(at).push(", ").bind(at).push(", 0, ");
            q.bind(c.description.as_deref().unwrap_or("")).push(", '', ");
            q.bind(c.external_id.as_deref())
                .push(", ")
                .bind(template.actor_id);
            q.push(", ").bind(at).push(", ").bind(at).push(", 1)");
        }
        q.push(" ON CONFLICT (value, kind, source) DO NOTHING RETURNING id, kind, value, source");
        for mut r in db.query(&q.sql, &q.params).await? {
            let id = r.i64(0)?;
            new_ids.insert((kind_of(&r.text(1)?)?, r.text(2)?, r.text(3)?), id);
        }
    }
    let mut tag_rows: Vec<(i64, &[String])> = Vec::new();
    let mut raced = Vec::new();
    for &i in &inserts {
        let c = &cleaned[i];
        let key = (c.r.kind, c.r.value.clone(), c.source.clone());
        match new_ids.get(&key) {
            Some(&id) => {
                outcomes[i] = Some(IntelUpsertOutcome::Inserted(id));
                if !c.tags.is_empty() {
                    tag_rows.push((id, &c.tags));
                }
            }
            None => raced.push(i),
        }
    }
    write_tags(db, &tag_rows).await?;
    // A concurrent writer inserted the same key first: it is there now.
    for i in raced {
        let r = &rows[i];
        let id = db
            .query_opt(
                "SELECT id FROM indicators WHERE value = $1 AND kind = $2 AND source = $3",
                params![r.value.as_str(), r.kind.code(), cleaned[i].source.as_str()],
            )
            .await?
            .map(|mut row| row.i64(0))
            .transpose()?
            .ok_or_else(|| StoreError::Backend("indicator vanished during import".into()))?;
        outcomes[i] = Some(IntelUpsertOutcome::Unchanged(id));
    }
    for (i, first) in repeats {
        let id = outcomes[first].map_or(0, IntelUpsertOutcome::id);
        outcomes[i] = Some(IntelUpsertOutcome::Unchanged(id));
    }

    let mut entries = Vec::new();
    let mut out = Vec::with_capacity(rows.len());
    for o in outcomes {
        let o = o.ok_or_else(|| StoreError::Backend("import row without outcome".into()))?;
        match o {
            IntelUpsertOutcome::Inserted(id) => entries.push(entry(
                template,
                "intel.import.insert",
                format!("indicator:{id}"),
                template.detail.clone(),
            )),
            IntelUpsertOutcome::Updated(id) => entries.push(entry(
                template,
                "intel.import.update",
                format!("indicator:{id}"),
                template.detail.clone(),
            )),
            IntelUpsertOutcome::Unchanged(_) | IntelUpsertOutcome::KeptRevoked(_) => {}
        }
        out.push(o);
    }
    if !new_ids.is_empty() || changed_index {
        bump_generation(db).await?;
    }
    audit::append_many(db, entries).await?;
    Ok(out)
}

pub(crate) async fn active_page<D: Db>(
    db: &D,
    now: Timestamp,
    after: i64,
    limit: usize,
) -> Result<Vec<ActiveIndicator>> {
    db.query(
        "SELECT id, kind, value, fraud_type, confidence, status FROM indicators \
         WHERE id > $1 AND status IN ('pending', 'confirmed', 'disposed') AND valid_from <= $2 \
         AND (valid_until IS NULL OR valid_until > $2) ORDER BY id LIMIT $3",
        params![after, now, limit_of(Some(limit))],
    )
    .await?
    .into_iter()
    .map(|mut r| {
        Ok(ActiveIndicator {
            id: r.i64(0)?,
            kind: kind_of(&r.text(1)?)?,
            value: r.text(2)?,
            fraud_type: fraud_of(&r.text(3)?)?,
            confidence: confidence_of(r.i64(4)?)?,
            status: status_of(&r.text(5)?)?,
        })
    })
    .collect()
}

pub(crate) async fn record_sightings<D: Db>(db: &D, batch: &[(i64, u32, Timestamp)]) -> Result<u64> {
    let mut agg: HashMap<i64, (i64, Timestamp)> = HashMap::new();
    for &(id, n, t) in batch {
        let e = agg.entry(id).or_insert((0, t));
        e.0 += i64::from(n);
        e.1 = e.1.max(t);
    }
    let mut rows: Vec<(i64, i64, Timestamp)> = agg.into_iter().map(|(id, (n, t))| (id, n, t)).collect();
    rows.sort_unstable_by_key(|r| r.0);
    let mut touched = 0;
    for chunk in rows.chunks(SIGHTING_ROWS) {
        let mut q = Q::new(
            "UPDATE indicators SET sightings = indicators.sightings + v.column2, \
             last_seen = CASE WHEN indicators.last_seen < v.column3 THEN v.column3 \
             ELSE indicators.last_seen END FROM (VALUES ",
        );
        // Padded with id 0 (never used) to a power of two, so that few
        // distinct statements are prepared.
        let padded = chunk.len().next_power_of_two();
        for j in 0..padded {
            let (id, n, t) = chunk.get(j).copied().unwrap_or((0, 0, Timestamp(0)));
            q.push(if j == 0 { "(" } else { ", (" });
            q.push("CAST(").bind(id).push(" AS BIGINT), CAST(").bind(n);
            q.push(" AS BIGINT), CAST(").bind(t).push(" AS BIGINT))");
        }
        q.push(") AS v WHERE indicators.id = v.column1");
        touched += db.exec(&q.sql, &q.params).await?;
    }
    Ok(touched)
}

pub(crate) async fn expire_due<D: Db>(db: &D, now: Timestamp, template: &AuditRecord) -> Result<Vec<i64>> {
    let ids: Vec<i64> = db
        .query(
            "SELECT id FROM indicators WHERE valid_until IS NOT NULL AND valid_until <= $1 \
             AND status IN ('pending', 'confirmed', 'disposed') ORDER BY id",
            params![now],
        )
        .await?
        .into_iter()
        .map(|mut r| r.i64(0))
        .collect::<Result<_>>()?;
    if ids.is_empty() {
        return Ok(ids);
    }
    let states = states(db, &ids).await?;
    for chunk in ids.chunks(CHUNK) {
        let mut q = Q::new("UPDATE indicators SET status = 'expired', updated_at = ");
        q.bind(template.at).push(", version = version + 1 WHERE id IN ");
        in_list(&mut q, chunk);
        db.exec(&q.sql, &q.params).await?;
    }
    let entries = ids
        .iter()
        .map(|id| {
            let from = states.get(id).map_or(IndicatorStatus::Confirmed, |s| s.0);
            entry(
                template,
                &template.action,
                format!("indicator:{id}"),
                transition_detail(template, from, IndicatorStatus::Expired),
            )
        })
        .collect();
    bump_generation(db).await?;
    audit::append_many(db, entries).await?;
    Ok(ids)
}

pub(crate) async fn generation<D: Db>(db: &D) -> Result<i64> {
    db.query_i64("SELECT generation FROM intel_state WHERE id = 1", &[])
        .await
}

pub(crate) async fn next_export_serial<D: Db>(db: &D, rec: &AuditRecord) -> Result<i64> {
    let serial = db
        .query_one(
            "UPDATE intel_state SET export_serial = export_serial + 1 WHERE id = 1 RETURNING export_serial",
            &[],
        )
        .await?
        .i64(0)?;
    audit::append(db, rec, target_of(rec, || format!("export:{serial}"))).await?;
    Ok(serial)
}

pub(crate) async fn counts<D: Db>(db: &D) -> Result<IntelCounts> {
    let mut c = IntelCounts::default();
    for mut r in db
        .query(
            "SELECT status, COUNT(*) FROM indicators GROUP BY status ORDER BY status",
            &[],
        )
        .await?
    {
        let n = r.i64(1)?;
        c.indicators += n;
        c.by_status.push((status_of(&r.text(0)?)?, n));
    }
    c.by_status.sort_by_key(|(s, _)| *s);
    for mut r in db
        .query("SELECT kind, COUNT(*) FROM indicators GROUP BY kind", &[])
        .await?
    {
        c.by_kind.push((kind_of(&r.text(0)?)?, r.i64(1)?));
    }
    c.by_kind.sort_by_key(|(k, _)| *k);
    c.allowlist = db.query_i64("SELECT COUNT(*) FROM intel_allowlist", &[]).await?;
    c.reports_new = db
        .query_i64("SELECT COUNT(*) FROM intel_reports WHERE status = 'new'", &[])
        .await?;
    c.disposals_open = db
        .query_i64(
            "SELECT COUNT(*) FROM intel_disposals WHERE status IN ('requested', 'in_progress')",
            &[],
        )
        .await?;
    Ok(c)
}

pub(crate) async fn tag_counts<D: Db>(db: &D, limit: usize) -> Result<Vec<(String, i64)>> {
    db.query(
        "SELECT tag, COUNT(*) FROM indicator_tags GROUP BY tag ORDER BY COUNT(*) DESC, tag LIMIT $1",
        params![limit_of(Some(limit))],
    )
    .await?
    .into_iter()
    .map(|mut r| Ok((r.text(0)?, r.i64(1)?)))
    .collect()
}

// ---------------------------------------------------------------- allowlist

const ALLOW_COLS: &str = "id, kind, value, note, builtin, created_by, created_at";

fn allow_entry(mut r: Row) -> Result<AllowEntry> {
    Ok(AllowEntry {
        id: r.i64(0)?,
        kind: kind_of(&r.text(1)?)?,
        value: r.text(2)?,
        note: r.text(3)?,
        builtin: r.bool(4)?,
        created_by: r.i64(5)?,
        created_at: r.ts(6)?,
    })
}

pub(crate) async fn add_allow<D: Db>(db: &D, e: &NewAllowEntry, rec: &AuditRecord) -> Result<i64> {
    check_value(&e.value)?;
    let note = super::bounded(&e.note, "note")?;
    let Some(mut row) = db
        .query_opt(
            "INSERT INTO intel_allowlist (kind, value, note, builtin, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, value) DO NOTHING RETURNING id",
            params![
                e.kind.code(),
                e.value.as_str(),
                note.as_str(),
                false,
                rec.actor_id,
                rec.at
            ],
        )
        .await?
    else {
        return Err(StoreError::conflict("this value is already on the allowlist"));
    };
    let id = row.i64(0)?;
    bump_generation(db).await?;
    audit::append(db, rec, target_of(rec, || format!("allow:{id}"))).await?;
    Ok(id)
}

pub(crate) async fn remove_allow<D: Db>(db: &D, id: i64, rec: &AuditRecord) -> Result<()> {
    let mut row = db
        .query_opt("SELECT builtin FROM intel_allowlist WHERE id = $1", params![id])
        .await?
        .ok_or(StoreError::NotFound {
            what: "allowlist entry",
        })?;
    if row.bool(0)? {
        return Err(StoreError::conflict(
            "a built-in allowlist entry cannot be removed",
        ));
    }
    db.exec("DELETE FROM intel_allowlist WHERE id = $1", params![id])
        .await?;
    bump_generation(db).await?;
    audit::append(db, rec, target_of(rec, || format!("allow:{id}"))).await?;
    Ok(())
}

pub(crate) async fn get_allow<D: Db>(db: &D, id: i64) -> Result<Option<AllowEntry>> {
    db.query_opt(
        &format!("SELECT {ALLOW_COLS} FROM intel_allowlist WHERE id = $1"),
        params![id],
    )
    .await?
    .map(allow_entry)
    .transpose()
}

fn allow_where<'a>(q: &mut Q<'a>, f: &'a AllowFilter) {
    q.push(" FROM intel_allowlist WHERE 1 = 1");
    if let Some(k) = f.kind {
        q.push(" AND kind = ").bind(k.code());
    }
    if let Some(b) = f.builtin {
        q.push(" AND builtin = ").bind(b);
    }
    if let Some(p) = &f.value_prefix {
        let p = p.trim();
        if !p.is_empty() {
            q.push(" AND value >= ").bind(p);
            q.push(" AND value < ").bind(prefix_end(p));
        }
    }
}

pub(crate) async fn list_allow<D: Db>(db: &D, f: &AllowFilter) -> Result<(Vec<AllowEntry>, i64)> {
    let mut q = Q::new("SELECT COUNT(*)");
    allow_where(&mut q, f);
    let total = db.query_i64(&q.sql, &q.params).await?;
    let mut q = Q::new(&format!("SELECT {ALLOW_COLS}"));
    allow_where(&mut q, f);
    q.push(" ORDER BY kind, value LIMIT ")
        .bind(limit_of(f.limit))
        .push(" OFFSET ")
        .bind(f.offset as i64);
    let list = db
        .query(&q.sql, &q.params)
        .await?
        .into_iter()
        .map(allow_entry)
        .collect::<Result<Vec<_>>>()?;
    Ok((list, total))
}

pub(crate) async fn all_allow<D: Db>(db: &D) -> Result<Vec<AllowEntry>> {
    db.query(
        &format!("SELECT {ALLOW_COLS} FROM intel_allowlist ORDER BY id"),
        &[],
    )
    .await?
    .into_iter()
    .map(allow_entry)
    .collect()
}

pub(crate) async fn sync_builtin<D: Db>(
    db: &D,
    entries: &[NewAllowEntry],
    template: &AuditRecord,
) -> Result<(usize, usize)> {
    let stored = all_allow(db).await?;
    let by_key: HashMap<(IndicatorKind, &str), &AllowEntry> =
        stored.iter().map(|e| ((e.kind, e.value.as_str()), e)).collect();
    let wanted: std::collections::HashSet<(IndicatorKind, &str)> =
        entries.iter().map(|e| (e.kind, e.value.as_str())).collect();
    let mut log = Vec::new();
    let mut added = 0;
    for e in entries {
        check_value(&e.value)?;
        let note = super::bounded(&e.note, "note")?;
        match by_key.get(&(e.kind, e.value.as_str())) {
            Some(s) if s.builtin => {}
            Some(s) => {
                db.exec(
                    "UPDATE intel_allowlist SET builtin = $1, note = $2 WHERE id = $3",
                    params![true, note.as_str(), s.id],
                )
                .await?;
                log.push(entry(
                    template,
                    "allow.builtin.add",
                    format!("allow:{}", s.id),
                    template.detail.clone(),
                ));
                added += 1;
            }
            None => {
                let Some(mut row) = db
                    .query_opt(
                        "INSERT INTO intel_allowlist (kind, value, note, builtin, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, value) DO NOTHING RETURNING id",
                        params![
                            e.kind.code(),
                            e.value.as_str(),
                            note.as_str(),
                            true,
                            template.actor_id,
                            template.at
                        ],
                    )
                    .await?
                else {
                    // The same entry twice in `entries`.
                    continue;
                };
                let id = row.i64(0)?;
                log.push(entry(
                    template,
                    "allow.builtin.add",
                    format!("allow:{id}"),
                    template.detail.clone(),
                ));
                added += 1;
            }
        }
    }
    let mut removed = 0;
    for s in stored.iter().filter(|s| s.builtin) {
        if !wanted.contains(&(s.kind, s.value.as_str())) {
            db.exec("DELETE FROM intel_allowlist WHERE id = $1", params![s.id])
                .await?;
            log.push(entry(
                template,
                "allow.builtin.remove",
                format!("allow:{}", s.id),
                template.detail.clone(),
            ));
            removed += 1;
        }
    }
    if !log.is_empty() {
        bump_generation(db).await?;
        audit::append_many(db, log).await?;
    }
    Ok((added, removed))
}

// ---------------------------------------------------------------- reports

const REPORT_COLS: &str = "id, reference, kind, value, fraud_type, description, contact_enc, contact_bidx, \
                           contact_masked, ip_hash, status, indicator_id, review_note, reviewed_by, \
                           created_at, updated_at";

fn report_status_of(s: &str) -> Result<ReportStatus> {
    ReportStatus::parse(s).ok_or_else(|| StoreError::corrupt("unknown report status"))
}

fn report(mut r: Row) -> Result<Report> {
    let id = r.i64(0)?;
    let reference = r.text(1)?;
    let kind = kind_of(&r.text(2)?)?;
    let value = r.text(3)?;
    let fraud_type = r.opt_text(4)?.map(|t| fraud_of(&t)).transpose()?;
    let description = r.text(5)?;
    let contact = match (r.opt_blob(6)?, r.opt_blob(7)?, r.opt_text(8)?) {
        (Some(enc), Some(bidx), Some(masked)) => Some(SealedPhone { enc, bidx, masked }),
        _ => None,
    };
    Ok(Report {
        id,
        reference,
        kind,
        value,
        fraud_type,
        description,
        contact,
        ip_hash: r.blob(9)?,
        status: report_status_of(&r.text(10)?)?,
        indicator_id: r.opt_i64(11)?,
        review_note: r.text(12)?,
        reviewed_by: r.opt_i64(13)?,
        created_at: r.ts(14)?,
        updated_at: r.ts(15)?,
    })
}

pub(crate) async fn create_report<D: Db>(
    db: &D,
    rep: &NewReport,
    ind: Option<&NewIndicator>,
    rec: &AuditRecord,
) -> Result<ReportCreated> {
    check_value(&rep.value)?;
    let reference = super::required(&rep.reference, "reference")?;
    let description = intel_text(&rep.description, "description")?;
    if rep.ip_hash.is_empty() {
        return Err(StoreError::invalid("a report needs the hash of its address"));
    }
    if let Some(c) = &rep.contact
        && (c.enc.is_empty() || c.bidx.is_empty())
    {
        return Err(StoreError::invalid(
            "a contact phone must be given (encrypted and indexed)",
        ));
    }
    let mut indicator_id = None;
    let mut created = false;
    let mut log = Vec::new();
    if let Some(n) = ind {
        if n.kind != rep.kind || n.value != rep.value {
            return Err(StoreError::invalid(
                "the report and its indicator name different values",
            ));
        }
        let c = clean_new(n)?;
        match insert_one(db, n, &c, rec).await? {
            Some(id) => {
                indicator_id = Some(id);
                created = true;
                log.push(entry(
                    rec,
                    "intel.indicator.create",
                    format!("indicator:{id}"),
                    "from a public report".into(),
                ));
            }
            None => {
                let id = db
                    .query_one(
                        "SELECT id FROM indicators WHERE value = $1 AND kind = $2 AND source = $3",
                        params![n.value.as_str(), n.kind.code(), n.source.code()],
                    )
                    .await?
                    .i64(0)?;
                indicator_id = Some(id);
            }
        }
    }
    let contact = rep.contact.as_ref();
    let mut row = db
        .query_one(
            "INSERT INTO intel_reports (reference, kind, value, fraud_type, description, contact_enc, \
             contact_bidx, contact_masked, ip_hash, status, indicator_id, review_note, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, '', $12, $12) RETURNING id",
            params![
                reference.as_str(),
                rep.kind.code(),
                rep.value.as_str(),
                rep.fraud_type.map(|t| t.code()),
                description.as_str(),
                contact.map(|c| &c.enc),
                contact.map(|c| &c.bidx),
                contact.map(|c| c.masked.as_str()),
                &rep.ip_hash,
                rep.status.code(),
                indicator_id,
                rec.at
            ],
        )
        .await?;
    let report_id = row.i64(0)?;
    log.insert(
        0,
        Pending::from_record(rec, target_of(rec, || format!("report:{report_id}"))),
    );
    if created {
        bump_generation(db).await?;
    }
    audit::append_many(db, log).await?;
    Ok(ReportCreated {
        report_id,
        indicator_id,
        indicator_created: created,
    })
}

pub(crate) async fn get_report<D: Db>(db: &D, id: i64) -> Result<Option<Report>> {
    db.query_opt(
        &format!("SELECT {REPORT_COLS} FROM intel_reports WHERE id = $1"),
        params![id],
    )
    .await?
    .map(report)
    .transpose()
}

pub(crate) async fn report_by_reference<D: Db>(db: &D, reference: &str) -> Result<Option<Report>> {
    db.query_opt(
        &format!("SELECT {REPORT_COLS} FROM intel_reports WHERE reference = $1"),
        params![reference.trim()],
    )
    .await?
    .map(report)
    .transpose()
}

fn report_where<'a>(q: &mut Q<'a>, f: &'a ReportFilter) {
    q.push(" FROM intel_reports WHERE 1 = 1");
    if let Some(s) = f.status {
        q.push(" AND status = ").bind(s.code());
    }
    if let Some(k) = f.kind {
        q.push(" AND kind = ").bind(k.code());
    }
    if let Some(i) = f.indicator_id {
        q.push(" AND indicator_id = ").bind(i);
    }
}

pub(crate) async fn list_reports<D: Db>(db: &D, f: &ReportFilter) -> Result<(Vec<Report>, i64)> {
    let mut q = Q::new("SELECT COUNT(*)");
    report_where(&mut q, f);
    let total = db.query_i64(&q.sql, &q.params).await?;
    let mut q = Q::new(&format!("SELECT {REPORT_COLS}"));
    report_where(&mut q, f);
    q.push(" ORDER BY id DESC LIMIT ")
        .bind(limit_of(f.limit))
        .push(" OFFSET ")
        .bind(f.offset as i64);
    let list = db
        .query(&q.sql, &q.params)
        .await?
        .into_iter()
        .map(report)
        .collect::<Result<Vec<_>>>()?;
    Ok((list, total))
}

pub(crate) async fn review_report<D: Db>(
    db: &D,
    id: i64,
    status: ReportStatus,
    note: &str,
    rec: &AuditRecord,
) -> Result<()> {
    let note = intel_text(note, "review note")?;
    let n = db
        .exec(
            "UPDATE intel_reports SET status = $1, review_note = $2, reviewed_by = $3, updated_at = $4 \
             WHERE id = $5",
            params![status.code(), note.as_str(), rec.actor_id, rec.at, id],
        )
        .await?;
    if n == 0 {
        return Err(StoreError::NotFound { what: "report" });
    }
    audit::append(db, rec, target_of(rec, || format!("report:{id}"))).await?;
    Ok(())
}

// ---------------------------------------------------------------- disposals

const DISPOSAL_COLS: &str = "d.id, d.filter_description, d.target_kind, d.target_name, d.request_note, \
                             d.status, d.result, d.requested_by, d.requested_at, d.updated_at, d.version";

fn disposal_status_of(s: &str) -> Result<DisposalStatus> {
    DisposalStatus::parse(s).ok_or_else(|| StoreError::corrupt("unknown disposal status"))
}

fn disposal(mut r: Row) -> Result<Disposal> {
    Ok(Disposal {
        id: r.i64(0)?,
        indicator_ids: Vec::new(),
        filter_description: r.text(1)?,
        target: DisposalTarget::parse(&r.text(2)?)
            .ok_or_else(|| StoreError::corrupt("unknown disposal target"))?,
        target_name: r.text(3)?,
        request_note: r.text(4)?,
        status: disposal_status_of(&r.text(5)?)?,
        result: r.text(6)?,
        requested_by: r.i64(7)?,
        requested_at: r.ts(8)?,
        updated_at: r.ts(9)?,
        version: r.i64(10)?,
    })
}

async fn attach_items<D: Db>(db: &D, list: &mut [Disposal]) -> Result<()> {
    let ids: Vec<i64> = list.iter().map(|d| d.id).collect();
    let mut items: HashMap<i64, Vec<i64>> = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q =
            Q::new("SELECT disposal_id, indicator_id FROM intel_disposal_items WHERE disposal_id IN ");
        in_list(&mut q, chunk);
        q.push(" ORDER BY disposal_id, indicator_id");
        for mut r in db.query(&q.sql, &q.params).await? {
            items.entry(r.i64(0)?).or_default().push(r.i64(1)?);
        }
    }
    for d in list.iter_mut() {
        d.indicator_ids = items.remove(&d.id).unwrap_or_default();
    }
    Ok(())
}

pub(crate) async fn create_disposal<D: Db>(db: &D, d: &NewDisposal, rec: &AuditRecord) -> Result<i64> {
    let name = super::required(&d.target_name, "target name")?;
    let filter = intel_text(&d.filter_description, "filter description")?;
    let note = intel_text(&d.request_note, "request note")?;
    let mut ids = d.indicator_ids.clone();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() && filter.is_empty() {
        return Err(StoreError::invalid(
            "a disposal names indicators or describes the selection",
        ));
    }
    let mut known = 0;
    for chunk in ids.chunks(CHUNK) {
        let mut q = Q::new("SELECT COUNT(*) FROM indicators WHERE id IN ");
        in_list(&mut q, chunk);
        known += db.query_i64(&q.sql, &q.params).await?;
    }
    if known != ids.len() as i64 {
        return Err(StoreError::invalid("an indicator of the disposal does not exist"));
    }
    let mut row = db
        .query_one(
            "INSERT INTO intel_disposals (target_kind, target_name, filter_description, request_note, status, \
             result, requested_by, requested_at, updated_at, version) \
             VALUES ($1, $2, $3, $4, 'requested', '', $5, $6, $6, 1) RETURNING id",
            params![
                d.target.code(),
                name.as_str(),
                filter.as_str(),
                note.as_str(),
                rec.actor_id,
                rec.at
            ],
        )
        .await?;
    let id = row.i64(0)?;
    for chunk in ids.chunks(INSERT_ROWS * 4) {
        let mut q = Q::new("INSERT INTO intel_disposal_items (disposal_id, indicator_id) VALUES ");
        for (j, iid) in chunk.iter().enumerate() {
            q.push(if j == 0 { "(" } else { ", (" });
            q.bind(id).push(", ").bind(*iid).push(")");
        }
        db.exec(&q.sql, &q.params).await?;
    }
    audit::append(db, rec, target_of(rec, || format!("disposal:{id}"))).await?;
    Ok(id)
}

pub(crate) async fn get_disposal<D: Db>(db: &D, id: i64) -> Result<Option<Disposal>> {
    let Some(r) = db
        .query_opt(
            &format!("SELECT {DISPOSAL_COLS} FROM intel_disposals d WHERE d.id = $1"),
            params![id],
        )
        .await?
    else {
        return Ok(None);
    };
    let mut list = vec![disposal(r)?];
    attach_items(db, &mut list).await?;
    Ok(list.pop())
}

fn disposal_where<'a>(q: &mut Q<'a>, f: &'a DisposalFilter) {
    q.push(" FROM intel_disposals d WHERE 1 = 1");
    if let Some(s) = f.status {
        q.push(" AND d.status = ").bind(s.code());
    }
    if let Some(t) = f.target {
        q.push(" AND d.target_kind = ").bind(t.code());
    }
    if let Some(i) = f.indicator_id {
        q.push(" AND EXISTS (SELECT 1 FROM intel_disposal_items x WHERE x.disposal_id = d.id AND x.indicator_id = ")
            .bind(i)
            .push(")");
    }
}

pub(crate) async fn list_disposals<D: Db>(db: &D, f: &DisposalFilter) -> Result<(Vec<Disposal>, i64)> {
    let mut q = Q::new("SELECT COUNT(*)");
    disposal_where(&mut q, f);
    let total = db.query_i64(&q.sql, &q.params).await?;
    let mut q = Q::new(&format!("SELECT {DISPOSAL_COLS}"));
    disposal_where(&mut q, f);
    q.push(" ORDER BY d.id DESC LIMIT ")
        .bind(limit_of(f.limit))
        .push(" OFFSET ")
        .bind(f.offset as i64);
    let mut list = db
        .query(&q.sql, &q.params)
        .await?
        .into_iter()
        .map(disposal)
        .collect::<Result<Vec<_>>>()?;
    attach_items(db, &mut list).await?;
    Ok((list, total))
}

pub(crate) async fn update_disposal<D: Db>(
    db: &D,
    id: i64,
    status: DisposalStatus,
    result: &str,
    expected_version: Option<i64>,
    rec: &AuditRecord,
) -> Result<i64> {
    let result = intel_text(result, "result")?;
    let mut row = db
        .query_opt(
            "SELECT status, version FROM intel_disposals WHERE id = $1",
            params![id],
        )
        .await?
        .ok_or(StoreError::NotFound { what: "disposal" })?;
    let current = disposal_status_of(&row.text(0)?)?;
    let version = row.i64(1)?;
    if let Some(v) = expected_version
        && v != version
    {
        return Err(StoreError::conflict(
            "the disposal was changed by someone else since it was read (version mismatch)",
        ));
    }
    if !current.can_move_to(status) {
        return Err(StoreError::invalid(format!(
            "a disposal cannot move from {} to {}",
            current.code(),
            status.code()
        )));
    }
    let version = db
        .query_one(
            "UPDATE intel_disposals SET status = $1, result = $2, updated_at = $3, version = version + 1 \
             WHERE id = $4 RETURNING version",
            params![status.code(), result.as_str(), rec.at, id],
        )
        .await?
        .i64(0)?;
    let mut log = vec![Pending::from_record(
        rec,
        target_of(rec, || format!("disposal:{id}")),
    )];
    if status == DisposalStatus::Done {
        let ids: Vec<i64> = db
            .query(
                "SELECT i.id FROM intel_disposal_items x JOIN indicators i ON i.id = x.indicator_id \
                 WHERE x.disposal_id = $1 AND i.status = 'confirmed' ORDER BY i.id",
                params![id],
            )
            .await?
            .into_iter()
            .map(|mut r| r.i64(0))
            .collect::<Result<_>>()?;
        for chunk in ids.chunks(CHUNK) {
            let mut q = Q::new("UPDATE indicators SET status = 'disposed', updated_at = ");
            q.bind(rec.at).push(", version = version + 1 WHERE id IN ");
            in_list(&mut q, chunk);
            db.exec(&q.sql, &q.params).await?;
        }
        for iid in &ids {
            log.push(entry(
                rec,
                "intel.indicator.dispose",
                format!("indicator:{iid}"),
                format!("disposal:{id} (confirmed -> disposed)"),
            ));
        }
        if !ids.is_empty() {
            bump_generation(db).await?;
        }
    }
    audit::append_many(db, log).await?;
    Ok(version)
}

// ---------------------------------------------------------------- import jobs

const JOB_COLS: &str = "id, source_name, format, file_name, lines, added, updated, unchanged, skipped, \
                        rejected, report, created_by, created_at";

fn job(mut r: Row) -> Result<ImportJob> {
    Ok(ImportJob {
        id: r.i64(0)?,
        source_name: r.text(1)?,
        format: r.text(2)?,
        file_name: r.text(3)?,
        lines: r.i64(4)?,
        added: r.i64(5)?,
        updated: r.i64(6)?,
        unchanged: r.i64(7)?,
        skipped: r.i64(8)?,
        rejected: r.i64(9)?,
        report: r.text(10)?,
        created_by: r.i64(11)?,
        created_at: r.ts(12)?,
    })
}

pub(crate) async fn create_job<D: Db>(db: &D, j: &NewImportJob, rec: &AuditRecord) -> Result<i64> {
    let source = super::bounded(&j.source_name, "source name")?;
    let format = super::required(&j.format, "format")?;
    let file = super::bounded(&j.file_name, "file name")?;
    let id = db
        .query_one(
            "INSERT INTO intel_import_jobs (source_name, format, file_name, lines, added, updated, unchanged, \
             skipped, rejected, report, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            params![
                source.as_str(),
                format.as_str(),
                file.as_str(),
                j.lines,
                j.added,
                j.updated,
                j.unchanged,
                j.skipped,
                j.rejected,
                j.report.as_str(),
                rec.actor_id,
                rec.at
            ],
        )
        .await?
        .i64(0)?;
    audit::append(db, rec, target_of(rec, || format!("import:{id}"))).await?;
    Ok(id)
}

pub(crate) async fn get_job<D: Db>(db: &D, id: i64) -> Result<Option<ImportJob>> {
    db.query_opt(
        &format!("SELECT {JOB_COLS} FROM intel_import_jobs WHERE id = $1"),
        params![id],
    )
    .await?
    .map(job)
    .transpose()
}

pub(crate) async fn list_jobs<D: Db>(db: &D, limit: usize, offset: usize) -> Result<(Vec<ImportJob>, i64)> {
    let total = db
        .query_i64("SELECT COUNT(*) FROM intel_import_jobs", &[])
        .await?;
    let list = db
        .query(
            "SELECT id, source_name, format, file_name, lines, added, updated, unchanged, skipped, rejected, \
             '', created_by, created_at FROM intel_import_jobs ORDER BY id DESC LIMIT $1 OFFSET $2",
            params![limit_of(Some(limit)), offset as i64],
        )
        .await?
        .into_iter()
        .map(job)
        .collect::<Result<Vec<_>>>()?;
    Ok((list, total))
}
