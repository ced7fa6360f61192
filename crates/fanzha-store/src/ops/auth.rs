//! Sessions, API tokens, settings and the home-page aggregates.

use super::users::{USER_COLS, USER_FROM, USER_NCOLS, USER_NODE_JOIN, user_at};
use super::{audit, bounded, required, residents, target_or};
use crate::Scope;
use crate::db::{Db, Q, Row, params};
use crate::error::{Result, StoreError};
use crate::model::{
    ApiToken, AuditRecord, NewApiToken, NewSession, ScopeCounts, Session, SessionWithUser, TokenWithUser,
};
use fanzha_core::org::NodeKind;
use fanzha_core::{Timestamp, TokenId, UserId};

const SESSION_COLS: &str = "s.token_hash, s.user_id, s.csrf_token, s.created_at, s.expires_at, s.last_seen_at, s.ip, s.user_agent_short";
const SESSION_NCOLS: usize = 8;

fn session(r: &mut Row) -> Result<Session> {
    Ok(Session {
        token_hash: r.blob(0)?,
        user_id: UserId(r.i64(1)?),
        csrf_token: r.text(2)?,
        created_at: r.ts(3)?,
        expires_at: r.ts(4)?,
        last_seen_at: r.ts(5)?,
        ip: r.text(6)?,
        user_agent_short: r.text(7)?,
    })
}

pub(crate) async fn create_session<D: Db>(db: &D, s: &NewSession, rec: &AuditRecord) -> Result<()> {
    if s.token_hash.is_empty() {
        return Err(StoreError::invalid("session token hash must not be empty"));
    }
    let ua: String = s.user_agent_short.chars().take(super::MAX_TEXT).collect();
    db.exec(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, last_seen_at, ip, \
         user_agent_short) VALUES ($1, $2, $3, $4, $5, $4, $6, $7)",
        params![
            &s.token_hash,
            s.user_id,
            &s.csrf_token,
            s.created_at,
            s.expires_at,
            &s.ip,
            ua
        ],
    )
    .await?;
    audit::append(db, rec, target_or(rec, || format!("user:{}", s.user_id))).await?;
    Ok(())
}

/// A session that has not expired at `now`, of a user who is not disabled.
pub(crate) async fn session_by_hash<D: Db>(
    db: &D,
    hash: &[u8],
    now: Timestamp,
) -> Result<Option<SessionWithUser>> {
    let Some(mut r) = db
        .query_opt(
            &format!(
                "SELECT {SESSION_COLS}, {USER_COLS} FROM sessions s JOIN users u ON u.id = s.user_id {USER_NODE_JOIN} \
                 WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = FALSE"
            ),
            params![hash, now],
        )
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(SessionWithUser {
        session: session(&mut r)?,
        user: user_at(&mut r, SESSION_NCOLS)?,
    }))
}

/// Marks a session as seen and moves its expiry; false when it is gone.
pub(crate) async fn touch_session<D: Db>(
    db: &D,
    hash: &[u8],
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<bool> {
    let n = db
        .exec(
            "UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE token_hash = $3",
            params![now, expires_at, hash],
        )
        .await?;
    Ok(n > 0)
}

/// Deletes a session (logout). Audited only when there was one to delete.
pub(crate) async fn delete_session<D: Db>(db: &D, hash: &[u8], rec: &AuditRecord) -> Result<bool> {
    let Some(mut r) = db
        .query_opt(
            "DELETE FROM sessions WHERE token_hash = $1 RETURNING user_id",
            params![hash],
        )
        .await?
    else {
        return Ok(false);
    };
    let user = r.i64(0)?;
    audit::append(db, rec, target_or(rec, || format!("user:{user}"))).await?;
    Ok(true)
}

/// Deletes every session of a user ("log out everywhere"); always audited.
pub(crate) async fn delete_user_sessions<D: Db>(db: &D, user: UserId, rec: &AuditRecord) -> Result<u64> {
    let n = db
        .exec("DELETE FROM sessions WHERE user_id = $1", params![user])
        .await?;
    audit::append(db, rec, target_or(rec, || format!("user:{user}"))).await?;
    Ok(n)
}

/// Housekeeping: deletes sessions that expired at or before `now`.
pub(crate) async fn purge_expired<D: Db>(db: &D, now: Timestamp) -> Result<u64> {
    db.exec("DELETE FROM sessions WHERE expires_at <= $1", params![now])
        .await
}

const TOKEN_COLS: &str = "t.id, t.user_id, t.name, t.prefix, t.created_at, t.last_used_at, t.revoked_at";
const TOKEN_NCOLS: usize = 7;

fn token(r: &mut Row) -> Result<ApiToken> {
    Ok(ApiToken {
        id: TokenId(r.i64(0)?),
        user_id: UserId(r.i64(1)?),
        name: r.text(2)?,
        prefix: r.text(3)?,
        created_at: r.ts(4)?,
        last_used_at: r.opt_ts(5)?,
        revoked_at: r.opt_ts(6)?,
    })
}

pub(crate) async fn create_token<D: Db>(db: &D, t: &NewApiToken, rec: &AuditRecord) -> Result<TokenId> {
    let name = required(&t.name, "token name")?;
    let prefix = bounded(&t.prefix, "token prefix")?;
    if t.token_hash.is_empty() {
        return Err(StoreError::invalid("token hash must not be empty"));
    }
    if super::users::get(db, t.user_id).await?.is_none() {
        return Err(StoreError::NotFound { what: "user" });
    }
    let mut r = db
        .query_one(
            "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id",
            params![t.user_id, &name, &t.token_hash, &prefix, t.created_at],
        )
        .await?;
    let id = TokenId(r.i64(0)?);
    audit::append(db, rec, target_or(rec, || format!("token:{id}"))).await?;
    Ok(id)
}

/// A token that is not revoked, of a user who is not disabled.
pub(crate) async fn token_by_hash<D: Db>(db: &D, hash: &[u8]) -> Result<Option<TokenWithUser>> {
    let Some(mut r) = db
        .query_opt(
            &format!(
                "SELECT {TOKEN_COLS}, {USER_COLS} FROM api_tokens t JOIN users u ON u.id = t.user_id {USER_NODE_JOIN} \
                 WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled = FALSE"
            ),
            params![hash],
        )
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(TokenWithUser {
        token: token(&mut r)?,
        user: user_at(&mut r, TOKEN_NCOLS)?,
    }))
}

