//! The detection pipeline's data (DESIGN.md §5), as the [`EventStore`] part
//! of the store API: ingested events, consumer checkpoints, signals, leads
//! (线索) and the versioned rules.
//!
//! # Design
//!
//! * **Events are a log.** [`EventStore::append_events`] stores a batch in
//!   one transaction and gives each new event a sequence number (`seq`,
//!   growing in commit order); an event whose `id_hash` is already stored is
//!   a duplicate, reported as `None`, not an error. A batch writes one audit
//!   entry. The pipeline reads the log back with
//!   [`EventStore::events_after`].
//! * **No personal value in the clear.** The app seals an event's content
//!   into `payload`, passes a keyed pseudonym as `person_key` and a keyed
//!   digest of `(source, id)` as `id_hash`. Leads carry the subscriber
//!   sealed, with a blind index and a masked form.
//! * **Exactly-once effects.** [`EventStore::commit_pipeline`] writes a
//!   batch's signals, lead raises and updates, audit entries and the
//!   consumer's checkpoints in one transaction. Every write is idempotent by
//!   the event that caused it: a signal by `(seq, position)`, a raise by its
//!   deciding `seq` (unique), an update only when its `seq` is above the
//!   lead's `last_seq`, a checkpoint only forwards. Replaying a batch changes
//!   nothing.
//! * **Scope.** A lead belongs to an org node (the resident's grid, or the
//!   county root for unknown subscribers); reads take a [`crate::Scope`] and
//!   see a lead only when its node is inside. A lead without a node is seen
//!   only by [`crate::Scope::All`].
//! * **Rules.** Rules documents are kept as analysts saved them, numbered
//!   1, 2, 3…; the one marked active judges events.

use crate::model::{AuditRecord, SealedPhone};
use crate::{DbStore, Scope, StoreError};
use async_trait::async_trait;
use fanzha_core::org::OrgPath;
use fanzha_core::time::Date;
use fanzha_core::{FraudType, Grade, NodeId, ResidentId, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest `kind` of an event, in bytes.
pub const MAX_EVENT_KIND: usize = 16;
/// Longest `source` of an event, in bytes.
pub const MAX_EVENT_SOURCE: usize = 64;
/// Longest sealed payload, in bytes.
pub const MAX_EVENT_PAYLOAD: usize = 256 * 1024;
/// Longest explanation or signal evidence (JSON), in bytes.
pub const MAX_EXPLANATION: usize = 1024 * 1024;
/// Longest upstream id, in bytes.
pub const MAX_UPSTREAM_ID: usize = 128;
/// Longest rules document, in bytes.
pub const MAX_RULES_TOML: usize = 256 * 1024;
/// Longest lead note, in characters.
pub const MAX_LEAD_NOTE: usize = 2000;

/// Where a lead came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadSource {
    /// The real-time engine.
    Engine,
    /// Pushed by an upper-level center (上级推送).
    UpperPush,
    /// A member of the public reporting that they are being defrauded.
    PublicReport,
}

impl LeadSource {
    pub const ALL: &'static [LeadSource] = &[
        LeadSource::Engine,
        LeadSource::UpperPush,
        LeadSource::PublicReport,
    ];
    pub const fn code(self) -> &'static str {
        match self {
            LeadSource::Engine => "engine",
            LeadSource::UpperPush => "upper_push",
            LeadSource::PublicReport => "public_report",
        }
    }
    pub fn parse(s: &str) -> Option<LeadSource> {
        LeadSource::ALL.iter().copied().find(|x| x.code() == s.trim())
    }
}

impl fmt::Display for LeadSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Where a lead is in its handling. The dissuasion workflow moves it on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    /// Waiting to be dispatched.
    Open,
    /// A dissuasion task was made for it.
    Dispatched,
    /// Handled (dissuaded, defrauded, false alarm…).
    Closed,
}

impl LeadStatus {
    pub const ALL: &'static [LeadStatus] = &[LeadStatus::Open, LeadStatus::Dispatched, LeadStatus::Closed];
    pub const fn code(self) -> &'static str {
        match self {
            LeadStatus::Open => "open",
            LeadStatus::Dispatched => "dispatched",
            LeadStatus::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<LeadStatus> {
        LeadStatus::ALL.iter().copied().find(|x| x.code() == s.trim())
    }
}

impl fmt::Display for LeadStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An event to store. Everything personal is inside the sealed `payload`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// Keyed digest of `(source, id)`: the duplicate check (1–64 bytes).
    pub id_hash: Vec<u8>,
    /// The digest an earlier scheme gave the same `(source, id)`, when
    /// events stored under that scheme may exist: the event is a duplicate
    /// when either digest is stored (1–64 bytes; never stored itself).
    pub legacy_id_hash: Option<Vec<u8>>,
    pub ts: Timestamp,
    /// `call`, `sms`, `web`, `app` or `transfer`.
    pub kind: String,
    pub source: String,
    /// The keyed person key (partitions and risk state).
    pub person_key: i64,
    pub payload: Vec<u8>,
}

