//! Login accounts and lockout counting.

use super::{audit, bounded, org, required, target_or};
use crate::Scope;
use crate::db::{Db, Q, Row, params};
use crate::error::{Result, StoreError};
use crate::model::{AuditRecord, LoginState, NewUser, User, UserUpdate};
use fanzha_core::roles::Role;
use fanzha_core::{NodeId, Timestamp, UserId};

pub(crate) const USER_COLS: &str = "u.id, u.username, u.display_name, u.role, u.node_id, n.path, \
     u.password_hash, u.disabled, u.failed_logins, u.locked_until, u.must_change_password, u.lang, \
     u.created_at, u.updated_at";
/// Number of columns in [`USER_COLS`].
pub(crate) const USER_NCOLS: usize = 14;
pub(crate) const USER_NODE_JOIN: &str = "LEFT JOIN org_nodes n ON n.id = u.node_id";
pub(crate) const USER_FROM: &str = "users u LEFT JOIN org_nodes n ON n.id = u.node_id";

/// Reads a user from `r`, starting at column `at`.
pub(crate) fn user_at(r: &mut Row, at: usize) -> Result<User> {
    let path = r.opt_text(at + 5)?;
    Ok(User {
        id: UserId(r.i64(at)?),
        username: r.text(at + 1)?,
        display_name: r.text(at + 2)?,
        role: Role::parse(&r.text(at + 3)?).map_err(|_| StoreError::corrupt("unknown role"))?,
        node_id: r.opt_i64(at + 4)?.map(NodeId),
        node_path: match path {
            Some(p) => Some(
                fanzha_core::org::OrgPath::parse(&p)
                    .ok_or_else(|| StoreError::corrupt("malformed org path"))?,
            ),
            None => None,
        },
        password_hash: r.text(at + 6)?,
        disabled: r.bool(at + 7)?,
        failed_logins: r.i64(at + 8)?,
        locked_until: r.opt_ts(at + 9)?,
        must_change_password: r.bool(at + 10)?,
        lang: r.text(at + 11)?,
        created_at: r.ts(at + 12)?,
        updated_at: r.ts(at + 13)?,
    })
}

async fn check_role_node<D: Db>(db: &D, role: Role, node: Option<NodeId>) -> Result<()> {
    match (role.is_unscoped(), node) {
        (true, Some(_)) => Err(StoreError::invalid(
            "an administrator is not bound to an org node",
        )),
        (false, None) => Err(StoreError::invalid(format!(
            "a user with role {} must belong to an org node",
            role.code()
        ))),
        (_, Some(n)) => {
            if org::load(db, n).await?.is_none() {
                return Err(StoreError::NotFound { what: "node" });
            }
            Ok(())
        }
        (true, None) => Ok(()),
    }
}

fn clean_username(s: &str) -> Result<String> {
    let u = required(s, "username")?;
    if u.chars().any(char::is_whitespace) {
        return Err(StoreError::invalid("username must not contain spaces"));
    }
    Ok(u)
}

fn clean_lang(s: &str) -> Result<String> {
    let l = bounded(s, "language")?;
    Ok(if l.is_empty() { "zh".to_string() } else { l })
}

pub(crate) async fn create<D: Db>(db: &D, u: &NewUser, rec: &AuditRecord) -> Result<UserId> {
    let username = clean_username(&u.username)?;
    let display = bounded(&u.display_name, "display name")?;
    let lang = clean_lang(&u.lang)?;
    if u.password_hash.is_empty() {
        return Err(StoreError::invalid("password hash must not be empty"));
    }
    check_role_node(db, u.role, u.node_id).await?;
    if db
        .query_opt("SELECT id FROM users WHERE username = $1", params![&username])
        .await?
        .is_some()
    {
        return Err(StoreError::conflict("this username is already taken"));
    }
    let mut r = db
        .query_one(
            "INSERT INTO users (username, display_name, role, node_id, password_hash, disabled, failed_logins, \
             locked_until, must_change_password, lang, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, FALSE, 0, NULL, $6, $7, $8, $8) RETURNING id",
            params![
                &username,
                &display,
                u.role.code(),
                u.node_id,
                &u.password_hash,
                u.must_change_password,
                &lang,
                rec.at
            ],
        )
        .await?;
    let id = UserId(r.i64(0)?);
    audit::append(db, rec, target_or(rec, || format!("user:{id}"))).await?;
    Ok(id)
}

pub(crate) async fn get<D: Db>(db: &D, id: UserId) -> Result<Option<User>> {
    db.query_opt(
        &format!("SELECT {USER_COLS} FROM {USER_FROM} WHERE u.id = $1"),
        params![id],
    )
    .await?
    .map(|mut r| user_at(&mut r, 0))
    .transpose()
}

