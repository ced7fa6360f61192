//! The resident registry (人口): residents with their phones, tags and
//! contacts. ID and phone numbers are stored only as ciphertext, blind index
//! and masked form.

use super::audit::{self, Pending};
use super::{MAX_TEXT, bounded, in_list, org, required, target_or};
use crate::Scope;
use crate::db::{Db, Q, Row, params};
use crate::error::{Result, StoreError};
use crate::model::{
    AuditRecord, Contact, NewResident, Resident, ResidentFilter, ResidentSummary, ResidentUpdate,
    SealedPhone, UpsertOutcome,
};
use fanzha_core::idcard::Sex;
use fanzha_core::org::{NodeKind, OrgPath};
use fanzha_core::time::Date;
use fanzha_core::{NodeId, ResidentId, Timestamp};
use std::collections::{BTreeSet, HashMap};

/// Rows fetched per round when loading or exporting many residents.
const CHUNK: usize = 512;

fn sex_code(s: Option<Sex>) -> Option<&'static str> {
    s.map(Sex::code)
}

fn parse_sex(s: Option<String>) -> Result<Option<Sex>> {
    match s.as_deref() {
        None => Ok(None),
        Some("male") => Ok(Some(Sex::Male)),
        Some("female") => Ok(Some(Sex::Female)),
        Some(_) => Err(StoreError::corrupt("unknown sex code")),
    }
}

pub(crate) fn parse_date(s: Option<String>) -> Result<Option<Date>> {
    let Some(s) = s else { return Ok(None) };
    let bad = || StoreError::corrupt("malformed birth date");
    let mut parts = s.splitn(3, '-');
    let y = parts.next().and_then(|p| p.parse::<i32>().ok()).ok_or_else(bad)?;
    let m = parts.next().and_then(|p| p.parse::<u8>().ok()).ok_or_else(bad)?;
    let d = parts.next().and_then(|p| p.parse::<u8>().ok()).ok_or_else(bad)?;
    Date::new(y, m, d).map(Some).ok_or_else(bad)
}

fn date_text(d: Option<Date>) -> Option<String> {
    d.map(|d| d.to_string())
}

/// A resident's fields after checking and trimming.
struct Clean<'a> {
    r: &'a NewResident,
    name: String,
    address: String,
    tags: Vec<String>,
    contacts: Vec<(String, String)>, // (relation, name), aligned with r.contacts
}

fn clean(r: &NewResident) -> Result<Clean<'_>> {
    let name = required(&r.name, "resident name")?;
    let address = bounded(&r.address, "address")?;
    if r.id_enc.is_empty() || r.id_bidx.is_empty() {
        return Err(StoreError::invalid(
            "the ID number must be given (encrypted and indexed)",
        ));
    }
    if r.id_masked.chars().count() > MAX_TEXT {
        return Err(StoreError::invalid("masked ID number is too long"));
    }
    for p in &r.phones {
        if p.enc.is_empty() || p.bidx.is_empty() {
            return Err(StoreError::invalid(
                "a phone must be given (encrypted and indexed)",
            ));
        }
    }
    let mut tags = BTreeSet::new();
    for t in &r.tags {
        let t = bounded(t, "tag")?;
        if !t.is_empty() {
            tags.insert(t);
        }
    }
    let mut contacts = Vec::with_capacity(r.contacts.len());
    for c in &r.contacts {
        let relation = required(&c.relation, "contact relation")?;
        let name = bounded(&c.name, "contact name")?;
        if let Some(p) = &c.phone
            && (p.enc.is_empty() || p.bidx.is_empty())
        {
            return Err(StoreError::invalid(
                "a contact phone must be given (encrypted and indexed)",
            ));
        }
        contacts.push((relation, name));
    }
    Ok(Clean {
        r,
        name,
        address,
        tags: tags.into_iter().collect(),
        contacts,
    })
}

