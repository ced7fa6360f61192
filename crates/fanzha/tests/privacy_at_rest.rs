//! ID numbers and phones are encrypted at rest (DESIGN.md §7): after the
//! demo is loaded, the raw bytes of the SQLite database and its WAL hold no
//! resident's ID number or phone in the clear, in any common form.
//!
//! The expected values are regenerated with the demo's own generator (same
//! seed, same grids, same date), checked against the app by searching for a
//! sample of them, and a value the store keeps in plain text by design (a
//! unit's work phone) is planted as a control that the byte scan finds.

use fanzha_app::crypto::{MasterKey, PasswordCost};
use fanzha_app::org::UnitForm;
use fanzha_app::residents::ResidentQuery;
use fanzha_app::{App, AppConfig, ManualClock, StoreConfig, demo};
use fanzha_core::Timestamp;
use fanzha_core::org::UnitType;
use fanzha_core::time::Date;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

const SEED: u64 = 2031;
const RESIDENTS: usize = 800;
/// 2026-11-29 04:00 UTC.
const NOW: Timestamp = Timestamp(1_795_924_800_000);
/// A unit's work phone, stored in plain text by design.
const CONTROL_PHONE: &str = "13988776655";

/// Every offset in `hay` where one of the needles (all of length `len`) starts.
fn find_all(hay: &[u8], needles: &HashSet<Vec<u8>>, len: usize) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    if hay.len() < len {
        return out;
    }
    for i in 0..=hay.len() - len {
        // Every needle starts with a digit; skip the rest cheaply.
        if hay[i].is_ascii_digit() && needles.contains(&hay[i..i + len]) {
            out.push((i, String::from_utf8_lossy(&hay[i..i + len]).into_owned()));
        }
    }
    out
}

fn db_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("fanzha.db") {
            out.push((name, std::fs::read(e.path()).unwrap()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_id_number_or_phone_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let db_path = tmp.path().join("fanzha.db");
    let store = fanzha_app::open_store(&StoreConfig::Sqlite {
        path: db_path.clone(),
    })
    .await
    .unwrap();
    let mut cfg = AppConfig::new(MasterKey::generate().unwrap());
    cfg.password_cost = PasswordCost {
        memory_kib: 64,
        iterations: 1,
    };
    let app = App::new(store, cfg, Arc::new(ManualClock::new(NOW))).unwrap();
    app.migrate().await.unwrap();
    app.load_demo(SEED, RESIDENTS).await.unwrap();
    let cli = app.cli_actor();

    // The demo's people, regenerated.
    let plan = demo::tree(SEED);
    let mut grids = Vec::new();
    for t in &plan.townships {
        for v in &t.villages {
            for g in &v.grids {
                grids.push(format!("{}{}{}", t.name, v.name, g));
            }
        }
    }
    let people = demo::residents(SEED, &grids, RESIDENTS, Date::from_timestamp(NOW));
    assert_eq!(people.len(), RESIDENTS);
    // They are the stored ones: search by ID number and by phone finds each.
    for p in people.iter().step_by(40) {
        let q = ResidentQuery {
            q: Some(p.id_number.as_str().to_string()),
            ..Default::default()
        };
        let found = app.residents(&cli, &q).await.unwrap();
        assert_eq!(found.total, 1, "regenerated ID number not in the store");
        assert_eq!(found.items[0].name, p.name);
        if let Some(ph) = p.phones.first() {
            let q = ResidentQuery {
                q: Some(ph.clone()),
                ..Default::default()
            };
            assert!(
                app.residents(&cli, &q)
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .any(|r| r.name == p.name)
            );
        }
    }

    // The control: a value kept in plain text must be found by the scan.
    let county = app.org_tree(&cli).await.unwrap()[0].node.id;
    let unit = UnitForm {
        node_id: county,
        name: "对照单位".into(),
        unit_type: UnitType::Other,
        responsible_name: String::new(),
        responsible_phone: CONTROL_PHONE.into(),
    };
    app.create_unit(&cli, &unit).await.unwrap();

    // Needles: the 17 leading characters of each ID number (so the check
    // character's case does not matter) and each phone's 11 national digits
    // (found inside +86…, 86… and bare forms alike).
    let mut ids: HashSet<Vec<u8>> = HashSet::new();
    let mut phones: HashSet<Vec<u8>> = HashSet::new();
    let national = |p: &str| p.strip_prefix("+86").unwrap_or(p).as_bytes().to_vec();
    for p in &people {
        ids.insert(p.id_number.as_str().as_bytes()[..17].to_vec());
        for ph in &p.phones {
            phones.insert(national(ph));
        }
        for (_, _, ph) in &p.external_contacts {
            phones.insert(national(ph));
        }
    }
    assert!(
        phones.iter().all(|p| p.len() == 11),
        "a demo phone is not an 11-digit mobile"
    );
    assert!(
        ids.len() == RESIDENTS && phones.len() > RESIDENTS / 2,
        "{} ids, {} phones",
        ids.len(),
        phones.len()
    );
    let control: HashSet<Vec<u8>> = HashSet::from([CONTROL_PHONE.as_bytes().to_vec()]);

    let scan = |stage: &str| {
        let files = db_files(tmp.path());
        assert!(
            files.iter().any(|(n, b)| n == "fanzha.db" && !b.is_empty()),
            "{stage}: no database file"
        );
        let mut control_found = false;
        for (name, bytes) in &files {
            let hits_id = find_all(bytes, &ids, 17);
            let hits_phone = find_all(bytes, &phones, 11);
            assert!(
                hits_id.is_empty(),
                "{stage}: {name} holds plaintext ID numbers at {:?}",
                &hits_id[..hits_id.len().min(3)]
            );
            assert!(
                hits_phone.is_empty(),
                "{stage}: {name} holds plaintext phones at {:?}",
                &hits_phone[..hits_phone.len().min(3)]
            );
            control_found |= !find_all(bytes, &control, 11).is_empty();
        }
        assert!(
            control_found,
            "{stage}: the scan did not find the plain-text control value"
        );
        files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()
    };

    // While the app is running: the WAL as it is, then after a checkpoint.
    let before = scan("live");
    {
        let c = rusqlite::Connection::open(&db_path).unwrap();
        let busy: i64 = c
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .unwrap();
        assert_eq!(busy, 0, "the checkpoint was blocked");
    }
    scan("checkpointed");
    // And after the app has closed the database.
    drop(cli);
    drop(app);
    let after = scan("closed");
    assert!(before.iter().any(|n| n == "fanzha.db"), "{before:?} {after:?}");
}
