//! The dissuasion task (劝阻任务, DESIGN.md §6): one job for one person, its
//! states, contact attempts and outcome, as a pure state machine.
//!
//! ```text
//!            accept              attempt               close(outcome)
//! pending ──────────► accepted ──────────► contacting ───────────────► done
//!    │  └─────────── attempt ─────────────────▲  │                     (any outcome but
//!    │                                          │  │                      out_of_jurisdiction)
//!    └── escalate ──► escalated ── accept / attempt ┘  └ close(out_of_jurisdiction) ──► transferred
//! ```
//!
//! Every open state (`pending`, `accepted`, `contacting`, `escalated`) may be
//! escalated or closed; the exact table is [`TRANSITIONS`]. `done` and
//! `transferred` are final. The outcome decides which of the two a close
//! leads to, and some outcomes need evidence first:
//!
//! * 已被骗 ([`Outcome::Defrauded`]) carries the loss in fen, which must be above 0;
//! * 劝阻成功 needs an attempt that reached the person (or, for a task
//!   worked automatically, delivered the warning), 拒绝配合 an attempt that
//!   reached them or was hung up on, 无法联系 at least one attempt;
//! * 未被骗/误报 and 非本辖区 need nothing.
//!
//! Recording an outcome is idempotent: the same outcome submitted again
//! (two taps, two devices) is [`Effect::NoOp`]; a different one after the
//! close is [`TaskError::OutcomeConflict`]. Escalations are numbered, so a
//! scheduler that runs twice applies each step once.

use crate::dispatch::TaskPlan;
use crate::i18n::Msg;
use crate::taxonomy::vocabulary;
use crate::{Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub use crate::taxonomy::UnknownCode;

/// Largest loss accepted, in fen (10^15, as for transfer events).
pub const MAX_LOSS_FEN: i64 = 1_000_000_000_000_000;
/// Longest note on an attempt or outcome, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;

vocabulary!(
    /// Where a task stands.
    TaskState, "task state" {
        Pending = ("pending", "待接收", "Pending"),
        Accepted = ("accepted", "已接收", "Accepted"),
        Contacting = ("contacting", "联系中", "Contacting"),
        Done = ("done", "已办结", "Done"),
        Escalated = ("escalated", "已升级", "Escalated"),
        Transferred = ("transferred", "已移交", "Transferred"),
    }
);

impl TaskState {
    /// `done` and `transferred` take no further events.
    pub const fn is_final(self) -> bool {
        matches!(self, TaskState::Done | TaskState::Transferred)
    }
    pub const fn is_open(self) -> bool {
        !self.is_final()
    }
}

vocabulary!(
    /// How a contact attempt was made.
    ContactMethod, "contact method" {
        Call = ("call", "电话", "Phone call", "打电话"),
        Sms = ("sms", "短信", "SMS"),
        Visit = ("visit", "上门", "Visit", "走访"),
        Robocall = ("robocall", "语音外呼", "Robocall", "机器人外呼"),
    }
);

impl ContactMethod {
    /// Sent by the system rather than a person.
    pub const fn is_automatic(self) -> bool {
        matches!(self, ContactMethod::Sms | ContactMethod::Robocall)
    }
}

vocabulary!(
    /// What came of a contact attempt.
    ContactResult, "contact result" {
        Reached = ("reached", "已联系上", "Reached"),
        Delivered = ("delivered", "已送达", "Delivered"),
        NoAnswer = ("no_answer", "无人接听", "No answer"),
        Busy = ("busy", "占线", "Busy"),
        PoweredOff = ("powered_off", "关机/停机", "Phone off or suspended", "关机", "停机"),
        WrongNumber = ("wrong_number", "号码错误", "Wrong number", "空号"),
        HungUp = ("hung_up", "拒接/挂断", "Hung up", "拒接", "挂断"),
        NotHome = ("not_home", "不在家", "Not at home"),
        Failed = ("failed", "发送失败", "Sending failed"),
    }
);

impl ContactResult {
    /// Whether the result can come of `method`: `delivered` and `failed`
    /// are for SMS and robocalls, `not_home` for visits, the phone results
    /// for calls and robocalls.
    pub const fn fits(self, method: ContactMethod) -> bool {
        use ContactMethod as M;
        use ContactResult as R;
        match self {
            R::Reached => !matches!(method, M::Sms),
            R::Delivered | R::Failed => matches!(method, M::Sms | M::Robocall),
            R::NoAnswer | R::Busy | R::PoweredOff | R::HungUp => matches!(method, M::Call | M::Robocall),
            R::WrongNumber => !matches!(method, M::Visit),
            R::NotHome => matches!(method, M::Visit),
        }
    }
    /// The person got the message: spoken to, or an automatic warning delivered.
    pub const fn is_contact(self) -> bool {
        matches!(self, ContactResult::Reached | ContactResult::Delivered)
    }
}

/// One try to reach the person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactAttempt {
    pub at: Timestamp,
    pub method: ContactMethod,
    /// Who tried; `None` for the system (automatic SMS, robocall).
    pub by: Option<UserId>,
    pub result: ContactResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

vocabulary!(
    /// The kind of outcome of a task.
    OutcomeKind, "task outcome" {
        Dissuaded = ("dissuaded", "劝阻成功", "Dissuaded"),
        Defrauded = ("defrauded", "已被骗", "Already defrauded", "被骗"),
        FalseAlarm = ("false_alarm", "未被骗/误报", "Not defrauded / false alarm", "误报", "未被骗"),
        Unreachable = ("unreachable", "无法联系", "Unreachable"),
        Refused = ("refused", "拒绝配合", "Refused to cooperate"),
        OutOfJurisdiction = ("out_of_jurisdiction", "非本辖区", "Outside our jurisdiction"),
    }
);

/// How a task ended. Only [`Outcome::Defrauded`] carries data: the loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    Dissuaded,
    Defrauded { loss_fen: i64 },
    FalseAlarm,
    Unreachable,
    Refused,
    OutOfJurisdiction,
}

