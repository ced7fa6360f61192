//! Event transport between ingest and the detection pipeline (DESIGN.md §4).
//!
//! # The model
//!
//! * **A durable log first.** A message is published only after it is
//!   durable in a log that assigns it an [`Offset`] (embedded mode: the
//!   store's `events` table and its `seq`; cluster mode: a JetStream stream
//!   and its stream sequence). Offsets are positive and grow in commit
//!   order. The log is the truth; a transport only moves its tail quickly
//!   and tells consumers where to resume.
//! * **Partitions by person key.** Every message carries a `key` (the
//!   keyed person key). [`partition_of`] maps it to one of `partitions`
//!   partitions; all messages of one person land in one partition and are
//!   delivered in offset order there. There is no order across partitions.
//!   The function is part of the wire contract and never changes.
//! * **Consumer groups.** A group is a named reader of the whole log (the
//!   pipeline is one). Its members split the partitions: member `m` of `n`
//!   takes every partition `p` with `p % n == m`. Each member keeps its own
//!   detector state for its partitions. Two groups each see every message.
//! * **At-least-once, acknowledged by offset.** [`Subscription::fetch`]
//!   hands out deliveries; [`Subscription::ack`] acknowledges everything up
//!   to an offset in one partition (cumulative). A member that goes away
//!   (dropped subscription, crashed task) gets its unacknowledged
//!   deliveries delivered again, flagged [`Delivery::redelivered`], to the
//!   next member that subscribes. A process that restarts subscribes again
//!   with the offsets it had made durable ([`SubscribeSpec::resume_after`]),
//!   and everything after them is delivered again from the log.
//! * **Idempotent processing is the consumer's half.** Because delivery is
//!   at least once, a consumer records its results and its position (per
//!   partition) in one transaction, skips deliveries at or below the
//!   position it recorded, and makes every write idempotent by the offset
//!   that caused it. Then each message's effect happens exactly once. An
//!   `ack` after the commit is only a hint that the transport may forget.
//!
//! # The in-process transport
//!
//! [`InProcessBus`] is the default (one process, SQLite). It keeps, per
//! group and partition, a bounded queue of the log's tail, filled by
//! [`Transport::publish`] right after the log's commit. When a queue is full
//! the partition falls back to reading the [`Log`] (so publishing never
//! blocks and nothing is lost) until it has caught up. A new group — and
//! every group after a restart — starts by reading the log from its resume
//! offsets. Publishers must publish in offset order (the app serialises
//! commit-and-publish); an out-of-order record also sends its partition to
//! the log, so order per partition always holds.
//!
//! # NATS JetStream (cluster mode, a later issue)
//!
//! The same trait maps onto JetStream: one stream `events` with subjects
//! `events.p.<partition>`; `publish` sends each record with its log offset
//! as `Nats-Msg-Id` (the stream deduplicates republished records) and
//! returns after the stream's acknowledgements; a group is one durable pull
//! consumer per partition (`<group>-p<partition>`, `AckPolicy::All`,
//! `DeliverPolicy::ByStartSequence` from the resume offset mapped through
//! the stream); `ack` acknowledges the stream message of that offset;
//! unacknowledged messages come back after `ack_wait` with
//! `num_delivered > 1` (`redelivered`). Assigning partitions to processes
//! (`member`/`members`) stays with the caller.

use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// A position in the log. Positive; `0` means "before everything".
pub type Offset = u64;
/// A partition number, below the transport's partition count.
pub type PartitionId = u32;

/// The partition of a person key. Stable forever: the key is mixed (a
/// SplitMix64 finaliser) and mapped onto `0..partitions` by a multiply-high,
/// so nearby keys spread out. `partitions` 0 or 1 give partition 0.
pub fn partition_of(key: u64, partitions: u32) -> PartitionId {
    if partitions <= 1 {
        return 0;
    }
    let mut z = key;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((u128::from(z) * u128::from(partitions)) >> 64) as PartitionId
}

/// A durable message: its log offset, partition key and content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<M> {
    pub offset: Offset,
    pub key: u64,
    pub message: M,
}

/// A message handed to a consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery<M> {
    pub partition: PartitionId,
    pub offset: Offset,
    pub key: u64,
    pub message: M,
    /// Delivered before to a member of this group that did not acknowledge it.
    pub redelivered: bool,
}

/// What can go wrong in the transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    #[error("the event transport is closed")]
    Closed,
    #[error("consumer group `{group}`: {reason}")]
    Membership { group: String, reason: String },
    #[error("reading the event log failed: {0}")]
    Log(String),
    #[error("event transport: {0}")]
    Transport(String),
}