/// A stored event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub ts: Timestamp,
    pub kind: String,
    pub source: String,
    pub person_key: i64,
    pub received_at: Timestamp,
    pub payload: Vec<u8>,
}

/// A signal an event raised, to store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSignal {
    pub seq: i64,
    /// Its place among the event's signals.
    pub position: i64,
    pub person_key: i64,
    /// The signal type's code (`call_flagged`…).
    pub signal: String,
    pub fraud_type: Option<FraudType>,
    /// The rules' weight times strength, ×1000.
    pub weight_milli: i64,
    /// JSON, without personal values.
    pub evidence: String,
}

/// A stored signal.
pub type StoredSignal = NewSignal;

/// A sealed name: ciphertext and masked form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedName {
    pub enc: Vec<u8>,
    pub masked: String,
}

/// A lead to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLead {
    pub person_key: i64,
    /// `phone`, or the account kind.
    pub subscriber_kind: String,
    pub subscriber: SealedPhone,
    pub name: Option<SealedName>,
    pub resident_id: Option<ResidentId>,
    pub node_id: Option<NodeId>,
    pub grade: Grade,
    pub score_milli: i64,
    pub fraud_type: Option<FraudType>,
    pub source: LeadSource,
    /// Unique per source (upper push id, report reference).
    pub upstream_id: Option<String>,
    pub rules_version: Option<i64>,
    pub opened_at: Timestamp,
    /// The event that raised it (engine leads); unique.
    pub raised_seq: Option<i64>,
    /// JSON, without personal values.
    pub explanation: String,
    pub event_seqs: Vec<i64>,
    pub note: String,
}

/// A rise within the dedup window of a person's latest engine lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeadUpdate {
    pub person_key: i64,
    /// The deciding event; applied only when above the lead's `last_seq`.
    pub seq: i64,
    pub grade: Grade,
    pub score_milli: i64,
    pub fraud_type: Option<FraudType>,
    pub rules_version: Option<i64>,
    pub explanation: String,
    pub event_seqs: Vec<i64>,
    pub at: Timestamp,
}

/// One lead write of a pipeline batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeadWrite {
    Raise(Box<NewLead>),
    Update(LeadUpdate),
}

/// What a lead write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "id")]
pub enum LeadWriteOutcome {
    Raised(i64),
    /// The deciding event had raised this lead before (a replay).
    AlreadyRaised(i64),
    Updated(i64),
    /// Already applied, or the person has no engine lead.
    Skipped,
}

/// One pipeline batch: written in one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineCommit {
    pub consumer: String,
    /// Per partition, the highest `seq` processed.
    pub checkpoints: Vec<(u32, i64)>,
    pub signals: Vec<NewSignal>,
    pub leads: Vec<LeadWrite>,
    /// Audit template of the lead writes (actor `engine`, time of commit).
    pub audit: AuditRecord,
}

/// A lead as lists show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadSummary {
    pub id: i64,
    pub subscriber_kind: String,
    pub subscriber_masked: String,
    pub name_masked: Option<String>,
    pub resident_id: Option<ResidentId>,
    pub node_id: Option<NodeId>,
    pub node_name: Option<String>,
    pub grade: Grade,
    pub score_milli: i64,
    pub fraud_type: Option<FraudType>,
    pub status: LeadStatus,
    pub source: LeadSource,
    pub upstream_id: Option<String>,
    pub rules_version: Option<i64>,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    pub updates: i64,
}

/// A lead with its evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lead {
    pub summary: LeadSummary,
    pub person_key: i64,
    pub subscriber: SealedPhone,
    pub name: Option<SealedName>,
    pub node_path: Option<OrgPath>,
    pub raised_seq: Option<i64>,
    pub last_seq: i64,
    pub explanation: String,
    pub note: String,
    /// The events of its evidence, ascending.
    pub event_seqs: Vec<i64>,
}

/// Filters of the lead list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeadFilter {
    pub grade: Option<Grade>,
    pub status: Option<LeadStatus>,
    pub fraud_type: Option<FraudType>,
    pub source: Option<LeadSource>,
    /// Leads anywhere below this node path.
    pub node_path: Option<OrgPath>,
    pub resident_id: Option<ResidentId>,
    pub subscriber_bidx: Option<Vec<u8>>,
    /// `opened_at >= from`.
    pub from: Option<Timestamp>,
    /// `opened_at < to`.
    pub to: Option<Timestamp>,
    pub limit: Option<usize>,
    pub offset: usize,
}

/// What importing one lead did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "id")]
pub enum LeadImportOutcome {
    Inserted(i64),
    /// The source already pushed this upstream id.
    Existing(i64),
}