impl Outcome {
    /// Builds an outcome from a form: the kind and, for `defrauded`, the loss
    /// (required, above 0, at most [`MAX_LOSS_FEN`]). A loss given with any
    /// other kind is ignored.
    pub fn new(kind: OutcomeKind, loss_fen: Option<i64>) -> Result<Outcome, TaskError> {
        Ok(match kind {
            OutcomeKind::Dissuaded => Outcome::Dissuaded,
            OutcomeKind::Defrauded => match loss_fen {
                Some(l) if l > 0 && l <= MAX_LOSS_FEN => Outcome::Defrauded { loss_fen: l },
                _ => return Err(TaskError::LossRequired),
            },
            OutcomeKind::FalseAlarm => Outcome::FalseAlarm,
            OutcomeKind::Unreachable => Outcome::Unreachable,
            OutcomeKind::Refused => Outcome::Refused,
            OutcomeKind::OutOfJurisdiction => Outcome::OutOfJurisdiction,
        })
    }

    pub const fn kind(self) -> OutcomeKind {
        match self {
            Outcome::Dissuaded => OutcomeKind::Dissuaded,
            Outcome::Defrauded { .. } => OutcomeKind::Defrauded,
            Outcome::FalseAlarm => OutcomeKind::FalseAlarm,
            Outcome::Unreachable => OutcomeKind::Unreachable,
            Outcome::Refused => OutcomeKind::Refused,
            Outcome::OutOfJurisdiction => OutcomeKind::OutOfJurisdiction,
        }
    }

    /// The final state this outcome leads to.
    pub const fn final_state(self) -> TaskState {
        match self {
            Outcome::OutOfJurisdiction => TaskState::Transferred,
            _ => TaskState::Done,
        }
    }