/// Checks that `grid` is a grid node; remembers answers in `cache`.
async fn check_grid<D: Db>(db: &D, grid: NodeId, cache: &mut HashMap<NodeId, bool>) -> Result<()> {
    let is_grid = match cache.get(&grid) {
        Some(g) => *g,
        None => {
            let g = match db
                .query_opt("SELECT kind FROM org_nodes WHERE id = $1", params![grid])
                .await?
            {
                None => return Err(StoreError::invalid("the grid does not exist")),
                Some(mut r) => org::kind_of(&r.text(0)?)? == NodeKind::Grid,
            };
            cache.insert(grid, g);
            g
        }
    };
    if !is_grid {
        return Err(StoreError::invalid("residents must belong to a grid node"));
    }
    Ok(())
}

async fn check_links<D: Db>(db: &D, c: &Clean<'_>, own: Option<ResidentId>) -> Result<()> {
    for contact in &c.r.contacts {
        if let Some(l) = contact.linked_resident_id {
            if Some(l) == own {
                return Err(StoreError::invalid("a resident cannot be their own contact"));
            }
            if db
                .query_opt("SELECT id FROM residents WHERE id = $1", params![l])
                .await?
                .is_none()
            {
                return Err(StoreError::invalid("a linked contact resident does not exist"));
            }
        }
    }
    Ok(())
}

async fn id_taken<D: Db>(db: &D, bidx: &[u8]) -> Result<Option<ResidentId>> {
    Ok(db
        .query_opt("SELECT id FROM residents WHERE id_bidx = $1", params![bidx])
        .await?
        .map(|mut r| r.i64(0))
        .transpose()?
        .map(ResidentId))
}

async fn write_children<D: Db>(db: &D, id: ResidentId, c: &Clean<'_>) -> Result<()> {
    // One multi-row INSERT per table: far fewer statements for big imports.
    if !c.r.phones.is_empty() {
        let mut q = Q::new("INSERT INTO resident_phones (resident_id, position, enc, bidx, masked) VALUES ");
        for (i, p) in c.r.phones.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" });
            q.bind(id).push(", ").bind(i as i64).push(", ").bind(&p.enc);
            q.push(", ").bind(&p.bidx).push(", ").bind(&p.masked).push(")");
        }
        db.exec(&q.sql, &q.params).await?;
    }
    if !c.tags.is_empty() {
        let mut q = Q::new("INSERT INTO resident_tags (resident_id, tag) VALUES ");
        for (i, t) in c.tags.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" });
            q.bind(id).push(", ").bind(t).push(")");
        }
        db.exec(&q.sql, &q.params).await?;
    }
    if !c.r.contacts.is_empty() {
        let mut q = Q::new(
            "INSERT INTO resident_contacts \
             (resident_id, position, relation, linked_resident_id, name, phone_enc, phone_bidx, phone_masked) VALUES ",
        );
        for (i, (contact, (relation, name))) in c.r.contacts.iter().zip(&c.contacts).enumerate() {
            let phone = contact.phone.as_ref();
            q.push(if i == 0 { "(" } else { ", (" });
            q.bind(id)
                .push(", ")
                .bind(i as i64)
                .push(", ")
                .bind(relation.as_str());
            q.push(", ")
                .bind(contact.linked_resident_id)
                .push(", ")
                .bind(name.as_str());
            q.push(", ")
                .bind(phone.map(|p| &p.enc))
                .push(", ")
                .bind(phone.map(|p| &p.bidx));
            q.push(", ").bind(phone.map(|p| &p.masked)).push(")");
        }
        db.exec(&q.sql, &q.params).await?;
    }
    Ok(())
}

async fn clear_children<D: Db>(db: &D, id: ResidentId) -> Result<()> {
    db.exec("DELETE FROM resident_phones WHERE resident_id = $1", params![id])
        .await?;
    db.exec("DELETE FROM resident_tags WHERE resident_id = $1", params![id])
        .await?;
    db.exec(
        "DELETE FROM resident_contacts WHERE resident_id = $1",
        params![id],
    )
    .await?;
    Ok(())
}

