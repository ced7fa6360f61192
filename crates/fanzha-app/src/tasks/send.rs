//! Sending queued SMS and robocalls, and delivery receipts.
//!
//! A notification is tried in rounds; each round is the notifier's own
//! retries with backoff. A round that fails for a reason that may pass (the
//! gateway down or slow) is tried again `send_retry_secs` later, up to
//! `send_rounds`; then, or at once for a refusal, the notification is
//! `failed`. A warning that failed is recorded on its task as a failed
//! attempt with the alert `send_failed`; the task then gets its fallback
//! (a robocall) if it has one not yet tried, otherwise it climbs its chain
//! at once. Nothing is dropped silently.

use super::dispatch::{Staff, warning_key};
use super::work::{Edit, task_error};
use crate::crypto::Field;
use crate::notify::{NotifyError, ReceiptStatus, VoiceContent, parse_receipts};
use crate::{App, AppError, Result};
use fanzha_core::FraudType;
use fanzha_core::dispatch::Method;
use fanzha_core::i18n::Msg;
use fanzha_core::task::{ContactAttempt, ContactMethod, ContactResult, Effect, TaskEvent};
use fanzha_store::{
    NewAttempt, Notification, NotificationUpdate, NotifyChannel, NotifyPurpose, NotifyStatus, TaskVisibility,
};
use serde::Serialize;

/// What a receipt callback did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReceiptReport {
    pub received: usize,
    /// Receipts matched to a notification and recorded.
    pub recorded: usize,
    /// Delivery ids no notification has.
    pub unknown: usize,
    /// Receipts still pending at the gateway, or with a status word not configured.
    pub pending: usize,
    /// Items that could not be read, with their position and reason.
    pub errors: Vec<(usize, String)>,
}

fn method_of(ch: NotifyChannel) -> ContactMethod {
    match ch {
        NotifyChannel::Voice => ContactMethod::Robocall,
        _ => ContactMethod::Sms,
    }
}

impl App {
    /// Sends every queued SMS and robocall that is due; (sent, failed for good).
    pub(crate) async fn send_due(&self) -> Result<(usize, usize)> {
        let mut sent = 0;
        let mut failed = 0;
        for _ in 0..50 {
            let now = self.now();
            let due = self.store.due_notifications(now, 200).await?;
            if due.is_empty() {
                break;
            }
            let mut progressed = false;
            for n in due {
                match self.send_one(&n).await? {
                    Some(true) => {
                        sent += 1;
                        progressed = true;
                    }
                    Some(false) => {
                        failed += 1;
                        progressed = true;
                    }
                    None => {}
                }
            }
            if !progressed {
                break;
            }
        }
        Ok((sent, failed))
    }

    /// One send: `Some(true)` sent, `Some(false)` failed for good, `None`
    /// to be tried again later.
    async fn send_one(&self, n: &Notification) -> Result<Option<bool>> {
        let notifier = self.notifier();
        let now = self.now();
        let to = match &n.to {
            Some(p) if !p.enc.is_empty() => self.cipher.open(Field::Phone, &p.enc).ok(),
            _ => None,
        };
        let result = match (&to, n.channel) {
            (None, _) => Err(NotifyError::Invalid("no number to send to")),
            (Some(to), NotifyChannel::Sms) => notifier.send_sms(to, &n.body, &n.idempotency_key).await,
            (Some(to), NotifyChannel::Voice) => {
                let content = VoiceContent::Text(n.body.clone());
                notifier.call(to, &content, &n.idempotency_key).await
            }
            (Some(_), NotifyChannel::InApp) => return Ok(None),
        };
        let attempts = n.attempts + 1;
        let audit = self.audit_system("system", "notify.send", "", "", "");
        match result {
            Ok(id) => {
                let upd = NotificationUpdate {
                    id: n.id,
                    status: NotifyStatus::Sent,
                    attempts,
                    next_attempt_at: None,
                    delivery_id: Some(id.0.clone()),
                    last_error: None,
                    at: now,
                };
                // The log notifier delivers at once: nothing will send a receipt.
                if notifier.name() == "log" && n.purpose == NotifyPurpose::Warning && n.task_id.is_some() {
                    let mut upd = upd;
                    upd.status = NotifyStatus::Delivered;
                    self.warning_result(n, ContactResult::Delivered, upd, None)
                        .await?;
                } else {
                    self.store.update_notifications(&[upd], &audit).await?;
                }
                tracing::info!(
                    notification_id = n.id,
                    channel = n.channel.code(),
                    attempts,
                    "notification sent"
                );
                Ok(Some(true))
            }
            Err(e) => {
                let retry = e.is_transient() && attempts < i64::from(self.cfg.tasks.send_rounds.max(1));
                tracing::warn!(
                    notification_id = n.id,
                    channel = n.channel.code(),
                    attempts,
                    error = %e,
                    retry,
                    "notification not sent"
                );
                if retry {
                    let upd = NotificationUpdate {
                        id: n.id,
                        status: NotifyStatus::Queued,
                        attempts,
                        next_attempt_at: Some(
                            now.plus_secs(self.cfg.tasks.send_retry_secs.max(1) * attempts),
                        ),
                        delivery_id: None,
                        last_error: Some(e.key().to_string()),
                        at: now,
                    };
                    self.store.update_notifications(&[upd], &audit).await?;
                    if let Some(t) = n.task_id {
                        // Visible on the task while it waits for the next round.
                        self.set_alert(t, "send_retrying").await?;
                    }
                    return Ok(None);
                }
                let upd = NotificationUpdate {
                    id: n.id,
                    status: NotifyStatus::Failed,
                    attempts,
                    next_attempt_at: None,
                    delivery_id: None,
                    last_error: Some(e.key().to_string()),
                    at: now,
                };
                if n.purpose == NotifyPurpose::Warning && n.task_id.is_some() {
                    self.warning_result(n, ContactResult::Failed, upd, Some(e.key()))
                        .await?;
                } else {
                    self.store.update_notifications(&[upd], &audit).await?;
                }
                Ok(Some(false))
            }
        }
    }

