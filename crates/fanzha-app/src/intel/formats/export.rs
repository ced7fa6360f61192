//! Disposal exports (处置): the files DNS resolvers, firewalls and partner
//! systems load, written from stored indicators.
//!
//! | format | holds | file |
//! |---|---|---|
//! | [`ExportFormat::Rpz`] | domains | a DNS response policy zone for BIND or Unbound: `$TTL`, SOA (with the caller's serial), NS, then `domain CNAME .` and `*.domain CNAME .` per domain (NXDOMAIN), or a CNAME to a 劝阻 landing host ([`RpzPolicy`]) |
//! | [`ExportFormat::Hosts`] | domains | `0.0.0.0 domain` lines |
//! | [`ExportFormat::DomainList`] | domains | one domain a line |
//! | [`ExportFormat::Nftables`] | IPs | an `nft -f` script: table, an IPv4 and an IPv6 interval set, `add element` lines |
//! | [`ExportFormat::Ipset`] | IPs | `ipset restore` input: two `hash:net` sets and `add` lines |
//! | [`ExportFormat::Csv`], [`ExportFormat::Xlsx`] | everything | the import columns plus status, id and times, so an export re-imports losslessly |
//! | [`ExportFormat::Stix`] | domains, URLs, IPs, APK and certificate hashes | a STIX 2.1 bundle (see [`super::stix`]) |
//!
//! The block formats (RPZ, hosts, domain list, nftables, ipset) take only
//! items whose status is in [`ExportOptions::block_statuses`] (confirmed and
//! disposed by default) and, when [`ExportOptions::at`] is given, that are
//! valid at that time. Every item left out is counted in
//! [`ExportOutput::skipped`] by reason.
//!
//! Output is deterministic: items are sorted by kind and value, an item that
//! repeats a kind and value is written once, and nothing reads the clock.

use super::time::format_rfc3339_millis;
use fanzha_core::i18n::Msg;
use fanzha_core::ip::{IpNet, Ipv4Net, Ipv6Net};
use fanzha_core::{FraudType, IndicatorKind, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The store's indicator status (pending, confirmed, disposed, revoked, expired).
pub use fanzha_store::IndicatorStatus;

/// One stored indicator, as an exporter needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportItem {
    pub id: i64,
    pub kind: IndicatorKind,
    /// Canonical, as [`fanzha_core::indicator::normalize`] gives it.
    pub value: String,
    #[serde(default)]
    pub fraud_type: Option<FraudType>,
    pub confidence: u8,
    pub status: IndicatorStatus,
    #[serde(default)]
    pub valid_from: Option<Timestamp>,
    #[serde(default)]
    pub valid_until: Option<Timestamp>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<&fanzha_store::Indicator> for ExportItem {
    fn from(i: &fanzha_store::Indicator) -> ExportItem {
        ExportItem {
            id: i.id,
            kind: i.kind,
            value: i.value.clone(),
            fraud_type: Some(i.fraud_type),
            confidence: i.confidence,
            status: i.status,
            valid_from: Some(i.valid_from),
            valid_until: i.valid_until,
            tags: i.tags.clone(),
            source: Some(i.source.code()),
            description: Some(i.description.clone()).filter(|d| !d.trim().is_empty()),
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Rpz,
    Hosts,
    DomainList,
    Nftables,
    Ipset,
    Csv,
    Xlsx,
    Stix,
}

impl ExportFormat {
    pub const ALL: &'static [ExportFormat] = &[
        ExportFormat::Rpz,
        ExportFormat::Hosts,
        ExportFormat::DomainList,
        ExportFormat::Nftables,
        ExportFormat::Ipset,
        ExportFormat::Csv,
        ExportFormat::Xlsx,
        ExportFormat::Stix,
    ];
    pub const fn code(self) -> &'static str {
        match self {
            ExportFormat::Rpz => "rpz",
            ExportFormat::Hosts => "hosts",
            ExportFormat::DomainList => "domains",
            ExportFormat::Nftables => "nftables",
            ExportFormat::Ipset => "ipset",
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
            ExportFormat::Stix => "stix",
        }
    }
    pub fn parse(s: &str) -> Option<ExportFormat> {
        let t = s.trim();
        ExportFormat::ALL
            .iter()
            .copied()
            .find(|f| f.code().eq_ignore_ascii_case(t))
    }
    /// A file name extension for downloads.
    pub const fn extension(self) -> &'static str {
        match self {
            ExportFormat::Rpz => "zone",
            ExportFormat::Hosts => "hosts",
            ExportFormat::DomainList => "txt",
            ExportFormat::Nftables => "nft",
            ExportFormat::Ipset => "ipset",
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
            ExportFormat::Stix => "json",
        }
    }
    /// Whether the format blocks (and so takes only active items).
    pub const fn is_block_list(self) -> bool {
        matches!(
            self,
            ExportFormat::Rpz
                | ExportFormat::Hosts
                | ExportFormat::DomainList
                | ExportFormat::Nftables
                | ExportFormat::Ipset
        )
    }
}

