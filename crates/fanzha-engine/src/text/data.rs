//! Labelled text data: CSV/TSV reading and a seeded, stratified split.

use super::rng::SplitMix64;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;

/// Where the text and the label are in a delimited file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableFormat {
    pub delimiter: u8,
    /// Honour `"` quoting (fields may then span lines). Off for raw TSV.
    pub quoting: bool,
    /// Header names of the text and the label columns (matched after trimming,
    /// case-insensitively; a UTF-8 byte-order mark is ignored).
    pub text_column: String,
    pub label_column: String,
}

impl TableFormat {
    /// CSV with a header naming `content` and `label`, in any order.
    pub fn csv() -> Self {
        TableFormat {
            delimiter: b',',
            quoting: true,
            text_column: "content".into(),
            label_column: "label".into(),
        }
    }

    /// Tab-separated, no quoting, with the given header names.
    pub fn tsv(text_column: &str, label_column: &str) -> Self {
        TableFormat {
            delimiter: b'\t',
            quoting: false,
            text_column: text_column.into(),
            label_column: label_column.into(),
        }
    }
}

/// A data row that was not kept, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    /// 1-based data row (the header is row 0).
    pub row: u64,
    /// 1-based line where the row starts.
    pub line: u64,
    pub reason: String,
}

/// The rows read: the good ones as `(text, label)`, the bad ones with reasons.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LabelledData {
    pub samples: Vec<(String, String)>,
    pub rejected: Vec<RejectedRow>,
}

/// Why a whole file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("the file has no header line")]
    NoHeader,
    #[error("the header has no {which} column named {name:?} (found: {found})")]
    MissingColumn {
        which: &'static str,
        name: String,
        found: String,
    },
    #[error("the header names column {name:?} twice")]
    DuplicateColumn { name: String },
    #[error("cannot read the header: {0}")]
    Header(String),
    #[error("read failed at line {line}: {message}")]
    Io { line: u64, message: String },
}

/// Longest text kept, in bytes; longer rows are rejected.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

fn clean_header(h: &[u8]) -> String {
    let h = h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h);
    String::from_utf8_lossy(h).trim().to_lowercase()
}

/// Reads labelled rows. The header must name the text and label columns; other
/// columns are ignored. Rows with a wrong field count, invalid UTF-8, an empty
/// text or label, or an over-long text are rejected with their row number;
/// good rows are kept. Only an unreadable header or an I/O error fails the
/// whole read.
pub fn read_labelled(reader: impl Read, format: &TableFormat) -> Result<LabelledData, DataError> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(format.delimiter)
        .quoting(format.quoting)
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let headers = rdr
        .byte_headers()
        .map_err(|e| DataError::Header(e.to_string()))?
        .clone();
    if headers.is_empty() || (headers.len() == 1 && headers.get(0).is_some_and(|h| h.is_empty())) {
        return Err(DataError::NoHeader);
    }
    let names: Vec<String> = headers.iter().map(clean_header).collect();
    let find = |which: &'static str, want: &str| -> Result<usize, DataError> {
        let want = want.trim().to_lowercase();
        let mut hits = names
            .iter()
            .enumerate()
            .filter(|(_, n)| **n == want)
            .map(|(i, _)| i);
        match (hits.next(), hits.next()) {
            (Some(i), None) => Ok(i),
            (Some(_), Some(_)) => Err(DataError::DuplicateColumn { name: want }),
            _ => Err(DataError::MissingColumn {
                which,
                name: want,
                found: names.join(","),
            }),
        }
    };
    let text_col = find("text", &format.text_column)?;
    let label_col = find("label", &format.label_column)?;
    let width = names.len();

    let mut out = LabelledData::default();
    let mut record = csv::ByteRecord::new();
    let mut row = 0u64;
    loop {
        let line = rdr.position().line();
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                if let csv::ErrorKind::Io(io) = e.kind() {
                    return Err(DataError::Io {
                        line,
                        message: io.to_string(),
                    });
                }
                row += 1;
                out.rejected.push(RejectedRow {
                    row,
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        }
        row += 1;
        let line = record.position().map_or(line, |p| p.line());
        let reject = |reason: String| RejectedRow { row, line, reason };
        if record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty()) {
            // A blank line: not data, not worth a report.
            continue;
        }
        if record.len() != width {
            out.rejected
                .push(reject(format!("expected {width} fields, found {}", record.len())));
            continue;
        }
        let (Some(text), Some(label)) = (record.get(text_col), record.get(label_col)) else {
            out.rejected.push(reject("missing field".into()));
            continue;
        };
        let (Ok(text), Ok(label)) = (std::str::from_utf8(text), std::str::from_utf8(label)) else {
            out.rejected.push(reject("not valid UTF-8".into()));
            continue;
        };
        let (text, label) = (text.trim(), label.trim());
        if text.is_empty() {
            out.rejected.push(reject("empty text".into()));
        } else if label.is_empty() {
            out.rejected.push(reject("empty label".into()));
        } else if text.len() > MAX_TEXT_BYTES {
            out.rejected
                .push(reject(format!("text longer than {MAX_TEXT_BYTES} bytes")));
        } else if label.len() > super::model::MAX_LABEL_BYTES {
            out.rejected.push(reject(format!(
                "label longer than {} bytes",
                super::model::MAX_LABEL_BYTES
            )));
        } else {
            out.samples.push((text.to_string(), label.to_string()));
        }
    }
    Ok(out)
}

/// [`read_labelled`] with [`TableFormat::csv`]: columns `content` and `label`.
pub fn read_labelled_csv(reader: impl Read) -> Result<LabelledData, DataError> {
    read_labelled(reader, &TableFormat::csv())
}

/// Splits row indices into (train, test), per label: each label's rows are
/// shuffled with `seed` and `round(n × test_fraction)` of them go to test
/// (at least one when the label has two or more rows). Both lists are sorted.
/// `test_fraction` is clamped to [0, 1].
pub fn stratified_split_indices<L: AsRef<str>>(
    labels: &[L],
    test_fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let frac = if test_fraction.is_nan() {
        0.0
    } else {
        test_fraction.clamp(0.0, 1.0)
    };
    let mut by_label: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        by_label.entry(l.as_ref()).or_default().push(i);
    }
    let mut rng = SplitMix64::new(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for idx in by_label.values_mut() {
        rng.shuffle(idx);
        let mut n_test = (idx.len() as f64 * frac).round() as usize;
        if n_test == 0 && frac > 0.0 && idx.len() >= 2 {
            n_test = 1;
        }
        test.extend_from_slice(&idx[..n_test]);
        train.extend_from_slice(&idx[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// Labelled samples split in two: (train, test).
pub type Split<T, L> = (Vec<(T, L)>, Vec<(T, L)>);

/// Seeded, stratified split of `(text, label)` samples into (train, test),
/// as [`stratified_split_indices`] does it; order within each part is kept.
pub fn stratified_split<T: Clone, L: Clone + AsRef<str>>(
    data: &[(T, L)],
    test_fraction: f64,
    seed: u64,
) -> Split<T, L> {
    let labels: Vec<&str> = data.iter().map(|(_, l)| l.as_ref()).collect();
    let (tr, te) = stratified_split_indices(&labels, test_fraction, seed);
    let pick = |ix: Vec<usize>| ix.into_iter().filter_map(|i| data.get(i).cloned()).collect();
    (pick(tr), pick(te))
}
