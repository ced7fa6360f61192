//! Tables: CSV, XLSX and TSV with a header row.
//!
//! Columns (any order, headers case-insensitive; only `value` is required):
//!
//! | column | headers | content |
//! |---|---|---|
//! | `kind` | 类型, 指标类型, type | an [`IndicatorKind`] code or label; else `default_kind`, else detected |
//! | `value` | 值, 号码, 网址, 指标, 指标值, indicator, url, 網址, WEBURL | the indicator |
//! | `fraud_type` | 诈骗类型, 詐騙類型 | a [`FraudType`](fanzha_core::FraudType) code or label, or a 165 label ([`super::tw165`]) |
//! | `confidence` | 置信度 | 0–100, `%` allowed |
//! | `source` | 来源, 來源 | free text |
//! | `valid_from` | 生效时间, 有效期自 | `YYYY-MM-DD` or RFC 3339 ([`super::time`]) |
//! | `valid_until` | 有效期至, 失效时间 | `YYYY-MM-DD` (through that day) or RFC 3339 |
//! | `tags` | 标签, 標籤 | separated by `;` `,` `，` `、` `；` or `\|` |
//! | `description` | 描述, 备注, 名称, name, 網站名稱, WEBSITE_NM | free text |
//! | `external_id` | 外部编号 | the source's id |
//! | `count` | 件數, 件数, CNT, reports | a report count, kept as the tag `reports:N` |
//!
//! Columns an export writes but an import does not take (`status`, `id`,
//! `created_at`, `updated_at`) are ignored silently; any other unknown
//! column gets a note. A row whose first cell starts with `#` is a comment.

use super::time::{DayEdge, parse_date_or_time};
use super::{
    Builder, IndicatorDraft, MAX_DESCRIPTION_CHARS, REPORTS_TAG, SkipReason, clean_text, clean_text_short,
    for_each_line, split_tags,
};
use crate::table::{Cell, Columns, Row, TableError, TableFormat, read_table};
use fanzha_core::IndicatorKind;
use fanzha_core::i18n::Msg;

pub(crate) const SPEC: &[(&str, &[&str])] = &[
    ("kind", &["类型", "指标类型", "類型", "type"]),
    (
        "value",
        &[
            "值",
            "号码",
            "网址",
            "指标",
            "指标值",
            "indicator",
            "url",
            "網址",
            "WEBURL",
        ],
    ),
    ("fraud_type", &["诈骗类型", "詐騙類型", "fraud type"]),
    ("confidence", &["置信度"]),
    ("source", &["来源", "來源"]),
    ("valid_from", &["生效时间", "有效期自", "valid from"]),
    ("valid_until", &["有效期至", "失效时间", "valid until", "expires"]),
    ("tags", &["标签", "標籤"]),
    (
        "description",
        &["描述", "备注", "名称", "name", "網站名稱", "WEBSITE_NM"],
    ),
    ("external_id", &["外部编号", "external id"]),
    ("count", &["件數", "件数", "CNT", "reports"]),
];

/// Export-only columns, ignored on import.
pub(crate) const EXPORT_ONLY: &[&str] = &[
    "status",
    "id",
    "created_at",
    "updated_at",
    "状态",
    "编号",
    "创建时间",
    "更新时间",
];

fn known_header(h: &str) -> bool {
    let h = h.trim().trim_start_matches('\u{feff}');
    h.is_empty()
        || SPEC
            .iter()
            .any(|(c, a)| h.eq_ignore_ascii_case(c) || a.iter().any(|x| h.eq_ignore_ascii_case(x)))
        || EXPORT_ONLY.iter().any(|x| h.eq_ignore_ascii_case(x))
}

fn is_value_header(h: &str) -> bool {
    let h = h.trim();
    SPEC.iter()
        .filter(|(c, _)| *c == "value")
        .any(|(c, a)| h.eq_ignore_ascii_case(c) || a.iter().any(|x| h.eq_ignore_ascii_case(x)))
}

pub(crate) fn parse_csv(bytes: &[u8], b: &mut Builder<'_>) {
    parse_table(TableFormat::Csv, bytes, b);
}

pub(crate) fn parse_xlsx(bytes: &[u8], b: &mut Builder<'_>) {
    parse_table(TableFormat::Xlsx, bytes, b);
}

fn parse_table(format: TableFormat, bytes: &[u8], b: &mut Builder<'_>) {
    let table = match read_table(format, bytes) {
        Ok(t) => t,
        Err(TableError::Empty) => return b.fail(Msg::new("intel.import.empty_file")),
        Err(e) => return b.fail(e.msg()),
    };
    let cols = Columns::map(&table.headers, SPEC);
    b.skip(1, SkipReason::Header);
    if !header_ok(b, &table.headers, &cols, 1) {
        return;
    }
    let mut last = 1;
    for p in &table.problems {
        last = last.max(p.row);
        b.reject(p.row, p.reason.clone(), &p.column);
    }
    for r in &table.rows {
        last = last.max(r.number);
        row(b, &cols, r, false);
    }
    b.set_lines(last);
}

