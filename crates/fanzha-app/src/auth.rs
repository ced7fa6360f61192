//! Signing in and out, sessions, API tokens and the first administrator.

use crate::crypto::{hash_password, random_secret, secret_hash, verify_password};
use crate::{Actor, App, AppError, AuthVia, Result};
use fanzha_core::i18n::Msg;
use fanzha_core::roles::{Action, Role};
use fanzha_core::{Timestamp, TokenId};
use fanzha_store::{ApiToken, NewApiToken, NewSession, NewUser, User};

/// A new browser session: the cookie secret and the CSRF token.
#[derive(Clone, Debug)]
pub struct LoginOk {
    pub token: String,
    pub csrf: String,
    pub user: User,
    pub expires_at: Timestamp,
}

/// How long a checked API token is trusted without asking the store again.
/// Revoking a token or changing its user in this process takes effect at
/// once; a change made by another process within this time.
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);
/// Tokens kept in the cache before it is emptied.
const TOKEN_CACHE_MAX: usize = 10_000;

/// Recently checked tokens by their hash, with the user they belong to.
#[derive(Default)]
pub(crate) struct TokenCache {
    /// Bumped by every change to tokens or users: older entries are stale.
    epoch: std::sync::atomic::AtomicU64,
    map: std::sync::Mutex<std::collections::HashMap<Vec<u8>, CachedToken>>,
}

#[derive(Clone)]
struct CachedToken {
    epoch: u64,
    checked: std::time::Instant,
    token_id: TokenId,
    last_used_at: Option<Timestamp>,
    user: User,
}

impl TokenCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Vec<u8>, CachedToken>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, hash: &[u8]) -> Option<CachedToken> {
        let epoch = self.epoch.load(std::sync::atomic::Ordering::Acquire);
        self.lock()
            .get(hash)
            .filter(|c| c.epoch == epoch && c.checked.elapsed() < TOKEN_CACHE_TTL)
            .cloned()
    }

    fn put(&self, hash: Vec<u8>, c: CachedToken) {
        let mut m = self.lock();
        if m.len() >= TOKEN_CACHE_MAX {
            m.clear();
        }
        m.insert(hash, c);
    }

    /// Forgets every cached token (after a change to tokens or users).
    pub(crate) fn invalidate(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.lock().clear();
    }
}

/// The smallest password accepted, in characters.
pub const MIN_PASSWORD: usize = 8;

pub(crate) fn check_password_policy(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(AppError::Invalid(
            Msg::new("user.password_short").arg("min", MIN_PASSWORD),
        ));
    }
    if n > 256 {
        return Err(AppError::invalid("user.password_long"));
    }
    Ok(())
}

pub(crate) fn check_username(username: &str) -> Result<()> {
    let ok = (2..=40).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid("user.bad_username"))
    }
}