/// Inserts a resident; `None` (and nothing written) when its ID blind index
/// is already taken.
async fn insert<D: Db>(db: &D, c: &Clean<'_>, at: Timestamp) -> Result<Option<ResidentId>> {
    let r = c.r;
    let Some(mut row) = db
        .query_opt(
            "INSERT INTO residents (grid_id, name, id_enc, id_bidx, id_masked, birth_date, sex, address, \
             created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, 1) \
             ON CONFLICT (id_bidx) DO NOTHING RETURNING id",
            params![
                r.grid_id,
                &c.name,
                &r.id_enc,
                &r.id_bidx,
                &r.id_masked,
                date_text(r.birth_date),
                sex_code(r.sex),
                &c.address,
                at
            ],
        )
        .await?
    else {
        return Ok(None);
    };
    let id = ResidentId(row.i64(0)?);
    write_children(db, id, c).await?;
    Ok(Some(id))
}

/// Replaces every field; returns the new version, or `None` when the row is
/// missing or the version check failed.
async fn replace<D: Db>(
    db: &D,
    id: ResidentId,
    c: &Clean<'_>,
    expected_version: Option<i64>,
    at: Timestamp,
) -> Result<Option<i64>> {
    let r = c.r;
    let mut q = Q::new("UPDATE residents SET grid_id = ");
    q.bind(r.grid_id)
        .push(", name = ")
        .bind(&c.name)
        .push(", id_enc = ")
        .bind(&r.id_enc)
        .push(", id_bidx = ")
        .bind(&r.id_bidx)
        .push(", id_masked = ")
        .bind(&r.id_masked)
        .push(", birth_date = ")
        .bind(date_text(r.birth_date))
        .push(", sex = ")
        .bind(sex_code(r.sex))
        .push(", address = ")
        .bind(&c.address)
        .push(", updated_at = ")
        .bind(at)
        .push(", version = version + 1 WHERE id = ")
        .bind(id);
    if let Some(v) = expected_version {
        q.push(" AND version = ").bind(v);
    }
    q.push(" RETURNING version");
    let Some(mut row) = db.query_opt(&q.sql, &q.params).await? else {
        return Ok(None);
    };
    let version = row.i64(0)?;
    clear_children(db, id).await?;
    write_children(db, id, c).await?;
    Ok(Some(version))
}

pub(crate) async fn create<D: Db>(db: &D, r: &NewResident, rec: &AuditRecord) -> Result<ResidentId> {
    let c = clean(r)?;
    check_grid(db, r.grid_id, &mut HashMap::new()).await?;
    if id_taken(db, &r.id_bidx).await?.is_some() {
        return Err(StoreError::conflict(
            "a resident with this ID number already exists",
        ));
    }
    check_links(db, &c, None).await?;
    let id = insert(db, &c, rec.at)
        .await?
        .ok_or_else(|| StoreError::conflict("a resident with this ID number already exists"))?;
    audit::append(db, rec, target_or(rec, || format!("resident:{id}"))).await?;
    Ok(id)
}

pub(crate) async fn update<D: Db>(
    db: &D,
    id: ResidentId,
    u: &ResidentUpdate,
    rec: &AuditRecord,
) -> Result<i64> {
    let c = clean(&u.data)?;
    check_grid(db, u.data.grid_id, &mut HashMap::new()).await?;
    if let Some(other) = id_taken(db, &u.data.id_bidx).await?
        && other != id
    {
        return Err(StoreError::conflict(
            "a resident with this ID number already exists",
        ));
    }
    check_links(db, &c, Some(id)).await?;
    let Some(version) = replace(db, id, &c, u.expected_version, rec.at).await? else {
        let exists = db
            .query_opt("SELECT version FROM residents WHERE id = $1", params![id])
            .await?;
        return Err(match exists {
            None => StoreError::NotFound { what: "resident" },
            Some(_) => StoreError::conflict(
                "the resident was changed by someone else since it was read (version mismatch)",
            ),
        });
    };
    audit::append(db, rec, target_or(rec, || format!("resident:{id}"))).await?;
    Ok(version)
}

