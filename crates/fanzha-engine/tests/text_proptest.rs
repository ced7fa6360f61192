//! Property tests: arbitrary input never panics the text classifier, the
//! model loader or the CSV reader; the split is a stratified partition.

use fanzha_engine::text::data::stratified_split_indices;
use fanzha_engine::text::normalize::{normalize, normalize_compact};
use fanzha_engine::text::{
    CombineParams, Lexicon, Model, TextClassifier, TrainParams, read_labelled_csv, train,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::OnceLock;

fn clf() -> &'static TextClassifier {
    static C: OnceLock<TextClassifier> = OnceLock::new();
    C.get_or_init(|| {
        let data = [
            ("您涉嫌洗钱请转入安全账户", "冒充公检法及政府机关类"),
            ("兼职刷单日结佣金", "刷单返利"),
            ("今晚一起吃饭", "正常"),
            ("广告：全场五折", "spam"),
        ];
        let m = train(
            &data,
            &TrainParams {
                bucket_bits: 10,
                ..TrainParams::default()
            },
        )
        .unwrap();
        TextClassifier::new(Lexicon::builtin().unwrap(), Some(m), CombineParams::default())
    })
}

/// Strings mixing CJK, full-width, ASCII, digits, spaces, emoji and controls.
fn texty() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            any::<char>(),
            prop::char::range('\u{4e00}', '\u{4fff}'),
            prop::char::range('\u{ff01}', '\u{ff5e}'),
            prop::sample::select(vec![
                '安', '全', '账', '户', '刷', '单', '*', ' ', '\u{200b}', '\u{3000}', '0', '\n'
            ]),
        ],
        0..200,
    )
    .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn classify_never_panics(s in texty()) {
        let c = clf();
        let v = c.classify(&s);
        prop_assert!((0.0..=1.0).contains(&v.score));
        prop_assert!((0.0..=1.0).contains(&v.spam_probability));
        let p = c.model().unwrap().predict(&s);
        let sum: f32 = p.probabilities.iter().sum();
        prop_assert!((sum - 1.0).abs() < 1e-4);
        prop_assert!(p.probabilities.iter().all(|x| x.is_finite() && *x >= 0.0));
        let scan = c.lexicon().scan(&s);
        prop_assert!(scan.raw.iter().all(|r| r.is_finite() && *r >= 0.0));
    }

    #[test]
    fn normalisation_is_idempotent(s in texty()) {
        let n = normalize(&s);
        prop_assert_eq!(normalize(&n), n.clone());
        let c = normalize_compact(&s);
        prop_assert_eq!(normalize_compact(&c), c.clone());
        prop_assert!(!c.contains(' '));
    }

    #[test]
    fn arbitrary_bytes_never_load(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        prop_assert!(Model::from_bytes(&bytes).is_err());
    }

    #[test]
    fn corrupted_models_never_panic(pos in 0usize..10_000, val in any::<u8>(), cut in 0usize..10_000) {
        let mut b = clf().model().unwrap().to_bytes();
        let i = pos % b.len();
        b[i] = val;
        b.truncate(cut.max(1) * b.len() / 10_000 + 1);
        let _ = Model::from_bytes(&b);
    }

    #[test]
    fn csv_reader_never_panics(bytes in prop::collection::vec(
        prop_oneof![any::<u8>(), prop::sample::select(b",\"\n\r".to_vec())], 0..300)
    ) {
        let mut input = b"content,label\n".to_vec();
        input.extend_from_slice(&bytes);
        let d = read_labelled_csv(input.as_slice()).unwrap();
        for r in &d.rejected {
            prop_assert!(r.row >= 1 && r.line >= 2);
        }
        for (t, l) in &d.samples {
            prop_assert!(!t.is_empty() && !l.is_empty());
        }
    }

    #[test]
    fn split_is_a_stratified_partition(
        labels in prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 0..300),
        seed in any::<u64>(),
    ) {
        let (tr, te) = stratified_split_indices(&labels, 0.2, seed);
        let mut all: Vec<usize> = tr.iter().chain(&te).copied().collect();
        all.sort_unstable();
        prop_assert_eq!(all, (0..labels.len()).collect::<Vec<_>>());
        let count = |ix: &[usize]| {
            let mut m = BTreeMap::new();
            for &i in ix { *m.entry(labels[i]).or_insert(0usize) += 1; }
            m
        };
        let (ct, cte) = (count(&(0..labels.len()).collect::<Vec<_>>()), count(&te));
        for (l, n) in ct {
            let want = (n as f64 * 0.2).round() as usize;
            let want = if want == 0 && n >= 2 { 1 } else { want };
            prop_assert_eq!(cte.get(l).copied().unwrap_or(0), want);
        }
        prop_assert_eq!(stratified_split_indices(&labels, 0.2, seed), (tr, te));
    }
}