    pub const fn loss_fen(self) -> Option<i64> {
        match self {
            Outcome::Defrauded { loss_fen } => Some(loss_fen),
            _ => None,
        }
    }
}

/// The outcome as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    pub outcome: Outcome,
    pub at: Timestamp,
    pub by: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One escalation step taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationRecord {
    /// Index into the plan's escalation chain.
    pub step: usize,
    pub at: Timestamp,
}

/// Something that happens to a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskEvent {
    /// A (co-)owner takes the task.
    Accept { by: UserId },
    /// A contact attempt, by a person or the system.
    Attempt(ContactAttempt),
    /// The task goes up to step `step` of its escalation chain. Steps are
    /// taken in order; a step already taken is a no-op.
    Escalate { step: usize },
    /// The task is closed with an outcome. `None` is refused: a task cannot
    /// be closed without one.
    Close {
        outcome: Option<Outcome>,
        by: Option<UserId>,
        note: Option<String>,
    },
}

vocabulary!(
    /// The kind of a [`TaskEvent`], as the transition table knows it. A close
    /// with 非本辖区 is `transfer`.
    EventKind, "task event" {
        Accept = ("accept", "接收", "Accept"),
        Attempt = ("attempt", "联系", "Contact attempt"),
        Escalate = ("escalate", "升级", "Escalate"),
        Close = ("close", "办结", "Close"),
        Transfer = ("transfer", "移交", "Transfer"),
    }
);

impl TaskEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            TaskEvent::Accept { .. } => EventKind::Accept,
            TaskEvent::Attempt(_) => EventKind::Attempt,
            TaskEvent::Escalate { .. } => EventKind::Escalate,
            TaskEvent::Close {
                outcome: Some(Outcome::OutOfJurisdiction),
                ..
            } => EventKind::Transfer,
            TaskEvent::Close { .. } => EventKind::Close,
        }
    }
}

/// The allowed transitions: (from, event, to). Anything not listed is
/// refused with [`TaskError::NotAllowed`]. Final states take no events (a
/// repeated identical close is answered before the table is consulted).
pub const TRANSITIONS: &[(TaskState, EventKind, TaskState)] = {
    use EventKind as E;
    use TaskState as S;
    &[
        (S::Pending, E::Accept, S::Accepted),
        (S::Pending, E::Attempt, S::Contacting),
        (S::Pending, E::Escalate, S::Escalated),
        (S::Pending, E::Close, S::Done),
        (S::Pending, E::Transfer, S::Transferred),
        (S::Accepted, E::Accept, S::Accepted),
        (S::Accepted, E::Attempt, S::Contacting),
        (S::Accepted, E::Escalate, S::Escalated),
        (S::Accepted, E::Close, S::Done),
        (S::Accepted, E::Transfer, S::Transferred),
        (S::Contacting, E::Accept, S::Contacting),
        (S::Contacting, E::Attempt, S::Contacting),
        (S::Contacting, E::Escalate, S::Escalated),
        (S::Contacting, E::Close, S::Done),
        (S::Contacting, E::Transfer, S::Transferred),
        (S::Escalated, E::Accept, S::Accepted),
        (S::Escalated, E::Attempt, S::Contacting),
        (S::Escalated, E::Escalate, S::Escalated),
        (S::Escalated, E::Close, S::Done),
        (S::Escalated, E::Transfer, S::Transferred),
    ]
};

/// The state `event` leads to from `from`, if the table allows it.
pub fn next_state(from: TaskState, event: EventKind) -> Option<TaskState> {
    TRANSITIONS
        .iter()
        .find(|(f, e, _)| *f == from && *e == event)
        .map(|(_, _, to)| *to)
}

/// What applying an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The task changed (the state may be the same, e.g. a further attempt
    /// while contacting): record it and write the audit entry.
    Applied { from: TaskState, to: TaskState },
    /// A repeat of something already recorded; nothing changed.
    NoOp,
}

