//! The org tree the workflow tests share: a county with two townships, a
//! village under each, a grid under each village.

use fanzha_app::{Actor, App};
use fanzha_core::NodeId;
use fanzha_core::org::NodeKind;

// Each test binary that includes this module reads its own subset of nodes.
#[allow(dead_code)]
pub struct Tree {
    pub county: NodeId,
    pub town_a: NodeId,
    pub town_b: NodeId,
    pub village_a: NodeId,
    pub village_b: NodeId,
    pub grid_a1: NodeId,
    pub grid_b1: NodeId,
}

pub async fn two_townships(app: &App, admin: &Actor) -> Tree {
    let node = |parent, kind, name: &'static str, code| async move {
        app.create_node(admin, parent, kind, name, code).await.unwrap()
    };
    let county = node(None, NodeKind::County, "示范县", Some("330523")).await;
    let town_a = node(Some(county), NodeKind::Township, "甲镇", None).await;
    let town_b = node(Some(county), NodeKind::Township, "乙镇", None).await;
    let village_a = node(Some(town_a), NodeKind::Village, "甲村", None).await;
    let village_b = node(Some(town_b), NodeKind::Village, "乙村", None).await;
    let grid_a1 = node(Some(village_a), NodeKind::Grid, "一网格", None).await;
    let grid_b1 = node(Some(village_b), NodeKind::Grid, "二网格", None).await;
    Tree {
        county,
        town_a,
        town_b,
        village_a,
        village_b,
        grid_a1,
        grid_b1,
    }
}