pub(crate) async fn delete<D: Db>(db: &D, id: ResidentId, rec: &AuditRecord) -> Result<()> {
    let n = db
        .exec("DELETE FROM residents WHERE id = $1", params![id])
        .await?;
    if n == 0 {
        return Err(StoreError::NotFound { what: "resident" });
    }
    audit::append(db, rec, target_or(rec, || format!("resident:{id}"))).await?;
    Ok(())
}

async fn upsert_one<D: Db>(
    db: &D,
    r: &NewResident,
    grids: &mut HashMap<NodeId, bool>,
    at: Timestamp,
) -> Result<UpsertOutcome> {
    let c = clean(r)?;
    check_grid(db, r.grid_id, grids).await?;
    // Linking to oneself is only possible on update, checked below.
    check_links(db, &c, None).await?;
    if let Some(id) = insert(db, &c, at).await? {
        return Ok(UpsertOutcome::Inserted(id));
    }
    let id = id_taken(db, &r.id_bidx)
        .await?
        .ok_or_else(|| StoreError::Backend("resident vanished during import".into()))?;
    check_links(db, &c, Some(id)).await?;
    replace(db, id, &c, None, at)
        .await?
        .ok_or(StoreError::NotFound { what: "resident" })?;
    Ok(UpsertOutcome::Updated(id))
}

/// Inserts or updates each row keyed by its ID-number blind index, all in
/// the caller's transaction, with one audit entry per row.
pub(crate) async fn upsert_batch<D: Db>(
    db: &D,
    rows: &[NewResident],
    template: &AuditRecord,
) -> Result<Vec<UpsertOutcome>> {
    let mut grids = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    let mut entries = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let outcome = upsert_one(db, r, &mut grids, template.at)
            .await
            .map_err(|e| e.at_row(i))?;
        let (action, id) = match outcome {
            UpsertOutcome::Inserted(id) => ("resident.import.insert", id),
            UpsertOutcome::Updated(id) => ("resident.import.update", id),
        };
        entries.push(Pending {
            rec_at: template.at,
            actor_id: template.actor_id,
            actor: template.actor.clone(),
            action: action.to_string(),
            target: format!("resident:{id}"),
            detail: template.detail.clone(),
            ip: template.ip.clone(),
        });
        out.push(outcome);
    }
    audit::append_many(db, entries).await?;
    Ok(out)
}

const FULL_COLS: &str = "r.id, r.grid_id, g.name, g.path, r.name, r.id_enc, r.id_bidx, r.id_masked, \
                         r.birth_date, r.sex, r.address, r.created_at, r.updated_at, r.version";
const FROM: &str = " FROM residents r JOIN org_nodes g ON g.id = r.grid_id WHERE 1 = 1";

fn full(mut r: Row) -> Result<Resident> {
    Ok(Resident {
        id: ResidentId(r.i64(0)?),
        grid_id: NodeId(r.i64(1)?),
        grid_name: r.text(2)?,
        grid_path: r.path(3)?,
        name: r.text(4)?,
        id_enc: r.blob(5)?,
        id_bidx: r.blob(6)?,
        id_masked: r.text(7)?,
        birth_date: parse_date(r.opt_text(8)?)?,
        sex: parse_sex(r.opt_text(9)?)?,
        address: r.text(10)?,
        phones: Vec::new(),
        tags: Vec::new(),
        contacts: Vec::new(),
        created_at: r.ts(11)?,
        updated_at: r.ts(12)?,
        version: r.i64(13)?,
    })
}