pub(crate) async fn by_username<D: Db>(db: &D, username: &str) -> Result<Option<User>> {
    db.query_opt(
        &format!("SELECT {USER_COLS} FROM {USER_FROM} WHERE u.username = $1"),
        params![username.trim()],
    )
    .await?
    .map(|mut r| user_at(&mut r, 0))
    .transpose()
}

/// Users whose node is in scope (all users, administrators included, for
/// [`Scope::All`]), by username.
pub(crate) async fn list<D: Db>(db: &D, scope: &Scope) -> Result<Vec<User>> {
    let mut q = Q::new(&format!("SELECT {USER_COLS} FROM {USER_FROM} WHERE 1 = 1"));
    q.scope("n.path", scope).push(" ORDER BY u.username");
    db.query(&q.sql, &q.params)
        .await?
        .into_iter()
        .map(|mut r| user_at(&mut r, 0))
        .collect()
}

pub(crate) async fn count_admins<D: Db>(db: &D) -> Result<i64> {
    db.query_i64(
        "SELECT COUNT(*) FROM users WHERE role = $1 AND disabled = FALSE",
        params![Role::Admin.code()],
    )
    .await
}

pub(crate) async fn update<D: Db>(db: &D, id: UserId, u: &UserUpdate, rec: &AuditRecord) -> Result<()> {
    let display = bounded(&u.display_name, "display name")?;
    let lang = clean_lang(&u.lang)?;
    let old = get(db, id).await?.ok_or(StoreError::NotFound { what: "user" })?;
    check_role_node(db, u.role, u.node_id).await?;
    let was_active_admin = old.role == Role::Admin && !old.disabled;
    let stays_active_admin = u.role == Role::Admin && !u.disabled;
    if was_active_admin && !stays_active_admin && count_admins(db).await? <= 1 {
        return Err(StoreError::conflict(
            "this is the last enabled administrator; it cannot be disabled or given another role",
        ));
    }
    db.exec(
        "UPDATE users SET display_name = $1, role = $2, node_id = $3, disabled = $4, lang = $5, updated_at = $6 \
         WHERE id = $7",
        params![&display, u.role.code(), u.node_id, u.disabled, &lang, rec.at, id],
    )
    .await?;
    audit::append(db, rec, target_or(rec, || format!("user:{id}"))).await?;
    Ok(())
}

pub(crate) async fn set_password_hash<D: Db>(
    db: &D,
    id: UserId,
    hash: &str,
    must_change: bool,
    rec: &AuditRecord,
) -> Result<()> {
    if hash.is_empty() {
        return Err(StoreError::invalid("password hash must not be empty"));
    }
    let n = db
        .exec(
            "UPDATE users SET password_hash = $1, must_change_password = $2, updated_at = $3 WHERE id = $4",
            params![hash, must_change, rec.at, id],
        )
        .await?;
    if n == 0 {
        return Err(StoreError::NotFound { what: "user" });
    }
    audit::append(db, rec, target_or(rec, || format!("user:{id}"))).await?;
    Ok(())
}

/// Counts a failed login. When the count reaches `max_failures` the account
/// is locked until `now + lock_ms` and the count starts again from zero.
pub(crate) async fn record_failure<D: Db>(
    db: &D,
    id: UserId,
    now: Timestamp,
    max_failures: u32,
    lock_ms: i64,
    rec: &AuditRecord,
) -> Result<LoginState> {
    let mut r = db
        .query_opt(
            "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins, locked_until",
            params![id],
        )
        .await?
        .ok_or(StoreError::NotFound { what: "user" })?;
    let mut state = LoginState {
        failed_logins: r.i64(0)?,
        locked_until: r.opt_ts(1)?,
    };
    if state.failed_logins >= i64::from(max_failures.max(1)) {
        let until = Timestamp(now.0.saturating_add(lock_ms.max(0)));
        db.exec(
            "UPDATE users SET failed_logins = 0, locked_until = $1 WHERE id = $2",
            params![until, id],
        )
        .await?;
        state = LoginState {
            failed_logins: 0,
            locked_until: Some(until),
        };
    }
    audit::append(db, rec, target_or(rec, || format!("user:{id}"))).await?;
    Ok(state)
}

/// Clears the failure count and any lock.
pub(crate) async fn record_success<D: Db>(db: &D, id: UserId, rec: &AuditRecord) -> Result<()> {
    let n = db
        .exec(
            "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1",
            params![id],
        )
        .await?;
    if n == 0 {
        return Err(StoreError::NotFound { what: "user" });
    }
    audit::append(db, rec, target_or(rec, || format!("user:{id}"))).await?;
    Ok(())
}
