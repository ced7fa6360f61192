//! Intel file formats: parsers that turn an uploaded file into indicator
//! drafts, and exporters that turn indicators into the files disposal
//! systems load (DNS response policy zones, hosts files, firewall sets,
//! spreadsheets, STIX).
//!
//! Everything here is pure: bytes in, typed results out. Nothing reads the
//! clock, the file system or the store; the caller passes the time where one
//! is needed and decides what to do with the drafts.
//!
//! # Import
//!
//! [`parse`] reads a file in one [`ImportFormat`] and returns a
//! [`ParseReport`]. A parser never fails as a whole on a bad line and never
//! panics: each line (row for spreadsheets, object for STIX) ends up in the
//! report as an accepted draft, a rejection with its reason, an unsupported
//! rule, an allowlist candidate, a duplicate of an earlier line, or a skipped
//! comment/blank/header line. Only a file that cannot be read at all (empty,
//! not a workbook, not JSON) sets [`ParseReport::error`].
//!
//! Values are normalised with [`fanzha_core::indicator`], so a draft's value
//! is already canonical. Two lines with the same kind and canonical value
//! give one draft (the later one is listed in [`ParseReport::duplicates`] and
//! merged into the first: tags are united, `reports:N` counts add up, the
//! highest confidence wins, empty fields are filled).
//!
//! # Export
//!
//! [`export()`] writes [`ExportItem`]s in one [`ExportFormat`]. Exports are
//! deterministic: items are sorted by kind and value, no clock or random
//! number is read, so the same input gives the same bytes.

mod adblock;
pub mod export;
mod hosts;
mod list;
mod sheet;
pub mod stix;
pub mod stix_pattern;
pub mod time;
pub mod tw165;

pub use export::{
    ExportError, ExportFormat, ExportItem, ExportOptions, ExportOutput, ExportSkip, IndicatorStatus,
    RpzPolicy, SkipCount, export,
};

use fanzha_core::i18n::Msg;
use fanzha_core::indicator::{self, NormalizeError};
use fanzha_core::{FraudType, IndicatorKind, Timestamp};
use fanzha_store::{IndicatorSource, IndicatorUpsert};
use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

/// Longest line (or cell) read, in bytes; longer lines are rejected unread.
pub const MAX_LINE_BYTES: usize = 4096;
/// Longest excerpt of a rejected line shown in a report, in characters.
pub const EXCERPT_CHARS: usize = 60;
/// Most tags kept on one draft.
pub const MAX_TAGS: usize = 32;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;
/// Longest description kept, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// Longest source name or external id kept, in characters.
pub const MAX_SOURCE_CHARS: usize = 200;

/// The file formats [`parse`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    /// A spreadsheet as CSV with a header row: `kind, value, fraud_type,
    /// confidence, source, valid_from, valid_until, tags, description,
    /// external_id` (Chinese headers too: 类型, 值/号码/网址, 诈骗类型, 置信度,
    /// 来源, 生效时间, 有效期至, 标签, 描述, 外部编号). Only a value column is required.
    Csv,
    /// The same columns in the first sheet of an XLSX workbook.
    Xlsx,
    /// The same columns, tab-separated; `#` lines are comments. Also reads
    /// the 165 list's `網站名稱 網址 件數` columns (name → description, count →
    /// a `reports:N` tag).
    Tsv,
    /// One value a line; the kind is detected, or forced by
    /// [`ImportOptions::default_kind`]. `#` and `!` start comment lines; ` #`
    /// starts an inline comment.
    List,
    /// A hosts file: `0.0.0.0 name…`, `127.0.0.1 name…`, `:: name`, `::1 name`.
    Hosts,
    /// Adblock / uBlock filter lists: `||domain^`, bare domains and IPs.
    Adblock,
    /// A STIX 2.1 bundle (JSON) of `indicator` objects.
    Stix,
    /// The Taiwan 165 site list (`網站名稱 網址 件數`): like [`ImportFormat::Tsv`]
    /// but every value is read as a web indicator (domain, URL or IP).
    Tw165Tsv,
    /// The Taiwan 165 bank account list: a date line, then
    /// `account,fraud_type,swift,` (see [`tw165`]).
    Tw165BankCsv,
}

