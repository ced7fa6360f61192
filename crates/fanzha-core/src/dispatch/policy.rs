//! The dispatch policy: per grade the method, the owners, who watches, the
//! deadlines and the escalation chain, as a versioned TOML document
//! (`dispatch_policy.toml` documents every key).
//!
//! [`PolicyDoc::parse`] reads and validates a document into a [`Policy`];
//! [`Policy::plan`] turns a grade and the person's location into a
//! [`TaskPlan`]; [`next_escalation`] tells a scheduler whether an open task
//! is overdue and who is next up. Owners are *posts* (a role at an org
//! level), resolved to org nodes from the location; the app resolves nodes
//! to people.

use super::Method;
use crate::ids::NodeId;
use crate::roles::Role;
use crate::task::Task;
use crate::taxonomy::{Grade, vocabulary};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub use crate::taxonomy::UnknownCode;

/// The policy shipped with the product.
pub const DEFAULT_POLICY: &str = include_str!("../dispatch_policy.toml");

/// Longest deadline or escalation interval, in minutes (a week).
pub const MAX_MINUTES: u32 = 7 * 24 * 60;
/// Longest escalation chain.
pub const MAX_CHAIN: usize = 8;
/// Most owners or watchers of one grade.
pub const MAX_POSTS: usize = 8;

vocabulary!(
    /// Where a post sits. `station` is the police station (派出所) of the
    /// person's township; `center` the county anti-fraud center.
    OrgLevel, "org level" {
        Grid = ("grid", "网格", "Grid"),
        Village = ("village", "村社区", "Village"),
        Township = ("township", "乡镇", "Township"),
        Station = ("station", "派出所", "Police station"),
        Center = ("center", "反诈中心", "Anti-fraud center"),
    }
);

impl OrgLevel {
    /// Needs the person's location to be resolved.
    pub const fn is_local(self) -> bool {
        !matches!(self, OrgLevel::Center)
    }
}

/// A post: a role at an org level, or the head (responsible person) there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Post {
    pub role: Role,
    pub at: OrgLevel,
    /// The responsible person of that node or unit (村支书, 所长, 中心主任)
    /// rather than anyone with the role there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub head: bool,
}

impl fmt::Display for Post {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{}{}",
            self.role,
            self.at,
            if self.head { "+head" } else { "" }
        )
    }
}

/// A post resolved against a location: which org node to look in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Assignee {
    pub role: Role,
    pub at: OrgLevel,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub head: bool,
    /// The grid, village or township node of the person (for `station`: the
    /// township, whose police-station unit holds the officers); `None` for
    /// the center.
    pub node: Option<NodeId>,
}

impl Assignee {
    pub const fn post(&self) -> Post {
        Post {
            role: self.role,
            at: self.at,
            head: self.head,
        }
    }
}

/// Where the person belongs in the org tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PersonLocation {
    pub grid: NodeId,
    pub village: NodeId,
    pub township: NodeId,
}

impl PersonLocation {
    fn node(&self, level: OrgLevel) -> Option<NodeId> {
        match level {
            OrgLevel::Grid => Some(self.grid),
            OrgLevel::Village => Some(self.village),
            OrgLevel::Township | OrgLevel::Station => Some(self.township),
            OrgLevel::Center => None,
        }
    }
}

/// Opening hours of the dissuasion service. Only round the clock exists:
/// deadlines run on the wall clock, nights and holidays included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ServiceHours {
    #[default]
    #[serde(rename = "24x7")]
    RoundTheClock,
}