/// The durable log behind a transport: the in-process transport reads it
/// to serve new groups, restarts and partitions whose queue overflowed.
#[async_trait]
pub trait Log<M>: Send + Sync {
    /// Up to `limit` records with offset above `after`, in offset order.
    async fn read_after(&self, after: Offset, limit: usize) -> Result<Vec<Record<M>>, BusError>;
    /// The highest offset committed so far (0 when empty).
    async fn head(&self) -> Result<Offset, BusError>;
}

/// How a member joins a consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeSpec {
    pub group: String,
    /// This member's number, below `members`.
    pub member: u32,
    /// How many members the group has; every member must say the same.
    pub members: u32,
    /// Per partition, the offset up to which the consumer has durably
    /// recorded its results; delivery resumes after it. Partitions not
    /// listed resume after the group's last acknowledgement (0 for a new
    /// group).
    pub resume_after: Vec<(PartitionId, Offset)>,
}

impl SubscribeSpec {
    /// The only member of `group`, resuming after the given offsets.
    pub fn single(group: &str, resume_after: Vec<(PartitionId, Offset)>) -> SubscribeSpec {
        SubscribeSpec {
            group: group.to_string(),
            member: 0,
            members: 1,
            resume_after,
        }
    }
}

/// A transport: publish durable records, subscribe consumer groups.
#[async_trait]
pub trait Transport<M: Send + 'static>: Send + Sync {
    /// How many partitions keys are spread over.
    fn partitions(&self) -> u32;
    /// Hands over records that are already durable in the log, in offset
    /// order. Returns once the transport has them (JetStream: once the
    /// stream acknowledged them). Publishing a record twice is harmless.
    async fn publish(&self, records: Vec<Record<M>>) -> Result<(), BusError>;
    /// Joins a consumer group as one member.
    async fn subscribe(&self, spec: SubscribeSpec) -> Result<Box<dyn Subscription<M>>, BusError>;
    /// Stops the transport: waiting fetches return [`BusError::Closed`].
    fn close(&self);
}

/// One member's view of its partitions.
#[async_trait]
pub trait Subscription<M: Send + 'static>: Send {
    /// The partitions this member consumes.
    fn partitions(&self) -> &[PartitionId];
    /// Up to `max` deliveries, waiting at most `wait` for the first. An
    /// empty answer means nothing arrived in time.
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery<M>>, BusError>;
    /// Acknowledges every delivery of `partition` up to `offset`.
    async fn ack(&mut self, partition: PartitionId, offset: Offset) -> Result<(), BusError>;
}

// ------------------------------------------------------------------ in-process

/// Settings of [`InProcessBus`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InProcessConfig {
    pub partitions: u32,
    /// Records kept per group and partition before it falls back to the log.
    pub queue_capacity: usize,
    /// Records read from the log per call.
    pub log_page: usize,
}

impl Default for InProcessConfig {
    fn default() -> Self {
        InProcessConfig {
            partitions: 8,
            queue_capacity: 65_536,
            log_page: 4_096,
        }
    }
}

struct Part<M> {
    /// Records above `acked`, in offset order; `queue[..next]` were delivered.
    queue: VecDeque<Record<M>>,
    next: usize,
    acked: Offset,
    delivered: Offset,
    /// Records up to here must come from the log.
    log_until: Offset,
    /// The log has been read (for this partition) up to here.
    scanned: Offset,
    /// The queue dropped records: read the log until caught up.
    lagging: bool,
    /// Deliveries up to here were handed out before.
    redeliver_until: Offset,
}

impl<M> Part<M> {
    fn new() -> Part<M> {
        Part {
            queue: VecDeque::new(),
            next: 0,
            acked: 0,
            delivered: 0,
            log_until: 0,
            scanned: 0,
            lagging: true,
            redeliver_until: 0,
        }
    }
    fn needs_log(&self) -> bool {
        self.lagging || self.scanned < self.log_until
    }
    /// Forgets undelivered records (the log has them) and reads the log.
    fn fall_back(&mut self) {
        self.queue.truncate(self.next);
        self.lagging = true;
        // Undelivered records the log read skipped (they were queued) are gone.
        self.scanned = self.scanned.min(self.delivered);
    }
}

struct Group<M> {
    members: u32,
    taken: Vec<bool>,
    parts: Vec<Part<M>>,
}

struct State<M> {
    last_published: Offset,
    groups: HashMap<String, Group<M>>,
    closed: bool,
}

struct Inner<M> {
    cfg: InProcessConfig,
    log: Arc<dyn Log<M>>,
    state: Mutex<State<M>>,
    notify: Notify,
}

