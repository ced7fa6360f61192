//! The org tree (county → township → village → grid) and units (乡属单位).

use crate::ids::NodeId;
use crate::taxonomy::vocabulary;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub use crate::taxonomy::UnknownCode;

vocabulary!(
    /// Level of an org-tree node.
    NodeKind, "node kind" {
        County = ("county", "县", "County", "县区", "区县"),
        Township = ("township", "乡镇", "Township", "乡镇街道", "街道"),
        Village = ("village", "村社区", "Village", "村", "社区"),
        Grid = ("grid", "网格", "Grid"),
    }
);

impl NodeKind {
    /// Depth in the tree: county 0 … grid 3.
    pub const fn depth(self) -> u8 {
        match self {
            NodeKind::County => 0,
            NodeKind::Township => 1,
            NodeKind::Village => 2,
            NodeKind::Grid => 3,
        }
    }
    /// The kind a child of this node must have, if any.
    pub const fn child(self) -> Option<NodeKind> {
        match self {
            NodeKind::County => Some(NodeKind::Township),
            NodeKind::Township => Some(NodeKind::Village),
            NodeKind::Village => Some(NodeKind::Grid),
            NodeKind::Grid => None,
        }
    }
}

vocabulary!(
    /// Type of a unit (乡属单位).
    UnitType, "unit type" {
        PoliceStation = ("police_station", "派出所", "Police station"),
        School = ("school", "学校", "School"),
        Hospital = ("hospital", "医院", "Hospital"),
        Enterprise = ("enterprise", "企业", "Enterprise"),
        BankBranch = ("bank_branch", "金融网点", "Bank branch"),
        TelecomOutlet = ("telecom_outlet", "通信网点", "Telecom outlet"),
        Station = ("station", "车站", "Station"),
        Business = ("business", "经营服务场所", "Business premises"),
        Government = ("government", "机关", "Government office"),
        Media = ("media", "媒体", "Media"),
        Other = ("other", "其他", "Other", "其它"),
    }
);

/// Materialised path of a node: the ids from the root down to the node,
/// written `/1/5/23/`. A node's subtree is every path that starts with its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrgPath(String);

impl OrgPath {
    pub fn root(id: NodeId) -> OrgPath {
        OrgPath(format!("/{}/", id.0))
    }
    pub fn child(&self, id: NodeId) -> OrgPath {
        OrgPath(format!("{}{}/", self.0, id.0))
    }
    /// Parses a stored path, checking its shape.
    pub fn parse(s: &str) -> Option<OrgPath> {
        let inner = s.strip_prefix('/')?.strip_suffix('/')?;
        if inner.is_empty()
            || !inner
                .split('/')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        Some(OrgPath(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// True when `self` is `other` or one of its ancestors.
    pub fn contains(&self, other: &OrgPath) -> bool {
        other.0.starts_with(&self.0)
    }
    /// The ids on the path, root first.
    pub fn ids(&self) -> Vec<NodeId> {
        self.0
            .split('/')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.parse().ok())
            .map(NodeId)
            .collect()
    }
    pub fn depth(&self) -> usize {
        self.ids().len().saturating_sub(1)
    }
    pub fn node(&self) -> Option<NodeId> {
        self.ids().last().copied()
    }
}

impl fmt::Display for OrgPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_containment() {
        let county = OrgPath::root(NodeId(1));
        let town = county.child(NodeId(5));
        let grid = town.child(NodeId(23));
        assert!(county.contains(&grid));
        assert!(town.contains(&grid));
        assert!(grid.contains(&grid));
        assert!(!grid.contains(&town));
        // /1/5/ must not contain /1/55/.
        assert!(!town.contains(&county.child(NodeId(55))));
        assert_eq!(grid.ids(), vec![NodeId(1), NodeId(5), NodeId(23)]);
        assert_eq!(OrgPath::parse("/1/5/"), Some(town));
        assert_eq!(OrgPath::parse("/1//5/"), None);
        assert_eq!(OrgPath::parse("1/5"), None);
    }

    #[test]
    fn unit_types() {
        assert_eq!(UnitType::parse("金融网点"), Ok(UnitType::BankBranch));
        assert_eq!(UnitType::ALL.len(), 11);
    }
}
