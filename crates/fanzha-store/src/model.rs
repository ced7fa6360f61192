//! The records the store reads and writes, and the inputs and filters of its
//! calls. Personal values arrive already protected by the app layer: ID and
//! phone numbers come as ciphertext (`enc`), keyed blind index (`bidx`) and
//! masked display form (`masked`); the store never sees them in the clear.

use fanzha_core::idcard::Sex;
use fanzha_core::org::{NodeKind, OrgPath, UnitType};
use fanzha_core::roles::Role;
use fanzha_core::time::Date;
use fanzha_core::{NodeId, ResidentId, Timestamp, TokenId, UnitId, UserId};
use serde::{Deserialize, Serialize};

/// Which part of the org tree a read may see.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Everything (the administrator).
    All,
    /// A node and everything below it: a row is in scope when its node's path
    /// starts with this path.
    Subtree(OrgPath),
}

impl Scope {
    /// True when a node with `path` lies inside the scope.
    pub fn contains(&self, path: &OrgPath) -> bool {
        match self {
            Scope::All => true,
            Scope::Subtree(p) => p.contains(path),
        }
    }
}

/// Who did what, passed with every mutating call and written to the audit
/// log in the same transaction as the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at: Timestamp,
    /// The acting user's id, or 0 for the system and the public.
    pub actor_id: i64,
    pub actor: String,
    /// What was done, e.g. `resident.update`.
    pub action: String,
    /// What it was done to, e.g. `resident:42`. When empty the store fills in
    /// the canonical target of the call (`node:{id}`, `unit:{id}`,
    /// `resident:{id}`, `user:{id}`, `token:{id}`, `setting:{key}`), which
    /// matters for creations whose id is only known after the insert.
    pub target: String,
    /// Free detail; never personal values in the clear.
    pub detail: String,
    pub ip: String,
}

/// The last entry of the audit chain (`seq` 0 and [`fanzha_core::audit::GENESIS`]
/// while the log is empty). Comparing it with the last entry read detects a
/// log whose tail was cut off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
}

/// Filter of [`crate::Store::list_audit`]. Every set field must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// Exact actor login name.
    pub actor: Option<String>,
    /// Actions starting with this text, e.g. `resident.` or `login`.
    pub action_prefix: Option<String>,
    /// Exact target, e.g. `resident:42`.
    pub target: Option<String>,
    /// Entries at or after this time.
    pub from: Option<Timestamp>,
    /// Entries strictly before this time.
    pub to: Option<Timestamp>,
    /// Page size; `None` for all.
    pub limit: Option<usize>,
    pub offset: usize,
}

/// A node of the org tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgNode {
    pub id: NodeId,
    pub parent_id: Option<NodeId>,
    pub kind: NodeKind,
    pub name: String,
    /// Optional administrative code, e.g. `330523`.
    pub code: Option<String>,
    pub path: OrgPath,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Residents counted over a node's whole subtree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCount {
    pub node_id: NodeId,
    pub residents: i64,
}

/// A unit (乡属单位) to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUnit {
    pub node_id: NodeId,
    pub name: String,
    pub unit_type: UnitType,
    pub responsible_name: String,
    /// Work contact of an official, stored in plain text.
    pub responsible_phone: String,
}

/// Full replacement of a unit's editable fields (its node changes with
/// [`crate::Store::move_unit`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitUpdate {
    pub name: String,
    pub unit_type: UnitType,
    pub responsible_name: String,
    pub responsible_phone: String,
}

/// A stored unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    pub id: UnitId,
    pub node_id: NodeId,
    pub node_name: String,
    pub node_path: OrgPath,
    pub name: String,
    pub unit_type: UnitType,
    pub responsible_name: String,
    pub responsible_phone: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Filter of [`crate::Store::list_units`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitFilter {
    /// Units at this node or anywhere below it.
    pub node: Option<NodeId>,
    pub unit_type: Option<UnitType>,
}

/// A phone number as the app protects it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SealedPhone {
    /// AES-256-GCM ciphertext of the normalised number.
    pub enc: Vec<u8>,
    /// Keyed blind index (HMAC) of the normalised number.
    pub bidx: Vec<u8>,
    /// Display form, e.g. `138****5678`.
    pub masked: String,
}

/// A close contact of a resident (relative or other).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewContact {
    /// e.g. 配偶, 子女, 父母, 其他.
    pub relation: String,
    /// The contact's own resident record, when known.
    pub linked_resident_id: Option<ResidentId>,
    pub name: String,
    pub phone: Option<SealedPhone>,
}

/// A stored contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: i64,
    pub relation: String,
    pub linked_resident_id: Option<ResidentId>,
    pub name: String,
    pub phone: Option<SealedPhone>,
}

/// A resident to create, and the full content of a resident for updates and
/// imports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewResident {
    /// Must be a grid node.
    pub grid_id: NodeId,
    pub name: String,
    pub id_enc: Vec<u8>,
    /// Unique over all residents: one record per ID number.
    pub id_bidx: Vec<u8>,
    pub id_masked: String,
    pub birth_date: Option<Date>,
    pub sex: Option<Sex>,
    pub address: String,
    /// In order; the first is the main number.
    pub phones: Vec<SealedPhone>,
    /// Trimmed, de-duplicated; empty tags are dropped.
    pub tags: Vec<String>,
    pub contacts: Vec<NewContact>,
}

