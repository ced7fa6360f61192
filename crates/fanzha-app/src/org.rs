//! The org tree and its units.

use crate::{Actor, App, AppError, Result};
use fanzha_core::i18n::Msg;
use fanzha_core::org::{NodeKind, UnitType};
use fanzha_core::roles::Action;
use fanzha_core::{NodeId, UnitId};
use fanzha_store::{NewUnit, OrgNode, Scope, Unit, UnitFilter, UnitUpdate};
use serde::Serialize;

/// A node as shown in the tree, with its resident count.
#[derive(Clone, Debug, Serialize)]
pub struct NodeView {
    #[serde(flatten)]
    pub node: OrgNode,
    pub depth: usize,
    pub residents: i64,
}

pub(crate) fn clean_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() {
        return Err(AppError::invalid("org.name_empty"));
    }
    if n.chars().count() > 80 {
        return Err(AppError::invalid("org.name_long"));
    }
    Ok(n.to_string())
}

impl App {
    /// The nodes the actor may see, in tree order, with resident counts.
    pub async fn org_tree(&self, actor: &Actor) -> Result<Vec<NodeView>> {
        let scope = self.gate(actor, Action::ViewOrg)?;
        let nodes = self.store.list_nodes(&scope).await?;
        let counts = self.store.node_resident_counts(&scope).await?;
        let base = match &scope {
            Scope::All => 0,
            Scope::Subtree(p) => p.depth(),
        };
        let mut out: Vec<NodeView> = nodes
            .into_iter()
            .map(|node| {
                let residents = counts
                    .iter()
                    .find(|c| c.node_id == node.id)
                    .map(|c| c.residents)
                    .unwrap_or(0);
                NodeView {
                    depth: node.path.depth().saturating_sub(base),
                    residents,
                    node,
                }
            })
            .collect();
        out.sort_by_key(|a| sort_key(&a.node));
        Ok(out)
    }

    /// The nodes the actor may see, in tree order, without counting
    /// residents: for pickers and names, where the counts would cost a scan.
    pub async fn org_nodes(&self, actor: &Actor) -> Result<Vec<OrgNode>> {
        let scope = self.gate(actor, Action::ViewOrg)?;
        let mut nodes = self.store.list_nodes(&scope).await?;
        nodes.sort_by_key(sort_key);
        Ok(nodes)
    }

    /// One node, if it is in the actor's scope.
    pub async fn node(&self, actor: &Actor, id: NodeId) -> Result<OrgNode> {
        let scope = self.gate(actor, Action::ViewOrg)?;
        self.node_in(&scope, id).await
    }

    pub(crate) async fn node_in(&self, scope: &Scope, id: NodeId) -> Result<OrgNode> {
        self.store
            .get_node(scope, id)
            .await?
            .ok_or_else(|| AppError::not_found("org.node_not_found"))
    }

    /// The names from the root down to a node, e.g. `安吉县 / 递铺街道 / …`.
    pub async fn node_trail(&self, id: NodeId) -> Result<Vec<OrgNode>> {
        let Some(n) = self.store.get_node(&Scope::All, id).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for nid in n.path.ids() {
            if let Some(x) = self.store.get_node(&Scope::All, nid).await? {
                out.push(x);
            }
        }
        Ok(out)
    }

    pub async fn create_node(
        &self,
        actor: &Actor,
        parent: Option<NodeId>,
        kind: NodeKind,
        name: &str,
        code: Option<&str>,
    ) -> Result<NodeId> {
        let scope = self.gate(actor, Action::EditOrg)?;
        let name = clean_name(name)?;
        if let Some(p) = parent {
            let parent = self.node_in(&scope, p).await?;
            if parent.kind.child() != Some(kind) {
                return Err(AppError::Invalid(
                    Msg::new("org.bad_child_kind")
                        .arg("parent", parent.kind.code())
                        .arg("kind", kind.code()),
                ));
            }
        } else if kind != NodeKind::County {
            return Err(AppError::invalid("org.root_must_be_county"));
        }
        let code = code.map(str::trim).filter(|c| !c.is_empty());
        let audit = self.audit(
            actor,
            "org.node.create",
            "",
            format!("kind={} name={name}", kind.code()),
        );
        Ok(self.store.create_node(parent, kind, &name, code, &audit).await?)
    }

    pub async fn rename_node(&self, actor: &Actor, id: NodeId, name: &str) -> Result<()> {
        let scope = self.gate(actor, Action::EditOrg)?;
        let name = clean_name(name)?;
        self.node_in(&scope, id).await?;
        let audit = self.audit(
            actor,
            "org.node.rename",
            format!("node:{id}"),
            format!("name={name}"),
        );
        let code = self.node_in(&scope, id).await?.code;
        self.store.rename_node(id, &name, code.as_deref(), &audit).await?;
        Ok(())
    }