/// A policy document as written (see `dispatch_policy.toml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    pub version: u32,
    pub name: String,
    #[serde(default)]
    pub service: ServiceHours,
    pub escalation: EscalationDoc,
    pub transfer: TransferDoc,
    pub grade: GradesDoc,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationDoc {
    /// After a step, minutes until the next step up while still overdue.
    pub repeat_minutes: u32,
    /// The posts above the owners, lowest first.
    pub chain: Vec<Post>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferDoc {
    /// Method when the grade needs a local owner but the location is unknown.
    pub method: Method,
    /// Who works the transfer queue (center posts only).
    pub owners: Vec<Post>,
    /// Its escalation chain (center posts only).
    pub escalation: Vec<Post>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradesDoc {
    pub critical: GradeDoc,
    pub high: GradeDoc,
    pub medium: GradeDoc,
    pub low: GradeDoc,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeDoc {
    pub method: Method,
    /// Tried when the method fails (an SMS that cannot be sent…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Method>,
    /// Minutes from the task's creation to the first contact.
    pub contact_minutes: u32,
    /// Minutes from creation to the visit; only with method `visit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit_minutes: Option<u32>,
    #[serde(default)]
    pub owners: Vec<Post>,
    #[serde(default)]
    pub watch: Vec<Post>,
    /// This grade's own chain instead of `escalation.chain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Vec<Post>>,
}

/// Why a policy document was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("dispatch policy is not valid TOML for this schema: {0}")]
    Toml(String),
    #[error("dispatch policy key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// A validated policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    doc: PolicyDoc,
}

/// The shipped policy, validated.
pub fn default_policy() -> Result<Policy, PolicyError> {
    PolicyDoc::parse(DEFAULT_POLICY)
}

fn role_fits(role: Role, at: OrgLevel) -> bool {
    use OrgLevel as L;
    match role {
        Role::GridWorker => matches!(at, L::Grid | L::Village),
        Role::Officer => matches!(at, L::Station),
        Role::Analyst => matches!(at, L::Center),
        Role::Leader => matches!(at, L::Township | L::Center),
        Role::UnitLiaison | Role::Admin => false,
    }
}

fn check_posts(key: &str, posts: &[Post], max: usize, center_only: bool) -> Result<(), PolicyError> {
    if posts.len() > max {
        return Err(invalid(key, format!("at most {max} entries")));
    }
    for (i, p) in posts.iter().enumerate() {
        let k = format!("{key}[{i}]");
        if !role_fits(p.role, p.at) {
            return Err(invalid(
                k,
                format!(
                    "role {} cannot sit at {} (grid_worker: grid or village; officer: station; \
                     analyst: center; leader: township or center)",
                    p.role, p.at
                ),
            ));
        }
        if p.head && p.at == OrgLevel::Grid {
            return Err(invalid(
                k,
                "a grid has no head; use head at village, township, station or center",
            ));
        }
        if center_only && p.at.is_local() {
            return Err(invalid(
                k,
                "must be at center: the person's location is unknown here",
            ));
        }
        if posts[..i].contains(p) {
            return Err(invalid(k, format!("{p} is listed twice")));
        }
    }
    Ok(())
}

fn check_minutes(key: &str, m: u32) -> Result<(), PolicyError> {
    if m == 0 || m > MAX_MINUTES {
        return Err(invalid(
            key,
            format!("must be 1 to {MAX_MINUTES} minutes, not {m}"),
        ));
    }
    Ok(())
}

fn check_grade(name: &str, g: &GradeDoc) -> Result<(), PolicyError> {
    let key = |k: &str| format!("grade.{name}.{k}");
    check_minutes(&key("contact_minutes"), g.contact_minutes)?;
    match (g.method, g.visit_minutes) {
        (Method::Visit, None) => {
            return Err(invalid(key("visit_minutes"), "method visit needs visit_minutes"));
        }
        (Method::Visit, Some(v)) => {
            check_minutes(&key("visit_minutes"), v)?;
            if v < g.contact_minutes {
                return Err(invalid(
                    key("visit_minutes"),
                    format!(
                        "the visit ({v} min) cannot be due before the first contact ({} min)",
                        g.contact_minutes
                    ),
                ));
            }
        }
        (_, Some(_)) => {
            return Err(invalid(
                key("visit_minutes"),
                "only method visit has visit_minutes",
            ));
        }
        (_, None) => {}
    }
    if g.fallback == Some(g.method) {
        return Err(invalid(key("fallback"), "must differ from method"));
    }
    if g.fallback == Some(Method::Visit) {
        return Err(invalid(
            key("fallback"),
            "a visit cannot be a fallback; make it the method",
        ));
    }
    check_posts(&key("owners"), &g.owners, MAX_POSTS, false)?;
    check_posts(&key("watch"), &g.watch, MAX_POSTS, false)?;
    if g.method.is_automatic() {
        if !g.owners.is_empty() {
            return Err(invalid(
                key("owners"),
                format!("method {} is automatic and has no owners", g.method),
            ));
        }
    } else if g.owners.is_empty() {
        return Err(invalid(
            key("owners"),
            format!("method {} needs at least one owner", g.method),
        ));
    }
    if g.method == Method::Visit && !g.owners.iter().any(|p| p.at.is_local()) {
        return Err(invalid(
            key("owners"),
            "a visit needs a local owner (grid, village, township or station)",
        ));
    }
    if let Some(chain) = &g.escalation {
        if chain.is_empty() {
            return Err(invalid(
                key("escalation"),
                "must not be empty; leave it out to use escalation.chain",
            ));
        }
        check_posts(&key("escalation"), chain, MAX_CHAIN, false)?;
    }
    Ok(())
}

impl PolicyDoc {
    /// Reads and validates a TOML policy document.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let doc: PolicyDoc = toml::from_str(text).map_err(|e| PolicyError::Toml(e.to_string()))?;
        doc.validate()
    }

    /// Checks every rule of the schema.
    pub fn validate(self) -> Result<Policy, PolicyError> {
        if self.version == 0 {
            return Err(invalid("version", "must be 1 or more"));
        }
        let name = self.name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(invalid("name", "must be 1 to 64 bytes"));
        }
        check_minutes("escalation.repeat_minutes", self.escalation.repeat_minutes)?;
        if self.escalation.chain.is_empty() {
            return Err(invalid("escalation.chain", "must name at least one post"));
        }
        check_posts("escalation.chain", &self.escalation.chain, MAX_CHAIN, false)?;
        let t = &self.transfer;
        if t.method == Method::Visit {
            return Err(invalid(
                "transfer.method",
                "nobody can visit a person whose location is unknown",
            ));
        }
        if t.owners.is_empty() && !t.method.is_automatic() {
            return Err(invalid("transfer.owners", "the transfer queue needs an owner"));
        }
        check_posts("transfer.owners", &t.owners, MAX_POSTS, true)?;
        if t.escalation.is_empty() {
            return Err(invalid("transfer.escalation", "must name at least one post"));
        }
        check_posts("transfer.escalation", &t.escalation, MAX_CHAIN, true)?;
        let grades = [
            ("critical", &self.grade.critical),
            ("high", &self.grade.high),
            ("medium", &self.grade.medium),
            ("low", &self.grade.low),
        ];
        for (name, g) in grades {
            check_grade(name, g)?;
        }
        // A higher grade is never answered later than a lower one by people
        // (automatic methods are quick by nature and not compared).
        let human: Vec<_> = grades.iter().filter(|(_, g)| !g.method.is_automatic()).collect();
        for pair in human.windows(2) {
            let [(hi_name, hi), (lo_name, lo)] = pair else {
                continue;
            };
            if hi.contact_minutes > lo.contact_minutes {
                return Err(invalid(
                    format!("grade.{hi_name}.contact_minutes"),
                    format!(
                        "{} min is later than grade.{lo_name}.contact_minutes ({} min); a higher grade must be \
                         contacted no later than a lower one",
                        hi.contact_minutes, lo.contact_minutes
                    ),
                ));
            }
        }
        Ok(Policy { doc: self })
    }
}

