//! Tampering with the audit log shows. The binary writes a real database
//! (the demo, then more changes); copies of it are then edited directly with
//! SQLite, as someone with access to the file could, after dropping any
//! append-only triggers. `App::verify_audit` and `fanzha audit verify` must
//! both report every break (the command exits 1) and pass the untouched copy.

use fanzha_app::crypto::MasterKey;
use fanzha_app::{App, AppConfig, StoreConfig, SystemClock};
use fanzha_core::Timestamp;
use fanzha_core::audit::{AuditFields, entry_hash};
use rusqlite::Connection;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

fn fanzha(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fanzha"));
    for (k, _) in std::env::vars() {
        if k.starts_with("FANZHA_") {
            c.env_remove(k);
        }
    }
    c.env("FANZHA_LOG", "warn").arg("--data-dir").arg(data);
    c
}

fn run_ok(c: &mut Command, stdin: &str) -> String {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        c,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `fanzha audit verify --json`: (exit code, report).
fn verify_cli(data: &Path) -> (i32, serde_json::Value) {
    let out = fanzha(data).args(["audit", "verify", "--json"]).output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "no JSON report: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

/// `App::verify_audit` on the database in `data`.
fn verify_app(data: &Path) -> fanzha_app::audit::VerifyReport {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = fanzha_app::open_store(&StoreConfig::Sqlite {
            path: data.join("fanzha.db"),
        })
        .await
        .unwrap();
        let key = MasterKey::from_hex(&std::fs::read_to_string(data.join("secret.key")).unwrap()).unwrap();
        let app = App::new(store, AppConfig::new(key), Arc::new(SystemClock)).unwrap();
        app.verify_audit().await.unwrap()
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Opens the copy for editing and drops whatever triggers guard the log.
fn open_for_tampering(data: &Path) -> Connection {
    let db = Connection::open(data.join("fanzha.db")).unwrap();
    let triggers: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('audit_log', 'audit_head')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in triggers {
        db.execute_batch(&format!("DROP TRIGGER \"{t}\"")).unwrap();
    }
    db
}

const COLS: &str = "at, actor_id, actor, action, target, detail, ip, prev_hash, hash";

type Tamper = fn(&Connection, i64, i64);

fn change_detail(db: &Connection, mid: i64, _: i64) {
    let n = db
        .execute(
            "UPDATE audit_log SET detail = detail || ' (edited)' WHERE seq = ?1",
            [mid],
        )
        .unwrap();
    assert_eq!(n, 1);
}

/// Changes an entry and recomputes its own hash; the next entry still links
/// to the old one.
fn change_and_rehash(db: &Connection, mid: i64, _: i64) {
    let (mut f, prev): (AuditFields, String) = db
        .query_row(
            &format!("SELECT seq, {COLS} FROM audit_log WHERE seq = ?1"),
            [mid],
            |r| {
                Ok((
                    AuditFields {
                        seq: r.get(0)?,
                        at: Timestamp(r.get(1)?),
                        actor_id: r.get(2)?,
                        actor: r.get(3)?,
                        action: r.get(4)?,
                        target: r.get(5)?,
                        detail: r.get(6)?,
                        ip: r.get(7)?,
                    },
                    r.get(8)?,
                ))
            },
        )
        .unwrap();
    f.actor = "nobody".into();
    let hash = entry_hash(&prev, &f);
    db.execute(
        "UPDATE audit_log SET actor = ?1, hash = ?2 WHERE seq = ?3",
        rusqlite::params![f.actor, hash, mid],
    )
    .unwrap();
}

fn delete_middle(db: &Connection, mid: i64, _: i64) {
    assert_eq!(
        db.execute("DELETE FROM audit_log WHERE seq = ?1", [mid]).unwrap(),
        1
    );
}

/// Swaps the content of two neighbouring entries, keeping their sequence numbers.
fn swap_two(db: &Connection, mid: i64, _: i64) {
    let a = mid;
    let b = mid + 1;
    db.execute_batch(&format!(
        "CREATE TEMP TABLE keep AS SELECT seq, {COLS} FROM audit_log WHERE seq IN ({a}, {b});
         UPDATE audit_log SET ({COLS}) = (SELECT {COLS} FROM keep WHERE keep.seq = {b}) WHERE seq = {a};
         UPDATE audit_log SET ({COLS}) = (SELECT {COLS} FROM keep WHERE keep.seq = {a}) WHERE seq = {b};"
    ))
    .unwrap();
    let (ha, hb): (String, String) = db
        .query_row(&format!("SELECT (SELECT hash FROM audit_log WHERE seq = {a}), (SELECT hash FROM audit_log WHERE seq = {b})"), [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let orig: String = db
        .query_row(&format!("SELECT hash FROM keep WHERE seq = {a}"), [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(hb, orig, "the swap did not happen");
    assert_ne!(ha, hb);
}

/// Cuts off the newest entry.
fn cut_tail(db: &Connection, _: i64, last: i64) {
    assert_eq!(
        db.execute("DELETE FROM audit_log WHERE seq = ?1", [last])
            .unwrap(),
        1
    );
}

#[test]
fn tampering_with_the_audit_log_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Writes: the demo (org tree, units, residents, users), then more changes.
    run_ok(
        fanzha(&data).args(["demo", "--residents", "200", "--seed", "5"]),
        "",
    );
    run_ok(
        fanzha(&data).args([
            "user",
            "add",
            "extra",
            "--role",
            "analyst",
            "--node",
            "1",
            "--password-stdin",
        ]),
        "extra-password-1\n",
    );
    run_ok(
        fanzha(&data).args(["user", "passwd", "extra", "--password-stdin"]),
        "extra-password-2\n",
    );

    let (code, report) = verify_cli(&data);
    assert_eq!((code, report["ok"].as_bool()), (0, Some(true)), "{report}");
    let entries = report["entries"].as_i64().unwrap();
    assert!(entries > 20, "only {entries} audit entries");
    let r = verify_app(&data);
    assert!(r.ok && r.entries == entries, "{r:?}");
    let mid = entries / 2;

    let cases: [(&str, Tamper, String); 5] = [
        (
            "change one entry's detail",
            change_detail,
            format!("entry {mid} "),
        ),
        (
            "change an entry and recompute its hash",
            change_and_rehash,
            format!("entry {} ", mid + 1),
        ),
        (
            "delete an entry in the middle",
            delete_middle,
            format!("expected {mid}"),
        ),
        ("swap two entries' content", swap_two, format!("entry {mid} ")),
        (
            "cut off the newest entry",
            cut_tail,
            format!("recorded head is entry {entries}"),
        ),
    ];
    for (i, (what, tamper, expect)) in cases.iter().enumerate() {
        let copy: PathBuf = tmp.path().join(format!("copy{i}"));
        copy_dir(&data, &copy);
        {
            let db = open_for_tampering(&copy);
            tamper(&db, mid, entries);
        }
        let (code, report) = verify_cli(&copy);
        assert_eq!(code, 1, "{what}: the command did not fail: {report}");
        assert_eq!(report["ok"], false, "{what}");
        let problem = report["problem"].as_str().unwrap_or("");
        assert!(
            problem.contains(expect.as_str()),
            "{what}: the report does not point at the break: {problem}"
        );
        let r = verify_app(&copy);
        assert!(!r.ok, "{what}: App::verify_audit passed a tampered log");
        assert_eq!(r.problem.as_deref(), Some(problem), "{what}");
    }

    // The untouched original still verifies, by both routes.
    let (code, report) = verify_cli(&data);
    assert_eq!(
        (code, report["ok"].as_bool(), report["entries"].as_i64()),
        (0, Some(true), Some(entries))
    );
    assert!(verify_app(&data).ok);
}