/// What a resolver answers for a listed domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RpzPolicy {
    /// The name does not exist (`CNAME .`).
    NxDomain,
    /// The name exists but has no records of the asked type (`CNAME *.`).
    NoData,
    /// Answer with the 劝阻 landing host instead (`CNAME host.`): people who
    /// open a listed site see the warning page.
    Redirect { host: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExportOptions {
    /// The RPZ SOA serial; the caller makes it increase on every change.
    pub serial: u32,
    /// The RPZ zone name, absolute (with the final dot).
    pub origin: String,
    pub policy: RpzPolicy,
    /// TTL of the RPZ records, in seconds.
    pub ttl: u32,
    /// When set, block formats leave out items not valid at this time.
    pub at: Option<Timestamp>,
    /// The statuses block formats take.
    pub block_statuses: Vec<IndicatorStatus>,
    pub nft_family: String,
    pub nft_table: String,
    pub nft_set_v4: String,
    pub nft_set_v6: String,
    pub ipset_v4: String,
    pub ipset_v6: String,
    /// The name of the STIX identity that produces the bundle.
    pub stix_producer: String,
    /// The `created`/`modified` time of that identity (fixed, so that the
    /// identity object does not change between exports).
    pub stix_identity_created: Timestamp,
    /// The XLSX sheet name.
    pub sheet_name: String,
}

/// 2024-01-01T00:00:00Z.
const IDENTITY_CREATED: Timestamp = Timestamp(1_704_067_200_000);

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            serial: 1,
            origin: "rpz.fanzha.local.".into(),
            policy: RpzPolicy::NxDomain,
            ttl: 300,
            at: None,
            block_statuses: vec![IndicatorStatus::Confirmed, IndicatorStatus::Disposed],
            nft_family: "inet".into(),
            nft_table: "fanzha".into(),
            nft_set_v4: "blocklist".into(),
            nft_set_v6: "blocklist6".into(),
            ipset_v4: "fanzha-v4".into(),
            ipset_v6: "fanzha-v6".into(),
            stix_producer: "Fanzha".into(),
            stix_identity_created: IDENTITY_CREATED,
            sheet_name: "intel".into(),
        }
    }
}

/// Why an item is not in an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportSkip {
    /// The format has no place for this kind (a phone in an RPZ zone, a
    /// package name in STIX).
    Kind,
    /// The status is not one a block list takes.
    Status,
    /// Not valid at [`ExportOptions::at`].
    NotValid,
    /// The same kind and value came earlier.
    Duplicate,
    /// The name would exceed 255 bytes in the zone.
    NameTooLong,
    /// The stored value is not canonical for its kind.
    BadValue,
}