/// Tags of the given residents.
async fn tags_of<D: Db>(db: &D, ids: &[i64]) -> Result<HashMap<i64, Vec<String>>> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q = Q::new("SELECT resident_id, tag FROM resident_tags WHERE resident_id IN ");
        in_list(&mut q, chunk);
        q.push(" ORDER BY resident_id, tag");
        for mut r in db.query(&q.sql, &q.params).await? {
            out.entry(r.i64(0)?).or_default().push(r.text(1)?);
        }
    }
    Ok(out)
}

/// Fills phones, tags and contacts of the given residents.
async fn attach<D: Db>(db: &D, list: &mut [Resident]) -> Result<()> {
    let ids: Vec<i64> = list.iter().map(|r| r.id.0).collect();
    let mut phones: HashMap<i64, Vec<SealedPhone>> = HashMap::new();
    let mut contacts: HashMap<i64, Vec<Contact>> = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q =
            Q::new("SELECT resident_id, enc, bidx, masked FROM resident_phones WHERE resident_id IN ");
        in_list(&mut q, chunk);
        q.push(" ORDER BY resident_id, position");
        for mut r in db.query(&q.sql, &q.params).await? {
            phones.entry(r.i64(0)?).or_default().push(SealedPhone {
                enc: r.blob(1)?,
                bidx: r.blob(2)?,
                masked: r.text(3)?,
            });
        }
        let mut q = Q::new(
            "SELECT resident_id, id, relation, linked_resident_id, name, phone_enc, phone_bidx, phone_masked \
             FROM resident_contacts WHERE resident_id IN ",
        );
        in_list(&mut q, chunk);
        q.push(" ORDER BY resident_id, position");
        for mut r in db.query(&q.sql, &q.params).await? {
            let rid = r.i64(0)?;
            let id = r.i64(1)?;
            let relation = r.text(2)?;
            let linked = r.opt_i64(3)?.map(ResidentId);
            let name = r.text(4)?;
            let phone = match (r.opt_blob(5)?, r.opt_blob(6)?, r.opt_text(7)?) {
                (Some(enc), Some(bidx), Some(masked)) => Some(SealedPhone { enc, bidx, masked }),
                _ => None,
            };
            contacts.entry(rid).or_default().push(Contact {
                id,
                relation,
                linked_resident_id: linked,
                name,
                phone,
            });
        }
    }
    let mut tags = tags_of(db, &ids).await?;
    for r in list.iter_mut() {
        r.phones = phones.remove(&r.id.0).unwrap_or_default();
        r.contacts = contacts.remove(&r.id.0).unwrap_or_default();
        r.tags = tags.remove(&r.id.0).unwrap_or_default();
    }
    Ok(())
}

pub(crate) async fn get<D: Db>(db: &D, scope: &Scope, id: ResidentId) -> Result<Option<Resident>> {
    let mut q = Q::new(&format!("SELECT {FULL_COLS}{FROM} AND r.id = "));
    q.bind(id).scope("g.path", scope);
    let Some(row) = db.query_opt(&q.sql, &q.params).await? else {
        return Ok(None);
    };
    let mut list = [full(row)?];
    attach(db, &mut list).await?;
    let [r] = list;
    Ok(Some(r))
}

pub(crate) async fn by_id_bidx<D: Db>(db: &D, scope: &Scope, bidx: &[u8]) -> Result<Option<Resident>> {
    let mut q = Q::new(&format!("SELECT r.id{FROM} AND r.id_bidx = "));
    q.bind(bidx).scope("g.path", scope);
    match db.query_opt(&q.sql, &q.params).await? {
        Some(mut r) => get(db, scope, ResidentId(r.i64(0)?)).await,
        None => Ok(None),
    }
}