/// Why an event was refused. Each has a catalogue key (`task.*`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    #[error("a task in state {state} does not take the event {event}")]
    NotAllowed { state: TaskState, event: EventKind },
    #[error("a task cannot be closed without an outcome")]
    OutcomeRequired,
    #[error("the outcome defrauded needs the loss in fen, above 0 and at most 10^15")]
    LossRequired,
    #[error("the task was closed as {recorded}; {submitted} cannot replace it")]
    OutcomeConflict {
        recorded: OutcomeKind,
        submitted: OutcomeKind,
    },
    #[error("the outcome {outcome} needs a contact attempt that reached the person")]
    NotReached { outcome: OutcomeKind },
    #[error("the outcome unreachable needs at least one contact attempt")]
    NoAttempt,
    #[error("the result {result} cannot come of the method {method}")]
    ResultMismatch {
        method: ContactMethod,
        result: ContactResult,
    },
    #[error("escalation step {step} does not exist (the chain has {len} steps)")]
    NoSuchStep { step: usize, len: usize },
    #[error("escalation step {step} comes out of order; the next step is {next}")]
    StepOutOfOrder { step: usize, next: usize },
    #[error("a note is limited to {MAX_NOTE_CHARS} characters")]
    NoteTooLong,
}

impl TaskError {
    /// The catalogue key of the message.
    pub const fn key(&self) -> &'static str {
        match self {
            TaskError::NotAllowed { .. } => "task.not_allowed",
            TaskError::OutcomeRequired => "task.outcome_required",
            TaskError::LossRequired => "task.loss_required",
            TaskError::OutcomeConflict { .. } => "task.outcome_conflict",
            TaskError::NotReached { .. } => "task.not_reached",
            TaskError::NoAttempt => "task.no_attempt",
            TaskError::ResultMismatch { .. } => "task.result_mismatch",
            TaskError::NoSuchStep { .. } => "task.no_such_step",
            TaskError::StepOutOfOrder { .. } => "task.step_out_of_order",
            TaskError::NoteTooLong => "task.note_too_long",
        }
    }

    /// The translatable message. Each vocabulary argument comes three ways:
    /// `{state}` (the code), `{state_zh}` and `{state_en}` (the labels), so
    /// that each language's text names it in that language.
    pub fn msg(&self) -> Msg {
        let m = Msg::new(self.key());
        fn label(m: Msg, name: &str, code: &str, zh: &str, en: &str) -> Msg {
            m.arg(name, code)
                .arg(&format!("{name}_zh"), zh)
                .arg(&format!("{name}_en"), en)
        }
        match self {
            TaskError::NotAllowed { state, event } => {
                let m = label(m, "state", state.code(), state.zh(), state.en());
                label(m, "event", event.code(), event.zh(), event.en())
            }
            TaskError::OutcomeConflict { recorded, submitted } => {
                let m = label(m, "recorded", recorded.code(), recorded.zh(), recorded.en());
                label(m, "submitted", submitted.code(), submitted.zh(), submitted.en())
            }
            TaskError::NotReached { outcome } => {
                label(m, "outcome", outcome.code(), outcome.zh(), outcome.en())
            }
            TaskError::ResultMismatch { method, result } => {
                let m = label(m, "method", method.code(), method.zh(), method.en());
                label(m, "result", result.code(), result.zh(), result.en())
            }
            TaskError::NoSuchStep { step, len } => m.arg("step", step + 1).arg("len", len),
            TaskError::StepOutOfOrder { step, next } => m.arg("step", step + 1).arg("next", next + 1),
            TaskError::OutcomeRequired
            | TaskError::LossRequired
            | TaskError::NoAttempt
            | TaskError::NoteTooLong => m,
        }
    }

    /// A conflict with what is already recorded (HTTP 409) rather than bad
    /// input (422).
    pub const fn is_conflict(&self) -> bool {
        matches!(
            self,
            TaskError::OutcomeConflict { .. } | TaskError::NotAllowed { .. }
        )
    }
}