    /// Sets a task's alert (no state change), recorded as an `alert` transition.
    async fn set_alert(&self, task_id: i64, alert: &str) -> Result<()> {
        let audit = self.audit_system("system", "task.alert", "", "", "");
        let vis = TaskVisibility::all();
        self.edit_task(&vis, task_id, audit, |rec, _task| {
            if rec.row.alert.as_deref() == Some(alert) || rec.row.state.is_final() {
                return Ok(None);
            }
            Ok(Some(Edit {
                event: "alert",
                detail: format!("alert={alert}"),
                alert: Some(Some(alert.to_string())),
                ..Default::default()
            }))
        })
        .await?;
        Ok(())
    }

    /// Records what became of a warning on its task: a delivered or failed
    /// attempt, with the notification's update in the same transaction. A
    /// failure brings the fallback method or an escalation.
    async fn warning_result(
        &self,
        n: &Notification,
        result: ContactResult,
        upd: NotificationUpdate,
        error: Option<&str>,
    ) -> Result<()> {
        let Some(task_id) = n.task_id else {
            return Ok(());
        };
        let now = self.now();
        let vis = TaskVisibility::all();
        let method = method_of(n.channel);
        let attempt = ContactAttempt {
            at: now,
            method,
            by: None,
            result,
            note: error.map(str::to_string),
        };
        let templates = self.task_templates().await?;
        let mut needs_escalation = false;
        let audit = self.audit_system(
            "system",
            "task.attempt",
            "",
            format!("method={} result={}", method.code(), result.code()),
            "",
        );
        let out = self
            .edit_task(&vis, task_id, audit, |rec, task| {
                if rec.row.state.is_final() {
                    return Ok(None);
                }
                if rec.attempts.iter().any(|a| a.notification_id == Some(n.id)) {
                    return Ok(None);
                }
                match task
                    .apply(TaskEvent::Attempt(attempt.clone()), now)
                    .map_err(task_error)?
                {
                    Effect::NoOp => return Ok(None),
                    Effect::Applied { .. } => {}
                }
                let mut edit = Edit {
                    event: "attempt",
                    detail: format!("method={} result={}", method.code(), result.code()),
                    attempt: Some(NewAttempt {
                        at: now,
                        method,
                        by_user: None,
                        result,
                        note: attempt.note.clone(),
                        notification_id: Some(n.id),
                        client_key: Some(format!("notification-{}", n.id)),
                    }),
                    notification_updates: vec![upd.clone()],
                    ..Default::default()
                };
                if result == ContactResult::Failed {
                    edit.alert = Some(Some("send_failed".into()));
                    let fallback_tried = rec
                        .notifications
                        .iter()
                        .any(|x| x.purpose == NotifyPurpose::Warning && x.channel == NotifyChannel::Voice);
                    let wants_voice = n.channel == NotifyChannel::Sms
                        && task.plan.fallback == Some(Method::Robocall)
                        && !fallback_tried;
                    match (&n.to, wants_voice) {
                        (Some(to), true) => {
                            let text = self.warning_text(
                                &templates,
                                NotifyChannel::Voice,
                                rec.row.fraud_type,
                                None,
                            )?;
                            edit.notifications.push(self.warning_notice(
                                rec.row.lead_id,
                                rec.row.person_key,
                                to,
                                NotifyChannel::Voice,
                                rec.row.fraud_type.or(Some(FraudType::Other)),
                                text,
                                now,
                            ));
                        }
                        _ => needs_escalation = true,
                    }
                } else {
                    edit.alert = Some(None);
                }
                Ok(Some(edit))
            })
            .await?;
        if out.is_none() {
            // Already recorded, or the task is closed: still keep the notification's fate.
            let audit = self.audit_system("system", "notify.send", "", "", "");
            self.store.update_notifications(&[upd], &audit).await?;
            return Ok(());
        }
        if needs_escalation {
            let staff = Staff::load(self).await?;
            let audit = self.audit_system("system", "task.escalate", "", "send_failed", "");
            self.escalate_now(&vis, task_id, audit, "send_failed", &staff)
                .await?;
        }
        Ok(())
    }

