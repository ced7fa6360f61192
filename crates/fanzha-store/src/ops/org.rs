//! The org tree: county → township → village → grid, with materialised paths.

use super::{audit, bounded, counted, required, target_or};
use crate::Scope;
use crate::db::{Db, Q, Row, params};
use crate::error::{Result, StoreError};
use crate::model::{AuditRecord, NodeCount, OrgNode};
use fanzha_core::NodeId;
use fanzha_core::org::{NodeKind, OrgPath};
use std::collections::HashMap;

pub(crate) const NODE_COLS: &str =
    "n.id, n.parent_id, n.kind, n.name, n.code, n.path, n.created_at, n.updated_at";

pub(crate) fn kind_of(code: &str) -> Result<NodeKind> {
    NodeKind::parse(code).map_err(|_| StoreError::corrupt("unknown node kind"))
}

pub(crate) fn node(mut r: Row) -> Result<OrgNode> {
    Ok(OrgNode {
        id: NodeId(r.i64(0)?),
        parent_id: r.opt_i64(1)?.map(NodeId),
        kind: kind_of(&r.text(2)?)?,
        name: r.text(3)?,
        code: r.opt_text(4)?,
        path: r.path(5)?,
        created_at: r.ts(6)?,
        updated_at: r.ts(7)?,
    })
}

/// Any node, ignoring scope (for checks inside writes).
pub(crate) async fn load<D: Db>(db: &D, id: NodeId) -> Result<Option<OrgNode>> {
    db.query_opt(
        &format!("SELECT {NODE_COLS} FROM org_nodes n WHERE n.id = $1"),
        params![id],
    )
    .await?
    .map(node)
    .transpose()
}

fn clean_code(code: Option<&str>) -> Result<Option<String>> {
    Ok(match code {
        Some(c) => Some(bounded(c, "code")?).filter(|c| !c.is_empty()),
        None => None,
    })
}

async fn check_sibling_name<D: Db>(
    db: &D,
    parent: Option<NodeId>,
    name: &str,
    except: Option<NodeId>,
) -> Result<()> {
    let taken = db
        .query_opt(
            "SELECT id FROM org_nodes WHERE COALESCE(parent_id, 0) = $1 AND name = $2 AND id <> $3",
            params![parent.map_or(0, |p| p.0), name, except.map_or(0, |e| e.0)],
        )
        .await?;
    if taken.is_some() {
        return Err(StoreError::conflict(
            "a sibling node with this name already exists",
        ));
    }
    Ok(())
}

fn check_child_kind(parent: &OrgNode, kind: NodeKind) -> Result<()> {
    match parent.kind.child() {
        Some(k) if k == kind => Ok(()),
        Some(k) => Err(StoreError::invalid(format!(
            "a {} node can only hold {} nodes, not {} nodes",
            parent.kind.code(),
            k.code(),
            kind.code()
        ))),
        None => Err(StoreError::invalid(format!(
            "a {} node cannot hold child nodes",
            parent.kind.code()
        ))),
    }
}

pub(crate) async fn create<D: Db>(
    db: &D,
    parent: Option<NodeId>,
    kind: NodeKind,
    name: &str,
    code: Option<&str>,
    rec: &AuditRecord,
) -> Result<NodeId> {
    let name = required(name, "node name")?;
    let code = clean_code(code)?;
    let parent_path = match parent {
        None => {
            if kind != NodeKind::County {
                return Err(StoreError::invalid(format!(
                    "a root node must be a county, not a {}",
                    kind.code()
                )));
            }
            None
        }
        Some(pid) => {
            let p = load(db, pid)
                .await?
                .ok_or(StoreError::NotFound { what: "parent node" })?;
            check_child_kind(&p, kind)?;
            Some(p.path)
        }
    };
    check_sibling_name(db, parent, &name, None).await?;
    let mut r = db
        .query_one(
            "INSERT INTO org_nodes (parent_id, kind, name, code, path, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, '/', $5, $5) RETURNING id",
            params![parent, kind.code(), &name, code.as_ref(), rec.at],
        )
        .await?;
    let id = NodeId(r.i64(0)?);
    let path = match parent_path {
        Some(p) => p.child(id),
        None => OrgPath::root(id),
    };
    db.exec(
        "UPDATE org_nodes SET path = $1 WHERE id = $2",
        params![path.as_str(), id],
    )
    .await?;
    audit::append(db, rec, target_or(rec, || format!("node:{id}"))).await?;
    Ok(id)
}

pub(crate) async fn get<D: Db>(db: &D, scope: &Scope, id: NodeId) -> Result<Option<OrgNode>> {
    let mut q = Q::new(&format!("SELECT {NODE_COLS} FROM org_nodes n WHERE n.id = "));
    q.bind(id).scope("n.path", scope);
    db.query_opt(&q.sql, &q.params).await?.map(node).transpose()
}

/// Nodes in scope in tree order (each node before its descendants).
pub(crate) async fn list<D: Db>(db: &D, scope: &Scope) -> Result<Vec<OrgNode>> {
    let mut q = Q::new(&format!("SELECT {NODE_COLS} FROM org_nodes n WHERE 1 = 1"));
    q.scope("n.path", scope).push(" ORDER BY n.path");
    db.query(&q.sql, &q.params).await?.into_iter().map(node).collect()
}