fn short(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

impl App {
    /// Checks a username and password. After `lockout_failures` wrong
    /// passwords in a row the account locks for `lockout_minutes`; while it
    /// is locked even the right password is refused.
    pub async fn login(&self, username: &str, password: &str, ip: &str, user_agent: &str) -> Result<LoginOk> {
        let now = self.now();
        let bad = || AppError::Invalid(Msg::new("login.bad_credentials"));
        let Some(user) = self.store.user_by_username(username.trim()).await? else {
            // Spend the same time as a real check so that timing does not
            // tell which usernames exist.
            let _ = verify_password(&DUMMY, password);
            self.store
                .append_audit(&self.audit_system("public", "login.unknown_user", "", short(username, 40), ip))
                .await?;
            return Err(bad());
        };
        if user.disabled {
            let _ = verify_password(&DUMMY, password);
            return Err(bad());
        }
        if let Some(until) = user.locked_until
            && until > now
        {
            return Err(AppError::Locked { until });
        }
        let pw = password.to_string();
        let phc = user.password_hash.clone();
        let ok = tokio::task::spawn_blocking(move || verify_password(&phc, &pw))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let target = format!("user:{}", user.id);
        if !ok {
            let audit = self.audit_system(&user.username, "login.failed", target, "", ip);
            let state = self
                .store
                .record_login_failure(
                    user.id,
                    now,
                    self.cfg.lockout_failures,
                    i64::from(self.cfg.lockout_minutes) * 60_000,
                    &audit,
                )
                .await?;
            tracing::info!(
                user_id = user.id.0,
                failures = state.failed_logins,
                "login failed"
            );
            if let Some(until) = state.locked_until
                && until > now
            {
                return Err(AppError::Locked { until });
            }
            return Err(bad());
        }
        let audit = self.audit_system(&user.username, "login.ok", target, "", ip);
        self.store.record_login_success(user.id, &audit).await?;
        let token = random_secret()?;
        let csrf = random_secret()?;
        let expires_at = now.plus_secs(i64::from(self.cfg.session_hours) * 3600);
        let audit = self.audit_system(
            &user.username,
            "session.create",
            format!("user:{}", user.id),
            "",
            ip,
        );
        self.store
            .create_session(
                &NewSession {
                    token_hash: secret_hash(&token),
                    user_id: user.id,
                    csrf_token: csrf.clone(),
                    created_at: now,
                    expires_at,
                    ip: ip.to_string(),
                    user_agent_short: short(user_agent, 80),
                },
                &audit,
            )
            .await?;
        tracing::info!(user_id = user.id.0, "login ok");
        Ok(LoginOk {
            token,
            csrf,
            user,
            expires_at,
        })
    }

    /// The actor behind a session cookie, if the session is live.
    pub async fn session_actor(&self, token: &str, ip: &str) -> Result<Actor> {
        let now = self.now();
        let hash = secret_hash(token);
        let s = self
            .store
            .session_by_hash(&hash, now)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        // Sliding expiry, written at most once a minute.
        if now.0 - s.session.last_seen_at.0 > 60_000 {
            let expires = now.plus_secs(i64::from(self.cfg.session_hours) * 3600);
            self.store.touch_session(&hash, now, expires).await?;
        }
        Ok(Actor {
            user: s.user,
            ip: ip.to_string(),
            via: AuthVia::Session {
                csrf: s.session.csrf_token,
            },
        })
    }

    /// Ends one session.
    pub async fn logout(&self, token: &str, ip: &str) -> Result<()> {
        let hash = secret_hash(token);
        if let Some(s) = self.store.session_by_hash(&hash, self.now()).await? {
            let audit = self.audit_system(
                &s.user.username,
                "session.logout",
                format!("user:{}", s.user.id),
                "",
                ip,
            );
            self.store.delete_session(&hash, &audit).await?;
        }
        Ok(())
    }

    /// Ends every session of the actor ("log out everywhere").
    pub async fn logout_everywhere(&self, actor: &Actor) -> Result<u64> {
        let audit = self.audit(actor, "session.logout_all", format!("user:{}", actor.user.id), "");
        Ok(self.store.delete_user_sessions(actor.user.id, &audit).await?)
    }

    /// The actor behind an API token (`Authorization: Bearer …`).
    pub async fn token_actor(&self, token: &str, ip: &str) -> Result<Actor> {
        let hash = secret_hash(token.trim());
        let now = self.now();
        let epoch = self.tokens.epoch.load(std::sync::atomic::Ordering::Acquire);
        let cached = match self.tokens.get(&hash) {
            Some(c) => c,
            None => {
                let fanzha_store::TokenWithUser { token: t, user } = self
                    .store
                    .token_by_hash(&hash)
                    .await?
                    .ok_or(AppError::Unauthenticated)?;
                let c = CachedToken {
                    epoch,
                    checked: std::time::Instant::now(),
                    token_id: t.id,
                    last_used_at: t.last_used_at,
                    user,
                };
                self.tokens.put(hash.clone(), c.clone());
                c
            }
        };
        if cached.last_used_at.is_none_or(|at| now.0 - at.0 > 60_000) {
            self.store.touch_token(cached.token_id, now).await?;
            let mut c = cached.clone();
            c.last_used_at = Some(now);
            self.tokens.put(hash, c);
        }
        Ok(Actor {
            user: cached.user,
            ip: ip.to_string(),
            via: AuthVia::Token,
        })
    }

    /// Issues an API token for the actor's own account. The secret is shown
    /// once; only its hash is stored.
    pub async fn create_token(&self, actor: &Actor, name: &str) -> Result<(TokenId, String)> {
        self.gate(actor, Action::ManageOwnTokens)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 60 {
            return Err(AppError::invalid("token.bad_name"));
        }
        let secret = format!("fz_{}", random_secret()?);
        let audit = self.audit(actor, "token.create", "", short(name, 60));
        let id = self
            .store
            .create_token(
                &NewApiToken {
                    user_id: actor.user.id,
                    name: name.to_string(),
                    token_hash: secret_hash(&secret),
                    prefix: secret[..10].to_string(),
                    created_at: self.now(),
                },
                &audit,
            )
            .await?;
        Ok((id, secret))
    }

    pub async fn list_tokens(&self, actor: &Actor) -> Result<Vec<ApiToken>> {
        self.gate(actor, Action::ManageOwnTokens)?;
        Ok(self.store.list_tokens(actor.user.id).await?)
    }

    pub async fn revoke_token(&self, actor: &Actor, id: TokenId) -> Result<()> {
        self.gate(actor, Action::ManageOwnTokens)?;
        let mine = self.store.list_tokens(actor.user.id).await?;
        if !mine.iter().any(|t| t.id == id) {
            return Err(AppError::not_found("error.not_found"));
        }
        let audit = self.audit(actor, "token.revoke", format!("token:{id}"), "");
        self.store.revoke_token(id, &audit).await?;
        self.tokens.invalidate();
        Ok(())
    }

    /// Whether an enabled administrator exists. While none does, the one-time
    /// setup page may create the first.
    pub async fn needs_setup(&self) -> Result<bool> {
        Ok(self.store.count_admins().await? == 0)
    }

    /// Creates the first administrator; refused once any admin exists.
    pub async fn setup_first_admin(
        &self,
        username: &str,
        display_name: &str,
        password: &str,
        ip: &str,
    ) -> Result<User> {
        if !self.needs_setup().await? {
            return Err(AppError::forbidden("setup.already_done"));
        }
        self.create_admin_unchecked(username, display_name, password, "setup", ip)
            .await
    }

    /// Creates an administrator from the command line (`fanzha user add --admin`).
    pub async fn cli_create_admin(&self, username: &str, password: &str) -> Result<User> {
        self.create_admin_unchecked(username, username, password, "cli", "")
            .await
    }

    async fn create_admin_unchecked(
        &self,
        username: &str,
        display_name: &str,
        password: &str,
        who: &str,
        ip: &str,
    ) -> Result<User> {
        check_username(username)?;
        check_password_policy(password)?;
        let hash = self.hash(password).await?;
        let audit = self.audit_system(
            who,
            "user.create",
            "",
            format!("role=admin username={}", short(username, 40)),
            ip,
        );
        let id = self
            .store
            .create_user(
                &NewUser {
                    username: username.to_string(),
                    display_name: if display_name.trim().is_empty() {
                        username.to_string()
                    } else {
                        display_name.trim().to_string()
                    },
                    role: Role::Admin,
                    node_id: None,
                    password_hash: hash,
                    must_change_password: false,
                    lang: "zh".into(),
                },
                &audit,
            )
            .await?;
        self.store
            .get_user(id)
            .await?
            .ok_or_else(|| AppError::Internal("user vanished".into()))
    }

    /// The actor for command-line work: the system acting as an unscoped
    /// administrator, audited as `cli`.
    pub fn cli_actor(&self) -> Actor {
        let now = self.now();
        Actor {
            user: User {
                id: fanzha_core::UserId(0),
                username: "cli".into(),
                display_name: "命令行".into(),
                role: Role::Admin,
                node_id: None,
                node_path: None,
                password_hash: String::new(),
                disabled: false,
                failed_logins: 0,
                locked_until: None,
                must_change_password: false,
                lang: "zh".into(),
                created_at: now,
                updated_at: now,
            },
            ip: String::new(),
            via: AuthVia::Cli,
        }
    }

    pub(crate) async fn hash(&self, password: &str) -> Result<String> {
        let cost = self.cfg.password_cost;
        let pw = password.to_string();
        tokio::task::spawn_blocking(move || hash_password(cost, &pw))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .map_err(AppError::from)
    }
}

/// A hash of a random string at the default cost, checked against when the
/// user does not exist so that both paths cost the same.
static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let secret = random_secret().unwrap_or_default();
    hash_password(crate::crypto::PasswordCost::default(), &secret).unwrap_or_default()
});
