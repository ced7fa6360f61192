//! Graded warning and dissuasion (分级分类预警劝阻, DESIGN.md §6): leads become
//! tasks, tasks are worked, late tasks climb, warnings go out, outcomes feed
//! back.
//!
//! ```text
//! lead (pipeline, push, report) ──► dispatch (policy: grade → method, owners, deadlines)
//!     ──► task + assignees + in-app / SMS notices + warning SMS queued (one tx)
//!     ──► accept · attempts · outcome (staff, through the gate)      ──► feedback (intel, case)
//!     ──► tick: overdue → next post of the chain · queued SMS → gateway → receipt
//! ```
//!
//! * **Dispatch** ([`dispatch`]): the active dispatch policy (versioned in
//!   the store; the shipped one is saved as version 1 on first use) plans
//!   each lead; posts resolve to users: a grid's grid workers, the village
//!   head (the node's designated head, else the village's grid workers), the
//!   station's officers (officers of the person's township; the chief is the
//!   township's designated officer head), the center's analysts and
//!   leaders (users of that role at a county node). A person without a known
//!   grid goes to the transfer queue at the center.
//! * **Work** ([`work`]): every use case passes the gate; a task is visible
//!   to whoever's scope holds its node and to its assignees. The state
//!   machine is `fanzha_core::task`; a repeat (two taps) is a no-op, a
//!   concurrent change is retried against the fresh row.
//! * **The tick** ([`App::tasks_tick`]): dispatches new leads, escalates
//!   overdue tasks one post at a time, sends queued SMS and robocalls through
//!   the [`Notifier`](crate::notify::Notifier) (a gateway that fails is tried
//!   again later; after the last round the task gets the fallback method or
//!   climbs at once, with the alert on the task) and applies pending feedback.
//!   [`App::start_tasks`] runs it in the background; tests call it with a
//!   manual clock.
//! * **Feedback** ([`feedback`]): a false alarm lowers the confidence of the
//!   indicators in the lead's evidence and queues them for review; a
//!   defrauded person's evidence (indicators and the counterparties of the
//!   lead's events) goes to intel as pending indicators linked to the case.
//! * **Appeals** ([`appeals`]) and **statistics and exports** ([`stats`]).

pub mod appeals;
pub mod dispatch;
pub mod feedback;
pub mod policy;
pub mod send;
pub mod stats;
pub mod templates;
pub mod work;

use crate::notify::{Notifier, RateLimitConfig};
use crate::{App, AppError, Result};
use fanzha_core::dispatch::{Policy, TemplateKey, TemplateSet};
/// The stored records the workflow's use cases return.
pub use fanzha_store::{
    Appeal, AppealStatus, AssigneeKind, NotifyChannel, NotifyPurpose, NotifyStatus, TaskAssignee,
    TaskAttempt, TaskListItem, TaskRow, TaskTransition,
};
use fanzha_store::{NewDispatchPolicy, TemplateKind};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Settings of the dissuasion workflow. The binary fills them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TasksConfig {
    /// Run the background tick (dispatch, escalation, sending, feedback).
    pub background: bool,
    /// How often the tick runs, in ms (it also runs at once when a lead is raised).
    pub tick_ms: u64,
    /// Most leads dispatched in one store transaction.
    pub dispatch_batch: usize,
    /// Rounds of sending one notification (each round is the notifier's own
    /// retries with backoff) before it counts as failed.
    pub send_rounds: u32,
    /// Seconds before the next round after a round failed.
    pub send_retry_secs: i64,
    /// Points a false alarm takes off each indicator's confidence.
    pub false_alarm_step: u8,
    /// A false alarm never takes the confidence below this.
    pub false_alarm_floor: u8,
    /// Confidence of the indicators a case adds to intel (pending).
    pub case_indicator_confidence: u8,
    /// A shared secret the gateway's delivery-receipt callback must carry
    /// (`?token=` or the `X-Receipt-Token` header); `None` accepts any.
    pub receipt_token: Option<crate::notify::Secret>,
}