/// Where a task goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Worked by the posts of the grade, in the person's area (or at the
    /// center, for grades whose posts are all there).
    Local,
    /// The grade needs local owners but the person's location is unknown
    /// (not in the registry, or not in our area): the center works it and
    /// finds who should take it.
    TransferQueue,
}

/// What to do for one lead: method, owners, deadlines, escalation chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskPlan {
    pub policy_version: u32,
    pub grade: Grade,
    pub route: Route,
    pub method: Method,
    pub fallback: Option<Method>,
    pub location: Option<PersonLocation>,
    /// Who must act. Empty for automatic methods.
    pub owners: Vec<Assignee>,
    /// Who follows the task without owning it (the center watching).
    pub watch: Vec<Assignee>,
    /// The first contact is due by then.
    pub contact_due: Timestamp,
    /// The visit is due by then (method `visit` only).
    pub visit_due: Option<Timestamp>,
    /// The posts above the owners, in the order an overdue task climbs.
    pub escalation: Vec<Assignee>,
    /// After a step, seconds until the next step while still overdue.
    pub escalation_repeat_secs: i64,
}

impl TaskPlan {
    /// Who holds the task now: the last escalation step taken, else the owners.
    pub fn current_holders(&self, task_escalations: usize) -> Vec<Assignee> {
        match task_escalations
            .checked_sub(1)
            .and_then(|i| self.escalation.get(i))
        {
            Some(a) => vec![*a],
            None => self.owners.clone(),
        }
    }
}

fn resolve(posts: &[Post], loc: Option<&PersonLocation>) -> Vec<Assignee> {
    posts
        .iter()
        .map(|p| Assignee {
            role: p.role,
            at: p.at,
            head: p.head,
            node: loc.and_then(|l| l.node(p.at)),
        })
        .collect()
}

impl Policy {
    pub fn doc(&self) -> &PolicyDoc {
        &self.doc
    }
    pub fn version(&self) -> u32 {
        self.doc.version
    }
    pub fn name(&self) -> &str {
        &self.doc.name
    }

    pub fn grade(&self, grade: Grade) -> &GradeDoc {
        match grade {
            Grade::Critical => &self.doc.grade.critical,
            Grade::High => &self.doc.grade.high,
            Grade::Medium => &self.doc.grade.medium,
            Grade::Low => &self.doc.grade.low,
        }
    }

