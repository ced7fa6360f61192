//! Ingest: NDJSON (the API, `fanzha ingest`) and CSV files with a header
//! naming the same fields. Every line is checked on its own
//! ([`fanzha_core::event::parse_event_line`]): a bad line is reported with
//! its number and reason and the good lines are kept. Stored events are
//! acknowledged only after their transaction committed; a re-sent event
//! (same source and id, or the same content when it has no id) is counted as
//! a duplicate.

use super::{Ingested, person_key_of, subscriber_index};
use crate::crypto::Field;
use crate::{Actor, App, AppError, AuditRecord, Result};
use fanzha_bus::{Record, Transport};
use fanzha_core::event::{Event, ParseOptions, parse_event_line, parse_event_object};
use fanzha_core::i18n::Msg;
use fanzha_core::roles::Action;
use fanzha_store::NewEvent;
use serde::Serialize;
use serde_json::{Map, Value};
use std::io::{BufRead, Read};
use std::sync::Arc;

/// A rejected line and why, without the line's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineError {
    /// 1-based line number (CSV: the record's line in the file).
    pub line: usize,
    pub error: String,
}

/// What an ingest did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Non-blank lines (CSV: records) read.
    pub lines: usize,
    /// Events stored now (acknowledged).
    pub accepted: usize,
    /// Events stored before (or earlier in the same input).
    pub duplicates: usize,
    /// Bad lines (at most [`MAX_REPORTED`] listed; `rejected_total` counts all).
    pub rejected: Vec<LineError>,
    pub rejected_total: usize,
    /// The first and last sequence numbers given.
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
}

/// Most rejected lines listed in one report.
pub const MAX_REPORTED: usize = 10_000;

impl IngestReport {
    fn reject(&mut self, e: LineError) {
        self.rejected_total += 1;
        if self.rejected.len() < MAX_REPORTED {
            self.rejected.push(e);
        }
    }
    fn merge(&mut self, o: IngestReport) {
        self.lines += o.lines;
        self.accepted += o.accepted;
        self.duplicates += o.duplicates;
        self.rejected_total += o.rejected_total;
        for e in o.rejected {
            if self.rejected.len() < MAX_REPORTED {
                self.rejected.push(e);
            }
        }
        self.first_seq = match (self.first_seq, o.first_seq) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_seq = self.last_seq.max(o.last_seq);
    }
}

/// The format of an events file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventFileFormat {
    Ndjson,
    /// A header row names the fields (`ts`, `source`, `kind`, `caller`…;
    /// nested ones as `payee.kind`, `payee.value`, `payer.kind`, `payer.value`).
    Csv,
}

impl EventFileFormat {
    /// From the file name, else from the first byte (`{` is NDJSON).
    pub fn detect(name: &str, head: &[u8]) -> EventFileFormat {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            return EventFileFormat::Csv;
        }
        if lower.ends_with(".ndjson") || lower.ends_with(".jsonl") || lower.ends_with(".json") {
            return EventFileFormat::Ndjson;
        }
        let first = head
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(head)
            .iter()
            .find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'{') {
            EventFileFormat::Ndjson
        } else {
            EventFileFormat::Csv
        }
    }
}

/// Progress of a file ingest, after each chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestProgress {
    pub bytes: u64,
    pub lines: usize,
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
}

/// Events ready to store: the rows and the messages for the bus.
pub(crate) struct Prepared {
    rows: Vec<NewEvent>,
    msgs: Vec<Ingested>,
}

/// The setting that says which event id digests the log may hold.
const ID_DIGEST_SETTING: &str = "events.id_digest";
/// Every stored event has the stem-clustered digest.
const ID_DIGEST_CLEAN: &str = "2";
/// Events stored before may carry the first scheme's digest.
const ID_DIGEST_LEGACY: &str = "2+1";
/// Characters at the end of an event id left out of its stem.
const ID_STEM_DROP: usize = 3;

