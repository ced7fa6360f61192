//! Measures `upsert_residents_batch` on SQLite: a fresh import of N residents
//! (two phones, two tags, one contact each, one audit entry per row) and a
//! re-import of the same rows (all updates). Prints one JSON object.
//!
//! ```text
//! cargo run --release -p fanzha-store --example import_speed [-- ROWS [ROUNDS]]
//! ```

use fanzha_core::org::NodeKind;
use fanzha_core::time::Date;
use fanzha_core::{NodeId, Timestamp};
use fanzha_store::{AuditRecord, NewContact, NewResident, SealedPhone, StoreConfig, open};
use std::time::Instant;

fn sealed(kind: &str, n: usize) -> SealedPhone {
    // Sizes like the app's: 12-byte nonce + 11-byte number + 16-byte tag, 32-byte HMAC.
    let mut enc = format!("{kind}-{n:012}").into_bytes();
    enc.resize(39, 7);
    let mut bidx = format!("{kind}-{n:012}").into_bytes();
    bidx.resize(32, 9);
    SealedPhone {
        enc,
        bidx,
        masked: "138****0000".into(),
    }
}

fn row(grids: &[NodeId], n: usize) -> NewResident {
    let mut id_enc = format!("id-{n:012}").into_bytes();
    id_enc.resize(46, 1);
    let mut id_bidx = format!("idx-{n:012}").into_bytes();
    id_bidx.resize(32, 2);
    NewResident {
        grid_id: grids[n % grids.len()],
        name: format!("居民{n}"),
        id_enc,
        id_bidx,
        id_masked: "3305**********1234".into(),
        birth_date: Date::new(1940 + (n % 80) as i32, 1 + (n % 12) as u8, 1 + (n % 28) as u8),
        sex: None,
        address: format!("幸福路{n}号"),
        phones: vec![sealed("p1", n), sealed("p2", n)],
        tags: vec![["独居老人", "学生", "务工人员"][n % 3].to_string(), "常住".into()],
        contacts: vec![NewContact {
            relation: "子女".into(),
            linked_resident_id: None,
            name: "联系人".into(),
            phone: Some(sealed("c", n)),
        }],
    }
}

/// CPU seconds used by this process so far (all threads), from
/// `/proc/self/stat` (Linux; clock ticks of 1/100 s). The machine may be
/// shared, so CPU time is reported beside wall time.
fn cpu_s() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, the 12th and 13th after it.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) / 100.0
}

/// Seconds this process's threads spent runnable but waiting for a CPU
/// (second field of each `/proc/self/task/*/schedstat`): on a busy machine
/// this, not the store, is the gap between wall and CPU time.
fn runqueue_wait_s() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    let mut ns = 0u64;
    for t in tasks.flatten() {
        if let Ok(st) = std::fs::read_to_string(t.path().join("schedstat")) {
            ns += st
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    ns as f64 / 1e9
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rows: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(20_000);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let audit = AuditRecord {
        at: Timestamp(1_767_225_600_000),
        actor_id: 1,
        actor: "bench".into(),
        action: "resident.import".into(),
        target: String::new(),
        detail: String::new(),
        ip: String::new(),
    };
    let mut insert_s = Vec::new();
    let mut update_s = Vec::new();
    let mut insert_cpu = Vec::new();
    let mut update_cpu = Vec::new();
    let mut insert_wait = Vec::new();
    for _ in 0..rounds {
        let dir = tempfile::tempdir()?;
        let store = open(&StoreConfig::Sqlite {
            path: dir.path().join("bench.db"),
        })
        .await?;
        store.migrate().await?;
        let c = store
            .create_node(None, NodeKind::County, "县", None, &audit)
            .await?;
        let t = store
            .create_node(Some(c), NodeKind::Township, "镇", None, &audit)
            .await?;
        let v = store
            .create_node(Some(t), NodeKind::Village, "村", None, &audit)
            .await?;
        let mut grids = Vec::new();
        for g in 0..10 {
            grids.push(
                store
                    .create_node(Some(v), NodeKind::Grid, &format!("网格{g}"), None, &audit)
                    .await?,
            );
        }
        let batch: Vec<NewResident> = (0..rows).map(|n| row(&grids, n)).collect();
        let (t0, c0, w0) = (Instant::now(), cpu_s(), runqueue_wait_s());
        let out = store.upsert_residents_batch(&batch, &audit).await?;
        insert_s.push(t0.elapsed().as_secs_f64());
        insert_cpu.push(cpu_s() - c0);
        insert_wait.push(runqueue_wait_s() - w0);
        assert_eq!(out.len(), rows);
        let (t0, c0) = (Instant::now(), cpu_s());
        store.upsert_residents_batch(&batch, &audit).await?;
        update_s.push(t0.elapsed().as_secs_f64());
        update_cpu.push(cpu_s() - c0);
        assert_eq!(
            store.count_residents(&fanzha_store::Scope::All).await?,
            rows as i64
        );
    }
    let ins = median(&mut insert_s);
    let upd = median(&mut update_s);
    let ins_cpu = median(&mut insert_cpu);
    let ins_wait = median(&mut insert_wait);
    let upd_cpu = median(&mut update_cpu);
    println!(
        "{{\"backend\":\"sqlite\",\"rows\":{rows},\"rounds\":{rounds},\
         \"insert_median_s\":{ins:.3},\"insert_cpu_median_s\":{ins_cpu:.2},\"insert_runqueue_wait_median_s\":{ins_wait:.3},\"insert_rows_per_s\":{:.0},\
         \"reimport_median_s\":{upd:.3},\"reimport_cpu_median_s\":{upd_cpu:.2},\"reimport_rows_per_s\":{:.0}}}",
        rows as f64 / ins,
        rows as f64 / upd
    );
    Ok(())
}