impl<M> Inner<M> {
    fn lock(&self) -> MutexGuard<'_, State<M>> {
        // A poisoned lock means a panic mid-update of counters only; the
        // log still holds every record, so carry on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The in-process transport (see the crate docs). Cheap to clone.
pub struct InProcessBus<M> {
    inner: Arc<Inner<M>>,
}

impl<M> Clone for InProcessBus<M> {
    fn clone(&self) -> Self {
        InProcessBus {
            inner: self.inner.clone(),
        }
    }
}

/// Where one group stands in one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionStatus {
    pub partition: PartitionId,
    pub acked: Offset,
    pub delivered: Offset,
    /// Records waiting in memory (delivered-unacknowledged included).
    pub queued: usize,
    /// Reading the log instead of the queue.
    pub from_log: bool,
}

impl<M: Clone + Send + Sync + 'static> InProcessBus<M> {
    pub fn new(cfg: InProcessConfig, log: Arc<dyn Log<M>>) -> InProcessBus<M> {
        let cfg = InProcessConfig {
            partitions: cfg.partitions.max(1),
            queue_capacity: cfg.queue_capacity.max(1),
            log_page: cfg.log_page.max(1),
        };
        InProcessBus {
            inner: Arc::new(Inner {
                cfg,
                log,
                state: Mutex::new(State {
                    last_published: 0,
                    groups: HashMap::new(),
                    closed: false,
                }),
                notify: Notify::new(),
            }),
        }
    }

    /// The highest offset published so far.
    pub fn last_published(&self) -> Offset {
        self.inner.lock().last_published
    }

    /// Where `group` stands, per partition (empty for an unknown group).
    pub fn status(&self, group: &str) -> Vec<PartitionStatus> {
        let st = self.inner.lock();
        let Some(g) = st.groups.get(group) else {
            return Vec::new();
        };
        g.parts
            .iter()
            .enumerate()
            .map(|(i, p)| PartitionStatus {
                partition: i as PartitionId,
                acked: p.acked,
                delivered: p.delivered,
                queued: p.queue.len(),
                from_log: p.needs_log(),
            })
            .collect()
    }
}

#[async_trait]
impl<M: Clone + Send + Sync + 'static> Transport<M> for InProcessBus<M> {
    fn partitions(&self) -> u32 {
        self.inner.cfg.partitions
    }

    async fn publish(&self, records: Vec<Record<M>>) -> Result<(), BusError> {
        if records.is_empty() {
            return Ok(());
        }
        let n = self.inner.cfg.partitions;
        let cap = self.inner.cfg.queue_capacity;
        {
            let mut guard = self.inner.lock();
            let st = &mut *guard;
            if st.closed {
                return Err(BusError::Closed);
            }
            for r in records {
                let in_order = r.offset > st.last_published;
                st.last_published = st.last_published.max(r.offset);
                let p = partition_of(r.key, n) as usize;
                for g in st.groups.values_mut() {
                    let Some(part) = g.parts.get_mut(p) else { continue };
                    if r.offset <= part.delivered {
                        continue;
                    }
                    if !in_order {
                        part.fall_back();
                    }
                    if part.lagging {
                        continue;
                    }
                    if part.queue.len() >= cap {
                        part.fall_back();
                        continue;
                    }
                    part.queue.push_back(r.clone());
                }
            }
        }
        self.inner.notify.notify_waiters();
        Ok(())
    }

    async fn subscribe(&self, spec: SubscribeSpec) -> Result<Box<dyn Subscription<M>>, BusError> {
        let members = spec.members;
        let refuse = |reason: String| BusError::Membership {
            group: spec.group.clone(),
            reason,
        };
        if members == 0 || spec.member >= members {
            return Err(refuse(format!(
                "member {} of {members} does not exist",
                spec.member
            )));
        }
        let n = self.inner.cfg.partitions;
        let mine: Vec<PartitionId> = (0..n).filter(|p| p % members == spec.member).collect();
        let head = self.inner.log.head().await?;
        {
            let mut st = self.inner.lock();
            if st.closed {
                return Err(BusError::Closed);
            }
            let last = st.last_published;
            let g = st.groups.entry(spec.group.clone()).or_insert_with(|| Group {
                members,
                taken: vec![false; members as usize],
                parts: (0..n).map(|_| Part::new()).collect(),
            });
            if g.members != members {
                return Err(refuse(format!(
                    "the group has {} members, not {members}",
                    g.members
                )));
            }
            if g.taken.get(spec.member as usize).copied().unwrap_or(true) {
                return Err(refuse(format!("member {} is already subscribed", spec.member)));
            }
            g.taken[spec.member as usize] = true;
            for &p in &mine {
                let part = &mut g.parts[p as usize];
                let resume = spec
                    .resume_after
                    .iter()
                    .filter(|(q, _)| *q == p)
                    .map(|(_, o)| *o)
                    .max()
                    .unwrap_or(0);
                if part.delivered > part.acked {
                    part.redeliver_until = part.redeliver_until.max(part.delivered);
                }
                part.acked = part.acked.max(resume);
                part.delivered = part.acked;
                part.scanned = part.acked;
                part.next = 0;
                while part.queue.front().is_some_and(|r| r.offset <= part.acked) {
                    part.queue.pop_front();
                }
                // Everything committed so far may be missing from the queue.
                part.log_until = part.log_until.max(head).max(last);
            }
        }
        Ok(Box::new(InProcessSubscription {
            inner: self.inner.clone(),
            group: spec.group,
            member: spec.member,
            members,
            partitions: mine,
        }))
    }

    fn close(&self) {
        self.inner.lock().closed = true;
        self.inner.notify.notify_waiters();
    }
}