impl Default for TasksConfig {
    fn default() -> Self {
        TasksConfig {
            background: true,
            tick_ms: 5_000,
            dispatch_batch: 1_000,
            send_rounds: 3,
            send_retry_secs: 60,
            false_alarm_step: 20,
            false_alarm_floor: 10,
            case_indicator_confidence: 60,
            receipt_token: None,
        }
    }
}

/// A change of a task, for the live board (server-sent events).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskEventNote {
    pub task_id: i64,
    /// `create`, `accept`, `attempt`, `escalate`, `close`, `transfer`,
    /// `regrade`, `alert`, `receipt`.
    pub event: String,
    /// The task's org path, so that a listener shows only what it may see.
    pub node_path: String,
}

/// Run-time state of the workflow, owned by [`App`].
pub(crate) struct TasksState {
    pub(crate) me: Weak<App>,
    pub(crate) notifier: Mutex<Arc<dyn Notifier>>,
    pub(crate) policy: tokio::sync::Mutex<Option<(i64, Arc<Policy>)>>,
    pub(crate) templates: Mutex<Option<Arc<TemplateSet>>>,
    pub(crate) events: tokio::sync::broadcast::Sender<TaskEventNote>,
    pub(crate) wake: tokio::sync::Notify,
    pub(crate) tick_lock: tokio::sync::Mutex<()>,
    pub(crate) stop: AtomicBool,
    pub(crate) worker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TasksState {
    pub(crate) fn new(notifier: Arc<dyn Notifier>, me: Weak<App>) -> TasksState {
        TasksState {
            me,
            notifier: Mutex::new(notifier),
            policy: tokio::sync::Mutex::new(None),
            templates: Mutex::new(None),
            events: tokio::sync::broadcast::channel(1024).0,
            wake: tokio::sync::Notify::new(),
            tick_lock: tokio::sync::Mutex::new(()),
            stop: AtomicBool::new(false),
            worker: Mutex::new(None),
        }
    }
}

/// What one tick did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    pub dispatched: usize,
    pub regraded: usize,
    pub escalated: usize,
    pub sent: usize,
    pub send_failures: usize,
    pub feedback: usize,
}

impl App {
    /// The notifier in use.
    pub fn notifier(&self) -> Arc<dyn Notifier> {
        lock(&self.tasks.notifier).clone()
    }

    /// Replaces the notifier (tests, or a reconfiguration).
    pub fn set_notifier(&self, n: Arc<dyn Notifier>) {
        *lock(&self.tasks.notifier) = n;
    }

    /// The per-person SMS rate limit in force.
    pub(crate) fn sms_rate(&self) -> RateLimitConfig {
        self.cfg.notify.sms_rate_limit
    }

    /// Listens to task changes (the live board).
    pub fn subscribe_tasks(&self) -> tokio::sync::broadcast::Receiver<TaskEventNote> {
        self.tasks.events.subscribe()
    }

    pub(crate) fn task_event(&self, task_id: i64, event: &str, node_path: &str) {
        // Nobody listening is fine.
        let _ = self.tasks.events.send(TaskEventNote {
            task_id,
            event: event.to_string(),
            node_path: node_path.to_string(),
        });
    }

    /// Asks the background tick to run now (a lead was raised).
    pub fn wake_tasks(&self) {
        self.tasks.wake.notify_one();
    }