    /// Whether the receipt callback's token is right (or none is configured).
    pub fn receipt_token_ok(&self, token: Option<&str>) -> bool {
        match &self.cfg.tasks.receipt_token {
            None => true,
            Some(t) => {
                token.is_some_and(|x| crate::crypto::secret_hash(x) == crate::crypto::secret_hash(&t.0))
            }
        }
    }

    /// Delivery receipts posted by a gateway: each matched receipt updates
    /// its notification and, for a warning, records the attempt on the task.
    pub async fn delivery_receipts(&self, body: &[u8], token: Option<&str>) -> Result<ReceiptReport> {
        if !self.receipt_token_ok(token) {
            return Err(AppError::forbidden("notify.receipt_token"));
        }
        let parsed = parse_receipts(&self.cfg.notify.receipts, body)
            .map_err(|e| AppError::Invalid(Msg::new(e.key()).arg("reason", e.to_string())))?;
        let mut report = ReceiptReport {
            received: parsed.items.len() + parsed.errors.len(),
            errors: parsed
                .errors
                .iter()
                .map(|e| (e.index, e.reason.clone()))
                .collect(),
            ..Default::default()
        };
        let ids: Vec<String> = parsed.items.iter().map(|r| r.delivery_id.clone()).collect();
        let known = self.store.notifications_by_delivery(&ids).await?;
        let now = self.now();
        for r in &parsed.items {
            let Some(n) = known
                .iter()
                .find(|n| n.delivery_id.as_deref() == Some(r.delivery_id.as_str()))
            else {
                report.unknown += 1;
                continue;
            };
            let Some(result) = r.status.contact_result() else {
                report.pending += 1;
                continue;
            };
            if matches!(n.status, NotifyStatus::Delivered | NotifyStatus::Failed) {
                // Already final: a repeated receipt.
                report.recorded += 1;
                continue;
            }
            let upd = NotificationUpdate {
                id: n.id,
                status: if result == ContactResult::Delivered {
                    NotifyStatus::Delivered
                } else {
                    NotifyStatus::Failed
                },
                attempts: n.attempts,
                next_attempt_at: None,
                delivery_id: None,
                last_error: match (&r.status, &r.error) {
                    (ReceiptStatus::Failed, Some(e)) => Some(e.chars().take(64).collect()),
                    (ReceiptStatus::Failed, None) => Some("receipt failed".into()),
                    _ => None,
                },
                at: now,
            };
            if n.purpose == NotifyPurpose::Warning && n.task_id.is_some() {
                let err = upd.last_error.clone();
                self.warning_result(n, result, upd, err.as_deref()).await?;
            } else {
                let audit = self.audit_system("gateway", "notify.receipt", "", "", "");
                self.store.update_notifications(&[upd], &audit).await?;
            }
            report.recorded += 1;
        }
        tracing::info!(
            received = report.received,
            recorded = report.recorded,
            unknown = report.unknown,
            "delivery receipts"
        );
        Ok(report)
    }
}

/// The key a lead's warning uses on a channel (for tests and tools).
pub fn lead_warning_key(lead_id: i64, voice: bool) -> String {
    warning_key(
        lead_id,
        if voice {
            NotifyChannel::Voice
        } else {
            NotifyChannel::Sms
        },
    )
}
