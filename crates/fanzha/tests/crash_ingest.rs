//! A crash during a large ingest (issue 4, "Bad input"): `fanzha serve` is
//! killed with SIGKILL while NDJSON batches are being posted to
//! `/api/v1/events` and the pipeline is working through them, then started
//! again on the same data directory.
//!
//! * Every acknowledged event is durable: sending each acknowledged batch
//!   again after the restart answers "all duplicates, none accepted".
//! * Every stored event is processed: after the rest of the stream is sent,
//!   every event lies at or below its partition's pipeline checkpoint.
//! * No lead is duplicated: each victim of the stream (a flagged long call,
//!   then a large transfer) has exactly one engine lead, whichever side of
//!   the crash its events fell on; nobody else has one.
//!
//! The binary is the one Cargo built for this package; the database is read
//! directly (read-only) to check checkpoints and leads.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_fanzha");
/// Victims: each gets a flagged long call and, later, a large transfer.
const VICTIMS: usize = 40;
const FLAGGED: usize = 10;
const BATCHES: usize = 120;
const PER_BATCH: usize = 500;
/// The server is killed while the batch after this many acknowledged ones
/// is in flight.
const KILL_AFTER: usize = 45;
/// Batches sent at once just before the kill.
const IN_FLIGHT: usize = 6;

fn flagged(i: usize) -> String {
    format!("+86171000000{:02}", i % FLAGGED)
}

fn victim(i: usize) -> String {
    format!("+86152000000{:02}", i)
}

