//! The in-process transport's promises: per-partition order, nothing lost
//! when queues overflow, redelivery after a member goes away, resumption
//! after a restart from the log, groups and membership.

use fanzha_bus::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(20);

fn bus(log: &Arc<MemoryLog<u64>>, partitions: u32, cap: usize, page: usize) -> InProcessBus<u64> {
    InProcessBus::new(
        InProcessConfig {
            partitions,
            queue_capacity: cap,
            log_page: page,
        },
        log.clone(),
    )
}

/// Appends `n` messages (message = offset) with keys cycling over `keys`
/// and publishes them.
async fn produce(log: &MemoryLog<u64>, b: &InProcessBus<u64>, n: u64, keys: u64) {
    let start = log.len() as u64;
    let recs = log.append((0..n).map(|i| ((start + i) % keys, start + i + 1)));
    b.publish(recs).await.unwrap();
}

/// Fetches until nothing arrives, acking everything; returns the offsets per partition.
async fn drain(sub: &mut Box<dyn Subscription<u64>>, ack: bool) -> BTreeMap<u32, Vec<u64>> {
    let mut got: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    loop {
        let batch = sub.fetch(100, SHORT).await.unwrap();
        if batch.is_empty() {
            return got;
        }
        for d in batch {
            assert_eq!(d.message, d.offset, "the message travels with its offset");
            got.entry(d.partition).or_default().push(d.offset);
            if ack {
                sub.ack(d.partition, d.offset).await.unwrap();
            }
        }
    }
}

fn expected(log_len: u64, keys: u64, partitions: u32, after: u64) -> BTreeMap<u32, Vec<u64>> {
    let mut m: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for off in (after + 1)..=log_len {
        let key = (off - 1) % keys;
        m.entry(partition_of(key, partitions)).or_default().push(off);
    }
    m
}

#[test]
fn partition_of_is_stable_and_in_range() {
    // Part of the wire contract: these values must never change.
    assert_eq!(partition_of(0, 8), partition_of(0, 8));
    assert_eq!(partition_of(12345, 1), 0);
    assert_eq!(partition_of(12345, 0), 0);
    let fixed: Vec<u32> = [0u64, 1, 2, 3, u64::MAX]
        .iter()
        .map(|k| partition_of(*k, 16))
        .collect();
    assert_eq!(fixed, vec![0, 5, 13, 1, 11]);
    let mut counts = [0u32; 8];
    for k in 0..80_000u64 {
        let p = partition_of(k, 8);
        assert!(p < 8);
        counts[p as usize] += 1;
    }
    for c in counts {
        assert!((9_000..11_000).contains(&c), "uneven spread: {counts:?}");
    }
}

#[tokio::test]
async fn delivers_in_order_per_partition_once() {
    let log = Arc::new(MemoryLog::new());
    let b = bus(&log, 4, 1_000, 64);
    let mut sub = b
        .subscribe(SubscribeSpec::single("pipeline", vec![]))
        .await
        .unwrap();
    assert_eq!(sub.partitions(), &[0, 1, 2, 3]);
    produce(&log, &b, 500, 37).await;
    let got = drain(&mut sub, true).await;
    assert_eq!(got, expected(500, 37, 4, 0));
    produce(&log, &b, 10, 37).await;
    let got = drain(&mut sub, true).await;
    assert_eq!(got, {
        let mut e = expected(510, 37, 4, 500);
        e.retain(|_, v| !v.is_empty());
        e
    });
    for s in b.status("pipeline") {
        assert_eq!(s.queued, 0, "acknowledged records are forgotten");
    }
}

#[tokio::test]
async fn a_new_group_reads_what_was_published_before_it() {
    let log = Arc::new(MemoryLog::new());
    let b = bus(&log, 3, 1_000, 7);
    produce(&log, &b, 100, 11).await;
    let mut sub = b.subscribe(SubscribeSpec::single("late", vec![])).await.unwrap();
    produce(&log, &b, 50, 11).await;
    assert_eq!(drain(&mut sub, true).await, expected(150, 11, 3, 0));
}

#[tokio::test]
async fn a_backlog_is_served_from_every_partition() {
    let log = Arc::new(MemoryLog::new());
    let b = bus(&log, 4, 10_000, 64);
    let mut sub = b.subscribe(SubscribeSpec::single("g", vec![])).await.unwrap();
    assert!(drain(&mut sub, true).await.is_empty());
    produce(&log, &b, 4_000, 97).await;
    // A fetch smaller than the backlog takes an equal share of each
    // partition rather than draining the first ones, whose queues would
    // otherwise be emptied while the last ones fill up.
    let batch = sub.fetch(100, SHORT).await.unwrap();
    assert_eq!(batch.len(), 100);
    let mut per: BTreeMap<u32, usize> = BTreeMap::new();
    for d in &batch {
        *per.entry(d.partition).or_default() += 1;
    }
    assert_eq!(per.values().copied().collect::<Vec<_>>(), vec![25; 4], "{per:?}");
    // Still in order per partition, and nothing lost or doubled.
    let mut got: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for d in batch {
        got.entry(d.partition).or_default().push(d.offset);
        sub.ack(d.partition, d.offset).await.unwrap();
    }
    for (p, v) in drain(&mut sub, true).await {
        got.entry(p).or_default().extend(v);
    }
    assert_eq!(got, expected(4_000, 97, 4, 0));
}