impl ImportFormat {
    pub const ALL: &'static [ImportFormat] = &[
        ImportFormat::Csv,
        ImportFormat::Xlsx,
        ImportFormat::Tsv,
        ImportFormat::List,
        ImportFormat::Hosts,
        ImportFormat::Adblock,
        ImportFormat::Stix,
        ImportFormat::Tw165Tsv,
        ImportFormat::Tw165BankCsv,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            ImportFormat::Csv => "csv",
            ImportFormat::Xlsx => "xlsx",
            ImportFormat::Tsv => "tsv",
            ImportFormat::List => "list",
            ImportFormat::Hosts => "hosts",
            ImportFormat::Adblock => "adblock",
            ImportFormat::Stix => "stix",
            ImportFormat::Tw165Tsv => "tw165_tsv",
            ImportFormat::Tw165BankCsv => "tw165_bank_csv",
        }
    }

    pub fn parse(s: &str) -> Option<ImportFormat> {
        let t = s.trim();
        ImportFormat::ALL
            .iter()
            .copied()
            .find(|f| f.code().eq_ignore_ascii_case(t))
    }

    /// A guess from the file name, then the first bytes. The caller should
    /// let the user override it.
    pub fn detect(file_name: Option<&str>, bytes: &[u8]) -> ImportFormat {
        let name = file_name.map(str::to_ascii_lowercase).unwrap_or_default();
        if bytes.starts_with(b"PK\x03\x04") || name.ends_with(".xlsx") {
            return ImportFormat::Xlsx;
        }
        let head = String::from_utf8_lossy(bytes.get(..4096).unwrap_or(bytes)).into_owned();
        let first = head.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
        if name.ends_with(".json")
            || first.starts_with('{')
            || first.starts_with('[') && head.contains("\"type\"")
        {
            return ImportFormat::Stix;
        }
        // The 165 bank list opens with a date line (`,2023/11/16,,`) and
        // has no header; the 165 site dump opens with `####### date ~ date`.
        let dated = |t: &str| {
            let d = t.trim_matches(',');
            d.len() == 10
                && d.bytes().enumerate().all(|(i, c)| {
                    if i == 4 || i == 7 {
                        c == b'/'
                    } else {
                        c.is_ascii_digit()
                    }
                })
        };
        if first.starts_with(',') && dated(first) {
            return ImportFormat::Tw165BankCsv;
        }
        if first.starts_with("#######") && first.contains('~') && head.contains('\t') {
            return ImportFormat::Tw165Tsv;
        }
        if name.ends_with(".csv") {
            return ImportFormat::Csv;
        }
        if name.ends_with(".tsv") {
            return ImportFormat::Tsv;
        }
        if name.contains("hosts") || first.starts_with("0.0.0.0 ") || first.starts_with("127.0.0.1 ") {
            return ImportFormat::Hosts;
        }
        // `!` opens comments in lists too: only rules make a file adblock.
        let rules = head
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with(['!', '#']))
            .take(20)
            .any(|l| l.starts_with("||") || l.starts_with("@@") || l.contains('^') || l.contains("##"));
        if rules || first.starts_with("[Adblock") {
            return ImportFormat::Adblock;
        }
        ImportFormat::List
    }
}

/// What the user chose for an import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOptions {
    pub format: ImportFormat,
    /// The kind of every value of a list (`--kind`), or of rows without a
    /// kind column. Without it the kind is detected per value.
    #[serde(default)]
    pub default_kind: Option<IndicatorKind>,
    /// The fraud type of drafts whose line gives none.
    #[serde(default)]
    pub default_fraud_type: Option<FraudType>,
    /// The confidence of drafts whose line gives none.
    #[serde(default)]
    pub default_confidence: Option<u8>,
    /// The source of drafts whose line gives none (the feed or file name).
    #[serde(default)]
    pub source_name: Option<String>,
}

impl ImportOptions {
    pub fn new(format: ImportFormat) -> ImportOptions {
        ImportOptions {
            format,
            default_kind: None,
            default_fraud_type: None,
            default_confidence: None,
            source_name: None,
        }
    }
}