/// Notes unknown columns; fails without a value column.
fn header_ok(b: &mut Builder<'_>, headers: &[String], cols: &Columns, line: usize) -> bool {
    for h in headers.iter().filter(|h| !known_header(h)) {
        b.note(
            line,
            Msg::new("intel.import.column_ignored").arg("column", super::excerpt(h)),
        );
    }
    if !cols.has("value") {
        b.fail(Msg::new("intel.import.missing_value_column"));
        return false;
    }
    true
}

/// TSV with `#` comment lines before or between rows. `web` reads every
/// value as a domain, URL or IP (the 165 site list).
pub(crate) fn parse_tsv(bytes: &[u8], b: &mut Builder<'_>, web: bool) {
    let mut cols: Option<Columns> = None;
    let mut missing_value = false;
    for_each_line(bytes, b, |b, line, s| {
        if s.trim().is_empty() {
            return b.skip(line, SkipReason::Blank);
        }
        if s.trim_start().starts_with('#') {
            return b.skip(line, SkipReason::Comment);
        }
        let cells: Vec<&str> = s.split('\t').collect();
        let Some(c) = &cols else {
            let headers: Vec<String> = cells.iter().map(|h| h.trim().to_string()).collect();
            let m = Columns::map(&headers, SPEC);
            b.skip(line, SkipReason::Header);
            missing_value = !header_ok(b, &headers, &m, line);
            cols = Some(m);
            return;
        };
        if missing_value {
            return b.reject(line, Msg::new("intel.import.missing_value_column"), s);
        }
        let r = Row {
            number: line,
            cells: cells
                .iter()
                .map(|x| {
                    if x.trim().is_empty() {
                        Cell::Empty
                    } else {
                        Cell::Text(x.to_string())
                    }
                })
                .collect(),
        };
        if c.get(&r, "value").is_some_and(|v| is_value_header(v.text())) {
            return b.skip(line, SkipReason::Header);
        }
        row(b, c, &r, web);
    });
}

fn row(b: &mut Builder<'_>, cols: &Columns, r: &Row, web: bool) {
    let line = r.number;
    let whole = || r.cells.iter().map(Cell::text).collect::<Vec<_>>().join(",");
    if r.cells.first().is_some_and(|c| c.text().starts_with('#')) {
        return b.skip(line, SkipReason::Comment);
    }
    let Some(value_cell) = cols.get(r, "value") else {
        return b.reject(line, Msg::new("intel.import.empty_value"), &whole());
    };
    if let Cell::Number { exact: false, text } = value_cell {
        return b.reject(line, Msg::new("intel.import.value_as_number"), text);
    }
    let raw = value_cell.text();
    let kind = match cols.get(r, "kind") {
        Some(k) => match IndicatorKind::parse(k.text()) {
            Ok(k) => Some(k),
            Err(_) => return b.reject(line, Msg::new("intel.import.unknown_kind_code"), k.text()),
        },
        None => b.opts().default_kind,
    };
    let hit = match kind {
        None if web => b.web_value(line, raw),
        k => b.value(line, k, raw),
    };
    let Some((kind, value)) = hit else { return };
    let mut d = IndicatorDraft::new(kind, value);
    if let Some(c) = cols.get(r, "fraud_type") {
        match super::tw165::parse_fraud_type(c.text()) {
            Some(t) => d.fraud_type = Some(t),
            None => return b.reject(line, Msg::new("intel.import.unknown_fraud_type"), c.text()),
        }
    }
    if let Some(c) = cols.get(r, "confidence") {
        match parse_confidence(c.text()) {
            Some(v) => d.confidence = Some(v),
            None => return b.reject(line, Msg::new("intel.import.bad_confidence"), c.text()),
        }
    }
    for (col, edge) in [("valid_from", DayEdge::Start), ("valid_until", DayEdge::End)] {
        if let Some(c) = cols.get(r, col) {
            let Some(ts) = parse_date_or_time(c.text(), edge) else {
                return b.reject(
                    line,
                    Msg::new("intel.import.bad_date").arg("column", col),
                    c.text(),
                );
            };
            if edge == DayEdge::Start {
                d.valid_from = Some(ts);
            } else {
                d.valid_until = Some(ts);
            }
        }
    }
    d.source = cols.get(r, "source").and_then(|c| clean_text_short(c.text()));
    d.description = cols
        .get(r, "description")
        .and_then(|c| clean_text(c.text(), MAX_DESCRIPTION_CHARS));
    d.external_id = cols
        .get(r, "external_id")
        .and_then(|c| clean_text_short(c.text()));
    if let Some(c) = cols.get(r, "tags") {
        d.tags = split_tags(c.text());
    }
    if let Some(c) = cols.get(r, "count") {
        match c.text().trim().parse::<u64>() {
            Ok(n) => d.tags.push(format!("{REPORTS_TAG}{n}")),
            Err(_) => b.note(line, Msg::new("intel.import.bad_count")),
        }
    }
    b.accept(line, d);
}

/// `80`, `80%`, ` 100 `: an integer 0–100.
pub(crate) fn parse_confidence(s: &str) -> Option<u8> {
    let t = s.trim();
    let t = t.strip_suffix(['%', '％']).unwrap_or(t).trim();
    let t = t.strip_suffix(".0").unwrap_or(t);
    if t.is_empty() || t.len() > 3 || !t.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    t.parse::<u8>().ok().filter(|v| *v <= 100)
}