#[tokio::test]
async fn overflowing_queues_fall_back_to_the_log() {
    let log = Arc::new(MemoryLog::new());
    let b = bus(&log, 2, 5, 16);
    let mut sub = b.subscribe(SubscribeSpec::single("g", vec![])).await.unwrap();
    // Catch up first so that the queues are in use.
    assert!(drain(&mut sub, true).await.is_empty());
    produce(&log, &b, 1_000, 13).await;
    assert!(
        b.status("g").iter().any(|s| s.from_log),
        "a full queue sends the partition to the log"
    );
    assert_eq!(drain(&mut sub, true).await, expected(1_000, 13, 2, 0));
    // And back on the queue afterwards.
    produce(&log, &b, 3, 13).await;
    assert_eq!(
        drain(&mut sub, true).await.values().map(Vec::len).sum::<usize>(),
        3
    );
}

#[tokio::test]
async fn unacknowledged_deliveries_come_again_to_the_next_member() {
    let log = Arc::new(MemoryLog::new());
    let b = bus(&log, 1, 1_000, 50);
    let mut sub = b.subscribe(SubscribeSpec::single("g", vec![])).await.unwrap();
    produce(&log, &b, 20, 1).await;
    let first = sub.fetch(20, SHORT).await.unwrap();
    assert_eq!(first.len(), 20);
    assert!(first.iter().all(|d| !d.redelivered));
    sub.ack(0, 8).await.unwrap();
    // The same member cannot join twice.
    let twice = b.subscribe(SubscribeSpec::single("g", vec![])).await;
    assert!(matches!(twice, Err(BusError::Membership { .. })));
    drop(sub);
    let mut again = b.subscribe(SubscribeSpec::single("g", vec![])).await.unwrap();
    let second = again.fetch(100, SHORT).await.unwrap();
    let offsets: Vec<u64> = second.iter().map(|d| d.offset).collect();
    assert_eq!(offsets, (9..=20).collect::<Vec<_>>());
    assert!(second.iter().all(|d| d.redelivered));
    for d in &second {
        again.ack(d.partition, d.offset).await.unwrap();
    }
    produce(&log, &b, 2, 1).await;
    let third = again.fetch(100, SHORT).await.unwrap();
    assert_eq!(third.iter().map(|d| d.offset).collect::<Vec<_>>(), vec![21, 22]);
    assert!(third.iter().all(|d| !d.redelivered));
}

#[tokio::test]
async fn a_restart_resumes_after_the_recorded_offsets() {
    let log = Arc::new(MemoryLog::new());
    let b = bus(&log, 4, 1_000, 32);
    produce(&log, &b, 300, 29).await;
    // The process "crashes": a new transport over the same log, resuming
    // after what the consumer had recorded per partition.
    let resume: Vec<(u32, u64)> = (0..4).map(|p| (p, 100 + u64::from(p) * 10)).collect();
    let b2 = bus(&log, 4, 1_000, 32);
    let mut sub = b2
        .subscribe(SubscribeSpec::single("pipeline", resume.clone()))
        .await
        .unwrap();
    let got = drain(&mut sub, true).await;
    let mut want = expected(300, 29, 4, 0);
    for (p, after) in &resume {
        want.get_mut(p).unwrap().retain(|o| o > after);
    }
    assert_eq!(got, want);
}

#[tokio::test]
async fn members_split_partitions_and_groups_see_everything() {
    let log = Arc::new(MemoryLog::new());
    let b = bus(&log, 6, 1_000, 40);
    let spec = |member, members| SubscribeSpec {
        group: "g".into(),
        member,
        members,
        resume_after: vec![],
    };
    let mut m0 = b.subscribe(spec(0, 2)).await.unwrap();
    let mut m1 = b.subscribe(spec(1, 2)).await.unwrap();
    assert_eq!(m0.partitions(), &[0, 2, 4]);
    assert_eq!(m1.partitions(), &[1, 3, 5]);
    assert!(matches!(
        b.subscribe(spec(0, 3)).await,
        Err(BusError::Membership { .. })
    ));
    assert!(matches!(
        b.subscribe(spec(2, 2)).await,
        Err(BusError::Membership { .. })
    ));
    let mut other = b.subscribe(SubscribeSpec::single("audit", vec![])).await.unwrap();
    produce(&log, &b, 240, 17).await;
    let mut got = drain(&mut m0, true).await;
    got.extend(drain(&mut m1, true).await);
    let want = expected(240, 17, 6, 0);
    assert_eq!(got, want);
    assert_eq!(drain(&mut other, true).await, want);
    // An ack for a partition of another member is refused.
    assert!(m0.ack(1, 5).await.is_err());
}