    /// The active dispatch policy and its store version; the shipped policy
    /// is saved as version 1 on first use.
    pub(crate) async fn dispatch_policy(&self) -> Result<(i64, Arc<Policy>)> {
        let mut cached = self.tasks.policy.lock().await;
        let active = self.store.active_dispatch_policy().await?;
        let active = match active {
            Some(a) => a,
            None => {
                let doc = fanzha_core::dispatch::DEFAULT_POLICY;
                let policy = fanzha_core::dispatch::PolicyDoc::parse(doc)
                    .map_err(|e| AppError::Internal(e.to_string()))?;
                let version = self.store.next_dispatch_policy_version().await?;
                let audit = self.audit_system("system", "dispatch.policy.save", "", "shipped default", "");
                let new = NewDispatchPolicy {
                    version,
                    name: policy.name().to_string(),
                    toml: doc.to_string(),
                    note: "shipped default".into(),
                };
                match self.store.save_dispatch_policy(&new, &audit).await {
                    Ok(()) | Err(fanzha_store::StoreError::Conflict { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                self.store
                    .active_dispatch_policy()
                    .await?
                    .ok_or_else(|| AppError::Internal("no active dispatch policy".into()))?
            }
        };
        if let Some((v, p)) = cached.as_ref()
            && *v == active.version
        {
            return Ok((*v, p.clone()));
        }
        let policy = Arc::new(
            fanzha_core::dispatch::PolicyDoc::parse(&active.toml)
                .map_err(|e| AppError::Internal(format!("stored dispatch policy: {e}")))?,
        );
        *cached = Some((active.version, policy.clone()));
        Ok((active.version, policy))
    }

    /// The shipped templates with the analysts' overrides laid over them.
    pub(crate) async fn task_templates(&self) -> Result<Arc<TemplateSet>> {
        if let Some(t) = lock(&self.tasks.templates).clone() {
            return Ok(t);
        }
        let mut set = TemplateSet::builtin().map_err(|e| AppError::Internal(e.to_string()))?;
        for o in self.store.template_overrides().await? {
            let Some(key) = TemplateKey::parse(&o.key) else {
                continue;
            };
            let r = match o.kind {
                TemplateKind::Sms => set.set_sms(key, &o.body),
                TemplateKind::Robocall => set.set_robocall(key, &o.body),
                TemplateKind::Script => match serde_json::from_str(&o.body) {
                    Ok(s) => set.set_script(key, s),
                    Err(_) => Ok(()),
                },
                TemplateKind::Appeal => Ok(()),
            };
            if let Err(e) = r {
                tracing::warn!(key = %key, error = %e, "template override skipped");
            }
        }
        let set = Arc::new(set);
        *lock(&self.tasks.templates) = Some(set.clone());
        Ok(set)
    }

    /// One pass of the workflow's background work at the app's clock:
    /// dispatch, escalation, sending, feedback. Safe to call at any time and
    /// from several places (passes do not overlap).
    pub async fn tasks_tick(&self) -> Result<TickReport> {
        let _guard = self.tasks.tick_lock.lock().await;
        let mut r = TickReport::default();
        let (d, g) = self.dispatch_leads().await?;
        r.dispatched = d;
        r.regraded = g;
        r.escalated = self.escalate_due().await?;
        let (s, f) = self.send_due().await?;
        r.sent = s;
        r.send_failures = f;
        // Sending may have escalated tasks whose warning failed.
        r.escalated += self.escalate_due().await?;
        r.feedback = self.apply_pending_feedback().await?;
        Ok(r)
    }

    /// Dispatches every lead waiting for a task now (what the tick does
    /// first); (tasks created, tasks regraded). For tools and benchmarks.
    pub async fn dispatch_pending(&self) -> Result<(usize, usize)> {
        let _guard = self.tasks.tick_lock.lock().await;
        self.dispatch_leads().await
    }

    /// Starts the background tick (once).
    pub fn start_tasks(&self) {
        if !self.cfg.tasks.background {
            return;
        }
        let mut w = lock(&self.tasks.worker);
        if w.is_some() {
            return;
        }
        let me = self.tasks.me.clone();
        let every = Duration::from_millis(self.cfg.tasks.tick_ms.max(50));
        *w = Some(tokio::spawn(async move {
            loop {
                let Some(app) = me.upgrade() else { break };
                if app.tasks.stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Err(e) = app.tasks_tick().await {
                    tracing::warn!(error = %e, "task tick failed");
                }
                let wake = async { app.tasks.wake.notified().await };
                let _ = tokio::time::timeout(every, wake).await;
            }
        }));
    }

    /// Stops the background tick after its current pass.
    pub async fn stop_tasks(&self) {
        self.tasks.stop.store(true, Ordering::SeqCst);
        self.tasks.wake.notify_one();
        let handle = lock(&self.tasks.worker).take();
        if let Some(h) = handle {
            let _ = h.await;
        }
    }
}