/// An indicator as read from a file, not yet stored. `value` is canonical.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicatorDraft {
    pub kind: IndicatorKind,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraud_type: Option<FraudType>,
    /// 0–100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Timestamp>,
    /// Sorted, without duplicates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The identifier the source gave it (a STIX id, a row id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl IndicatorDraft {
    pub fn new(kind: IndicatorKind, value: String) -> IndicatorDraft {
        IndicatorDraft {
            kind,
            value,
            fraud_type: None,
            confidence: None,
            source: None,
            valid_from: None,
            valid_until: None,
            tags: Vec::new(),
            description: None,
            external_id: None,
        }
    }
}

impl IndicatorDraft {
    /// The store's import row for this draft. `source` is the import's
    /// source (the draft's own `source` text, a per-row column, is the
    /// caller's to map, e.g. to [`IndicatorSource::feed`]); the defaults fill
    /// what the file did not give for a new indicator.
    pub fn to_upsert(
        &self,
        source: IndicatorSource,
        status: IndicatorStatus,
        default_fraud_type: FraudType,
        default_confidence: u8,
        default_valid_until: Option<Timestamp>,
    ) -> IndicatorUpsert {
        IndicatorUpsert {
            kind: self.kind,
            value: self.value.clone(),
            source,
            status,
            fraud_type: self.fraud_type,
            confidence: self.confidence,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            tags: self.tags.clone(),
            description: self.description.clone(),
            external_id: self.external_id.clone(),
            default_fraud_type,
            default_confidence,
            default_valid_until,
        }
    }
}

/// A draft and the line (row, STIX object position) it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineDraft {
    pub line: usize,
    pub draft: IndicatorDraft,
}

/// A line that gave no draft, and why. `excerpt` is at most
/// [`EXCERPT_CHARS`] characters of the offending text, control and
/// formatting characters replaced by `?`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub line: usize,
    pub reason: Msg,
    pub excerpt: String,
}

/// An exception rule (`@@||domain^`): a value the source says must not be
/// flagged. The caller decides whether it goes to the allowlist (白名单).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowCandidate {
    pub line: usize,
    pub kind: IndicatorKind,
    pub value: String,
}

/// A line whose value an earlier line already gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duplicate {
    pub line: usize,
    pub first_line: usize,
}

/// Why a line holds no indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    Blank,
    Comment,
    Header,
    /// A hosts-file entry for the machine itself (`localhost`, `broadcasthost`…).
    Localhost,
    /// A STIX object other than an indicator (identity, relationship…).
    OtherObject,
    /// A STIX indicator marked `revoked`.
    Revoked,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub line: usize,
    pub reason: SkipReason,
}

/// Something about an accepted line that was ignored (adblock `$options`, an
/// unknown column, an unusable confidence).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub line: usize,
    pub msg: Msg,
}

/// Everything a parser found. For the line formats (list, hosts, adblock,
/// TSV, bank CSV) every line number from 1 to `lines` appears at least once
/// across `drafts`, `rejected`, `unsupported`, `allowlist_candidates`,
/// `duplicates` and `skipped` (a hosts line with several names can appear
/// several times). For CSV and XLSX, `lines` is the last row number and
/// empty rows are not listed; for STIX a "line" is the 1-based position of
/// the object in the bundle's `objects`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParseReport {
    pub format: ImportFormat,
    pub lines: usize,
    /// Set when the file as a whole could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Msg>,
    pub drafts: Vec<LineDraft>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejection>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsupported: Vec<Rejection>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowlist_candidates: Vec<AllowCandidate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicates: Vec<Duplicate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
}

