//! The org tree (组织架构) and its units (乡属单位): the tree in the user's
//! scope with resident counts; for the administrator, creating, renaming,
//! moving and deleting nodes and units.

use super::common::{
    NodeOpt, Signed, back_to, back_to_record, clip, err_text, fail, flash, is_form_error, node_options,
    opt_num, status_of,
};
use crate::auth::Ctx;
use crate::error::{Form, Path, Query};
use crate::render::page;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use fanzha_app::model::UnitFilter;
use fanzha_app::org::{NodeView, UnitForm};
use fanzha_app::{Actor, AppError};
use fanzha_core::i18n::Msg;
use fanzha_core::org::{NodeKind, UnitType};
use fanzha_core::roles::Action;
use fanzha_core::{NodeId, UnitId};
use minijinja::context;
use minijinja::value::{Serde, Value};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/org", get(tree_page))
        .route("/org/root", back_to("/org").post(create_root))
        .route("/org/units", get(units_page))
        .route("/org/units/new", get(unit_new_page).post(unit_create))
        .route("/org/units/{id}", get(unit_page))
        .route("/org/units/{id}/edit", get(unit_edit_page).post(unit_update))
        .route(
            "/org/units/{id}/delete",
            back_to_record("/org/units").post(unit_delete),
        )
        .route("/org/{id}", get(node_page))
        .route("/org/{id}/rename", back_to_record("/org").post(rename))
        .route("/org/{id}/children", back_to_record("/org").post(create_child))
        .route("/org/{id}/move", back_to_record("/org").post(move_node))
        .route("/org/{id}/delete", back_to_record("/org").post(delete_node))
}

#[derive(Deserialize, Default)]
struct OkQ {
    ok: Option<String>,
}

/// A node of the rendered tree with its children.
#[derive(Serialize)]
struct TreeItem {
    id: i64,
    name: String,
    kind: &'static str,
    code: Option<String>,
    residents: i64,
    depth: usize,
    children: Vec<TreeItem>,
}

fn build_tree(nodes: &[NodeView]) -> Vec<TreeItem> {
    let ids: std::collections::HashSet<i64> = nodes.iter().map(|n| n.node.id.0).collect();
    let mut children: HashMap<i64, Vec<&NodeView>> = HashMap::new();
    let mut roots = Vec::new();
    for n in nodes {
        match n.node.parent_id {
            Some(p) if ids.contains(&p.0) => children.entry(p.0).or_default().push(n),
            _ => roots.push(n),
        }
    }
    fn item(n: &NodeView, children: &HashMap<i64, Vec<&NodeView>>) -> TreeItem {
        TreeItem {
            id: n.node.id.0,
            name: n.node.name.clone(),
            kind: n.node.kind.code(),
            code: n.node.code.clone(),
            residents: n.residents,
            depth: n.depth,
            children: children
                .get(&n.node.id.0)
                .map(|c| c.iter().map(|x| item(x, children)).collect())
                .unwrap_or_default(),
        }
    }
    roots.into_iter().map(|r| item(r, &children)).collect()
}

#[derive(Deserialize, Default)]
struct NameForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    code: String,
}

async fn tree_page(State(st): State<AppState>, Signed(ctx, actor): Signed, Query(q): Query<OkQ>) -> Response {
    render_tree(
        &st,
        &ctx,
        &actor,
        flash(&ctx, q.ok.as_deref()),
        None,
        &NameForm::default(),
    )
    .await
}

async fn render_tree(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    flash_msg: Option<String>,
    error: Option<(AppError, bool)>,
    form: &NameForm,
) -> Response {
    let nodes = match st.app.org_tree(actor).await {
        Ok(n) => n,
        Err(e) => return fail(ctx, e),
    };
    let status = error
        .as_ref()
        .map(|(e, _)| status_of(e))
        .unwrap_or(axum::http::StatusCode::OK);
    let html = page(
        st,
        ctx,
        "org_tree.html",
        context! {
            tree => Serde(build_tree(&nodes)),
            total => nodes.len(),
            can_edit => actor.can(Action::EditOrg),
            can_residents => actor.can(Action::ViewResidents),
            flash => flash_msg,
            error => error.as_ref().map(|(e, _)| err_text(ctx, e)),
            form => context! { name => clip(&form.name, 100), code => clip(&form.code, 40) },
        },
    );
    (status, html).into_response()
}