/// Children of `id` that are in scope, by name.
pub(crate) async fn children<D: Db>(db: &D, scope: &Scope, id: NodeId) -> Result<Vec<OrgNode>> {
    let mut q = Q::new(&format!(
        "SELECT {NODE_COLS} FROM org_nodes n WHERE n.parent_id = "
    ));
    q.bind(id).scope("n.path", scope).push(" ORDER BY n.name, n.id");
    db.query(&q.sql, &q.params).await?.into_iter().map(node).collect()
}

pub(crate) async fn rename<D: Db>(
    db: &D,
    id: NodeId,
    name: &str,
    code: Option<&str>,
    rec: &AuditRecord,
) -> Result<()> {
    let name = required(name, "node name")?;
    let code = clean_code(code)?;
    let n = load(db, id).await?.ok_or(StoreError::NotFound { what: "node" })?;
    check_sibling_name(db, n.parent_id, &name, Some(id)).await?;
    db.exec(
        "UPDATE org_nodes SET name = $1, code = $2, updated_at = $3 WHERE id = $4",
        params![&name, code.as_ref(), rec.at, id],
    )
    .await?;
    audit::append(db, rec, target_or(rec, || format!("node:{id}"))).await?;
    Ok(())
}

pub(crate) async fn move_to<D: Db>(db: &D, id: NodeId, new_parent: NodeId, rec: &AuditRecord) -> Result<()> {
    let n = load(db, id).await?.ok_or(StoreError::NotFound { what: "node" })?;
    let p = load(db, new_parent)
        .await?
        .ok_or(StoreError::NotFound { what: "parent node" })?;
    if n.path.contains(&p.path) {
        return Err(StoreError::invalid("a node cannot be moved below itself"));
    }
    check_child_kind(&p, n.kind)?;
    check_sibling_name(db, Some(new_parent), &n.name, Some(id)).await?;
    let old = n.path;
    let new = p.path.child(id);
    let mut q = Q::new("UPDATE org_nodes SET path = CAST(");
    q.bind(new.as_str())
        .push(" AS TEXT) || substr(path, ")
        .bind(old.as_str().len() as i64 + 1)
        .push("), updated_at = ")
        .bind(rec.at)
        .push(" WHERE 1 = 1")
        .subtree("path", &old);
    db.exec(&q.sql, &q.params).await?;
    db.exec(
        "UPDATE org_nodes SET parent_id = $1 WHERE id = $2",
        params![new_parent, id],
    )
    .await?;
    audit::append(db, rec, target_or(rec, || format!("node:{id}"))).await?;
    Ok(())
}

pub(crate) async fn delete<D: Db>(db: &D, id: NodeId, rec: &AuditRecord) -> Result<()> {
    if load(db, id).await?.is_none() {
        return Err(StoreError::NotFound { what: "node" });
    }
    let children = db
        .query_i64("SELECT COUNT(*) FROM org_nodes WHERE parent_id = $1", params![id])
        .await?;
    let residents = db
        .query_i64("SELECT COUNT(*) FROM residents WHERE grid_id = $1", params![id])
        .await?;
    let units = db
        .query_i64("SELECT COUNT(*) FROM units WHERE node_id = $1", params![id])
        .await?;
    let users = db
        .query_i64("SELECT COUNT(*) FROM users WHERE node_id = $1", params![id])
        .await?;
    let mut held = Vec::new();
    if children > 0 {
        held.push(counted(children, "child node", "child nodes"));
    }
    if residents > 0 {
        held.push(counted(residents, "resident", "residents"));
    }
    if units > 0 {
        held.push(counted(units, "unit", "units"));
    }
    if users > 0 {
        held.push(counted(users, "user", "users"));
    }
    if !held.is_empty() {
        return Err(StoreError::conflict(format!("node has {}", held.join(", "))));
    }
    db.exec("DELETE FROM org_nodes WHERE id = $1", params![id])
        .await?;
    audit::append(db, rec, target_or(rec, || format!("node:{id}"))).await?;
    Ok(())
}

/// Residents in each in-scope node's subtree, in tree order.
pub(crate) async fn resident_counts<D: Db>(db: &D, scope: &Scope) -> Result<Vec<NodeCount>> {
    let nodes = list(db, scope).await?;
    let mut q = Q::new(
        "SELECT r.grid_id, COUNT(*) FROM residents r JOIN org_nodes g ON g.id = r.grid_id WHERE 1 = 1",
    );
    q.scope("g.path", scope).push(" GROUP BY r.grid_id");
    let mut per_grid: HashMap<i64, i64> = HashMap::new();
    for mut r in db.query(&q.sql, &q.params).await? {
        per_grid.insert(r.i64(0)?, r.i64(1)?);
    }
    let mut totals: HashMap<NodeId, i64> = nodes.iter().map(|n| (n.id, 0)).collect();
    for n in &nodes {
        if let Some(c) = per_grid.get(&n.id.0) {
            for anc in n.path.ids() {
                if let Some(t) = totals.get_mut(&anc) {
                    *t += c;
                }
            }
        }
    }
    Ok(nodes
        .iter()
        .map(|n| NodeCount {
            node_id: n.id,
            residents: totals.get(&n.id).copied().unwrap_or(0),
        })
        .collect())
}