    pub async fn move_node(&self, actor: &Actor, id: NodeId, new_parent: NodeId) -> Result<()> {
        let scope = self.gate(actor, Action::EditOrg)?;
        let node = self.node_in(&scope, id).await?;
        let parent = self.node_in(&scope, new_parent).await?;
        if parent.kind.child() != Some(node.kind) {
            return Err(AppError::Invalid(
                Msg::new("org.bad_child_kind")
                    .arg("parent", parent.kind.code())
                    .arg("kind", node.kind.code()),
            ));
        }
        if node.path.contains(&parent.path) {
            return Err(AppError::invalid("org.move_cycle"));
        }
        let audit = self.audit(
            actor,
            "org.node.move",
            format!("node:{id}"),
            format!("parent={new_parent}"),
        );
        self.store.move_node(id, new_parent, &audit).await?;
        Ok(())
    }

    /// Deletes an empty node. A node that still holds child nodes, residents,
    /// units or users is refused, and the refusal says what it holds.
    pub async fn delete_node(&self, actor: &Actor, id: NodeId) -> Result<()> {
        let scope = self.gate(actor, Action::EditOrg)?;
        let node = self.node_in(&scope, id).await?;
        let audit = self.audit(actor, "org.node.delete", format!("node:{id}"), "");
        match self.store.delete_node(id, &audit).await {
            Ok(()) => Ok(()),
            Err(fanzha_store::StoreError::Conflict { reason }) => {
                // Say what the node still holds, in the user's language.
                let children = self.store.node_children(&Scope::All, id).await?.len();
                let c = self
                    .store
                    .scope_counts(&Scope::Subtree(node.path.clone()))
                    .await?;
                if children + c.residents as usize + c.units as usize + c.users as usize > 0 {
                    Err(AppError::Conflict(
                        Msg::new("org.delete_refused_counts")
                            .arg("children", children)
                            .arg("residents", c.residents)
                            .arg("units", c.units)
                            .arg("users", c.users),
                    ))
                } else {
                    Err(AppError::Conflict(
                        Msg::new("org.delete_refused").arg("reason", reason),
                    ))
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn units(&self, actor: &Actor, filter: &UnitFilter) -> Result<Vec<Unit>> {
        let scope = self.gate(actor, Action::ViewOrg)?;
        Ok(self.store.list_units(&scope, filter).await?)
    }

    pub async fn unit(&self, actor: &Actor, id: UnitId) -> Result<Unit> {
        let scope = self.gate(actor, Action::ViewOrg)?;
        self.store
            .get_unit(&scope, id)
            .await?
            .ok_or_else(|| AppError::not_found("org.unit_not_found"))
    }

    pub async fn create_unit(&self, actor: &Actor, u: &UnitForm) -> Result<UnitId> {
        let scope = self.gate(actor, Action::EditOrg)?;
        let new = u.validate()?;
        self.node_in(&scope, u.node_id).await?;
        let audit = self.audit(
            actor,
            "org.unit.create",
            "",
            format!("type={} name={}", new.unit_type.code(), new.name),
        );
        Ok(self.store.create_unit(&new, &audit).await?)
    }

    pub async fn update_unit(&self, actor: &Actor, id: UnitId, u: &UnitForm) -> Result<()> {
        let scope = self.gate(actor, Action::EditOrg)?;
        let new = u.validate()?;
        let old = self.unit(actor, id).await?;
        self.node_in(&scope, u.node_id).await?;
        let audit = self.audit(
            actor,
            "org.unit.update",
            format!("unit:{id}"),
            format!("name={}", new.name),
        );
        self.store
            .update_unit(
                id,
                &UnitUpdate {
                    name: new.name,
                    unit_type: new.unit_type,
                    responsible_name: new.responsible_name,
                    responsible_phone: new.responsible_phone,
                },
                &audit,
            )
            .await?;
        if old.node_id != u.node_id {
            let audit = self.audit(
                actor,
                "org.unit.move",
                format!("unit:{id}"),
                format!("node={}", u.node_id),
            );
            self.store.move_unit(id, u.node_id, &audit).await?;
        }
        Ok(())
    }

    pub async fn delete_unit(&self, actor: &Actor, id: UnitId) -> Result<()> {
        self.gate(actor, Action::EditOrg)?;
        self.unit(actor, id).await?;
        let audit = self.audit(actor, "org.unit.delete", format!("unit:{id}"), "");
        self.store.delete_unit(id, &audit).await?;
        Ok(())
    }
}

/// A unit as entered in a form or an API call.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct UnitForm {
    pub node_id: NodeId,
    pub name: String,
    pub unit_type: UnitType,
    #[serde(default)]
    pub responsible_name: String,
    #[serde(default)]
    pub responsible_phone: String,
}

impl UnitForm {
    fn validate(&self) -> Result<NewUnit> {
        let name = clean_name(&self.name)?;
        let responsible_name = self.responsible_name.trim().chars().take(40).collect::<String>();
        let phone = self.responsible_phone.trim();
        let responsible_phone = if phone.is_empty() {
            String::new()
        } else {
            fanzha_core::phone::normalize(phone).map_err(|_| AppError::invalid("org.unit_bad_phone"))?
        };
        Ok(NewUnit {
            node_id: self.node_id,
            name,
            unit_type: self.unit_type,
            responsible_name,
            responsible_phone,
        })
    }
}

fn sort_key(n: &OrgNode) -> Vec<i64> {
    n.path.ids().iter().map(|i| i.0).collect()
}
