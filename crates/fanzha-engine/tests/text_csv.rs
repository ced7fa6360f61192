//! Data-driven CSV/TSV reading cases: testdata/text/csv_cases.tsv.

use fanzha_engine::text::{TableFormat, read_labelled};
use std::path::Path;

#[test]
fn csv_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/text");
    let cases = std::fs::read_to_string(dir.join("csv_cases.tsv")).unwrap();
    let mut n = 0;
    for line in cases.lines().filter(|l| !l.starts_with('#')).skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let c: Vec<&str> = line.split('\t').collect();
        assert_eq!(c.len(), 5, "bad case line {line:?}");
        let (file, format, kept, rejected, samples) = (c[0], c[1], c[2], c[3], c[4]);
        let format = match format.split(':').collect::<Vec<_>>().as_slice() {
            ["csv"] => TableFormat::csv(),
            ["tsv", text, label] => TableFormat::tsv(text, label),
            _ => panic!("bad format {format:?}"),
        };
        let bytes = std::fs::read(dir.join("csv").join(file)).unwrap();
        let result = read_labelled(bytes.as_slice(), &format);
        n += 1;
        if let Some(want) = rejected.strip_prefix("error:") {
            let err = result.expect_err(file).to_string();
            assert!(err.contains(want), "{file}: error {err:?} lacks {want:?}");
            continue;
        }
        let data = result.unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            data.samples.len(),
            kept.parse::<usize>().unwrap(),
            "{file}: {:?}",
            data.samples
        );
        let got: Vec<String> = data
            .rejected
            .iter()
            .map(|r| format!("{}@{}:{}", r.row, r.line, r.reason))
            .collect();
        let want: Vec<&str> = if rejected == "-" {
            vec![]
        } else {
            rejected.split(';').collect()
        };
        assert_eq!(got.len(), want.len(), "{file}: rejected {got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!(g.starts_with(w), "{file}: rejected {g:?}, want {w:?}");
        }
        if samples != "-" {
            let want: Vec<(String, String)> = samples
                .split('|')
                .map(|s| {
                    let (t, l) = s.rsplit_once('=').unwrap();
                    (t.replace("\\n", "\n"), l.to_string())
                })
                .collect();
            assert_eq!(data.samples, want, "{file}");
        }
    }
    assert!(n >= 7);
}