struct InProcessSubscription<M> {
    inner: Arc<Inner<M>>,
    group: String,
    member: u32,
    members: u32,
    partitions: Vec<PartitionId>,
}

impl<M> Drop for InProcessSubscription<M> {
    fn drop(&mut self) {
        let mut st = self.inner.lock();
        let Some(g) = st.groups.get_mut(&self.group) else {
            return;
        };
        if let Some(t) = g.taken.get_mut(self.member as usize) {
            *t = false;
        }
        for &p in &self.partitions {
            if let Some(part) = g.parts.get_mut(p as usize) {
                if part.delivered > part.acked {
                    part.redeliver_until = part.redeliver_until.max(part.delivered);
                    part.log_until = part.log_until.max(part.delivered);
                }
                part.delivered = part.acked;
                part.scanned = part.scanned.min(part.acked);
                part.next = 0;
            }
        }
    }
}

impl<M: Clone + Send + Sync + 'static> InProcessSubscription<M> {
    fn mine(&self, p: PartitionId) -> bool {
        p % self.members == self.member
    }

    /// Takes deliveries from the queues; returns the lowest `scanned` among
    /// partitions that must read the log, if any. A first round takes at
    /// most an equal share of `max` from each partition and a second fills
    /// up, so that under a backlog no partition waits for the others to
    /// drain (its queue would otherwise fill up and fall back to the log).
    fn take_queued(&self, max: usize, out: &mut Vec<Delivery<M>>) -> Result<Option<Offset>, BusError> {
        let mut st = self.inner.lock();
        if st.closed {
            return Err(BusError::Closed);
        }
        let g = st.groups.get_mut(&self.group).ok_or(BusError::Closed)?;
        let mut need: Option<Offset> = None;
        let share = max
            .saturating_sub(out.len())
            .div_ceil(self.partitions.len().max(1))
            .max(1);
        for round in 0..2 {
            for &p in &self.partitions {
                let Some(part) = g.parts.get_mut(p as usize) else {
                    continue;
                };
                if part.needs_log() {
                    if round == 0 {
                        need = Some(need.map_or(part.scanned, |n| n.min(part.scanned)));
                    }
                    continue;
                }
                let mut taken = 0usize;
                while out.len() < max && (round == 1 || taken < share) && part.next < part.queue.len() {
                    let r = &part.queue[part.next];
                    part.next += 1;
                    if r.offset <= part.delivered {
                        continue;
                    }
                    part.delivered = r.offset;
                    taken += 1;
                    out.push(Delivery {
                        partition: p,
                        offset: r.offset,
                        key: r.key,
                        message: r.message.clone(),
                        redelivered: r.offset <= part.redeliver_until,
                    });
                }
            }
        }
        Ok(need)
    }

    /// Reads one page of the log after `from` and delivers what belongs to
    /// log-reading partitions. Returns whether the log had anything new.
    async fn take_logged(
        &self,
        from: Offset,
        max: usize,
        out: &mut Vec<Delivery<M>>,
    ) -> Result<bool, BusError> {
        let page = self.inner.cfg.log_page;
        let head = self.inner.log.head().await?;
        let recs = self.inner.log.read_after(from, page).await?;
        let short = recs.len() < page;
        let n = self.inner.cfg.partitions;
        let mut st = self.inner.lock();
        let last_now = st.last_published;
        let g = st.groups.get_mut(&self.group).ok_or(BusError::Closed)?;
        let mut examined = from;
        let mut full = false;
        for r in recs {
            if out.len() >= max {
                full = true;
                break;
            }
            examined = r.offset;
            let p = partition_of(r.key, n);
            if !self.mine(p) {
                continue;
            }
            let Some(part) = g.parts.get_mut(p as usize) else {
                continue;
            };
            if !part.needs_log() || r.offset <= part.scanned || r.offset <= part.delivered {
                continue;
            }
            if !part.lagging && r.offset > part.log_until {
                continue;
            }
            part.delivered = r.offset;
            out.push(Delivery {
                partition: p,
                offset: r.offset,
                key: r.key,
                message: r.message,
                redelivered: r.offset <= part.redeliver_until,
            });
        }
        // Everything committed before the read started is covered when the
        // page came back short.
        let covered = if short && !full {
            examined.max(head)
        } else {
            examined
        };
        let mut progressed = !out.is_empty();
        for &p in &self.partitions {
            let Some(part) = g.parts.get_mut(p as usize) else {
                continue;
            };
            if !part.needs_log() {
                continue;
            }
            if covered > part.scanned {
                part.scanned = covered;
                progressed = true;
            }
            if part.lagging && short && !full {
                // Caught up: later records are queued again; those dropped
                // meanwhile are at most `last_now` and still come from the log.
                part.lagging = false;
                part.log_until = part.log_until.max(last_now);
                progressed = true;
            }
            if !part.lagging && part.scanned >= part.log_until {
                // Back on the queue: drop what the log already delivered.
                while part.next < part.queue.len() && part.queue[part.next].offset <= part.delivered {
                    part.next += 1;
                }
            }
        }
        Ok(progressed)
    }
}