/// A dissuasion task: its frozen plan and everything that happened to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The plan made when the task was raised (owners, deadlines, chain);
    /// later policy changes do not move an existing task's deadlines.
    pub plan: TaskPlan,
    pub state: TaskState,
    pub created_at: Timestamp,
    /// Everyone who accepted, in order.
    #[serde(default)]
    pub accepted_by: Vec<UserId>,
    pub accepted_at: Option<Timestamp>,
    #[serde(default)]
    pub attempts: Vec<ContactAttempt>,
    #[serde(default)]
    pub escalations: Vec<EscalationRecord>,
    pub outcome: Option<OutcomeRecord>,
}

impl Task {
    /// A new pending task for `plan`.
    pub fn new(plan: TaskPlan, now: Timestamp) -> Task {
        Task {
            plan,
            state: TaskState::Pending,
            created_at: now,
            accepted_by: Vec::new(),
            accepted_at: None,
            attempts: Vec::new(),
            escalations: Vec::new(),
            outcome: None,
        }
    }

    /// Whether an attempt with `result` counts as contact for this task: the
    /// person was reached, or, for a task worked automatically (warning SMS,
    /// robocall), the warning was delivered. A delivered SMS does not meet a
    /// task that needs people to talk to the person.
    pub fn counts_as_contact(&self, result: ContactResult) -> bool {
        match result {
            ContactResult::Reached => true,
            ContactResult::Delivered => self.plan.method.is_automatic(),
            _ => false,
        }
    }

    /// When the person was first contacted ([`Task::counts_as_contact`]).
    pub fn contacted_at(&self) -> Option<Timestamp> {
        self.attempts
            .iter()
            .filter(|a| self.counts_as_contact(a.result))
            .map(|a| a.at)
            .min()
    }

    /// When someone first met the person at a visit.
    pub fn visited_at(&self) -> Option<Timestamp> {
        self.attempts
            .iter()
            .filter(|a| a.method == ContactMethod::Visit && a.result == ContactResult::Reached)
            .map(|a| a.at)
            .min()
    }

    /// When the task was closed.
    pub fn closed_at(&self) -> Option<Timestamp> {
        self.outcome.as_ref().map(|o| o.at)
    }

    /// Applies `event` at time `at`. On error the task is unchanged.
    pub fn apply(&mut self, event: TaskEvent, at: Timestamp) -> Result<Effect, TaskError> {
        let from = self.state;
        // Idempotent close: answered before the table, since final states
        // take no events.
        if let (TaskEvent::Close { outcome: Some(o), .. }, Some(rec)) = (&event, &self.outcome) {
            return if rec.outcome == *o {
                Ok(Effect::NoOp)
            } else {
                Err(TaskError::OutcomeConflict {
                    recorded: rec.outcome.kind(),
                    submitted: o.kind(),
                })
            };
        }
        if let TaskEvent::Close { outcome: None, .. } = event {
            if self.state.is_final() {
                return Err(TaskError::NotAllowed {
                    state: from,
                    event: EventKind::Close,
                });
            }
            return Err(TaskError::OutcomeRequired);
        }
        let kind = event.kind();
        let to = next_state(from, kind).ok_or(TaskError::NotAllowed {
            state: from,
            event: kind,
        })?;
        match event {
            TaskEvent::Accept { by } => {
                if self.accepted_by.contains(&by) {
                    return Ok(Effect::NoOp);
                }
                self.accepted_by.push(by);
                self.accepted_at.get_or_insert(at);
            }
            TaskEvent::Attempt(attempt) => {
                if !attempt.result.fits(attempt.method) {
                    return Err(TaskError::ResultMismatch {
                        method: attempt.method,
                        result: attempt.result,
                    });
                }
                check_note(attempt.note.as_deref())?;
                if self.attempts.contains(&attempt) {
                    return Ok(Effect::NoOp);
                }
                if let Some(by) = attempt.by
                    && !self.accepted_by.contains(&by)
                {
                    // Trying to reach the person is taking the task.
                    self.accepted_by.push(by);
                    self.accepted_at.get_or_insert(at);
                }
                self.attempts.push(attempt);
            }
            TaskEvent::Escalate { step } => {
                let next = self.escalations.len();
                if step < next {
                    return Ok(Effect::NoOp);
                }
                if step >= self.plan.escalation.len() {
                    return Err(TaskError::NoSuchStep {
                        step,
                        len: self.plan.escalation.len(),
                    });
                }
                if step > next {
                    return Err(TaskError::StepOutOfOrder { step, next });
                }
                self.escalations.push(EscalationRecord { step, at });
            }
            TaskEvent::Close { outcome, by, note } => {
                let Some(outcome) = outcome else {
                    return Err(TaskError::OutcomeRequired);
                };
                self.check_outcome(outcome)?;
                check_note(note.as_deref())?;
                self.outcome = Some(OutcomeRecord {
                    outcome,
                    at,
                    by,
                    note,
                });
            }
        }
        self.state = to;
        Ok(Effect::Applied { from, to })
    }

