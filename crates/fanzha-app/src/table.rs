//! Reading and writing the spreadsheets officials exchange: CSV and XLSX
//! (DESIGN.md §8). Readers give rows of text cells with their row numbers and
//! report undecodable rows instead of failing; writers are deterministic.

use calamine::{Data, Reader, Xlsx};
use fanzha_core::i18n::Msg;
use std::io::Cursor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFormat {
    Csv,
    Xlsx,
}

impl TableFormat {
    /// Guesses from a file name, then from the content (XLSX is a zip).
    pub fn detect(file_name: Option<&str>, bytes: &[u8]) -> TableFormat {
        if let Some(n) = file_name {
            let n = n.to_ascii_lowercase();
            if n.ends_with(".xlsx") {
                return TableFormat::Xlsx;
            }
            if n.ends_with(".csv") || n.ends_with(".txt") {
                return TableFormat::Csv;
            }
        }
        if bytes.starts_with(b"PK\x03\x04") {
            TableFormat::Xlsx
        } else {
            TableFormat::Csv
        }
    }
}

/// A cell as read: text, or a number that Excel stored as a float.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    /// A numeric cell. `exact` is false when the number has more significant
    /// digits than a float keeps (an 18-digit ID number typed as a number).
    Number {
        text: String,
        exact: bool,
    },
    Empty,
}

impl Cell {
    pub fn text(&self) -> &str {
        match self {
            Cell::Text(s) => s.trim(),
            Cell::Number { text, .. } => text,
            Cell::Empty => "",
        }
    }
    pub fn is_empty(&self) -> bool {
        self.text().is_empty()
    }
}

/// One data row: its 1-based row number in the file (the header is row 1)
/// and its cells in header order.
#[derive(Clone, Debug)]
pub struct Row {
    pub number: usize,
    pub cells: Vec<Cell>,
}

/// A row that could not be read at all.
#[derive(Clone, Debug, PartialEq)]
pub struct RowProblem {
    pub row: usize,
    pub column: String,
    pub reason: Msg,
}

pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
    pub problems: Vec<RowProblem>,
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a readable XLSX workbook")]
    BadXlsx,
    #[error("the workbook has no worksheet")]
    NoSheet,
    #[error("the header row could not be read")]
    BadHeader,
}

impl TableError {
    pub fn msg(&self) -> Msg {
        Msg::new(match self {
            TableError::Empty => "table.empty",
            TableError::BadXlsx => "table.bad_xlsx",
            TableError::NoSheet => "table.no_sheet",
            TableError::BadHeader => "table.bad_header",
        })
    }
}

/// Reads a whole table. Rows that are entirely empty are skipped.
pub fn read_table(format: TableFormat, bytes: &[u8]) -> Result<Table, TableError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(TableError::Empty);
    }
    match format {
        TableFormat::Csv => read_csv(bytes),
        TableFormat::Xlsx => read_xlsx(bytes),
    }
}

fn read_csv(bytes: &[u8]) -> Result<Table, TableError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = rdr.byte_records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        _ => return Err(TableError::BadHeader),
    };
    let headers: Vec<String> = header
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_string())
        .collect();
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (i, rec) in records.enumerate() {
        let fallback_row = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let row = e.position().map(|p| p.line() as usize).unwrap_or(fallback_row);
                problems.push(RowProblem {
                    row,
                    column: String::new(),
                    reason: Msg::new("table.bad_csv_row"),
                });
                continue;
            }
        };
        let row = rec.position().map(|p| p.line() as usize).unwrap_or(fallback_row);
        let mut cells = Vec::with_capacity(rec.len());
        let mut bad = None;
        for (j, field) in rec.iter().enumerate() {
            match std::str::from_utf8(field) {
                Ok(s) if s.trim().is_empty() => cells.push(Cell::Empty),
                Ok(s) => cells.push(Cell::Text(s.to_string())),
                Err(_) => {
                    bad = Some(j);
                    break;
                }
            }
        }
        if let Some(j) = bad {
            let column = headers.get(j).cloned().unwrap_or_default();
            problems.push(RowProblem {
                row,
                column,
                reason: Msg::new("table.not_utf8"),
            });
            continue;
        }
        if cells.iter().all(Cell::is_empty) {
            continue;
        }
        rows.push(Row { number: row, cells });
    }
    Ok(Table {
        headers,
        rows,
        problems,
    })
}

fn read_xlsx(bytes: &[u8]) -> Result<Table, TableError> {
    let mut wb: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(|_| TableError::BadXlsx)?;
    let range = match wb.worksheet_range_at(0) {
        Some(Ok(r)) => r,
        Some(Err(_)) => return Err(TableError::BadXlsx),
        None => return Err(TableError::NoSheet),
    };
    let (first_row, _) = range.start().unwrap_or((0, 0));
    let mut it = range.rows();
    let header = it.next().ok_or(TableError::BadHeader)?;
    let headers: Vec<String> = header.iter().map(|c| cell_of(c).text().to_string()).collect();
    let mut rows = Vec::new();
    for (i, r) in it.enumerate() {
        let cells: Vec<Cell> = r.iter().map(cell_of).collect();
        if cells.iter().all(Cell::is_empty) {
            continue;
        }
        // Row numbers as Excel shows them: 1-based, counting the header.
        rows.push(Row {
            number: first_row as usize + i + 2,
            cells,
        });
    }
    Ok(Table {
        headers,
        rows,
        problems: Vec::new(),
    })
}

