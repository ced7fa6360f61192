//! Accounts, managed by the administrator.

use crate::auth::{check_password_policy, check_username};
use crate::crypto::verify_password;
use crate::{Actor, App, AppError, Result};
use fanzha_core::i18n::Msg;
use fanzha_core::roles::{Action, Role};
use fanzha_core::{NodeId, UserId};
use fanzha_store::{NewUser, Scope, User, UserUpdate};
use serde::{Deserialize, Serialize};

/// A user as listed: never the password hash.
#[derive(Clone, Debug, Serialize)]
pub struct UserView {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub node_id: Option<NodeId>,
    pub disabled: bool,
    pub locked: bool,
    pub lang: String,
}

impl UserView {
    pub fn of(u: &User, now: fanzha_core::Timestamp) -> UserView {
        UserView {
            id: u.id,
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            role: u.role,
            node_id: u.node_id,
            disabled: u.disabled,
            locked: u.locked_until.is_some_and(|t| t > now),
            lang: u.lang.clone(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct UserForm {
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    pub role: Role,
    #[serde(default)]
    pub node_id: Option<NodeId>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub disabled: bool,
}

impl App {
    async fn check_user_node(&self, role: Role, node: Option<NodeId>) -> Result<Option<NodeId>> {
        match (role, node) {
            (Role::Admin, _) => Ok(None),
            (_, None) => Err(AppError::invalid("user.node_required")),
            (_, Some(n)) => {
                self.node_in(&Scope::All, n).await?;
                Ok(Some(n))
            }
        }
    }

    pub async fn users(&self, actor: &Actor) -> Result<Vec<UserView>> {
        let scope = self.gate(actor, Action::ManageUsers)?;
        let now = self.now();
        Ok(self
            .store
            .list_users(&scope)
            .await?
            .iter()
            .map(|u| UserView::of(u, now))
            .collect())
    }

    pub async fn user(&self, actor: &Actor, id: UserId) -> Result<UserView> {
        self.gate(actor, Action::ManageUsers)?;
        let u = self
            .store
            .get_user(id)
            .await?
            .ok_or_else(|| AppError::not_found("user.not_found"))?;
        Ok(UserView::of(&u, self.now()))
    }

    pub async fn create_user(&self, actor: &Actor, f: &UserForm) -> Result<UserId> {
        self.gate(actor, Action::ManageUsers)?;
        let username = f.username.trim();
        check_username(username)?;
        let password = f.password.as_deref().unwrap_or("");
        check_password_policy(password)?;
        let node_id = self.check_user_node(f.role, f.node_id).await?;
        if self.store.user_by_username(username).await?.is_some() {
            return Err(AppError::conflict("user.username_taken"));
        }
        let hash = self.hash(password).await?;
        let display = if f.display_name.trim().is_empty() {
            username
        } else {
            f.display_name.trim()
        };
        let audit = self.audit(
            actor,
            "user.create",
            "",
            format!("username={username} role={}", f.role.code()),
        );
        Ok(self
            .store
            .create_user(
                &NewUser {
                    username: username.to_string(),
                    display_name: display.chars().take(40).collect(),
                    role: f.role,
                    node_id,
                    password_hash: hash,
                    must_change_password: actor.user.id != fanzha_core::UserId(0),
                    lang: "zh".into(),
                },
                &audit,
            )
            .await?)
    }

    /// Changes role, node, name or the disabled flag; a new password when
    /// given. The last enabled administrator cannot be demoted or disabled.
    pub async fn update_user(&self, actor: &Actor, id: UserId, f: &UserForm) -> Result<()> {
        self.gate(actor, Action::ManageUsers)?;
        let old = self
            .store
            .get_user(id)
            .await?
            .ok_or_else(|| AppError::not_found("user.not_found"))?;
        let node_id = self.check_user_node(f.role, f.node_id).await?;
        let was_admin = old.role == Role::Admin && !old.disabled;
        let still_admin = f.role == Role::Admin && !f.disabled;
        if was_admin && !still_admin && self.store.count_admins().await? <= 1 {
            return Err(AppError::conflict("user.last_admin"));
        }
        let display = if f.display_name.trim().is_empty() {
            old.display_name.clone()
        } else {
            f.display_name.trim().to_string()
        };
        let audit = self.audit(
            actor,
            "user.update",
            format!("user:{id}"),
            format!("role={} disabled={}", f.role.code(), f.disabled),
        );
        self.store
            .update_user(
                id,
                &UserUpdate {
                    display_name: display,
                    role: f.role,
                    node_id,
                    disabled: f.disabled,
                    lang: old.lang.clone(),
                },
                &audit,
            )
            .await?;
        self.tokens.invalidate();
        if let Some(pw) = f.password.as_deref().filter(|p| !p.is_empty()) {
            self.admin_set_password(actor, id, pw).await?;
        }
        if f.disabled {
            let audit = self.audit(actor, "session.logout_all", format!("user:{id}"), "disabled");
            self.store.delete_user_sessions(id, &audit).await?;
        }
        Ok(())
    }

    /// Sets another user's password; their sessions end.
    pub async fn admin_set_password(&self, actor: &Actor, id: UserId, password: &str) -> Result<()> {
        self.gate(actor, Action::ManageUsers)?;
        check_password_policy(password)?;
        let hash = self.hash(password).await?;
        let audit = self.audit(actor, "user.password_reset", format!("user:{id}"), "");
        self.store.set_password_hash(id, &hash, true, &audit).await?;
        let audit = self.audit(
            actor,
            "session.logout_all",
            format!("user:{id}"),
            "password reset",
        );
        self.store.delete_user_sessions(id, &audit).await?;
        Ok(())
    }

    /// Sets a password from the command line (`fanzha user passwd`).
    pub async fn cli_set_password(&self, username: &str, password: &str) -> Result<()> {
        let actor = self.cli_actor();
        let u = self
            .store
            .user_by_username(username)
            .await?
            .ok_or_else(|| AppError::not_found("user.not_found"))?;
        check_password_policy(password)?;
        let hash = self.hash(password).await?;
        let audit = self.audit(&actor, "user.password_reset", format!("user:{}", u.id), "");
        self.store.set_password_hash(u.id, &hash, false, &audit).await?;
        // A reset also lifts a lockout.
        let audit = self.audit(&actor, "login.unlock", format!("user:{}", u.id), "");
        self.store.record_login_success(u.id, &audit).await?;
        Ok(())
    }

    /// Changes the actor's own password; other sessions end.
    pub async fn change_own_password(&self, actor: &Actor, old: &str, new: &str) -> Result<()> {
        let u = self
            .store
            .get_user(actor.user.id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if !verify_password(&u.password_hash, old) {
            return Err(AppError::Invalid(Msg::new("user.old_password_wrong")));
        }
        check_password_policy(new)?;
        let hash = self.hash(new).await?;
        let audit = self.audit(actor, "user.password_change", format!("user:{}", u.id), "");
        self.store.set_password_hash(u.id, &hash, false, &audit).await?;
        Ok(())
    }

    /// Sets the actor's interface language.
    pub async fn set_own_lang(&self, actor: &Actor, lang: fanzha_core::i18n::Lang) -> Result<()> {
        let u = self
            .store
            .get_user(actor.user.id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let code = match lang {
            fanzha_core::i18n::Lang::Zh => "zh",
            fanzha_core::i18n::Lang::En => "en",
        };
        if u.lang == code {
            return Ok(());
        }
        let audit = self.audit(
            actor,
            "user.lang",
            format!("user:{}", u.id),
            format!("lang={code}"),
        );
        self.store
            .update_user(
                u.id,
                &UserUpdate {
                    display_name: u.display_name,
                    role: u.role,
                    node_id: u.node_id,
                    disabled: u.disabled,
                    lang: code.into(),
                },
                &audit,
            )
            .await?;
        Ok(())
    }

    /// All users, for `fanzha user list`.
    pub async fn cli_users(&self) -> Result<Vec<UserView>> {
        let now = self.now();
        Ok(self
            .store
            .list_users(&Scope::All)
            .await?
            .iter()
            .map(|u| UserView::of(u, now))
            .collect())
    }
}
