//! Plain lists: one value a line.
//!
//! * `#` or `!` at the start of a line makes it a comment; ` #` (after
//!   whitespace) starts an inline comment, so URLs keep their `#fragment`.
//! * The kind is [`ImportOptions::default_kind`](super::ImportOptions) when
//!   given, otherwise detected per value ([`fanzha_core::indicator::detect`]).

use super::{Builder, IndicatorDraft, SkipReason, for_each_line, strip_inline_comment};

pub(crate) fn parse(bytes: &[u8], b: &mut Builder<'_>) {
    let kind = b.opts().default_kind;
    for_each_line(bytes, b, |b, line, s| {
        let t = s.trim();
        if t.is_empty() {
            return b.skip(line, SkipReason::Blank);
        }
        if t.starts_with(['#', '!']) {
            return b.skip(line, SkipReason::Comment);
        }
        let v = strip_inline_comment(t).trim();
        if let Some((kind, value)) = b.value(line, kind, v) {
            b.accept(line, IndicatorDraft::new(kind, value));
        }
    });
}