fn cell_of(d: &Data) -> Cell {
    match d {
        Data::Empty => Cell::Empty,
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => {
            if s.trim().is_empty() {
                Cell::Empty
            } else {
                Cell::Text(s.clone())
            }
        }
        Data::Int(i) => Cell::Number {
            text: i.to_string(),
            exact: true,
        },
        Data::Float(f) => float_cell(*f),
        Data::Bool(b) => Cell::Text(b.to_string()),
        Data::DateTime(dt) => Cell::Text(dt.as_f64().to_string()),
        Data::Error(_) => Cell::Empty,
    }
}

fn float_cell(f: f64) -> Cell {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e21 {
        let text = format!("{f:.0}");
        // Doubles keep 15 significant decimal digits exactly.
        let exact = text.trim_start_matches('-').len() <= 15;
        Cell::Number { text, exact }
    } else {
        Cell::Number {
            text: f.to_string(),
            exact: true,
        }
    }
}

/// Maps header names (any of several aliases, any case) to column indexes.
pub struct Columns {
    idx: Vec<(&'static str, usize)>,
}

impl Columns {
    /// `spec` lists each canonical column with its accepted header aliases.
    pub fn map(headers: &[String], spec: &[(&'static str, &[&str])]) -> Columns {
        let mut idx = Vec::new();
        for (canon, aliases) in spec {
            if let Some(pos) = headers.iter().position(|h| {
                let h = h.trim().trim_start_matches('\u{feff}');
                h.eq_ignore_ascii_case(canon) || aliases.iter().any(|a| h.eq_ignore_ascii_case(a))
            }) {
                idx.push((*canon, pos));
            }
        }
        Columns { idx }
    }
    pub fn has(&self, canon: &str) -> bool {
        self.idx.iter().any(|(c, _)| *c == canon)
    }
    pub fn get<'r>(&self, row: &'r Row, canon: &str) -> Option<&'r Cell> {
        let (_, pos) = self.idx.iter().find(|(c, _)| *c == canon)?;
        row.cells.get(*pos).filter(|c| !c.is_empty())
    }
}

/// Writes rows as CSV with a UTF-8 BOM so that Excel opens Chinese text correctly.
pub fn write_csv(headers: &[&str], rows: &[Vec<String>]) -> Result<Vec<u8>, csv::Error> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(headers)?;
        for r in rows {
            w.write_record(r)?;
        }
        w.flush()?;
    }
    Ok(out)
}

/// Writes rows to a one-sheet XLSX workbook; every cell is text so that ID
/// numbers and phones keep all their digits.
pub fn write_xlsx(
    sheet: &str,
    headers: &[&str],
    rows: &[Vec<String>],
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    let ws = wb.add_worksheet();
    ws.set_name(sheet)?;
    for (c, h) in headers.iter().enumerate() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_and_problems() {
        let data = b"\xEF\xBB\xBFname,id\n\xE5\xBC\xA0,1\nbad\xFF,2\n,\n\"multi\nline\",3\n";
        let t = read_table(TableFormat::Csv, data).unwrap();
        assert_eq!(t.headers, vec!["name", "id"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].number, 2);
        assert_eq!(t.rows[1].cells[0], Cell::Text("multi\nline".into()));
        assert_eq!(t.problems.len(), 1);
        assert_eq!(t.problems[0].row, 3);
        assert_eq!(t.problems[0].column, "name");
    }

    #[test]
    fn xlsx_round_trip() {
        let bytes = write_xlsx(
            "residents",
            &["name", "id_number"],
            &[vec!["张三".into(), "11010519491231002X".into()]],
        )
        .unwrap();
        assert_eq!(TableFormat::detect(None, &bytes), TableFormat::Xlsx);
        let t = read_table(TableFormat::Xlsx, &bytes).unwrap();
        assert_eq!(t.headers, vec!["name", "id_number"]);
        assert_eq!(t.rows[0].number, 2);
        assert_eq!(t.rows[0].cells[1].text(), "11010519491231002X");
        assert!(read_table(TableFormat::Xlsx, b"PK\x03\x04garbage").is_err());
        assert!(matches!(
            read_table(TableFormat::Csv, b"  \n"),
            Err(TableError::Empty)
        ));
    }

    #[test]
    fn long_numbers_are_flagged_inexact() {
        assert_eq!(
            float_cell(13812345678.0),
            Cell::Number {
                text: "13812345678".into(),
                exact: true
            }
        );
        assert!(matches!(
            float_cell(330523198801011234.0),
            Cell::Number { exact: false, .. }
        ));
    }
}