fn fanzha(dir: &Path, args: &[&str]) {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("FANZHA_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fanzha {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `fanzha serve` on a free port; returns the child and the base URL.
fn serve(dir: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("FANZHA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().expect("the server exits before it listens").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().trim_end_matches('/').to_string();
        }
    };
    // Keep draining stdout so that the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

/// The stream, in batches: background traffic between unflagged numbers,
/// each victim's flagged call in the first half and their transfer in the
/// second.
fn stream(t0: i64) -> Vec<String> {
    let total = BATCHES * PER_BATCH;
    let mut out = Vec::with_capacity(BATCHES);
    let mut n = 0usize;
    for b in 0..BATCHES {
        let mut s = String::with_capacity(PER_BATCH * 180);
        for k in 0..PER_BATCH {
            let ts = t0 + (n as i64) * 50;
            // Victims' events sit at fixed places, spread over the stream.
            let slot = n % (total / (2 * VICTIMS));
            let v = n / (total / (2 * VICTIMS));
            let line = if slot == 7 && v < VICTIMS {
                format!(
                    r#"{{"id":"v-call-{v}","ts":{ts},"source":"cmcc","kind":"call","caller":"{}","callee":"{}","direction":"in","duration_s":900}}"#,
                    flagged(v),
                    victim(v)
                )
            } else if slot == 7 && (VICTIMS..2 * VICTIMS).contains(&v) {
                let v = v - VICTIMS;
                format!(
                    r#"{{"id":"v-pay-{v}","ts":{ts},"source":"bank:icbc","kind":"transfer","payer":"{}","payee":{{"kind":"bank_account","value":"6222020000{v:09}"}},"amount_fen":2000000}}"#,
                    victim(v)
                )
            } else {
                format!(
                    r#"{{"id":"n-{n}","ts":{ts},"source":"cmcc","kind":"call","caller":"+86139{:08}","callee":"+86150{:08}","direction":"in","duration_s":{}}}"#,
                    (n * 7919) % 100_000_000,
                    (n * 104_729 + b) % 100_000_000,
                    k % 300
                )
            };
            s.push_str(&line);
            s.push('\n');
            n += 1;
        }
        out.push(s);
    }
    out
}

/// The reply to a batch: (accepted, duplicates), or `None` when the server
/// gave no answer (it died).
async fn post(client: &reqwest::Client, base: &str, token: &str, body: &str) -> Option<(usize, usize)> {
    let r = client
        .post(format!("{base}/api/v1/events"))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body.to_string())
        .send()
        .await
        .ok()?;
    if r.status().as_u16() != 200 {
        return None;
    }
    let v: serde_json::Value = r.json().await.ok()?;
    assert!(
        v["rejected"].as_array().is_some_and(|a| a.is_empty()),
        "lines rejected: {v}"
    );
    Some((
        v["accepted"].as_u64().unwrap() as usize,
        v["duplicates"].as_u64().unwrap() as usize,
    ))
}

/// How many stored events lie at or below their partition's checkpoint
/// (processed), and how many are stored.
fn processed(db: &Path) -> (usize, usize) {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    let parts: Option<String> = c
        .query_row(
            "SELECT value FROM settings WHERE key = 'pipeline.partitions'",
            [],
            |r| r.get(0),
        )
        .ok();
    // Written when the pipeline first starts, before the server listens.
    let parts = parts
        .and_then(|p| p.parse::<u32>().ok())
        .expect("the pipeline's partition count");
    let mut ckpt: HashMap<u32, i64> = HashMap::new();
    let mut q = c
        .prepare("SELECT part, seq FROM pipeline_checkpoints WHERE consumer = 'pipeline'")
        .unwrap();
    for row in q
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .unwrap()
    {
        let (p, s) = row.unwrap();
        ckpt.insert(p as u32, s);
    }
    let mut q = c.prepare("SELECT seq, person_key FROM events").unwrap();
    let mut n = 0usize;
    let mut done = 0usize;
    for row in q
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .unwrap()
    {
        let (seq, key) = row.unwrap();
        n += 1;
        let p = fanzha_bus::partition_of(key as u64, parts);
        if ckpt.get(&p).is_some_and(|c| seq <= *c) {
            done += 1;
        }
    }
    (done, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_ingest_loses_no_acknowledged_event_and_duplicates_no_lead() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fanzha(dir, &["demo", "--residents", "200"]);
    let list: Vec<String> = (0..FLAGGED).map(flagged).collect();
    let list_file = dir.join("flagged.txt");
    std::fs::write(&list_file, list.join("\n")).unwrap();
    fanzha(
        dir,
        &[
            "import",
            "intel",
            list_file.to_str().unwrap(),
            "--kind",
            "phone",
            "--fraud-type",
            "impersonate_authority",
            "--confidence",
            "90",
        ],
    );

    // The first run, and an API token of the demo analyst.
    let (mut child, base) = serve(dir);
    let session = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let v: serde_json::Value = session
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "analyst", "password": "fanzha-demo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = v["csrf"]
        .as_str()
        .expect("login answers a CSRF token")
        .to_string();
    let v: serde_json::Value = session
        .post(format!("{base}/api/v1/tokens"))
        .header("x-csrf-token", csrf)
        .json(&serde_json::json!({"name": "crash-test"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = v["token"].as_str().expect("a token").to_string();

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let t0 = now - (BATCHES * PER_BATCH) as i64 * 50 - 60_000;
    let batches = stream(t0);
    let client = reqwest::Client::new();

    // Post in order until KILL_AFTER batches are acknowledged; then send the
    // next few at once and kill the server while they are in flight and the
    // pipeline is behind.
    for b in &batches[..KILL_AFTER] {
        let r = post(&client, &base, &token, b).await.expect("an answer");
        assert_eq!(r, (PER_BATCH, 0));
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (i, b) in batches.iter().enumerate().skip(KILL_AFTER).take(IN_FLIGHT) {
        let (client, base, token, b, tx) =
            (client.clone(), base.clone(), token.clone(), b.clone(), tx.clone());
        tokio::spawn(async move {
            let _ = tx.send((i, post(&client, &base, &token, &b).await));
        });
    }
    drop(tx);
    // Kill as soon as the first of them is acknowledged: the others are in
    // flight and the pipeline has just been handed new events.
    let mut acked: Vec<usize> = (0..KILL_AFTER).collect();
    let mut killed = false;
    while let Some((i, r)) = rx.recv().await {
        if let Some(r) = r {
            assert_eq!(r, (PER_BATCH, 0));
            acked.push(i);
        }
        if !killed {
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
            killed = true;
        }
    }
    let db = dir.join("fanzha.db");
    let (processed_at_crash, stored_at_crash) = processed(&db);
    assert!(stored_at_crash >= acked.len() * PER_BATCH);
    assert!(stored_at_crash <= (KILL_AFTER + IN_FLIGHT) * PER_BATCH);
    eprintln!(
        "killed with {} batches acknowledged: {stored_at_crash} events stored, {processed_at_crash} processed",
        acked.len()
    );

    // Restart. Every acknowledged batch is already there.
    let (mut child, base) = serve(dir);
    for &i in &acked {
        let r = post(&client, &base, &token, &batches[i])
            .await
            .expect("an answer");
        assert_eq!(r, (0, PER_BATCH), "an acknowledged event was lost");
    }
    // The rest of the stream (batches in flight may have been stored).
    let mut fresh = 0;
    for (i, b) in batches.iter().enumerate() {
        if acked.contains(&i) {
            continue;
        }
        let (accepted, dups) = post(&client, &base, &token, b).await.expect("an answer");
        assert_eq!(accepted + dups, PER_BATCH);
        fresh += accepted;
    }
    assert_eq!(stored_at_crash + fresh, BATCHES * PER_BATCH);

    // Everything stored gets processed.
    let waited = Instant::now();
    loop {
        let (done, n) = processed(&db);
        if done == n && n == BATCHES * PER_BATCH {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(180),
            "the pipeline did not process every event: {done} of {n}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // One lead per victim, none twice, nobody else.
    let c = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let per_person: Vec<i64> = c
        .prepare("SELECT COUNT(*) FROM leads WHERE source = 'engine' GROUP BY person_key")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        per_person.iter().all(|n| *n == 1),
        "a person has more than one lead: {per_person:?}"
    );
    assert_eq!(per_person.len(), VICTIMS, "one lead per victim");
    let updated: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM leads WHERE source = 'engine' AND updates > 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(updated > 0, "the transfers after the calls update the leads");
}
