//! The task state machine, driven by `testdata/dispatch/transitions.tsv`.

mod dispatch_support;

use dispatch_support::*;
use fanzha_core::Grade;
use fanzha_core::i18n::{self, Lang};
use fanzha_core::task::{Effect, Task, TaskError, TaskEvent, TaskState};

fn fixture(name: &str) -> Task {
    let grade = if name.starts_with("low_") {
        Grade::Low
    } else {
        Grade::Critical
    };
    let mut t = new_task(grade, Some(LOC));
    let steps: &[&str] = match name {
        "pending" => &[],
        "accepted" => &["accept:1"],
        "contacting" => &["attempt:call:no_answer:1"],
        "contacting_reached" => &["attempt:call:reached:1"],
        "contacting_hung_up" => &["attempt:call:hung_up:1"],
        "contacting_delivered" | "low_delivered" => &["attempt:sms:delivered"],
        "escalated" => &["escalate:0"],
        "done_dissuaded" => &["attempt:call:reached:1", "close:dissuaded"],
        "done_defrauded" => &["close:defrauded:500000"],
        "transferred" => &["close:out_of_jurisdiction"],
        other => panic!("unknown fixture {other}"),
    };
    for (i, s) in steps.iter().enumerate() {
        t.apply(event(s, at_min(i as i64 + 1)), at_min(i as i64 + 1))
            .unwrap();
    }
    t
}

#[test]
fn transitions_table() {
    let cases = rows("transitions.tsv");
    assert!(cases.len() >= 50, "only {} cases", cases.len());
    let mut fails = Vec::new();
    for (line, f) in &cases {
        let [start, ev, want_state, want] = f.as_slice() else {
            panic!("line {line}: 4 fields")
        };
        let mut task = fixture(start);
        let before = task.clone();
        let got = task.apply(event(ev, at_min(10)), at_min(10));
        let got_s = match &got {
            Ok(Effect::Applied { from, to }) => {
                assert_eq!(
                    (*from, *to),
                    (before.state, task.state),
                    "line {line}: effect names the states"
                );
                "applied".to_string()
            }
            Ok(Effect::NoOp) => "noop".to_string(),
            Err(e) => format!("error:{}", e.key()),
        };
        if (got.is_err() || got == Ok(Effect::NoOp)) && task != before {
            fails.push(format!(
                "line {line}: {start} + {ev}: refused or no-op event changed the task"
            ));
        }
        if got_s != *want || task.state.code() != want_state {
            fails.push(format!(
                "line {line}: {start} + {ev}: want {want_state} {want}, got {} {got_s}",
                task.state.code()
            ));
        }
    }
    assert!(
        fails.is_empty(),
        "{} failures:\n{}",
        fails.len(),
        fails.join("\n")
    );
}

#[test]
fn every_open_state_is_reached_by_the_cases() {
    let cases = rows("transitions.tsv");
    for s in TaskState::ALL {
        assert!(cases.iter().any(|(_, f)| f[2] == s.code()), "no case ends in {s}");
    }
}

#[test]
fn outcome_records_who_and_when_and_is_kept() {
    let mut t = fixture("contacting_reached");
    t.apply(event("close:defrauded:250000", at_min(20)), at_min(20))
        .unwrap();
    let rec = t.outcome.clone().unwrap();
    assert_eq!(rec.outcome.loss_fen(), Some(250_000));
    assert_eq!(t.closed_at(), Some(at_min(20)));
    // A second device submits the same outcome later: nothing changes, not even the time.
    assert_eq!(
        t.apply(event("close:defrauded:250000", at_min(21)), at_min(21)),
        Ok(Effect::NoOp)
    );
    assert_eq!(t.outcome, Some(rec));
}

#[test]
fn attempts_accept_the_task_for_their_author() {
    let mut t = fixture("pending");
    t.apply(event("attempt:call:reached:7", at_min(2)), at_min(2))
        .unwrap();
    assert_eq!(t.accepted_by, vec![fanzha_core::UserId(7)]);
    assert_eq!(t.accepted_at, Some(at_min(2)));
    assert_eq!(t.contacted_at(), Some(at_min(2)));
    // The same attempt replayed (same time, method, person, result) is a no-op.
    assert_eq!(
        t.apply(event("attempt:call:reached:7", at_min(2)), at_min(3)),
        Ok(Effect::NoOp)
    );
    assert_eq!(t.attempts.len(), 1);
}

#[test]
fn long_notes_are_refused() {
    let mut t = fixture("contacting_reached");
    let ev = TaskEvent::Close {
        outcome: Some(fanzha_core::task::Outcome::Dissuaded),
        by: None,
        note: Some("很".repeat(fanzha_core::task::MAX_NOTE_CHARS + 1)),
    };
    assert_eq!(t.apply(ev, at_min(5)), Err(TaskError::NoteTooLong));
    assert_eq!(t.state, TaskState::Contacting);
}

#[test]
fn task_round_trips_through_json() {
    let t = fixture("done_dissuaded");
    let json = serde_json::to_string(&t).unwrap();
    let back: Task = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t);
}

#[test]
fn every_error_has_a_catalogue_entry() {
    use fanzha_core::task::{ContactMethod, ContactResult, EventKind, OutcomeKind};
    let errors = [
        TaskError::NotAllowed {
            state: TaskState::Done,
            event: EventKind::Accept,
        },
        TaskError::OutcomeRequired,
        TaskError::LossRequired,
        TaskError::OutcomeConflict {
            recorded: OutcomeKind::Dissuaded,
            submitted: OutcomeKind::Refused,
        },
        TaskError::NotReached {
            outcome: OutcomeKind::Dissuaded,
        },
        TaskError::NoAttempt,
        TaskError::ResultMismatch {
            method: ContactMethod::Sms,
            result: ContactResult::Reached,
        },
        TaskError::NoSuchStep { step: 3, len: 3 },
        TaskError::StepOutOfOrder { step: 2, next: 1 },
        TaskError::NoteTooLong,
    ];
    for e in errors {
        assert!(i18n::has(e.key()), "catalogue lacks {}", e.key());
        for lang in [Lang::Zh, Lang::En] {
            let text = e.msg().render(lang);
            assert!(
                !text.contains('{'),
                "{} in {lang:?} leaves a placeholder: {text}",
                e.key()
            );
        }
    }
}
