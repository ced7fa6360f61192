//! The dispatch policy: plans per grade and location (`plans.tsv`), the
//! validation messages (`policy_invalid.tsv`) and escalation on a simulated
//! clock (`escalation.tsv`).

mod dispatch_support;

use dispatch_support::*;
use fanzha_core::Grade;
use fanzha_core::dispatch::{
    DEFAULT_POLICY, EscalationDue, PolicyDoc, PolicyError, Route, next_escalation, next_escalation_at,
};
use fanzha_core::task::{Effect, Task};

fn minutes_or_dash(t: Option<fanzha_core::Timestamp>) -> String {
    t.map(|t| minute_of(t).to_string()).unwrap_or_else(|| "-".into())
}

#[test]
fn plans_per_grade_and_location() {
    let p = policy();
    let cases = rows("plans.tsv");
    assert_eq!(cases.len(), 8);
    for (line, f) in cases {
        let [
            grade,
            loc,
            route,
            method,
            fallback,
            owners,
            watch,
            contact,
            visit,
            chain,
        ] = f.as_slice()
        else {
            panic!("line {line}: 10 fields")
        };
        let plan = p.plan(Grade::parse(grade).unwrap(), location(loc), at_min(0));
        let route_got = match plan.route {
            Route::Local => "local",
            Route::TransferQueue => "transfer_queue",
        };
        let got = [
            route_got.to_string(),
            plan.method.code().to_string(),
            plan.fallback
                .map(|m| m.code().to_string())
                .unwrap_or_else(|| "-".into()),
            posts(&plan.owners),
            posts(&plan.watch),
            minute_of(plan.contact_due).to_string(),
            minutes_or_dash(plan.visit_due),
            posts(&plan.escalation),
        ];
        let want = [route, method, fallback, owners, watch, contact, visit, chain];
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g, w, "line {line}: {grade} {loc}: got {got:?}");
        }
        assert_eq!(plan.policy_version, 1);
        assert_eq!(plan.location, location(loc));
        assert_eq!(plan.escalation_repeat_secs, 15 * 60);
    }
}

#[test]
fn invalid_policies_name_the_key() {
    let cases = rows("policy_invalid.tsv");
    assert!(cases.len() >= 20);
    for (line, f) in cases {
        let [find, replace, key, reason] = f.as_slice() else {
            panic!("line {line}: 4 fields")
        };
        let (find, replace) = (unescape(find), unescape(replace));
        assert_eq!(
            DEFAULT_POLICY.matches(&find).count(),
            1,
            "line {line}: {find:?} must occur once"
        );
        let doc = DEFAULT_POLICY.replacen(&find, &replace, 1);
        match (PolicyDoc::parse(&doc), key.as_str()) {
            (Err(PolicyError::Toml(msg)), "toml") => {
                assert!(msg.contains(reason.as_str()), "line {line}: {msg}")
            }
            (Err(PolicyError::Invalid { key: k, reason: r }), _) => {
                assert_eq!(&k, key, "line {line}: {r}");
                assert!(
                    r.contains(reason.as_str()),
                    "line {line}: reason {r:?} lacks {reason:?}"
                );
            }
            (other, _) => panic!("line {line}: want {key} error, got {other:?}"),
        }
    }
}

#[test]
fn policy_round_trips_through_toml() {
    let p = policy();
    let text = toml::to_string(p.doc()).unwrap();
    assert_eq!(PolicyDoc::parse(&text).unwrap(), p);
}

fn due_str(d: Option<EscalationDue>) -> String {
    match d {
        None => "none".into(),
        Some(d) => {
            let reason = serde_json::to_value(d.reason).unwrap();
            format!(
                "{}:{}:{}:{}",
                d.step,
                post(&d.to),
                reason.as_str().unwrap(),
                minute_of(d.due_at)
            )
        }
    }
}

#[test]
fn escalation_on_a_simulated_clock() {
    let mut task: Option<Task> = None;
    let mut scenario = String::new();
    let mut fails = Vec::new();
    let mut scenarios = 0;
    for (line, f) in rows("escalation.tsv") {
        let [name, minute, action, want] = f.as_slice() else {
            panic!("line {line}: 4 fields")
        };
        let now = at_min(minute.parse().unwrap());
        if let Some(spec) = action.strip_prefix("create:") {
            let (grade, loc) = spec.split_once(':').unwrap();
            let t = Task::new(
                policy().plan(Grade::parse(grade).unwrap(), location(loc), now),
                now,
            );
            task = Some(t);
            scenario = name.clone();
            scenarios += 1;
            continue;
        }
        assert_eq!(*name, scenario, "line {line}: a scenario starts with create");
        let t = task.as_mut().unwrap();
        let got = match action.as_str() {
            "due" => due_str(next_escalation(t, now)),
            "next" => due_str(next_escalation_at(t)),
            "holders" => posts(&t.plan.current_holders(t.escalations.len())),
            ev => match t.apply(event(ev, now), now) {
                Ok(Effect::Applied { .. }) => "applied".into(),
                Ok(Effect::NoOp) => "noop".into(),
                Err(e) => format!("error:{}", e.key()),
            },
        };
        if got != *want {
            fails.push(format!(
                "line {line} ({name}, minute {minute}, {action}): want {want}, got {got}"
            ));
        }
    }
    assert!(scenarios >= 7);
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

#[test]
fn a_plan_keeps_its_deadlines_when_the_policy_changes() {
    let t = new_task(Grade::High, Some(LOC));
    let faster = DEFAULT_POLICY.replacen("contact_minutes = 15", "contact_minutes = 6", 1);
    let p2 = PolicyDoc::parse(&faster.replacen("version = 1", "version = 2", 1)).unwrap();
    assert_eq!(
        minute_of(p2.plan(Grade::High, Some(LOC), at_min(0)).contact_due),
        6
    );
    // The existing task was planned under version 1 and keeps its 15 minutes.
    assert_eq!(t.plan.policy_version, 1);
    assert_eq!(next_escalation(&t, at_min(10)), None);
}