impl ParseReport {
    fn new(format: ImportFormat) -> ParseReport {
        ParseReport {
            format,
            lines: 0,
            error: None,
            drafts: Vec::new(),
            rejected: Vec::new(),
            unsupported: Vec::new(),
            allowlist_candidates: Vec::new(),
            duplicates: Vec::new(),
            skipped: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// How many skipped lines were comments.
    pub fn skipped_comments(&self) -> usize {
        self.skipped
            .iter()
            .filter(|s| s.reason == SkipReason::Comment)
            .count()
    }

    /// Counts of rejected and unsupported lines by reason (message key), for
    /// a summary.
    pub fn reasons(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for r in self.rejected.iter().chain(&self.unsupported) {
            *m.entry(r.reason.key.clone()).or_insert(0) += 1;
        }
        m
    }

    /// The drafts without their line numbers.
    pub fn into_drafts(self) -> Vec<IndicatorDraft> {
        self.drafts.into_iter().map(|d| d.draft).collect()
    }
}

/// Parses `bytes` in `opts.format`. Never panics; see [`ParseReport`].
pub fn parse(bytes: &[u8], opts: &ImportOptions) -> ParseReport {
    let mut b = Builder::new(opts);
    match opts.format {
        ImportFormat::Csv => sheet::parse_csv(bytes, &mut b),
        ImportFormat::Xlsx => sheet::parse_xlsx(bytes, &mut b),
        ImportFormat::Tsv => sheet::parse_tsv(bytes, &mut b, false),
        ImportFormat::Tw165Tsv => sheet::parse_tsv(bytes, &mut b, true),
        ImportFormat::List => list::parse(bytes, &mut b),
        ImportFormat::Hosts => hosts::parse(bytes, &mut b),
        ImportFormat::Adblock => adblock::parse(bytes, &mut b),
        ImportFormat::Stix => stix::parse(bytes, &mut b),
        ImportFormat::Tw165BankCsv => tw165::parse_bank_csv(bytes, &mut b),
    }
    b.finish()
}

/// Collects a report: applies the defaults, checks dates, merges duplicates.
pub(crate) struct Builder<'o> {
    opts: &'o ImportOptions,
    r: ParseReport,
    seen: HashMap<(IndicatorKind, String), usize>,
}

impl<'o> Builder<'o> {
    fn new(opts: &'o ImportOptions) -> Builder<'o> {
        Builder {
            opts,
            r: ParseReport::new(opts.format),
            seen: HashMap::new(),
        }
    }

    pub(crate) fn opts(&self) -> &ImportOptions {
        self.opts
    }

    fn finish(self) -> ParseReport {
        self.r
    }

    pub(crate) fn set_lines(&mut self, n: usize) {
        self.r.lines = n;
    }

    pub(crate) fn fail(&mut self, msg: Msg) {
        self.r.error = Some(msg);
    }

    pub(crate) fn accept(&mut self, line: usize, mut d: IndicatorDraft) {
        let o = self.opts;
        if d.fraud_type.is_none() {
            d.fraud_type = o.default_fraud_type;
        }
        if d.confidence.is_none() {
            d.confidence = o.default_confidence.map(|c| c.min(100));
        }
        if d.source.is_none() {
            d.source = o.source_name.as_deref().and_then(clean_text_short);
        }
        if let (Some(from), Some(until)) = (d.valid_from, d.valid_until)
            && until <= from
        {
            self.reject(line, Msg::new("intel.import.until_before_from"), &d.value);
            return;
        }
        d.tags = clean_tags(std::mem::take(&mut d.tags));
        match self.seen.entry((d.kind, d.value.clone())) {
            Entry::Occupied(e) => {
                if let Some(first) = self.r.drafts.get_mut(*e.get()) {
                    merge(&mut first.draft, d);
                    let first_line = first.line;
                    self.r.duplicates.push(Duplicate { line, first_line });
                }
            }
            Entry::Vacant(e) => {
                e.insert(self.r.drafts.len());
                self.r.drafts.push(LineDraft { line, draft: d });
            }
        }
    }

    pub(crate) fn reject(&mut self, line: usize, reason: Msg, text: &str) {
        self.r.rejected.push(Rejection {
            line,
            reason,
            excerpt: excerpt(text),
        });
    }

    pub(crate) fn reject_bytes(&mut self, line: usize, reason: Msg, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes.get(..EXCERPT_CHARS * 4).unwrap_or(bytes)).into_owned();
        self.reject(line, reason, &text);
    }

    pub(crate) fn unsupported(&mut self, line: usize, reason: Msg, text: &str) {
        self.r.unsupported.push(Rejection {
            line,
            reason,
            excerpt: excerpt(text),
        });
    }

    pub(crate) fn allow(&mut self, line: usize, kind: IndicatorKind, value: String) {
        self.r
            .allowlist_candidates
            .push(AllowCandidate { line, kind, value });
    }

    pub(crate) fn skip(&mut self, line: usize, reason: SkipReason) {
        self.r.skipped.push(Skipped { line, reason });
    }

    pub(crate) fn note(&mut self, line: usize, msg: Msg) {
        self.r.notes.push(Note { line, msg });
    }