/// A stored rules document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesVersion {
    pub version: i64,
    pub name: String,
    pub toml: String,
    pub author: String,
    pub author_id: i64,
    pub note: String,
    pub created_at: Timestamp,
    pub active: bool,
}

/// A rules document to save (it becomes the active one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRulesVersion {
    /// Must be [`EventStore::next_rules_version`]'s answer; taken is a conflict.
    pub version: i64,
    pub name: String,
    pub toml: String,
    pub note: String,
}

/// What the pipeline needs about one resident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub resident_id: ResidentId,
    pub grid_id: NodeId,
    pub birth_date: Option<Date>,
    /// Blind indexes of the resident's own phones.
    pub phone_bidx: Vec<Vec<u8>>,
    pub tags: Vec<String>,
}

/// Changes when residents are added, changed or removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResidentsFingerprint {
    pub count: i64,
    pub max_id: i64,
    pub max_updated_at: i64,
}

/// Cheap figures of the pipeline's tables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCounts {
    /// The highest event `seq` (0 when none).
    pub head_seq: i64,
    pub leads: i64,
    pub open_leads: i64,
}

/// The detection pipeline's part of the store. Bring it into scope to call it.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stores a batch in one transaction with one audit entry (its detail
    /// gets ` accepted=N duplicates=M` appended). Per event, in order: the
    /// new `seq`, or `None` for a duplicate (an `id_hash` stored before or
    /// earlier in the batch, or a `legacy_id_hash` stored before).
    async fn append_events(
        &self,
        events: Vec<NewEvent>,
        received_at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<Vec<Option<i64>>, StoreError>;
    /// The highest `seq` (0 when empty).
    async fn event_head(&self) -> Result<i64, StoreError>;
    /// Up to `limit` events with `seq > after`, by seq.
    async fn events_after(&self, after: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;
    /// The events with these seqs, by seq (missing ones left out).
    async fn events_by_seqs(&self, seqs: &[i64]) -> Result<Vec<StoredEvent>, StoreError>;
    /// The lowest `seq` among events with `ts >= from`.
    async fn first_seq_since(&self, from: Timestamp) -> Result<Option<i64>, StoreError>;
    /// Up to `limit` events with `seq > after` and `from <= ts < to`, by seq.
    async fn events_in_range(
        &self,
        from: Timestamp,
        to: Timestamp,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The consumer's checkpoint per partition.
    async fn checkpoints(&self, consumer: &str) -> Result<Vec<(u32, i64)>, StoreError>;
    /// Writes a pipeline batch (see the module docs); per lead write, what it did.
    async fn commit_pipeline(&self, commit: PipelineCommit) -> Result<Vec<LeadWriteOutcome>, StoreError>;
    /// The signals of these events, by (seq, position).
    async fn signals_for(&self, seqs: &[i64]) -> Result<Vec<StoredSignal>, StoreError>;

    /// Stores leads from outside the engine in one transaction, idempotent
    /// by `(source, upstream_id)`; one audit entry per inserted lead
    /// (target `lead:{id}`) from the template.
    async fn import_leads(
        &self,
        leads: Vec<NewLead>,
        audit_template: &AuditRecord,
    ) -> Result<Vec<LeadImportOutcome>, StoreError>;
    async fn get_lead(&self, scope: &Scope, id: i64) -> Result<Option<Lead>, StoreError>;
    /// A page of leads in scope, newest first, and the number matching.
    async fn list_leads(
        &self,
        scope: &Scope,
        filter: &LeadFilter,
    ) -> Result<(Vec<LeadSummary>, i64), StoreError>;
    /// Sets a lead's status (and note when given).
    async fn set_lead_status(
        &self,
        id: i64,
        status: LeadStatus,
        note: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// The active rules document, if any was saved.
    async fn active_rules(&self) -> Result<Option<RulesVersion>, StoreError>;
    async fn get_rules(&self, version: i64) -> Result<Option<RulesVersion>, StoreError>;
    /// The newest documents first.
    async fn list_rules(&self, limit: usize) -> Result<Vec<RulesVersion>, StoreError>;
    /// The number the next saved document gets.
    async fn next_rules_version(&self) -> Result<i64, StoreError>;
    /// Saves a document and makes it the active one (audited).
    async fn save_rules(&self, new: &NewRulesVersion, audit: &AuditRecord) -> Result<(), StoreError>;
    /// Makes an earlier document the active one again (audited).
    async fn activate_rules(&self, version: i64, audit: &AuditRecord) -> Result<(), StoreError>;

    /// Up to `limit` residents with id above `after`, by id: what the
    /// pipeline needs to recognise them by phone.
    async fn resident_directory_page(
        &self,
        after: Option<ResidentId>,
        limit: usize,
    ) -> Result<Vec<DirectoryEntry>, StoreError>;
    async fn residents_fingerprint(&self) -> Result<ResidentsFingerprint, StoreError>;
    async fn event_counts(&self) -> Result<EventCounts, StoreError>;
}

use crate::{Backend, ops, pg};

#[async_trait]
impl EventStore for DbStore {
    async fn append_events(
        &self,
        events: Vec<NewEvent>,
        received_at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<Vec<Option<i64>>, StoreError> {
        run!(self, write, [audit], |db| ops::events::append(
            db,
            &events,
            received_at,
            audit
        ))
    }
    async fn event_head(&self) -> Result<i64, StoreError> {
        run!(self, read, [], |db| ops::events::head(db))
    }
    async fn events_after(&self, after: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        run!(self, read, [], |db| ops::events::after(db, after, limit))
    }
    async fn events_by_seqs(&self, seqs: &[i64]) -> Result<Vec<StoredEvent>, StoreError> {
        run!(self, read, [seqs], |db| ops::events::by_seqs(db, seqs))
    }
    async fn first_seq_since(&self, from: Timestamp) -> Result<Option<i64>, StoreError> {
        run!(self, read, [], |db| ops::events::first_seq_since(db, from))
    }
    async fn events_in_range(
        &self,
        from: Timestamp,
        to: Timestamp,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        run!(self, read, [], |db| ops::events::in_range(
            db, from, to, after, limit
        ))
    }
    async fn checkpoints(&self, consumer: &str) -> Result<Vec<(u32, i64)>, StoreError> {
        run!(self, read, [consumer], |db| ops::events::checkpoints(
            db, consumer
        ))
    }
    async fn commit_pipeline(&self, commit: PipelineCommit) -> Result<Vec<LeadWriteOutcome>, StoreError> {
        run!(self, write, [], |db| ops::events::commit(db, &commit))
    }
    async fn signals_for(&self, seqs: &[i64]) -> Result<Vec<StoredSignal>, StoreError> {
        run!(self, read, [seqs], |db| ops::events::signals_for(db, seqs))
    }
    async fn import_leads(
        &self,
        leads: Vec<NewLead>,
        audit_template: &AuditRecord,
    ) -> Result<Vec<LeadImportOutcome>, StoreError> {
        run!(self, write, [audit_template], |db| ops::events::import_leads(
            db,
            &leads,
            audit_template
        ))
    }
    async fn get_lead(&self, scope: &Scope, id: i64) -> Result<Option<Lead>, StoreError> {
        run!(self, read, [scope], |db| ops::events::get_lead(db, scope, id))
    }
    async fn list_leads(
        &self,
        scope: &Scope,
        filter: &LeadFilter,
    ) -> Result<(Vec<LeadSummary>, i64), StoreError> {
        run!(self, read, [scope, filter], |db| ops::events::list_leads(
            db, scope, filter
        ))
    }
    async fn set_lead_status(
        &self,
        id: i64,
        status: LeadStatus,
        note: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let note = note.map(str::to_string);
        run!(self, write, [audit], |db| ops::events::set_status(
            db,
            id,
            status,
            note.as_deref(),
            audit
        ))
    }
    async fn active_rules(&self) -> Result<Option<RulesVersion>, StoreError> {
        run!(self, read, [], |db| ops::events::active_rules(db))
    }
    async fn get_rules(&self, version: i64) -> Result<Option<RulesVersion>, StoreError> {
        run!(self, read, [], |db| ops::events::get_rules(db, version))
    }
    async fn list_rules(&self, limit: usize) -> Result<Vec<RulesVersion>, StoreError> {
        run!(self, read, [], |db| ops::events::list_rules(db, limit))
    }
    async fn next_rules_version(&self) -> Result<i64, StoreError> {
        run!(self, read, [], |db| ops::events::next_rules_version(db))
    }
    async fn save_rules(&self, new: &NewRulesVersion, audit: &AuditRecord) -> Result<(), StoreError> {
        run!(self, write, [new, audit], |db| ops::events::save_rules(
            db, new, audit
        ))
    }
    async fn activate_rules(&self, version: i64, audit: &AuditRecord) -> Result<(), StoreError> {
        run!(self, write, [audit], |db| ops::events::activate_rules(
            db, version, audit
        ))
    }
    async fn resident_directory_page(
        &self,
        after: Option<ResidentId>,
        limit: usize,
    ) -> Result<Vec<DirectoryEntry>, StoreError> {
        run!(self, read, [], |db| ops::events::directory_page(db, after, limit))
    }
    async fn residents_fingerprint(&self) -> Result<ResidentsFingerprint, StoreError> {
        run!(self, read, [], |db| ops::events::residents_fingerprint(db))
    }
    async fn event_counts(&self) -> Result<EventCounts, StoreError> {
        run!(self, read, [], |db| ops::events::counts(db))
    }
}