#[tokio::test]
async fn out_of_order_publishing_keeps_partition_order() {
    let log = Arc::new(MemoryLog::new());
    let b = bus(&log, 2, 1_000, 8);
    let mut sub = b.subscribe(SubscribeSpec::single("g", vec![])).await.unwrap();
    assert!(drain(&mut sub, true).await.is_empty());
    let early = log.append((0..10).map(|i| (i % 5, i + 1)));
    let late = log.append((10..20).map(|i| (i % 5, i + 1)));
    b.publish(late).await.unwrap();
    b.publish(early.clone()).await.unwrap();
    b.publish(early).await.unwrap();
    assert_eq!(drain(&mut sub, true).await, expected(20, 5, 2, 0));
}

#[tokio::test]
async fn a_waiting_fetch_wakes_on_publish_and_on_close() {
    let log = Arc::new(MemoryLog::new());
    let b = bus(&log, 1, 100, 10);
    let mut sub = b.subscribe(SubscribeSpec::single("g", vec![])).await.unwrap();
    assert!(sub.fetch(10, SHORT).await.unwrap().is_empty());
    let b2 = b.clone();
    let log2 = log.clone();
    let producer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        produce(&log2, &b2, 1, 1).await;
    });
    let got = sub.fetch(10, Duration::from_secs(10)).await.unwrap();
    assert_eq!(got.len(), 1);
    producer.await.unwrap();
    b.close();
    assert_eq!(
        sub.fetch(10, Duration::from_secs(10)).await,
        Err(BusError::Closed)
    );
    assert_eq!(b.publish(vec![]).await, Ok(()));
    assert!(matches!(
        b.publish(log.append([(1, 99)])).await,
        Err(BusError::Closed)
    ));
}

#[derive(Clone, Debug)]
enum Op {
    Produce(u8),
    Fetch(u8),
    AckAll,
    Crash,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u8..40).prop_map(Op::Produce),
        3 => (1u8..30).prop_map(Op::Fetch),
        2 => Just(Op::AckAll),
        1 => Just(Op::Crash),
        1 => Just(Op::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever the interleaving of publishing, fetching, acknowledging,
    /// members going away and whole restarts, a consumer that records its
    /// position with its results (and skips what it recorded) processes
    /// every record exactly once, in order per partition.
    #[test]
    fn every_record_is_processed_exactly_once(
        ops in proptest::collection::vec(op(), 1..40),
        cap in 1usize..20,
        page in 1usize..20,
        parts in 1u32..5,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let log = Arc::new(MemoryLog::new());
            let mut b = bus(&log, parts, cap, page);
            let mut recorded: BTreeMap<u32, u64> = BTreeMap::new();
            let mut processed: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
            let resume = |r: &BTreeMap<u32, u64>| r.iter().map(|(p, o)| (*p, *o)).collect::<Vec<_>>();
            let mut sub = b.subscribe(SubscribeSpec::single("g", vec![])).await.unwrap();
            let mut delivered_unacked: Vec<(u32, u64)> = Vec::new();
            for op in ops {
                match op {
                    Op::Produce(n) => produce(&log, &b, u64::from(n), 7).await,
                    Op::Fetch(n) => {
                        for d in sub.fetch(usize::from(n), Duration::ZERO).await.unwrap() {
                            let pos = recorded.entry(d.partition).or_insert(0);
                            if d.offset > *pos {
                                *pos = d.offset;
                                processed.entry(d.partition).or_default().push(d.offset);
                            }
                            delivered_unacked.push((d.partition, d.offset));
                        }
                    }
                    Op::AckAll => {
                        for (p, o) in delivered_unacked.drain(..) {
                            sub.ack(p, o).await.unwrap();
                        }
                    }
                    Op::Crash => {
                        drop(sub);
                        delivered_unacked.clear();
                        sub = b.subscribe(SubscribeSpec::single("g", vec![])).await.unwrap();
                    }
                    Op::Restart => {
                        drop(sub);
                        delivered_unacked.clear();
                        b = bus(&log, parts, cap, page);
                        sub = b.subscribe(SubscribeSpec::single("g", resume(&recorded))).await.unwrap();
                    }
                }
            }
            loop {
                let batch = sub.fetch(1_000, Duration::ZERO).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                for d in batch {
                    let pos = recorded.entry(d.partition).or_insert(0);
                    if d.offset > *pos {
                        *pos = d.offset;
                        processed.entry(d.partition).or_default().push(d.offset);
                    }
                    sub.ack(d.partition, d.offset).await.unwrap();
                }
            }
            let want = expected(log.len() as u64, 7, parts, 0);
            prop_assert_eq!(processed, want);
            Ok(())
        })?;
    }
}