impl ExportSkip {
    pub fn msg(self, count: usize) -> Msg {
        let key = match self {
            ExportSkip::Kind => "intel.export.skip.kind",
            ExportSkip::Status => "intel.export.skip.status",
            ExportSkip::NotValid => "intel.export.skip.not_valid",
            ExportSkip::Duplicate => "intel.export.skip.duplicate",
            ExportSkip::NameTooLong => "intel.export.skip.name_too_long",
            ExportSkip::BadValue => "intel.export.skip.bad_value",
        };
        Msg::new(key).arg("count", count)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipCount {
    pub reason: ExportSkip,
    pub count: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportOutput {
    pub bytes: Vec<u8>,
    /// Items written (for nftables and ipset: networks before merging).
    pub written: usize,
    /// Items left out, by reason, in reason order.
    pub skipped: Vec<SkipCount>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the RPZ origin {0:?} is not an absolute domain name")]
    BadOrigin(String),
    #[error("the redirect host {0:?} is not a valid domain name")]
    BadRedirectHost(String),
    #[error("{0:?} is not a valid set or table name")]
    BadName(String),
    #[error("writing the spreadsheet failed: {0}")]
    Sheet(String),
    #[error("writing JSON failed: {0}")]
    Json(String),
}

impl ExportError {
    pub fn msg(&self) -> Msg {
        match self {
            ExportError::BadOrigin(_) => Msg::new("intel.export.error.origin"),
            ExportError::BadRedirectHost(_) => Msg::new("intel.export.error.redirect"),
            ExportError::BadName(n) => Msg::new("intel.export.error.name").arg("name", super::excerpt(n)),
            ExportError::Sheet(_) | ExportError::Json(_) => Msg::new("intel.export.error.write"),
        }
    }
}

/// Writes `items` in `format`.
pub fn export(
    format: ExportFormat,
    items: &[ExportItem],
    o: &ExportOptions,
) -> Result<ExportOutput, ExportError> {
    match format {
        ExportFormat::Rpz => rpz(items, o),
        ExportFormat::Hosts => domains(items, o, true),
        ExportFormat::DomainList => domains(items, o, false),
        ExportFormat::Nftables => nftables(items, o),
        ExportFormat::Ipset => ipset(items, o),
        ExportFormat::Csv => sheet(items, false, o),
        ExportFormat::Xlsx => sheet(items, true, o),
        ExportFormat::Stix => super::stix::export(items, o),
    }
}

/// Counts of left-out items.
#[derive(Default)]
pub(crate) struct Skips(BTreeMap<ExportSkip, usize>);

impl Skips {
    pub(crate) fn add(&mut self, why: ExportSkip) {
        *self.0.entry(why).or_insert(0) += 1;
    }
    pub(crate) fn into_vec(self) -> Vec<SkipCount> {
        self.0
            .into_iter()
            .map(|(reason, count)| SkipCount { reason, count })
            .collect()
    }
}

/// The items a format takes, sorted by kind and value, without repeats.
/// `block` applies the status and validity filters.
pub(crate) fn select<'a>(
    items: &'a [ExportItem],
    o: &ExportOptions,
    block: bool,
    takes: impl Fn(&ExportItem) -> bool,
    skips: &mut Skips,
) -> Vec<&'a ExportItem> {
    let mut v: Vec<&ExportItem> = Vec::with_capacity(items.len());
    for it in items {
        if !takes(it) {
            skips.add(ExportSkip::Kind);
        } else if block && !o.block_statuses.contains(&it.status) {
            skips.add(ExportSkip::Status);
        } else if block && o.at.is_some_and(|at| !valid_at(it, at)) {
            skips.add(ExportSkip::NotValid);
        } else {
            v.push(it);
        }
    }
    v.sort_by(|a, b| order(a, b));
    let before = v.len();
    v.dedup_by(|b, a| a.kind == b.kind && a.value == b.value);
    for _ in v.len()..before {
        skips.add(ExportSkip::Duplicate);
    }
    v
}

/// A total order: kind and value first, then everything else, so that the
/// item kept from a repeated kind and value does not depend on input order.
fn order(a: &ExportItem, b: &ExportItem) -> std::cmp::Ordering {
    (
        a.kind,
        &a.value,
        a.id,
        a.updated_at,
        a.created_at,
        a.status,
        a.confidence,
    )
        .cmp(&(
            b.kind,
            &b.value,
            b.id,
            b.updated_at,
            b.created_at,
            b.status,
            b.confidence,
        ))
        .then_with(|| {
            (a.fraud_type, a.valid_from, a.valid_until).cmp(&(b.fraud_type, b.valid_from, b.valid_until))
        })
        .then_with(|| (&a.tags, &a.source, &a.description).cmp(&(&b.tags, &b.source, &b.description)))
}

fn valid_at(it: &ExportItem, at: Timestamp) -> bool {
    it.valid_from.is_none_or(|f| f <= at) && it.valid_until.is_none_or(|u| at < u)
}

/// A domain as the zone and hosts formats can hold it.
fn plain_domain(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 253
        && v.bytes()
            .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_'))
        && !v.starts_with('.')
        && !v.ends_with('.')
        && !v.contains("..")
}

/// An absolute domain name (final dot), lower case.
fn absolute_name(s: &str) -> Option<String> {
    let t = s.trim();
    let body = t.strip_suffix('.').unwrap_or(t);
    let d = fanzha_core::domain::normalize(body).ok()?;
    plain_domain(&d).then(|| format!("{d}."))
}

fn rpz(items: &[ExportItem], o: &ExportOptions) -> Result<ExportOutput, ExportError> {
    let origin = absolute_name(&o.origin).ok_or_else(|| ExportError::BadOrigin(o.origin.clone()))?;
    let (target, policy_name) = match &o.policy {
        RpzPolicy::NxDomain => (".".to_string(), "nxdomain".to_string()),
        RpzPolicy::NoData => ("*.".to_string(), "nodata".to_string()),
        RpzPolicy::Redirect { host } => {
            let h = absolute_name(host).ok_or_else(|| ExportError::BadRedirectHost(host.clone()))?;
            (h.clone(), format!("redirect to {h}"))
        }
    };
    let mut skips = Skips::default();
    let sel = select(items, o, true, |i| i.kind == IndicatorKind::Domain, &mut skips);
    let mut body = String::with_capacity(sel.len() * 64);
    let mut written = 0;
    for it in sel {
        if !plain_domain(&it.value) {
            skips.add(ExportSkip::BadValue);
            continue;
        }
        // Wire length of `*.<domain>.<origin>`: the text plus one.
        if 2 + it.value.len() + 1 + origin.len() + 1 > 255 {
            skips.add(ExportSkip::NameTooLong);
            continue;
        }
        let comment = it
            .fraud_type
            .map(|t| format!(" ; {}", t.code()))
            .unwrap_or_default();
        let _ = writeln!(body, "{} CNAME {target}{comment}", it.value);
        let _ = writeln!(body, "*.{} CNAME {target}", it.value);
        written += 1;
    }
    let mut out = String::with_capacity(body.len() + 512);
    let _ = writeln!(
        out,
        "; Fanzha response policy zone: {written} domains, policy {policy_name}"
    );
    let _ = writeln!(out, "; Each domain and all its subdomains are covered.");
    let _ = writeln!(out, "$ORIGIN {origin}");
    let _ = writeln!(out, "$TTL {}", o.ttl);
    let _ = writeln!(
        out,
        "@ IN SOA localhost. hostmaster.{origin} {} 3600 600 604800 {}",
        o.serial, o.ttl
    );
    let _ = writeln!(out, "@ IN NS localhost.");
    out.push_str(&body);
    Ok(ExportOutput {
        bytes: out.into_bytes(),
        written,
        skipped: skips.into_vec(),
    })
}

fn domains(items: &[ExportItem], o: &ExportOptions, hosts: bool) -> Result<ExportOutput, ExportError> {
    let mut skips = Skips::default();
    let sel = select(items, o, true, |i| i.kind == IndicatorKind::Domain, &mut skips);
    let mut body = String::with_capacity(sel.len() * 32);
    let mut written = 0;
    for it in sel {
        if !plain_domain(&it.value) {
            skips.add(ExportSkip::BadValue);
            continue;
        }
        if hosts {
            body.push_str("0.0.0.0 ");
        }
        body.push_str(&it.value);
        body.push('\n');
        written += 1;
    }
    let out = if hosts {
        format!("# Fanzha block list: {written} domains\n{body}")
    } else {
        body
    };
    Ok(ExportOutput {
        bytes: out.into_bytes(),
        written,
        skipped: skips.into_vec(),
    })
}

/// The IP items as merged IPv4 and IPv6 networks.
fn networks(items: &[ExportItem], o: &ExportOptions) -> (Vec<Ipv4Net>, Vec<Ipv6Net>, usize, Skips) {
    let mut skips = Skips::default();
    let sel = select(items, o, true, |i| i.kind == IndicatorKind::Ip, &mut skips);
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    let mut written = 0;
    for it in sel {
        match fanzha_core::ip::parse_ip_or_cidr(&it.value) {
            Ok(IpNet::V4(n)) => v4.push(n),
            Ok(IpNet::V6(n)) => v6.push(n),
            Err(_) => {
                skips.add(ExportSkip::BadValue);
                continue;
            }
        }
        written += 1;
    }
    (Ipv4Net::aggregate(&v4), Ipv6Net::aggregate(&v6), written, skips)
}

fn net_text(n: &IpNet) -> String {
    if n.prefix_len() == n.max_prefix_len() {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

fn check_name(s: &str, max: usize, extra: &[u8]) -> Result<(), ExportError> {
    let ok = !s.is_empty()
        && s.len() <= max
        && s.as_bytes()[0].is_ascii_alphabetic()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || extra.contains(&c));
    if ok {
        Ok(())
    } else {
        Err(ExportError::BadName(s.to_string()))
    }
}

/// Elements per `add element` statement.
const NFT_CHUNK: usize = 512;

fn nftables(items: &[ExportItem], o: &ExportOptions) -> Result<ExportOutput, ExportError> {
    if !matches!(o.nft_family.as_str(), "inet" | "ip" | "ip6" | "bridge" | "netdev") {
        return Err(ExportError::BadName(o.nft_family.clone()));
    }
    for n in [&o.nft_table, &o.nft_set_v4, &o.nft_set_v6] {
        check_name(n, 64, b"")?;
    }
    let (v4, v6, written, skips) = networks(items, o);
    let (fam, table) = (&o.nft_family, &o.nft_table);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Fanzha block list for nftables: {} IPv4 and {} IPv6 networks. Load with: nft -f <file>",
        v4.len(),
        v6.len()
    );
    let _ = writeln!(out, "add table {fam} {table}");
    let sets: [(&str, &str, Vec<String>); 2] = [
        (
            &o.nft_set_v4,
            "ipv4_addr",
            v4.iter().map(|n| net_text(&IpNet::V4(*n))).collect(),
        ),
        (
            &o.nft_set_v6,
            "ipv6_addr",
            v6.iter().map(|n| net_text(&IpNet::V6(*n))).collect(),
        ),
    ];
    for (set, ty, _) in &sets {
        let _ = writeln!(
            out,
            "add set {fam} {table} {set} {{ type {ty}; flags interval; }}"
        );
        let _ = writeln!(out, "flush set {fam} {table} {set}");
    }
    for (set, _, elems) in &sets {
        for chunk in elems.chunks(NFT_CHUNK) {
            let _ = writeln!(out, "add element {fam} {table} {set} {{ {} }}", chunk.join(", "));
        }
    }
    Ok(ExportOutput {
        bytes: out.into_bytes(),
        written,
        skipped: skips.into_vec(),
    })
}

fn ipset(items: &[ExportItem], o: &ExportOptions) -> Result<ExportOutput, ExportError> {
    for n in [&o.ipset_v4, &o.ipset_v6] {
        check_name(n, 31, b"-.")?;
    }
    let (v4, v6, written, skips) = networks(items, o);
    let mut out = String::new();
    let sets = [
        (
            &o.ipset_v4,
            "inet",
            v4.iter().map(|n| net_text(&IpNet::V4(*n))).collect::<Vec<_>>(),
        ),
        (
            &o.ipset_v6,
            "inet6",
            v6.iter().map(|n| net_text(&IpNet::V6(*n))).collect::<Vec<_>>(),
        ),
    ];
    for (name, family, elems) in &sets {
        let maxelem = elems.len().max(65_536);
        let _ = writeln!(
            out,
            "create {name} hash:net family {family} maxelem {maxelem} -exist"
        );
        let _ = writeln!(out, "flush {name}");
    }
    for (name, _, elems) in &sets {
        for e in elems {
            let _ = writeln!(out, "add {name} {e} -exist");
        }
    }
    Ok(ExportOutput {
        bytes: out.into_bytes(),
        written,
        skipped: skips.into_vec(),
    })
}

/// The spreadsheet columns, in order. The first nine are what
/// [`super::ImportFormat::Csv`] reads; the rest are ignored on import.
pub const SHEET_COLUMNS: [&str; 13] = [
    "kind",
    "value",
    "fraud_type",
    "confidence",
    "source",
    "valid_from",
    "valid_until",
    "tags",
    "description",
    "status",
    "id",
    "created_at",
    "updated_at",
];

fn sheet(items: &[ExportItem], xlsx: bool, o: &ExportOptions) -> Result<ExportOutput, ExportError> {
    let mut skips = Skips::default();
    let sel = select(items, o, false, |_| true, &mut skips);
    let ts = |t: Option<Timestamp>| t.map(format_rfc3339_millis).unwrap_or_default();
    let rows: Vec<Vec<String>> = sel
        .iter()
        .map(|it| {
            vec![
                it.kind.code().to_string(),
                it.value.clone(),
                it.fraud_type.map(|t| t.code().to_string()).unwrap_or_default(),
                it.confidence.to_string(),
                it.source.clone().unwrap_or_default(),
                ts(it.valid_from),
                ts(it.valid_until),
                it.tags.join(";"),
                it.description.clone().unwrap_or_default(),
                it.status.code().to_string(),
                it.id.to_string(),
                format_rfc3339_millis(it.created_at),
                format_rfc3339_millis(it.updated_at),
            ]
        })
        .collect();
    let bytes = if xlsx {
        let stamp = sel
            .iter()
            .map(|i| i.updated_at.max(i.created_at))
            .max()
            .unwrap_or(IDENTITY_CREATED);
        write_xlsx(&o.sheet_name, &rows, stamp).map_err(|e| ExportError::Sheet(e.to_string()))?
    } else {
        crate::table::write_csv(&SHEET_COLUMNS, &rows).map_err(|e| ExportError::Sheet(e.to_string()))?
    };
    Ok(ExportOutput {
        bytes,
        written: rows.len(),
        skipped: skips.into_vec(),
    })
}

/// Like [`crate::table::write_xlsx`] (bold header, every cell text), but
/// with the workbook's creation time set to `stamp` instead of the clock,
/// so that the same items give the same bytes.
fn write_xlsx(
    sheet: &str,
    rows: &[Vec<String>],
    stamp: Timestamp,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook};
    let mut wb = Workbook::new();
    let created = ExcelDateTime::from_timestamp(stamp.secs().clamp(0, 253_402_300_799))?;
    wb.set_properties(&DocProperties::new().set_creation_datetime(&created));
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    let ws = wb.add_worksheet();
    ws.set_name(sheet)?;
    for (c, h) in SHEET_COLUMNS.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
        ws.set_column_format(c as u16, &text)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32 + 1, c as u16, v)?;
        }
    }
    wb.save_to_buffer()
}