    fn chain(&self, grade: Grade) -> &[Post] {
        self.grade(grade)
            .escalation
            .as_deref()
            .unwrap_or(&self.doc.escalation.chain)
    }

    /// The plan for a lead of `grade` about a person at `location` (None:
    /// unknown or outside our area), raised at `now`.
    ///
    /// A grade whose posts are all at the center, or whose method is
    /// automatic with a center chain, does not need the location. One that
    /// needs it and lacks it goes to the [`Route::TransferQueue`]: the
    /// transfer method and owners, no visit, the transfer chain, and the
    /// grade's contact deadline all the same.
    pub fn plan(&self, grade: Grade, location: Option<PersonLocation>, now: Timestamp) -> TaskPlan {
        let g = self.grade(grade);
        let chain = self.chain(grade);
        let needs_location = g.method == Method::Visit
            || g.owners
                .iter()
                .chain(chain)
                .chain(&g.watch)
                .any(|p| p.at.is_local());
        let contact_due = now.plus_secs(i64::from(g.contact_minutes) * 60);
        let repeat = i64::from(self.doc.escalation.repeat_minutes) * 60;
        let base = TaskPlan {
            policy_version: self.doc.version,
            grade,
            route: Route::Local,
            method: g.method,
            fallback: g.fallback,
            location,
            owners: Vec::new(),
            watch: Vec::new(),
            contact_due,
            visit_due: None,
            escalation: Vec::new(),
            escalation_repeat_secs: repeat,
        };
        match location {
            None if needs_location => {
                let t = &self.doc.transfer;
                let watch: Vec<Post> = g.watch.iter().filter(|p| !p.at.is_local()).copied().collect();
                TaskPlan {
                    route: Route::TransferQueue,
                    method: t.method,
                    fallback: None,
                    owners: resolve(&t.owners, None),
                    watch: resolve(&watch, None),
                    escalation: resolve(&t.escalation, None),
                    ..base
                }
            }
            _ => TaskPlan {
                owners: resolve(&g.owners, location.as_ref()),
                watch: resolve(&g.watch, location.as_ref()),
                visit_due: g.visit_minutes.map(|m| now.plus_secs(i64::from(m) * 60)),
                escalation: resolve(chain, location.as_ref()),
                ..base
            },
        }
    }
}

/// Which deadline a task missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overdue {
    /// Nobody reached the person by `contact_due` (for automatic methods, no
    /// warning was delivered either).
    Contact,
    /// Nobody met the person at a visit by `visit_due`.
    Visit,
}

/// The next escalation step of a task and when it falls due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationDue {
    /// Index into the plan's chain; pass it to `TaskEvent::Escalate`.
    pub step: usize,
    pub to: Assignee,
    pub due_at: Timestamp,
    pub reason: Overdue,
}

/// The next escalation the task will need if nothing changes, whether due
/// yet or not, so that a scheduler knows when to look again. `None` when the
/// task is closed, has met its deadlines, or is at the top of its chain.
///
/// The first step falls due at the missed deadline; each later step
/// `escalation_repeat_secs` after the previous one was taken, and never
/// before the deadline that is missed now (a task that was escalated for a
/// late contact, then contacted, climbs again only once the visit is late).
pub fn next_escalation_at(task: &Task) -> Option<EscalationDue> {
    if task.state.is_final() {
        return None;
    }
    let plan = &task.plan;
    let (deadline, reason) = if task.contacted_at().is_none() {
        (plan.contact_due, Overdue::Contact)
    } else if let (Some(visit_due), None) = (plan.visit_due, task.visited_at()) {
        (visit_due, Overdue::Visit)
    } else {
        return None;
    };
    let step = task.escalations.len();
    let to = *plan.escalation.get(step)?;
    let due_at = match task.escalations.last() {
        None => deadline,
        Some(last) => deadline.max(last.at.plus_secs(plan.escalation_repeat_secs)),
    };
    Some(EscalationDue {
        step,
        to,
        due_at,
        reason,
    })
}

/// The escalation due at `now`, if any.
pub fn next_escalation(task: &Task, now: Timestamp) -> Option<EscalationDue> {
    next_escalation_at(task).filter(|d| d.due_at <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_valid() {
        let p = PolicyDoc::parse(DEFAULT_POLICY).unwrap();
        assert_eq!(p.grade(Grade::Critical).contact_minutes, 5);
        assert_eq!(p.grade(Grade::Critical).visit_minutes, Some(30));
        assert_eq!(default_policy().unwrap(), p);
    }

    #[test]
    fn post_display() {
        let p = Post {
            role: Role::Officer,
            at: OrgLevel::Station,
            head: true,
        };
        assert_eq!(p.to_string(), "officer@station+head");
    }
}
