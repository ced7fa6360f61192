//! The org tree and its units.

use super::openapi::{Doc, list_of, r};
use super::{Endpoints, M, Params, created, done, err, ok};
use crate::auth::Api;
use crate::error::{Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use fanzha_app::AppError;
use fanzha_app::model::UnitFilter;
use fanzha_app::org::UnitForm;
use fanzha_core::i18n::Msg;
use fanzha_core::org::{NodeKind, UnitType};
use fanzha_core::{NodeId, UnitId};
use serde::Deserialize;
use std::collections::HashMap;

pub(super) fn add(e: Endpoints) -> Endpoints {
    e.add(
        M::Get,
        "/org/nodes",
        Doc::new(
            "org",
            "The org tree in the caller's scope, in tree order, with resident counts",
        )
        .ok(200, list_of("NodeInTree")),
        list_nodes,
    )
    .add(
        M::Post,
        "/org/nodes",
        Doc::new("org", "Create a node under a parent (a county has no parent)")
            .body(r("NewNode"))
            .ok(201, r("Node"))
            .errors(&[404, 409]),
        create_node,
    )
    .add(
        M::Patch,
        "/org/nodes/{id}",
        Doc::new("org", "Rename a node and/or move it under another parent")
            .body(r("NodePatch"))
            .ok(200, r("Node"))
            .errors(&[404, 409]),
        patch_node,
    )
    .add(
        M::Delete,
        "/org/nodes/{id}",
        Doc::new("org", "Delete an empty node; 409 says what it still holds")
            .no_content()
            .errors(&[404, 409]),
        delete_node,
    )
    .add(
        M::Get,
        "/org/units",
        Doc::new("org", "Units in the caller's scope")
            .query(&[
                ("node", "integer", "Units at this node or below it"),
                ("unit_type", "string", "A unit type code, e.g. school"),
            ])
            .ok(200, list_of("Unit")),
        list_units,
    )
    .add(
        M::Post,
        "/org/units",
        Doc::new("org", "Create a unit")
            .body(r("UnitForm"))
            .ok(201, r("Unit"))
            .errors(&[404, 409]),
        create_unit,
    )
    .add(
        M::Get,
        "/org/units/{id}",
        Doc::new("org", "One unit").ok(200, r("Unit")).errors(&[404]),
        get_unit,
    )
    .add(
        M::Put,
        "/org/units/{id}",
        Doc::new("org", "Replace a unit's fields (a new node_id moves it)")
            .body(r("UnitForm"))
            .ok(200, r("Unit"))
            .errors(&[404, 409]),
        put_unit,
    )
    .add(
        M::Delete,
        "/org/units/{id}",
        Doc::new("org", "Delete a unit").no_content().errors(&[404]),
        delete_unit,
    )
}

async fn list_nodes(State(st): State<AppState>, Api(ctx, actor): Api) -> Response {
    ok(&ctx, st.app.org_tree(&actor).await)
}

#[derive(Deserialize)]
struct NewNode {
    #[serde(default)]
    parent_id: Option<NodeId>,
    kind: NodeKind,
    name: String,
    #[serde(default)]
    code: Option<String>,
}

async fn create_node(State(st): State<AppState>, Api(ctx, actor): Api, Json(b): Json<NewNode>) -> Response {
    let r = match st
        .app
        .create_node(&actor, b.parent_id, b.kind, &b.name, b.code.as_deref())
        .await
    {
        Ok(id) => st.app.node(&actor, id).await,
        Err(e) => Err(e),
    };
    created(&ctx, r)
}

#[derive(Deserialize)]
struct NodePatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    parent_id: Option<NodeId>,
}

async fn patch_node(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Path(id): Path<i64>,
    Json(b): Json<NodePatch>,
) -> Response {
    let id = NodeId(id);
    if b.name.is_none() && b.parent_id.is_none() {
        return err(&ctx, AppError::invalid("api.nothing_to_change"));
    }
    if let Some(name) = &b.name
        && let Err(e) = st.app.rename_node(&actor, id, name).await
    {
        return err(&ctx, e);
    }
    if let Some(parent) = b.parent_id
        && let Err(e) = st.app.move_node(&actor, id, parent).await
    {
        return err(&ctx, e);
    }
    ok(&ctx, st.app.node(&actor, id).await)
}

async fn delete_node(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    done(&ctx, st.app.delete_node(&actor, NodeId(id)).await)
}

async fn list_units(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = Params(q);
    let filter = (|| -> Result<UnitFilter, AppError> {
        let node = p.int("node", 1, i64::MAX)?.map(NodeId);
        let unit_type = match p.text("unit_type", 40)? {
            None => None,
            Some(t) => Some(
                UnitType::parse(&t)
                    .map_err(|_| AppError::Invalid(Msg::new("api.bad_param").arg("name", "unit_type")))?,
            ),
        };
        Ok(UnitFilter { node, unit_type })
    })();
    match filter {
        Ok(f) => ok(&ctx, st.app.units(&actor, &f).await),
        Err(e) => err(&ctx, e),
    }
}

async fn create_unit(State(st): State<AppState>, Api(ctx, actor): Api, Json(b): Json<UnitForm>) -> Response {
    let r = match st.app.create_unit(&actor, &b).await {
        Ok(id) => st.app.unit(&actor, id).await,
        Err(e) => Err(e),
    };
    created(&ctx, r)
}

async fn get_unit(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    ok(&ctx, st.app.unit(&actor, UnitId(id)).await)
}

async fn put_unit(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Path(id): Path<i64>,
    Json(b): Json<UnitForm>,
) -> Response {
    let id = UnitId(id);
    let r = match st.app.update_unit(&actor, id, &b).await {
        Ok(()) => st.app.unit(&actor, id).await,
        Err(e) => Err(e),
    };
    ok(&ctx, r)
}

async fn delete_unit(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    done(&ctx, st.app.delete_unit(&actor, UnitId(id)).await)
}