async fn create_root(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Form(f): Form<NameForm>,
) -> Response {
    let code = Some(f.code.as_str()).filter(|c| !c.trim().is_empty());
    match st
        .app
        .create_node(&actor, None, NodeKind::County, &f.name, code)
        .await
    {
        Ok(id) => Redirect::to(&format!("/org/{id}?ok=created")).into_response(),
        Err(e) if is_form_error(&e) => render_tree(&st, &ctx, &actor, None, Some((e, true)), &f).await,
        Err(e) => fail(&ctx, e),
    }
}

/// Which form on the node page failed, with the user's input.
#[derive(Default)]
struct NodeFormState {
    which: &'static str,
    error: Option<AppError>,
    name: String,
    code: String,
}

async fn node_page(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Query(q): Query<OkQ>,
) -> Response {
    render_node(
        &st,
        &ctx,
        &actor,
        NodeId(id),
        flash(&ctx, q.ok.as_deref()),
        NodeFormState::default(),
    )
    .await
}

async fn render_node(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    id: NodeId,
    flash_msg: Option<String>,
    form: NodeFormState,
) -> Response {
    let node = match st.app.node(actor, id).await {
        Ok(n) => n,
        Err(e) => return fail(ctx, e),
    };
    let tree = match st.app.org_tree(actor).await {
        Ok(t) => t,
        Err(e) => return fail(ctx, e),
    };
    let trail = st.app.node_trail(id).await.unwrap_or_default();
    let units = st
        .app
        .units(
            actor,
            &UnitFilter {
                node: Some(id),
                unit_type: None,
            },
        )
        .await
        .map(|u| u.len())
        .unwrap_or(0);
    let residents = tree
        .iter()
        .find(|n| n.node.id == id)
        .map(|n| n.residents)
        .unwrap_or(0);
    let children: Vec<&NodeView> = tree.iter().filter(|n| n.node.parent_id == Some(id)).collect();
    let children: Vec<Value> = children
        .iter()
        .map(|c| {
            context! { id => c.node.id.0, name => c.node.name.clone(), kind => c.node.kind.code(), residents => c.residents }
        })
        .collect();
    // A node may move under any other node of its parent's kind.
    let plain: Vec<fanzha_app::model::OrgNode> = tree.iter().map(|n| n.node.clone()).collect();
    let parents: Vec<NodeOpt> = node_options(&plain)
        .into_iter()
        .filter(|o| {
            NodeKind::parse(o.kind).ok().and_then(|k| k.child()) == Some(node.kind)
                && Some(NodeId(o.id)) != node.parent_id
        })
        .collect();
    let status = form
        .error
        .as_ref()
        .map(status_of)
        .unwrap_or(axum::http::StatusCode::OK);
    let html = page(
        st,
        ctx,
        "org_node.html",
        context! {
            node => context! {
                id => node.id.0,
                name => node.name.clone(),
                kind => node.kind.code(),
                code => node.code.clone(),
                parent_id => node.parent_id.map(|p| p.0),
            },
            trail => trail.iter().map(|n| context! { id => n.id.0, name => n.name.clone() }).collect::<Vec<_>>(),
            children => children,
            child_kind => node.kind.child().map(|k| k.code()),
            residents => residents,
            units => units,
            parents => Serde(&parents),
            can_edit => actor.can(Action::EditOrg),
            can_residents => actor.can(Action::ViewResidents),
            flash => flash_msg,
            which => form.which,
            error => form.error.as_ref().map(|e| err_text(ctx, e)),
            name_value => if form.which == "rename" || form.which == "child" { clip(&form.name, 100) } else { String::new() },
            code_value => clip(&form.code, 40),
        },
    );
    (status, html).into_response()
}