    fn check_outcome(&self, outcome: Outcome) -> Result<(), TaskError> {
        let kind = outcome.kind();
        match outcome {
            Outcome::Defrauded { loss_fen } if loss_fen <= 0 || loss_fen > MAX_LOSS_FEN => {
                Err(TaskError::LossRequired)
            }
            Outcome::Dissuaded if self.contacted_at().is_none() => {
                Err(TaskError::NotReached { outcome: kind })
            }
            Outcome::Refused
                if !self
                    .attempts
                    .iter()
                    .any(|a| matches!(a.result, ContactResult::Reached | ContactResult::HungUp)) =>
            {
                Err(TaskError::NotReached { outcome: kind })
            }
            Outcome::Unreachable if self.attempts.is_empty() => Err(TaskError::NoAttempt),
            _ => Ok(()),
        }
    }
}

fn check_note(note: Option<&str>) -> Result<(), TaskError> {
    match note {
        Some(n) if n.chars().count() > MAX_NOTE_CHARS => Err(TaskError::NoteTooLong),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_covers_every_open_state_and_event() {
        for s in TaskState::ALL {
            for e in EventKind::ALL {
                assert_eq!(next_state(*s, *e).is_some(), s.is_open(), "{s} {e}");
            }
        }
        for (_, e, to) in TRANSITIONS {
            match e {
                EventKind::Close => assert_eq!(*to, TaskState::Done),
                EventKind::Transfer => assert_eq!(*to, TaskState::Transferred),
                _ => assert!(to.is_open()),
            }
        }
    }

    #[test]
    fn results_fit_methods() {
        assert!(ContactResult::Delivered.fits(ContactMethod::Sms));
        assert!(!ContactResult::Delivered.fits(ContactMethod::Call));
        assert!(!ContactResult::Reached.fits(ContactMethod::Sms));
        assert!(ContactResult::NotHome.fits(ContactMethod::Visit));
        assert!(!ContactResult::NotHome.fits(ContactMethod::Call));
    }

    #[test]
    fn outcome_serde_and_loss() {
        let o = Outcome::new(OutcomeKind::Defrauded, Some(12_345)).unwrap();
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"kind":"defrauded","loss_fen":12345}"#
        );
        assert_eq!(
            Outcome::new(OutcomeKind::Defrauded, Some(0)),
            Err(TaskError::LossRequired)
        );
        assert_eq!(
            Outcome::new(OutcomeKind::Defrauded, None),
            Err(TaskError::LossRequired)
        );
        assert_eq!(Outcome::new(OutcomeKind::Refused, Some(5)), Ok(Outcome::Refused));
        assert_eq!(OutcomeKind::parse("非本辖区"), Ok(OutcomeKind::OutOfJurisdiction));
        assert_eq!(Outcome::OutOfJurisdiction.final_state(), TaskState::Transferred);
    }
}