/// Residents in scope with this number among their own phones.
pub(crate) async fn by_phone_bidx<D: Db>(db: &D, scope: &Scope, bidx: &[u8]) -> Result<Vec<ResidentId>> {
    let mut q = Q::new(
        "SELECT DISTINCT r.id FROM resident_phones p JOIN residents r ON r.id = p.resident_id \
         JOIN org_nodes g ON g.id = r.grid_id WHERE p.bidx = ",
    );
    q.bind(bidx).scope("g.path", scope).push(" ORDER BY r.id");
    ids(db, &q).await
}

/// Residents in scope who list this number as a contact's phone.
pub(crate) async fn by_contact_phone_bidx<D: Db>(
    db: &D,
    scope: &Scope,
    bidx: &[u8],
) -> Result<Vec<ResidentId>> {
    let mut q = Q::new(
        "SELECT DISTINCT r.id FROM resident_contacts c JOIN residents r ON r.id = c.resident_id \
         JOIN org_nodes g ON g.id = r.grid_id WHERE c.phone_bidx = ",
    );
    q.bind(bidx).scope("g.path", scope).push(" ORDER BY r.id");
    ids(db, &q).await
}

async fn ids<D: Db>(db: &D, q: &Q<'_>) -> Result<Vec<ResidentId>> {
    db.query(&q.sql, &q.params)
        .await?
        .into_iter()
        .map(|mut r| r.i64(0).map(ResidentId))
        .collect()
}

/// The subtree path of `filter.node`: `Ok(None)` when unset,
/// `Err(())` when the node does not exist (nothing can match).
async fn node_path<D: Db>(db: &D, f: &ResidentFilter) -> Result<Result<Option<OrgPath>, ()>> {
    match f.node {
        None => Ok(Ok(None)),
        Some(id) => Ok(match org::load(db, id).await? {
            Some(n) => Ok(Some(n.path)),
            None => Err(()),
        }),
    }
}

fn filter_where<'a>(q: &mut Q<'a>, scope: &Scope, f: &'a ResidentFilter, node: Option<&OrgPath>) {
    q.push(FROM).scope("g.path", scope);
    if let Some(p) = node {
        q.subtree("g.path", p);
    }
    if let Some(n) = &f.name_exact {
        q.push(" AND r.name = ").bind(n.trim().to_string());
    }
    if let Some(b) = &f.id_bidx {
        q.push(" AND r.id_bidx = ").bind(b);
    }
    if let Some(b) = &f.phone_bidx {
        q.push(" AND EXISTS (SELECT 1 FROM resident_phones p WHERE p.resident_id = r.id AND p.bidx = ")
            .bind(b)
            .push(")");
    }
    if let Some(g) = f.grid {
        q.push(" AND r.grid_id = ").bind(g);
    }
    if let Some(t) = &f.tag {
        q.push(" AND EXISTS (SELECT 1 FROM resident_tags t WHERE t.resident_id = r.id AND t.tag = ")
            .bind(t.trim().to_string())
            .push(")");
    }
    if let Some(d) = f.born_after {
        q.push(" AND r.birth_date >= ").bind(d.to_string());
    }
    if let Some(d) = f.born_before {
        q.push(" AND r.birth_date <= ").bind(d.to_string());
    }
}

pub(crate) async fn count_filtered<D: Db>(db: &D, scope: &Scope, f: &ResidentFilter) -> Result<i64> {
    let Ok(node) = node_path(db, f).await? else {
        return Ok(0);
    };
    let mut q = Q::new("SELECT COUNT(*)");
    filter_where(&mut q, scope, f, node.as_ref());
    db.query_i64(&q.sql, &q.params).await
}