#[async_trait]
impl<M: Clone + Send + Sync + 'static> Subscription<M> for InProcessSubscription<M> {
    fn partitions(&self) -> &[PartitionId] {
        &self.partitions
    }

    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery<M>>, BusError> {
        let max = max.max(1);
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = Vec::new();
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let need = self.take_queued(max, &mut out)?;
            if out.len() >= max {
                return Ok(out);
            }
            if let Some(from) = need
                && self.take_logged(from, max, &mut out).await?
            {
                if !out.is_empty() {
                    return Ok(out);
                }
                continue;
            }
            if !out.is_empty() {
                return Ok(out);
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(out),
            }
        }
    }

    async fn ack(&mut self, partition: PartitionId, offset: Offset) -> Result<(), BusError> {
        if !self.partitions.contains(&partition) {
            return Err(BusError::Membership {
                group: self.group.clone(),
                reason: format!("partition {partition} is not this member's"),
            });
        }
        let mut st = self.inner.lock();
        let g = st.groups.get_mut(&self.group).ok_or(BusError::Closed)?;
        if let Some(part) = g.parts.get_mut(partition as usize) {
            let upto = offset.min(part.delivered);
            if upto > part.acked {
                part.acked = upto;
            }
            while part.queue.front().is_some_and(|r| r.offset <= part.acked) {
                part.queue.pop_front();
                part.next = part.next.saturating_sub(1);
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ memory log

/// A log in memory, for tests and tools: offsets are assigned 1, 2, 3…
pub struct MemoryLog<M> {
    records: Mutex<Vec<Record<M>>>,
}

impl<M> Default for MemoryLog<M> {
    fn default() -> Self {
        MemoryLog {
            records: Mutex::new(Vec::new()),
        }
    }
}

impl<M: Clone> MemoryLog<M> {
    pub fn new() -> MemoryLog<M> {
        MemoryLog::default()
    }
    /// Appends messages; returns the records with their offsets.
    pub fn append(&self, messages: impl IntoIterator<Item = (u64, M)>) -> Vec<Record<M>> {
        let mut v = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (key, message) in messages {
            let offset = v.len() as Offset + 1;
            let r = Record { offset, key, message };
            v.push(r.clone());
            out.push(r);
        }
        out
    }
    pub fn len(&self) -> usize {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl<M: Clone + Send + Sync> Log<M> for MemoryLog<M> {
    async fn read_after(&self, after: Offset, limit: usize) -> Result<Vec<Record<M>>, BusError> {
        let v = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let start = v.partition_point(|r| r.offset <= after);
        Ok(v.iter().skip(start).take(limit).cloned().collect())
    }
    async fn head(&self) -> Result<Offset, BusError> {
        let v = self.records.lock().unwrap_or_else(|e| e.into_inner());
        Ok(v.last().map_or(0, |r| r.offset))
    }
}
