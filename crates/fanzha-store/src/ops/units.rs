//! Units (乡属单位) attached to org nodes.

use super::{audit, bounded, org, required, target_or};
use crate::Scope;
use crate::db::{Db, Q, Row, params};
use crate::error::{Result, StoreError};
use crate::model::{AuditRecord, NewUnit, Unit, UnitFilter, UnitUpdate};
use fanzha_core::org::UnitType;
use fanzha_core::{NodeId, UnitId};

const COLS: &str = "u.id, u.node_id, n.name, n.path, u.name, u.unit_type, u.responsible_name, \
                    u.responsible_phone, u.created_at, u.updated_at";

fn unit(mut r: Row) -> Result<Unit> {
    Ok(Unit {
        id: UnitId(r.i64(0)?),
        node_id: NodeId(r.i64(1)?),
        node_name: r.text(2)?,
        node_path: r.path(3)?,
        name: r.text(4)?,
        unit_type: UnitType::parse(&r.text(5)?).map_err(|_| StoreError::corrupt("unknown unit type"))?,
        responsible_name: r.text(6)?,
        responsible_phone: r.text(7)?,
        created_at: r.ts(8)?,
        updated_at: r.ts(9)?,
    })
}

async fn check_name_free<D: Db>(db: &D, node: NodeId, name: &str, except: Option<UnitId>) -> Result<()> {
    let taken = db
        .query_opt(
            "SELECT id FROM units WHERE node_id = $1 AND name = $2 AND id <> $3",
            params![node, name, except.map_or(0, |e| e.0)],
        )
        .await?;
    if taken.is_some() {
        return Err(StoreError::conflict(
            "a unit with this name already exists at this node",
        ));
    }
    Ok(())
}

async fn exists<D: Db>(db: &D, id: UnitId) -> Result<(NodeId, String)> {
    let mut r = db
        .query_opt("SELECT node_id, name FROM units WHERE id = $1", params![id])
        .await?
        .ok_or(StoreError::NotFound { what: "unit" })?;
    Ok((NodeId(r.i64(0)?), r.text(1)?))
}

pub(crate) async fn create<D: Db>(db: &D, u: &NewUnit, rec: &AuditRecord) -> Result<UnitId> {
    let name = required(&u.name, "unit name")?;
    let rname = bounded(&u.responsible_name, "responsible person")?;
    let rphone = bounded(&u.responsible_phone, "responsible phone")?;
    if org::load(db, u.node_id).await?.is_none() {
        return Err(StoreError::NotFound { what: "node" });
    }
    check_name_free(db, u.node_id, &name, None).await?;
    let mut r = db
        .query_one(
            "INSERT INTO units (node_id, name, unit_type, responsible_name, responsible_phone, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            params![u.node_id, &name, u.unit_type.code(), &rname, &rphone, rec.at],
        )
        .await?;
    let id = UnitId(r.i64(0)?);
    audit::append(db, rec, target_or(rec, || format!("unit:{id}"))).await?;
    Ok(id)
}

pub(crate) async fn get<D: Db>(db: &D, scope: &Scope, id: UnitId) -> Result<Option<Unit>> {
    let mut q = Q::new(&format!(
        "SELECT {COLS} FROM units u JOIN org_nodes n ON n.id = u.node_id WHERE u.id = "
    ));
    q.bind(id).scope("n.path", scope);
    db.query_opt(&q.sql, &q.params).await?.map(unit).transpose()
}

pub(crate) async fn list<D: Db>(db: &D, scope: &Scope, f: &UnitFilter) -> Result<Vec<Unit>> {
    let node_path = match f.node {
        Some(id) => match org::load(db, id).await? {
            Some(n) => Some(n.path),
            None => return Ok(Vec::new()),
        },
        None => None,
    };
    let mut q = Q::new(&format!(
        "SELECT {COLS} FROM units u JOIN org_nodes n ON n.id = u.node_id WHERE 1 = 1"
    ));
    q.scope("n.path", scope);
    if let Some(p) = &node_path {
        q.subtree("n.path", p);
    }
    if let Some(t) = f.unit_type {
        q.push(" AND u.unit_type = ").bind(t.code());
    }
    q.push(" ORDER BY n.path, u.name, u.id");
    db.query(&q.sql, &q.params).await?.into_iter().map(unit).collect()
}

pub(crate) async fn update<D: Db>(db: &D, id: UnitId, u: &UnitUpdate, rec: &AuditRecord) -> Result<()> {
    let name = required(&u.name, "unit name")?;
    let rname = bounded(&u.responsible_name, "responsible person")?;
    let rphone = bounded(&u.responsible_phone, "responsible phone")?;
    let (node, _) = exists(db, id).await?;
    check_name_free(db, node, &name, Some(id)).await?;
    db.exec(
        "UPDATE units SET name = $1, unit_type = $2, responsible_name = $3, responsible_phone = $4, \
         updated_at = $5 WHERE id = $6",
        params![&name, u.unit_type.code(), &rname, &rphone, rec.at, id],
    )
    .await?;
    audit::append(db, rec, target_or(rec, || format!("unit:{id}"))).await?;
    Ok(())
}

pub(crate) async fn move_to<D: Db>(db: &D, id: UnitId, node: NodeId, rec: &AuditRecord) -> Result<()> {
    let (_, name) = exists(db, id).await?;
    if org::load(db, node).await?.is_none() {
        return Err(StoreError::NotFound { what: "node" });
    }
    check_name_free(db, node, &name, Some(id)).await?;
    db.exec(
        "UPDATE units SET node_id = $1, updated_at = $2 WHERE id = $3",
        params![node, rec.at, id],
    )
    .await?;
    audit::append(db, rec, target_or(rec, || format!("unit:{id}"))).await?;
    Ok(())
}

pub(crate) async fn delete<D: Db>(db: &D, id: UnitId, rec: &AuditRecord) -> Result<()> {
    exists(db, id).await?;
    db.exec("DELETE FROM units WHERE id = $1", params![id]).await?;
    audit::append(db, rec, target_or(rec, || format!("unit:{id}"))).await?;
    Ok(())
}