/// The digests of events' `(source, id)`.
///
/// The stored digest is 4 bytes of a keyed digest of the source and the id
/// without its last [`ID_STEM_DROP`] characters (its stem), then 12 bytes of
/// the keyed digest of the source and the whole id. Ids that a source gives
/// in sequence share their stem (`cdr-1234567` with `cdr-1234000` …
/// `cdr-1234999`), so their digests lie together in the unique index and a
/// batch changes a few of its pages rather than one page per event, which
/// is what bounded ingest (each changed page is written to the WAL and
/// later copied into the database). Equal `(source, id)` give equal digests
/// whatever else the event says, so a re-sent event is always found; the
/// 12-byte part alone makes two different ids with one stem collide with a
/// chance of 2⁻⁹⁶. The leading bytes tell which stored events share a stem,
/// nothing more (the person key already links one person's events).
///
/// The first scheme's digest (the 16 bytes of the whole-id digest, whose
/// first 12 are the tail above) comes for free.
#[derive(Default)]
struct IdDigests {
    input: Vec<u8>,
    /// The last stem's digest input and its 4 bytes: consecutive events
    /// mostly share a stem.
    last_stem: Vec<u8>,
    last_cluster: [u8; 4],
}

impl IdDigests {
    /// The stored digest and the first scheme's digest.
    fn of(&mut self, cipher: &crate::crypto::FieldCipher, source: &str, id: &str) -> ([u8; 16], [u8; 16]) {
        self.input.clear();
        self.input.extend_from_slice(source.as_bytes());
        self.input.push(0x1f);
        let stem_end = id
            .char_indices()
            .rev()
            .nth(ID_STEM_DROP - 1)
            .map_or(0, |(i, _)| i);
        self.input.extend_from_slice(&id.as_bytes()[..stem_end]);
        if self.last_stem != self.input {
            let c = cipher.blind_index16(Field::EventIdStem, &self.input);
            self.last_cluster.copy_from_slice(&c[..4]);
            self.last_stem.clone_from(&self.input);
        }
        self.input.extend_from_slice(&id.as_bytes()[stem_end..]);
        let whole = cipher.blind_index16(Field::EventId, &self.input);
        let mut stored = [0u8; 16];
        stored[..4].copy_from_slice(&self.last_cluster);
        stored[4..].copy_from_slice(&whole[..12]);
        (stored, whole)
    }
}

/// Fields that CSV cells turn into JSON numbers when they are integers.
const NUMBER_FIELDS: &[&str] = &["ts", "start", "duration_s", "amount_fen"];

/// One CSV record as the JSON object the event parser reads.
fn csv_object(headers: &[String], rec: &csv::StringRecord) -> Map<String, Value> {
    let mut obj = Map::new();
    let mut nested: Vec<(String, String, String)> = Vec::new();
    for (h, cell) in headers.iter().zip(rec.iter()) {
        let cell = cell.trim();
        if cell.is_empty() || h.is_empty() {
            continue;
        }
        if let Some((outer, inner)) = h.split_once('.').or_else(|| {
            ["payee_", "payer_"]
                .iter()
                .find_map(|p| h.strip_prefix(p).map(|rest| (&h[..p.len() - 1], rest)))
        }) {
            nested.push((outer.to_string(), inner.to_string(), cell.to_string()));
            continue;
        }
        let v = if NUMBER_FIELDS.contains(&h.as_str()) && cell.bytes().all(|b| b.is_ascii_digit()) {
            cell.parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(cell))
        } else {
            Value::from(cell)
        };
        obj.insert(h.clone(), v);
    }
    for (outer, inner, value) in nested {
        let slot = obj.entry(outer).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = slot {
            m.insert(inner, Value::from(value));
        }
    }
    obj
}

impl App {
    /// The options events are checked with now.
    pub fn event_parse_options(&self) -> ParseOptions {
        ParseOptions {
            now: self.now(),
            max_future_skew_ms: self.cfg.detect.max_future_skew_secs.saturating_mul(1000),
            max_text_bytes: self.cfg.detect.max_text_bytes,
        }
    }