    /// Decodes one line: too long or not UTF-8 is a rejection.
    pub(crate) fn decode<'a>(&mut self, line: usize, bytes: &'a [u8]) -> Option<&'a str> {
        if bytes.len() > MAX_LINE_BYTES {
            self.reject_bytes(
                line,
                Msg::new("intel.import.line_too_long").arg("max", MAX_LINE_BYTES),
                bytes,
            );
            return None;
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => Some(s),
            Err(_) => {
                self.reject_bytes(line, Msg::new("intel.import.not_utf8"), bytes);
                None
            }
        }
    }

    /// Normalises `raw` as `kind`, or detects the kind; a failure is
    /// rejected and gives `None`.
    pub(crate) fn value(
        &mut self,
        line: usize,
        kind: Option<IndicatorKind>,
        raw: &str,
    ) -> Option<(IndicatorKind, String)> {
        match kind {
            Some(k) => match indicator::normalize(k, raw) {
                Ok(v) => Some((k, v)),
                Err(e) => {
                    self.reject(line, invalid(&e), raw);
                    None
                }
            },
            None => match indicator::detect(raw) {
                Some(hit) => Some(hit),
                None => {
                    let reason = if raw.trim().is_empty() {
                        Msg::new("intel.import.empty_value")
                    } else if raw.len() > indicator::MAX_RAW_LEN {
                        Msg::new("intel.import.value_too_long").arg("max", indicator::MAX_RAW_LEN)
                    } else {
                        explain(raw)
                    };
                    self.reject(line, reason, raw);
                    None
                }
            },
        }
    }

    /// A host from a web list: an IP address or network, else a domain.
    pub(crate) fn web_host(&mut self, line: usize, raw: &str) -> Option<(IndicatorKind, String)> {
        self.value(line, Some(web_host_kind(raw)), raw)
    }

    /// A value from a web list: a URL when it has a scheme, path, query or
    /// port; otherwise a host.
    pub(crate) fn web_value(&mut self, line: usize, raw: &str) -> Option<(IndicatorKind, String)> {
        let t = raw.trim();
        let host_end = t.find(['/', '?', '#', '\\']).unwrap_or(t.len());
        let host = &t[..host_end];
        let has_port = host
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.contains(':') && !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
        if t.contains("://") || host_end < t.len() || has_port {
            self.value(line, Some(IndicatorKind::Url), t)
        } else {
            self.web_host(line, t)
        }
    }
}

/// Why [`indicator::detect`] found no kind: the error of the kind the value
/// most looks like, or "unknown kind" when it looks like none (or is too
/// ambiguous to guess).
fn explain(raw: &str) -> Msg {
    let t = raw.trim();
    let digits = t.chars().filter(char::is_ascii_digit).count();
    let guess = if t.contains("://")
        || t.contains('/') && !t.contains(' ') && web_host_kind(t) != IndicatorKind::Ip
    {
        Some(IndicatorKind::Url)
    } else if web_host_kind(t) == IndicatorKind::Ip && t.contains(['.', ':']) {
        Some(IndicatorKind::Ip)
    } else if t.starts_with(['+', '＋']) || digits >= 5 && digits * 2 > t.chars().count() {
        Some(IndicatorKind::Phone)
    } else if t.contains('.') && !t.contains(char::is_whitespace) {
        Some(IndicatorKind::Domain)
    } else {
        None
    };
    match guess.map(|k| indicator::normalize(k, t)) {
        Some(Err(e)) => invalid(&e),
        _ => Msg::new("intel.import.unknown_kind"),
    }
}

/// IP when the text is made of address characters, otherwise domain.
pub(crate) fn web_host_kind(raw: &str) -> IndicatorKind {
    let t = raw.trim();
    let ipish = !t.is_empty()
        && t.chars().any(|c| c.is_ascii_digit())
        && (t.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'/'))
            || t.contains(':')
                && t.bytes()
                    .all(|c| c.is_ascii_hexdigit() || matches!(c, b':' | b'.' | b'/' | b'[' | b']')));
    if ipish {
        IndicatorKind::Ip
    } else {
        IndicatorKind::Domain
    }
}