/// Full replacement of a resident's fields, phones, tags and contacts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidentUpdate {
    pub data: NewResident,
    /// When set, the update is refused with a conflict unless the stored
    /// version is this one (optimistic concurrency).
    pub expected_version: Option<i64>,
}

/// A stored resident with everything attached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resident {
    pub id: ResidentId,
    pub grid_id: NodeId,
    pub grid_name: String,
    pub grid_path: OrgPath,
    pub name: String,
    pub id_enc: Vec<u8>,
    pub id_bidx: Vec<u8>,
    pub id_masked: String,
    pub birth_date: Option<Date>,
    pub sex: Option<Sex>,
    pub address: String,
    pub phones: Vec<SealedPhone>,
    /// Sorted.
    pub tags: Vec<String>,
    pub contacts: Vec<Contact>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Starts at 1 and grows by one with every update.
    pub version: i64,
}

/// One row of a resident list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidentSummary {
    pub id: ResidentId,
    pub name: String,
    pub id_masked: String,
    /// Masked first phone, if any.
    pub phone_masked: Option<String>,
    pub sex: Option<Sex>,
    pub birth_date: Option<Date>,
    pub grid_id: NodeId,
    pub grid_name: String,
    /// Sorted.
    pub tags: Vec<String>,
}

/// A resident for export: everything, with the encrypted blobs ready for the
/// app to decrypt.
pub type ResidentExportRow = Resident;

/// Filter of resident lists, counts and exports. Every set field must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidentFilter {
    pub name_exact: Option<String>,
    pub id_bidx: Option<Vec<u8>>,
    /// Residents with this number among their own phones.
    pub phone_bidx: Option<Vec<u8>>,
    /// Residents of this grid (which must itself be in scope).
    pub grid: Option<NodeId>,
    /// Residents anywhere below this node.
    pub node: Option<NodeId>,
    pub tag: Option<String>,
    /// Born on or after this date (inclusive).
    pub born_after: Option<Date>,
    /// Born on or before this date (inclusive).
    pub born_before: Option<Date>,
    /// Page size; `None` for all.
    pub limit: Option<usize>,
    pub offset: usize,
}

/// What an import did with one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpsertOutcome {
    Inserted(ResidentId),
    Updated(ResidentId),
}

impl UpsertOutcome {
    pub fn id(self) -> ResidentId {
        match self {
            UpsertOutcome::Inserted(id) | UpsertOutcome::Updated(id) => id,
        }
    }
}

/// A login account to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// `None` for the administrator, required for every other role.
    pub node_id: Option<NodeId>,
    /// Argon2 PHC string produced by the app.
    pub password_hash: String,
    pub must_change_password: bool,
    /// UI language, `zh` or `en`.
    pub lang: String,
}

/// Full replacement of a user's editable fields (passwords change with
/// [`crate::Store::set_password_hash`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserUpdate {
    pub display_name: String,
    pub role: Role,
    pub node_id: Option<NodeId>,
    pub disabled: bool,
    pub lang: String,
}

/// A stored user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub node_id: Option<NodeId>,
    /// The path of `node_id`, for scope checks.
    pub node_path: Option<OrgPath>,
    pub password_hash: String,
    pub disabled: bool,
    pub failed_logins: i64,
    pub locked_until: Option<Timestamp>,
    pub must_change_password: bool,
    pub lang: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl User {
    /// The data scope of this user: everything for the administrator, the
    /// subtree of the user's node otherwise, `None` for a non-admin without a
    /// node (which the store does not allow to be created).
    pub fn scope(&self) -> Option<Scope> {
        if self.role.is_unscoped() {
            Some(Scope::All)
        } else {
            self.node_path.clone().map(Scope::Subtree)
        }
    }
}

/// Lockout state after a failed login.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginState {
    pub failed_logins: i64,
    pub locked_until: Option<Timestamp>,
}

/// A session to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSession {
    /// SHA-256 of the cookie token.
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub ip: String,
    pub user_agent_short: String,
}

/// A stored session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub ip: String,
    pub user_agent_short: String,
}

/// A live session and its (enabled) user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionWithUser {
    pub session: Session,
    pub user: User,
}

/// An API token to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApiToken {
    pub user_id: UserId,
    pub name: String,
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// First characters of the token, for display.
    pub prefix: String,
    pub created_at: Timestamp,
}

/// A stored API token (without its hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    pub prefix: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// A live token and its (enabled) user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenWithUser {
    pub token: ApiToken,
    pub user: User,
}

/// Cheap aggregates for the home page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeCounts {
    pub townships: i64,
    pub villages: i64,
    pub grids: i64,
    pub units: i64,
    pub residents: i64,
    pub users: i64,
    /// Residents per tag, most frequent first (ties by tag).
    pub residents_by_tag: Vec<(String, i64)>,
}