    /// Parses NDJSON; line numbers start at `first_line`. Blank lines are skipped.
    pub fn parse_ndjson(&self, body: &[u8], first_line: usize) -> (Vec<(usize, Event)>, IngestReport) {
        let opts = self.event_parse_options();
        let mut events = Vec::new();
        let mut rep = IngestReport::default();
        for (i, line) in body.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            rep.lines += 1;
            let n = first_line + i;
            match parse_event_line(line, &opts) {
                Ok(ev) => events.push((n, ev)),
                Err(e) => rep.reject(LineError {
                    line: n,
                    error: e.to_string(),
                }),
            }
        }
        (events, rep)
    }

    /// Whether events stored under the first id digest scheme (a keyed
    /// digest of the whole `(source, id)`) may exist, so that a re-sent event
    /// must be looked up by that digest too. Decided once per database: a
    /// log that was empty when this scheme first stored anything has none.
    pub(crate) async fn event_digest_legacy(&self) -> Result<bool> {
        self.detect
            .id_digest_legacy
            .get_or_try_init(|| async {
                let legacy = match self.store.get_setting(ID_DIGEST_SETTING).await?.as_deref() {
                    Some(v) => v != ID_DIGEST_CLEAN,
                    None => {
                        let legacy = self.store.event_head().await? > 0;
                        let value = if legacy { ID_DIGEST_LEGACY } else { ID_DIGEST_CLEAN };
                        let audit = self.audit_system(
                            "system",
                            "setting.set",
                            format!("setting:{ID_DIGEST_SETTING}"),
                            "",
                            "",
                        );
                        self.store.set_setting(ID_DIGEST_SETTING, value, &audit).await?;
                        legacy
                    }
                };
                Ok::<_, AppError>(legacy)
            })
            .await
            .copied()
    }

    /// Seals events and computes their keys (CPU only). `legacy`: also give
    /// each event its digest under the first scheme (see
    /// [`App::event_digest_legacy`]).
    pub(crate) fn prepare_events(&self, events: Vec<Event>, legacy: bool) -> Result<Prepared> {
        let mut rows = Vec::with_capacity(events.len());
        let mut msgs = Vec::with_capacity(events.len());
        let mut lines: Vec<String> = Vec::with_capacity(events.len());
        let mut digests = IdDigests::default();
        for ev in events {
            let bidx = subscriber_index(&self.cipher, ev.subscriber());
            let person_key = person_key_of(&bidx);
            let (id_hash, legacy_id_hash) = digests.of(&self.cipher, &ev.source, &ev.id);
            lines.push(ev.to_json_line());
            rows.push(NewEvent {
                id_hash: id_hash.to_vec(),
                legacy_id_hash: legacy.then(|| legacy_id_hash.to_vec()),
                ts: ev.ts,
                kind: ev.body.kind_code().to_string(),
                source: ev.source.clone(),
                person_key: person_key as i64,
                payload: Vec::new(),
            });
            msgs.push(Ingested {
                event: Some(ev),
                person_key,
                bidx,
            });
        }
        let refs: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
        let sealed = self.cipher.seal_many(Field::Event, &refs)?;
        for (row, payload) in rows.iter_mut().zip(sealed) {
            row.payload = payload;
        }
        Ok(Prepared { rows, msgs })
    }

    /// Stores prepared events (one transaction, one audit entry) and hands
    /// the new ones to the pipeline. Per event: its seq, or `None` for a
    /// duplicate.
    pub(crate) async fn store_events(&self, p: Prepared, audit: AuditRecord) -> Result<Vec<Option<i64>>> {
        if p.rows.is_empty() {
            return Ok(Vec::new());
        }
        let _order = self.detect.ingest_lock.lock().await;
        let seqs = self.store.append_events(p.rows, self.now(), &audit).await?;
        let records: Vec<Record<super::Msg>> = seqs
            .iter()
            .zip(p.msgs)
            .filter_map(|(s, m)| {
                s.map(|seq| Record {
                    offset: seq as u64,
                    key: m.person_key,
                    message: Arc::new(m),
                })
            })
            .collect();
        if let Err(e) = self.detect.bus.publish(records).await {
            // Stored is stored: the pipeline reads the log when it resumes.
            tracing::warn!(error = %e, "events stored but not handed to the pipeline");
        }
        Ok(seqs)
    }

    /// Stores checked events; `rep` carries the lines and rejections so far.
    async fn ingest_checked(
        &self,
        actor: &Actor,
        events: Vec<(usize, Event)>,
        mut rep: IngestReport,
    ) -> Result<IngestReport> {
        if events.is_empty() {
            return Ok(rep);
        }
        let n = events.len();
        let legacy = self.event_digest_legacy().await?;
        let prepared =
            super::cpu(|| self.prepare_events(events.into_iter().map(|(_, e)| e).collect(), legacy))?;
        let audit = self.audit(actor, "event.ingest", "", format!("lines={}", rep.lines));
        let seqs = self.store_events(prepared, audit).await?;
        for s in seqs.iter() {
            match s {
                Some(seq) => {
                    rep.accepted += 1;
                    rep.first_seq = Some(rep.first_seq.map_or(*seq, |f| f.min(*seq)));
                    rep.last_seq = Some(rep.last_seq.map_or(*seq, |l| l.max(*seq)));
                }
                None => rep.duplicates += 1,
            }
        }
        tracing::info!(
            user_id = actor.user.id.0,
            events = n,
            accepted = rep.accepted,
            duplicates = rep.duplicates,
            rejected = rep.rejected_total,
            "events ingested"
        );
        Ok(rep)
    }

    /// `POST /events`: one NDJSON batch. Larger than
    /// [`super::DetectConfig::max_batch_bytes`] is refused whole.
    pub async fn ingest_ndjson(&self, actor: &Actor, body: &[u8]) -> Result<IngestReport> {
        self.gate(actor, Action::IngestEvents)?;
        let limit = self.cfg.detect.max_batch_bytes;
        if body.len() > limit {
            return Err(AppError::TooLarge { limit });
        }
        let (events, rep) = super::cpu(|| self.parse_ndjson(body, 1));
        self.ingest_checked(actor, events, rep).await
    }

    /// Ingests a whole file (NDJSON or CSV) in chunks, calling `progress`
    /// after each; for `fanzha ingest`.
    pub async fn ingest_file(
        &self,
        actor: &Actor,
        reader: Box<dyn BufRead + Send>,
        format: EventFileFormat,
        progress: &mut (dyn FnMut(IngestProgress) + Send),
    ) -> Result<IngestReport> {
        self.gate(actor, Action::IngestEvents)?;
        let chunk_bytes = self.cfg.detect.max_batch_bytes.clamp(64 * 1024, 4 * 1024 * 1024);
        let mut total = IngestReport::default();
        let mut bytes_done = 0u64;
        let report = |total: &IngestReport, bytes: u64| IngestProgress {
            bytes,
            lines: total.lines,
            accepted: total.accepted,
            duplicates: total.duplicates,
            rejected: total.rejected_total,
        };
        match format {
            EventFileFormat::Ndjson => {
                let mut reader = reader;
                let mut line_no = 1usize;
                loop {
                    // Whole lines up to about `chunk_bytes`.
                    let mut buf = Vec::with_capacity(chunk_bytes + 1024);
                    let mut lines_in_chunk = 0usize;
                    while buf.len() < chunk_bytes {
                        let n = reader
                            .read_until(b'\n', &mut buf)
                            .map_err(|e| AppError::Invalid(Msg::new("ingest.read_error").arg("reason", e)))?;
                        if n == 0 {
                            break;
                        }
                        lines_in_chunk += 1;
                    }
                    if buf.is_empty() {
                        break;
                    }
                    bytes_done += buf.len() as u64;
                    let (events, rep) = super::cpu(|| self.parse_ndjson(&buf, line_no));
                    line_no += lines_in_chunk;
                    let rep = self.ingest_checked(actor, events, rep).await?;
                    total.merge(rep);
                    progress(report(&total, bytes_done));
                }
            }
            EventFileFormat::Csv => {
                let mut rdr = csv::ReaderBuilder::new()
                    .flexible(true)
                    .has_headers(true)
                    .from_reader(BomSkip::new(reader));
                let headers: Vec<String> = rdr
                    .headers()
                    .map_err(|e| AppError::Invalid(Msg::new("ingest.read_error").arg("reason", e)))?
                    .iter()
                    .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
                    .collect();
                let opts = self.event_parse_options();
                let mut rec = csv::StringRecord::new();
                let mut done = false;
                while !done {
                    let mut events = Vec::new();
                    let mut rep = IngestReport::default();
                    let mut chunk = 0usize;
                    while chunk < chunk_bytes {
                        match rdr.read_record(&mut rec) {
                            Ok(false) => {
                                done = true;
                                break;
                            }
                            Ok(true) => {
                                let line = rec.position().map_or(0, |p| p.line() as usize);
                                chunk += rec.as_slice().len() + rec.len();
                                rep.lines += 1;
                                let obj = csv_object(&headers, &rec);
                                match parse_event_object(&obj, &opts) {
                                    Ok(ev) => events.push((line, ev)),
                                    Err(e) => rep.reject(LineError {
                                        line,
                                        error: e.to_string(),
                                    }),
                                }
                            }
                            Err(e) => {
                                let line = e.position().map_or(0, |p| p.line() as usize);
                                rep.lines += 1;
                                rep.reject(LineError {
                                    line,
                                    error: csv_error(&e),
                                });
                                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                                    done = true;
                                    break;
                                }
                            }
                        }
                    }
                    bytes_done = rdr.position().byte();
                    let rep = self.ingest_checked(actor, events, rep).await?;
                    total.merge(rep);
                    progress(report(&total, bytes_done));
                }
            }
        }
        Ok(total)
    }
}

