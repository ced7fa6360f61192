//! Helpers shared by the dispatch tests: reading `testdata/dispatch`,
//! parsing the event notation and writing posts (see its README.md).
#![allow(dead_code)]

use fanzha_core::dispatch::{Assignee, PersonLocation, Policy, default_policy};
use fanzha_core::task::{
    ContactAttempt, ContactMethod, ContactResult, Outcome, OutcomeKind, Task, TaskEvent,
};
use fanzha_core::{Grade, NodeId, Timestamp, UserId};
use std::path::PathBuf;

pub fn data_file(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/dispatch")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// The case lines of a TSV file: (line number, fields).
pub fn rows(name: &str) -> Vec<(usize, Vec<String>)> {
    data_file(name)
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(n, l)| (n + 1, l.split('\t').map(str::to_string).collect()))
        .collect()
}

/// `\n`, `\r`, `\t`, `\\` and `\u{…}` escapes.
pub fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some('u') => {
                assert_eq!(it.next(), Some('{'), "bad \\u escape in {s:?}");
                let hex: String = it.by_ref().take_while(|c| *c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
            }
            other => panic!("bad escape \\{other:?} in {s:?}"),
        }
    }
    out
}

pub const LOC: PersonLocation = PersonLocation {
    grid: NodeId(30),
    village: NodeId(20),
    township: NodeId(10),
};

pub fn location(s: &str) -> Option<PersonLocation> {
    match s {
        "loc" => Some(LOC),
        "-" => None,
        other => panic!("location must be loc or -, not {other}"),
    }
}

pub fn policy() -> Policy {
    default_policy().unwrap()
}

pub fn at_min(m: i64) -> Timestamp {
    Timestamp::from_secs(1_700_000_000 + m * 60)
}

pub fn minute_of(t: Timestamp) -> i64 {
    (t.secs() - 1_700_000_000) / 60
}

/// A new task of `grade` created at minute 0.
pub fn new_task(grade: Grade, loc: Option<PersonLocation>) -> Task {
    Task::new(policy().plan(grade, loc, at_min(0)), at_min(0))
}

/// Parses the event notation of the README at time `at`.
pub fn event(s: &str, at: Timestamp) -> TaskEvent {
    let parts: Vec<&str> = s.split(':').collect();
    let user = |i: usize| parts.get(i).map(|u| UserId(u.parse().unwrap()));
    match parts[0] {
        "accept" => TaskEvent::Accept { by: user(1).unwrap() },
        "attempt" => TaskEvent::Attempt(ContactAttempt {
            at,
            method: ContactMethod::parse(parts[1]).unwrap(),
            result: ContactResult::parse(parts[2]).unwrap(),
            by: user(3),
            note: None,
        }),
        "escalate" => TaskEvent::Escalate {
            step: parts[1].parse().unwrap(),
        },
        "close" => {
            let outcome = parts.get(1).map(|k| {
                let kind = OutcomeKind::parse(k).unwrap();
                match kind {
                    // Build the value directly so that bad losses reach the state machine.
                    OutcomeKind::Defrauded => Outcome::Defrauded {
                        loss_fen: parts.get(2).map(|l| l.parse().unwrap()).unwrap_or(0),
                    },
                    _ => Outcome::new(kind, None).unwrap(),
                }
            });
            TaskEvent::Close {
                outcome,
                by: Some(UserId(1)),
                note: None,
            }
        }
        other => panic!("unknown event {other}"),
    }
}

pub fn post(a: &Assignee) -> String {
    format!("{}@{}{}", a.role, a.at, if a.head { "+head" } else { "" })
}

pub fn post_node(a: &Assignee) -> String {
    match a.node {
        Some(n) => format!("{}#{n}", post(a)),
        None => post(a),
    }
}

pub fn posts(list: &[Assignee]) -> String {
    if list.is_empty() {
        "-".into()
    } else {
        list.iter().map(post_node).collect::<Vec<_>>().join(",")
    }
}