async fn rename(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Form(f): Form<NameForm>,
) -> Response {
    match st.app.rename_node(&actor, NodeId(id), &f.name).await {
        Ok(()) => Redirect::to(&format!("/org/{id}?ok=saved")).into_response(),
        Err(e) if is_form_error(&e) => {
            let form = NodeFormState {
                which: "rename",
                error: Some(e),
                name: f.name,
                code: f.code,
            };
            render_node(&st, &ctx, &actor, NodeId(id), None, form).await
        }
        Err(e) => fail(&ctx, e),
    }
}

async fn create_child(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Form(f): Form<NameForm>,
) -> Response {
    let parent = match st.app.node(&actor, NodeId(id)).await {
        Ok(n) => n,
        Err(e) => return fail(&ctx, e),
    };
    let result = match parent.kind.child() {
        Some(kind) => {
            let code = Some(f.code.as_str()).filter(|c| !c.trim().is_empty());
            st.app
                .create_node(&actor, Some(parent.id), kind, &f.name, code)
                .await
        }
        None => Err(AppError::invalid("org.grid_has_no_children")),
    };
    match result {
        Ok(new) => Redirect::to(&format!("/org/{new}?ok=created")).into_response(),
        Err(e) if is_form_error(&e) => {
            let form = NodeFormState {
                which: "child",
                error: Some(e),
                name: f.name,
                code: f.code,
            };
            render_node(&st, &ctx, &actor, NodeId(id), None, form).await
        }
        Err(e) => fail(&ctx, e),
    }
}

#[derive(Deserialize, Default)]
struct MoveForm {
    #[serde(default)]
    parent: String,
}

async fn move_node(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Form(f): Form<MoveForm>,
) -> Response {
    let result = match opt_num::<i64>(Some(&f.parent), "org.new_parent") {
        Ok(Some(p)) => st.app.move_node(&actor, NodeId(id), NodeId(p)).await,
        Ok(None) => Err(AppError::invalid("org.parent_required")),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/org/{id}?ok=saved")).into_response(),
        // The chosen parent may be out of scope or gone: say so on the form.
        Err(AppError::NotFound(m))
            if actor.can(Action::EditOrg) && st.app.node(&actor, NodeId(id)).await.is_ok() =>
        {
            let form = NodeFormState {
                which: "move",
                error: Some(AppError::Invalid(m)),
                ..Default::default()
            };
            render_node(&st, &ctx, &actor, NodeId(id), None, form).await
        }
        Err(e) if is_form_error(&e) => {
            let form = NodeFormState {
                which: "move",
                error: Some(e),
                ..Default::default()
            };
            render_node(&st, &ctx, &actor, NodeId(id), None, form).await
        }
        Err(e) => fail(&ctx, e),
    }
}

async fn delete_node(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
) -> Response {
    let parent = st
        .app
        .node(&actor, NodeId(id))
        .await
        .ok()
        .and_then(|n| n.parent_id);
    match st.app.delete_node(&actor, NodeId(id)).await {
        Ok(()) => match parent {
            Some(p) => Redirect::to(&format!("/org/{p}?ok=deleted")).into_response(),
            None => Redirect::to("/org?ok=deleted").into_response(),
        },
        Err(e) if is_form_error(&e) => {
            let form = NodeFormState {
                which: "delete",
                error: Some(e),
                ..Default::default()
            };
            render_node(&st, &ctx, &actor, NodeId(id), None, form).await
        }
        Err(e) => fail(&ctx, e),
    }
}

// ---- units ----

#[derive(Deserialize, Default)]
struct UnitsQ {
    #[serde(default, rename = "type")]
    unit_type: Option<String>,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    ok: Option<String>,
}

fn parse_unit_type(s: Option<&str>) -> Result<Option<UnitType>, AppError> {
    match s.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => UnitType::parse(v)
            .map(Some)
            .map_err(|_| AppError::invalid("org.unit_type_bad")),
    }
}

fn unit_types() -> Vec<&'static str> {
    UnitType::ALL.iter().map(|t| t.code()).collect()
}