pub(crate) async fn get_token<D: Db>(db: &D, id: TokenId) -> Result<Option<ApiToken>> {
    db.query_opt(
        &format!("SELECT {TOKEN_COLS} FROM api_tokens t WHERE t.id = $1"),
        params![id],
    )
    .await?
    .map(|mut r| token(&mut r))
    .transpose()
}

/// A user's tokens, revoked ones included, oldest first.
pub(crate) async fn list_tokens<D: Db>(db: &D, user: UserId) -> Result<Vec<ApiToken>> {
    db.query(
        &format!("SELECT {TOKEN_COLS} FROM api_tokens t WHERE t.user_id = $1 ORDER BY t.id"),
        params![user],
    )
    .await?
    .into_iter()
    .map(|mut r| token(&mut r))
    .collect()
}

/// Revokes a token at `rec.at`. Revoking a revoked token changes nothing
/// and writes no audit entry.
pub(crate) async fn revoke_token<D: Db>(db: &D, id: TokenId, rec: &AuditRecord) -> Result<()> {
    let n = db
        .exec(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            params![rec.at, id],
        )
        .await?;
    if n == 0 {
        if get_token(db, id).await?.is_none() {
            return Err(StoreError::NotFound { what: "token" });
        }
        return Ok(());
    }
    audit::append(db, rec, target_or(rec, || format!("token:{id}"))).await?;
    Ok(())
}

pub(crate) async fn touch_token<D: Db>(db: &D, id: TokenId, now: Timestamp) -> Result<bool> {
    let n = db
        .exec(
            "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2",
            params![now, id],
        )
        .await?;
    Ok(n > 0)
}

pub(crate) async fn get_setting<D: Db>(db: &D, key: &str) -> Result<Option<String>> {
    db.query_opt("SELECT value FROM settings WHERE key = $1", params![key])
        .await?
        .map(|mut r| r.text(0))
        .transpose()
}

pub(crate) async fn set_setting<D: Db>(db: &D, key: &str, value: &str, rec: &AuditRecord) -> Result<()> {
    let key = required(key, "setting key")?;
    db.exec(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![&key, value],
    )
    .await?;
    audit::append(db, rec, target_or(rec, || format!("setting:{key}"))).await?;
    Ok(())
}

pub(crate) async fn list_settings<D: Db>(db: &D) -> Result<Vec<(String, String)>> {
    db.query("SELECT key, value FROM settings ORDER BY key", &[])
        .await?
        .into_iter()
        .map(|mut r| Ok((r.text(0)?, r.text(1)?)))
        .collect()
}

pub(crate) async fn scope_counts<D: Db>(db: &D, scope: &Scope) -> Result<ScopeCounts> {
    let mut c = ScopeCounts::default();
    let mut q = Q::new("SELECT n.kind, COUNT(*) FROM org_nodes n WHERE 1 = 1");
    q.scope("n.path", scope).push(" GROUP BY n.kind");
    for mut r in db.query(&q.sql, &q.params).await? {
        let kind = super::org::kind_of(&r.text(0)?)?;
        let n = r.i64(1)?;
        match kind {
            NodeKind::Township => c.townships = n,
            NodeKind::Village => c.villages = n,
            NodeKind::Grid => c.grids = n,
            NodeKind::County => {}
        }
    }
    let mut q = Q::new("SELECT COUNT(*) FROM units u JOIN org_nodes n ON n.id = u.node_id WHERE 1 = 1");
    q.scope("n.path", scope);
    c.units = db.query_i64(&q.sql, &q.params).await?;
    let mut q = Q::new(&format!("SELECT COUNT(*) FROM {USER_FROM} WHERE 1 = 1"));
    q.scope("n.path", scope);
    c.users = db.query_i64(&q.sql, &q.params).await?;
    c.residents = residents::count(db, scope).await?;
    c.residents_by_tag = residents::tag_counts(db, scope).await?;
    Ok(c)
}

#[allow(dead_code)]
const _: () = assert!(SESSION_NCOLS == 8 && TOKEN_NCOLS == 7 && USER_NCOLS == 14);