pub(crate) async fn list<D: Db>(
    db: &D,
    scope: &Scope,
    f: &ResidentFilter,
) -> Result<(Vec<ResidentSummary>, i64)> {
    let Ok(node) = node_path(db, f).await? else {
        return Ok((Vec::new(), 0));
    };
    let mut q = Q::new("SELECT COUNT(*)");
    filter_where(&mut q, scope, f, node.as_ref());
    let total = db.query_i64(&q.sql, &q.params).await?;

    let mut q = Q::new(
        "SELECT r.id, r.name, r.id_masked, \
         (SELECT p.masked FROM resident_phones p WHERE p.resident_id = r.id ORDER BY p.position LIMIT 1), \
         r.sex, r.birth_date, r.grid_id, g.name",
    );
    filter_where(&mut q, scope, f, node.as_ref());
    q.push(" ORDER BY r.id LIMIT ")
        .bind(audit::limit_of(f.limit))
        .push(" OFFSET ")
        .bind(f.offset as i64);
    let mut out = Vec::new();
    for mut r in db.query(&q.sql, &q.params).await? {
        out.push(ResidentSummary {
            id: ResidentId(r.i64(0)?),
            name: r.text(1)?,
            id_masked: r.text(2)?,
            phone_masked: r.opt_text(3)?,
            sex: parse_sex(r.opt_text(4)?)?,
            birth_date: parse_date(r.opt_text(5)?)?,
            grid_id: NodeId(r.i64(6)?),
            grid_name: r.text(7)?,
            tags: Vec::new(),
        });
    }
    let ids: Vec<i64> = out.iter().map(|s| s.id.0).collect();
    let mut tags = tags_of(db, &ids).await?;
    for s in &mut out {
        s.tags = tags.remove(&s.id.0).unwrap_or_default();
    }
    Ok((out, total))
}

/// Up to `limit` full residents matching `f` with ids above `after`, by id.
/// `f.limit` and `f.offset` are ignored.
pub(crate) async fn export_page<D: Db>(
    db: &D,
    scope: &Scope,
    f: &ResidentFilter,
    after: Option<ResidentId>,
    limit: usize,
) -> Result<Vec<Resident>> {
    let Ok(node) = node_path(db, f).await? else {
        return Ok(Vec::new());
    };
    let mut q = Q::new(&format!("SELECT {FULL_COLS}"));
    filter_where(&mut q, scope, f, node.as_ref());
    q.push(" AND r.id > ")
        .bind(after.map_or(0, |a| a.0))
        .push(" ORDER BY r.id LIMIT ")
        .bind(audit::limit_of(Some(limit)));
    let mut list = db
        .query(&q.sql, &q.params)
        .await?
        .into_iter()
        .map(full)
        .collect::<Result<Vec<_>>>()?;
    attach(db, &mut list).await?;
    Ok(list)
}

/// Every resident matching `f`, by id, read in one snapshot.
pub(crate) async fn export_all<D: Db>(db: &D, scope: &Scope, f: &ResidentFilter) -> Result<Vec<Resident>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = export_page(db, scope, f, after, CHUNK).await?;
        let done = page.len() < CHUNK;
        after = page.last().map(|r| r.id);
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

pub(crate) async fn count<D: Db>(db: &D, scope: &Scope) -> Result<i64> {
    let mut q = Q::new(&format!("SELECT COUNT(*){FROM}"));
    q.scope("g.path", scope);
    db.query_i64(&q.sql, &q.params).await
}

/// Residents per tag, most frequent first.
pub(crate) async fn tag_counts<D: Db>(db: &D, scope: &Scope) -> Result<Vec<(String, i64)>> {
    let mut q = Q::new(
        "SELECT t.tag, COUNT(*) FROM resident_tags t JOIN residents r ON r.id = t.resident_id \
         JOIN org_nodes g ON g.id = r.grid_id WHERE 1 = 1",
    );
    q.scope("g.path", scope)
        .push(" GROUP BY t.tag ORDER BY COUNT(*) DESC, t.tag");
    db.query(&q.sql, &q.params)
        .await?
        .into_iter()
        .map(|mut r| Ok((r.text(0)?, r.i64(1)?)))
        .collect()
}