async fn units_page(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Query(q): Query<UnitsQ>,
) -> Response {
    let tree = match st.app.org_nodes(&actor).await {
        Ok(t) => t,
        Err(e) => return fail(&ctx, e),
    };
    let parsed = parse_unit_type(q.unit_type.as_deref())
        .and_then(|t| opt_num::<i64>(q.node.as_deref(), "org.node").map(|n| (t, n.map(NodeId))));
    let (units, error) = match parsed {
        Ok((unit_type, node)) => match st.app.units(&actor, &UnitFilter { node, unit_type }).await {
            Ok(u) => (u, None),
            Err(e) if is_form_error(&e) => (Vec::new(), Some(e)),
            Err(e) => return fail(&ctx, e),
        },
        Err(e) => (Vec::new(), Some(e)),
    };
    let status = error
        .as_ref()
        .map(status_of)
        .unwrap_or(axum::http::StatusCode::OK);
    let html = page(
        &st,
        &ctx,
        "org_units.html",
        context! {
            units => Serde(&units),
            types => unit_types(),
            nodes => Serde(node_options(&tree)),
            sel_type => clip(q.unit_type.as_deref().unwrap_or(""), 40),
            sel_node => clip(q.node.as_deref().unwrap_or(""), 20),
            can_edit => actor.can(Action::EditOrg),
            flash => flash(&ctx, q.ok.as_deref()),
            error => error.as_ref().map(|e| err_text(&ctx, e)),
        },
    );
    (status, html).into_response()
}

async fn unit_page(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Query(q): Query<OkQ>,
) -> Response {
    let unit = match st.app.unit(&actor, UnitId(id)).await {
        Ok(u) => u,
        Err(e) => return fail(&ctx, e),
    };
    let trail = st.app.node_trail(unit.node_id).await.unwrap_or_default();
    page(
        &st,
        &ctx,
        "org_unit.html",
        context! {
            unit => Serde(&unit),
            trail => trail.iter().map(|n| n.name.clone()).collect::<Vec<_>>().join(" / "),
            can_edit => actor.can(Action::EditOrg),
            flash => flash(&ctx, q.ok.as_deref()),
        },
    )
    .into_response()
}

/// The unit form as typed, kept as text so that bad input can be shown again.
#[derive(Deserialize, Default, Serialize)]
struct UnitInput {
    #[serde(default)]
    name: String,
    #[serde(default)]
    unit_type: String,
    #[serde(default)]
    node_id: String,
    #[serde(default)]
    responsible_name: String,
    #[serde(default)]
    responsible_phone: String,
}

impl UnitInput {
    fn parse(&self) -> Result<UnitForm, AppError> {
        let node_id = opt_num::<i64>(Some(&self.node_id), "org.node")?
            .ok_or_else(|| AppError::invalid("org.node_required"))?;
        let unit_type = parse_unit_type(Some(&self.unit_type))?
            .ok_or_else(|| AppError::invalid("org.unit_type_required"))?;
        Ok(UnitForm {
            node_id: NodeId(node_id),
            name: self.name.clone(),
            unit_type,
            responsible_name: self.responsible_name.clone(),
            responsible_phone: self.responsible_phone.clone(),
        })
    }

    fn clipped(&self) -> UnitInput {
        UnitInput {
            name: clip(&self.name, 100),
            unit_type: clip(&self.unit_type, 40),
            node_id: clip(&self.node_id, 20),
            responsible_name: clip(&self.responsible_name, 60),
            responsible_phone: clip(&self.responsible_phone, 40),
        }
    }
}

async fn render_unit_form(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    unit_id: Option<i64>,
    input: &UnitInput,
    error: Option<AppError>,
) -> Response {
    if !actor.can(Action::EditOrg) {
        return fail(
            ctx,
            AppError::Forbidden(Msg::new("error.forbidden_action").arg("action", Action::EditOrg.code())),
        );
    }
    let tree = match st.app.org_nodes(actor).await {
        Ok(t) => t,
        Err(e) => return fail(ctx, e),
    };
    let status = error
        .as_ref()
        .map(status_of)
        .unwrap_or(axum::http::StatusCode::OK);
    let html = page(
        st,
        ctx,
        "org_unit_form.html",
        context! {
            unit_id => unit_id,
            f => Serde(input.clipped()),
            types => unit_types(),
            nodes => Serde(node_options(&tree)),
            error => error.as_ref().map(|e| err_text(ctx, e)),
        },
    );
    (status, html).into_response()
}