/// The reason for a normalisation failure. The detail comes from the core
/// normalisers, which speak English only.
pub(crate) fn invalid(e: &NormalizeError) -> Msg {
    let (key, detail): (&str, String) = match e {
        NormalizeError::Empty => return Msg::new("intel.import.empty_value"),
        NormalizeError::TooLong { max, .. } => {
            return Msg::new("intel.import.value_too_long").arg("max", max);
        }
        NormalizeError::Phone { source, .. } => ("intel.import.invalid.phone", source.to_string()),
        NormalizeError::Domain { source, .. } => ("intel.import.invalid.domain", source.to_string()),
        NormalizeError::Url { source, .. } => ("intel.import.invalid.url", source.to_string()),
        NormalizeError::Ip { source, .. } => ("intel.import.invalid.ip", source.to_string()),
        NormalizeError::App { source, .. } => ("intel.import.invalid.app", source.to_string()),
        NormalizeError::BankAccount { source, .. } => {
            ("intel.import.invalid.bank_account", source.to_string())
        }
        NormalizeError::PaymentAccount { source, .. } => {
            ("intel.import.invalid.payment_account", source.to_string())
        }
        NormalizeError::SocialAccount { source, .. } => {
            ("intel.import.invalid.social_account", source.to_string())
        }
    };
    Msg::new(key).arg("detail", detail)
}

/// At most [`EXCERPT_CHARS`] characters of `s`, trimmed, with control and
/// invisible formatting characters (bidi overrides, zero-width) as `?`.
pub fn excerpt(s: &str) -> String {
    let t = s.trim();
    let mut out = String::new();
    let mut chars = t.chars();
    for c in chars.by_ref().take(EXCERPT_CHARS) {
        out.push(if is_unsafe_char(c) { '?' } else { c });
    }
    if chars.next().is_some() {
        out.pop();
        out.push('…');
    }
    out
}

fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// Text for a free field: trimmed, unsafe characters removed, cut to `max`
/// characters; `None` when nothing is left.
pub(crate) fn clean_text(s: &str, max: usize) -> Option<String> {
    let t: String = s
        .trim()
        .chars()
        .filter(|c| !is_unsafe_char(*c) || *c == '\n')
        .take(max)
        .collect();
    let t = t.trim();
    if t.is_empty() { None } else { Some(t.to_string()) }
}

pub(crate) fn clean_text_short(s: &str) -> Option<String> {
    clean_text(s, MAX_SOURCE_CHARS).map(|t| t.replace('\n', " "))
}

/// Characters that separate tags in one cell.
pub const TAG_SEPARATORS: [char; 6] = [';', ',', '，', '、', '；', '|'];

/// Splits a tag cell.
pub(crate) fn split_tags(s: &str) -> Vec<String> {
    s.split(TAG_SEPARATORS).filter_map(clean_text_short).collect()
}

/// Trims, drops empty and overlong tags and separators, sorts, removes
/// duplicates, keeps at most [`MAX_TAGS`].
fn clean_tags(tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = tags
        .into_iter()
        .filter_map(|t| {
            let t: String = t.chars().filter(|c| !TAG_SEPARATORS.contains(c)).collect();
            clean_text_short(&t)
        })
        .filter(|t| t.chars().count() <= MAX_TAG_CHARS)
        .collect();
    out.sort();
    out.dedup();
    out.truncate(MAX_TAGS);
    out
}

/// The `N` of a `reports:N` tag.
pub(crate) const REPORTS_TAG: &str = "reports:";

/// Folds a later draft of the same value into the first.
fn merge(into: &mut IndicatorDraft, from: IndicatorDraft) {
    into.fraud_type = into.fraud_type.or(from.fraud_type);
    into.confidence = match (into.confidence, from.confidence) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    into.source = into.source.take().or(from.source);
    into.valid_from = into.valid_from.or(from.valid_from);
    into.valid_until = into.valid_until.or(from.valid_until);
    into.description = into.description.take().or(from.description);
    into.external_id = into.external_id.take().or(from.external_id);
    let mut reports: Option<u64> = None;
    let mut tags = Vec::with_capacity(into.tags.len() + from.tags.len());
    for t in into.tags.drain(..).chain(from.tags) {
        match t.strip_prefix(REPORTS_TAG).and_then(|n| n.parse::<u64>().ok()) {
            Some(n) => reports = Some(reports.unwrap_or(0).saturating_add(n)),
            None => tags.push(t),
        }
    }
    if let Some(n) = reports {
        tags.push(format!("{REPORTS_TAG}{n}"));
    }
    into.tags = clean_tags(tags);
}