/// A CSV error's reason without the input.
fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "the line is not valid UTF-8".into(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("the line has {len} fields; the header has {expected_len}")
        }
        csv::ErrorKind::Io(err) => format!("read error: {err}"),
        _ => "not valid CSV".into(),
    }
}

/// Skips a UTF-8 byte order mark at the start of a reader.
struct BomSkip<R> {
    inner: R,
    checked: bool,
}

impl<R: BufRead> BomSkip<R> {
    fn new(inner: R) -> Self {
        BomSkip {
            inner,
            checked: false,
        }
    }
}

impl<R: BufRead> Read for BomSkip<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.checked {
            self.checked = true;
            let head = self.inner.fill_buf()?;
            if head.starts_with(b"\xEF\xBB\xBF") {
                self.inner.consume(3);
            }
        }
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_become_event_fields() {
        let headers: Vec<String> = [
            "ts",
            "source",
            "kind",
            "payer",
            "payee.kind",
            "payee_value",
            "amount_fen",
            "x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let rec = csv::StringRecord::from(vec![
            "1717200000000",
            "bank",
            "transfer",
            "13900000002",
            "bank_account",
            "6222000011112222",
            "500",
            "",
        ]);
        let obj = csv_object(&headers, &rec);
        assert_eq!(obj["ts"], Value::from(1_717_200_000_000i64));
        assert_eq!(obj["amount_fen"], Value::from(500));
        assert_eq!(obj["payee"]["kind"], Value::from("bank_account"));
        assert_eq!(obj["payee"]["value"], Value::from("6222000011112222"));
        assert!(!obj.contains_key("x"));
        let opts = ParseOptions::at(fanzha_core::Timestamp(1_717_200_000_000));
        assert!(parse_event_object(&obj, &opts).is_ok());
    }

    #[test]
    fn id_digests_cluster_by_stem_and_keep_the_first_scheme() {
        use crate::crypto::{FieldCipher, MasterKey};
        let cipher = FieldCipher::new(&MasterKey::from_hex(&"ab".repeat(32)).unwrap()).unwrap();
        let mut d = IdDigests::default();
        let (a, a1) = d.of(&cipher, "cmcc", "cdr-1234567");
        let (b, _) = d.of(&cipher, "cmcc", "cdr-1234999");
        let (c, _) = d.of(&cipher, "cmcc", "cdr-1235000");
        let (e, _) = d.of(&cipher, "unicom", "cdr-1234567");
        // One stem, one leading part; the whole digest tells the ids apart.
        assert_eq!(a[..4], b[..4]);
        assert_ne!(a, b);
        assert_ne!(a[..4], c[..4]);
        assert_ne!(a[..4], e[..4], "the source is part of the stem");
        // The same (source, id) always gives the same digests, cached or not.
        assert_eq!(IdDigests::default().of(&cipher, "cmcc", "cdr-1234567"), (a, a1));
        // The first scheme's digest is the whole-id digest; its head is the tail.
        assert_eq!(a1, cipher.blind_index16(Field::EventId, b"cmcc\x1fcdr-1234567"));
        assert_eq!(a[4..], a1[..12]);
        // Short ids have an empty stem; multi-byte characters are cut whole.
        let (s1, _) = d.of(&cipher, "cmcc", "ab");
        let (s2, _) = d.of(&cipher, "cmcc", "xyz");
        assert_eq!(s1[..4], s2[..4]);
        let (m1, _) = d.of(&cipher, "cmcc", "话单甲乙丙");
        let (m2, _) = d.of(&cipher, "cmcc", "话单丁戊己");
        assert_eq!(m1[..4], m2[..4]);
        assert_ne!(m1, m2);
    }

    #[test]
    fn formats_are_detected() {
        assert_eq!(EventFileFormat::detect("a.CSV", b"{"), EventFileFormat::Csv);
        assert_eq!(EventFileFormat::detect("a.jsonl", b"ts"), EventFileFormat::Ndjson);
        assert_eq!(
            EventFileFormat::detect("a", b"\xEF\xBB\xBF {\"ts\""),
            EventFileFormat::Ndjson
        );
        assert_eq!(EventFileFormat::detect("a", b"ts,kind"), EventFileFormat::Csv);
    }
}