async fn unit_new_page(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Query(q): Query<UnitsQ>,
) -> Response {
    let input = UnitInput {
        node_id: q.node.unwrap_or_default(),
        ..Default::default()
    };
    render_unit_form(&st, &ctx, &actor, None, &input, None).await
}

async fn unit_create(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Form(f): Form<UnitInput>,
) -> Response {
    if !actor.can(Action::EditOrg) {
        return fail(
            &ctx,
            AppError::Forbidden(Msg::new("error.forbidden_action").arg("action", Action::EditOrg.code())),
        );
    }
    let result = match f.parse() {
        Ok(form) => st.app.create_unit(&actor, &form).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(id) => Redirect::to(&format!("/org/units/{id}?ok=created")).into_response(),
        Err(e) if is_form_error(&e) || matches!(e, AppError::NotFound(_)) => {
            render_unit_form(&st, &ctx, &actor, None, &f, Some(as_form_error(e))).await
        }
        Err(e) => fail(&ctx, e),
    }
}

/// A node named in a form that does not exist (or is out of scope) is bad
/// input on that form, not a missing page.
fn as_form_error(e: AppError) -> AppError {
    match e {
        AppError::NotFound(m) => AppError::Invalid(m),
        other => other,
    }
}

async fn unit_edit_page(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
) -> Response {
    if !actor.can(Action::EditOrg) {
        return fail(
            &ctx,
            AppError::Forbidden(Msg::new("error.forbidden_action").arg("action", Action::EditOrg.code())),
        );
    }
    let unit = match st.app.unit(&actor, UnitId(id)).await {
        Ok(u) => u,
        Err(e) => return fail(&ctx, e),
    };
    let input = UnitInput {
        name: unit.name,
        unit_type: unit.unit_type.code().to_string(),
        node_id: unit.node_id.0.to_string(),
        responsible_name: unit.responsible_name,
        responsible_phone: unit.responsible_phone,
    };
    render_unit_form(&st, &ctx, &actor, Some(id), &input, None).await
}

async fn unit_update(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Form(f): Form<UnitInput>,
) -> Response {
    if !actor.can(Action::EditOrg) {
        return fail(
            &ctx,
            AppError::Forbidden(Msg::new("error.forbidden_action").arg("action", Action::EditOrg.code())),
        );
    }
    if let Err(e) = st.app.unit(&actor, UnitId(id)).await {
        return fail(&ctx, e);
    }
    let result = match f.parse() {
        Ok(form) => st.app.update_unit(&actor, UnitId(id), &form).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/org/units/{id}?ok=saved")).into_response(),
        Err(e) if is_form_error(&e) || matches!(e, AppError::NotFound(_)) => {
            render_unit_form(&st, &ctx, &actor, Some(id), &f, Some(as_form_error(e))).await
        }
        Err(e) => fail(&ctx, e),
    }
}

async fn unit_delete(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
) -> Response {
    match st.app.delete_unit(&actor, UnitId(id)).await {
        Ok(()) => Redirect::to("/org/units?ok=deleted").into_response(),
        Err(e) => fail(&ctx, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_input_errors_name_the_problem() {
        let bad = UnitInput {
            node_id: "x".into(),
            unit_type: "school".into(),
            ..Default::default()
        };
        assert!(matches!(bad.parse(), Err(AppError::Invalid(m)) if m.key == "pages.bad_number"));
        let no_type = UnitInput {
            node_id: "3".into(),
            ..Default::default()
        };
        assert!(matches!(no_type.parse(), Err(AppError::Invalid(m)) if m.key == "org.unit_type_required"));
        let ok = UnitInput {
            node_id: "3".into(),
            unit_type: "学校".into(),
            name: "一中".into(),
            ..Default::default()
        };
        assert_eq!(ok.parse().unwrap().unit_type, UnitType::School);
    }
}