/// The lines of a text file: 1-based numbers, `\n` or `\r\n` endings, a
/// leading UTF-8 BOM removed. A final line ending does not start a line.
pub(crate) fn split_lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let empty = bytes.is_empty();
    body.split(|&c| c == b'\n')
        .filter(move |_| !empty)
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
}

/// Runs `each` over the decoded lines of a line format; sets `lines`;
/// reports an empty file.
pub(crate) fn for_each_line(
    bytes: &[u8],
    b: &mut Builder<'_>,
    mut each: impl FnMut(&mut Builder<'_>, usize, &str),
) {
    let mut n = 0;
    for (line, raw) in split_lines(bytes) {
        n = line;
        if let Some(s) = b.decode(line, raw) {
            each(b, line, s);
        }
    }
    b.set_lines(n);
    if n == 0 {
        b.fail(Msg::new("intel.import.empty_file"));
    }
}

/// Removes an inline comment: `#` at the start or after whitespace.
pub(crate) fn strip_inline_comment(s: &str) -> &str {
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'#' && (i == 0 || b[i - 1].is_ascii_whitespace()) {
            return &s[..i];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_and_clean() {
        assert_eq!(excerpt("  a\u{202E}b\tc "), "a?b?c");
        let long = "x".repeat(100);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), EXCERPT_CHARS);
        assert!(e.ends_with('…'));
    }

    #[test]
    fn lines_are_numbered() {
        let v: Vec<_> = split_lines(b"\xEF\xBB\xBFa\r\n\nb\n").collect();
        assert_eq!(v, vec![(1, &b"a"[..]), (2, &b""[..]), (3, &b"b"[..])]);
        assert_eq!(split_lines(b"").count(), 0);
        assert_eq!(split_lines(b"\n").count(), 1);
    }

    #[test]
    fn merge_sums_reports() {
        let mut a = IndicatorDraft::new(IndicatorKind::Domain, "a.com".into());
        a.tags = vec!["reports:2".into(), "x".into()];
        let mut b = a.clone();
        b.tags = vec!["reports:3".into(), "y".into()];
        b.confidence = Some(70);
        merge(&mut a, b);
        assert_eq!(a.tags, vec!["reports:5", "x", "y"]);
        assert_eq!(a.confidence, Some(70));
    }

    #[test]
    fn formats_have_codes() {
        for f in ImportFormat::ALL {
            assert_eq!(ImportFormat::parse(f.code()), Some(*f));
        }
        assert_eq!(ImportFormat::detect(Some("x.xlsx"), b""), ImportFormat::Xlsx);
        assert_eq!(
            ImportFormat::detect(None, b"{\"type\":\"bundle\"}"),
            ImportFormat::Stix
        );
        assert_eq!(
            ImportFormat::detect(None, b"! title\n||a.com^\n"),
            ImportFormat::Adblock
        );
        assert_eq!(
            ImportFormat::detect(None, b"0.0.0.0 a.com\n"),
            ImportFormat::Hosts
        );
        assert_eq!(ImportFormat::detect(None, b"a.com\n"), ImportFormat::List);
        // A list whose first line is an adblock-style comment is a list.
        assert_eq!(
            ImportFormat::detect(Some("phones.txt"), b"! source\n+00935973038\n+10220237021\n"),
            ImportFormat::List
        );
        assert_eq!(
            ImportFormat::detect(Some("x.txt"), b"! title\nexample.com^\n"),
            ImportFormat::Adblock
        );
        assert_eq!(
            ImportFormat::detect(Some("banks.csv"), b",2023/11/16,,\n0000111148821,x,BARCGHAC,\n"),
            ImportFormat::Tw165BankCsv
        );
        assert_eq!(
            ImportFormat::detect(
                Some("raw.tsv"),
                b"####### 2020/03/26 ~ 2025/01/11 #######\n# x\na\tb\n"
            ),
            ImportFormat::Tw165Tsv
        );
        assert_eq!(
            ImportFormat::detect(Some("plain.csv"), b"kind,value\nphone,+8613800000000\n"),
            ImportFormat::Csv
        );
    }
}
