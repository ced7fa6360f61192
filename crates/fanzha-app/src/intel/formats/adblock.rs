//! Adblock Plus / uBlock Origin filter lists, the network-rule subset that
//! names hosts.
//!
//! | line | result |
//! |---|---|
//! | `! …`, `# …`, `[Adblock Plus 2.0]` | comment / header |
//! | `\|\|host^`, `\|\|host`, `\|\|*.host^`, `\|\|host^\|` | domain or IP draft |
//! | `\|\|host/path^`, `\|http://host/path\|` | URL draft |
//! | bare `host` or IP | domain or IP draft |
//! | `…$options` | the draft, with a note listing the ignored options; `$badfilter` is unsupported |
//! | `@@\|\|host^` | allowlist candidate |
//! | `/regex/` | unsupported |
//! | `##`, `#@#`, `#?#`, `#$#` (element hiding, scriptlets) | unsupported |
//! | other patterns (wildcards, text after `^`, substrings) | unsupported |

use super::{Builder, IndicatorDraft, SkipReason, for_each_line};
use fanzha_core::IndicatorKind;
use fanzha_core::i18n::Msg;

const COSMETIC: [&str; 7] = ["##", "#@#", "#?#", "#$#", "#%#", "#@$#", "#@?#"];

/// Characters that make a bare line a pattern rather than a host.
const PATTERN_CHARS: [char; 9] = ['*', '^', '|', '/', '?', '=', '&', '$', ':'];

enum Rule<'a> {
    Host(&'a str),
    Url(String),
    Unsupported(&'static str),
}

pub(crate) fn parse(bytes: &[u8], b: &mut Builder<'_>) {
    for_each_line(bytes, b, |b, line, s| {
        let t = s.trim();
        if t.is_empty() {
            return b.skip(line, SkipReason::Blank);
        }
        if t.starts_with('[') && t.ends_with(']') {
            return b.skip(line, SkipReason::Header);
        }
        if t.starts_with('!') {
            return b.skip(line, SkipReason::Comment);
        }
        if t.contains('#') && COSMETIC.iter().any(|m| t.contains(m)) {
            return b.unsupported(line, Msg::new("intel.import.adblock_cosmetic"), t);
        }
        if t.starts_with('#') {
            return b.skip(line, SkipReason::Comment);
        }
        let (exception, body) = match t.strip_prefix("@@") {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        if body.len() > 2 && body.starts_with('/') && body.split('$').next().is_some_and(|p| p.ends_with('/'))
        {
            return b.unsupported(line, Msg::new("intel.import.adblock_regex"), t);
        }
        let (pattern, options) = match body.split_once('$') {
            Some((p, o)) => (p, Some(o)),
            None => (body, None),
        };
        if let Some(o) = options
            && o.split(',').any(|x| x.trim().eq_ignore_ascii_case("badfilter"))
        {
            return b.unsupported(line, Msg::new("intel.import.adblock_badfilter"), t);
        }
        let target = match rule(pattern) {
            Rule::Unsupported(key) => return b.unsupported(line, Msg::new(key), t),
            Rule::Host(h) => b.web_host(line, h),
            Rule::Url(u) => b.value(line, Some(IndicatorKind::Url), &u),
        };
        let Some((kind, value)) = target else { return };
        if exception {
            return b.allow(line, kind, value);
        }
        if let Some(o) = options.map(str::trim).filter(|o| !o.is_empty()) {
            b.note(
                line,
                Msg::new("intel.import.adblock_options_ignored").arg("options", super::excerpt(o)),
            );
        }
        b.accept(line, IndicatorDraft::new(kind, value));
    });
}

fn rule(p: &str) -> Rule<'_> {
    if let Some(rest) = p.strip_prefix("||") {
        let rest = rest.strip_suffix('|').unwrap_or(rest);
        let rest = rest.strip_suffix('^').unwrap_or(rest);
        let rest = rest.strip_prefix("*.").unwrap_or(rest);
        if rest.contains(['*', '^', '|']) {
            return Rule::Unsupported("intel.import.adblock_pattern");
        }
        if super::web_host_kind(rest) == IndicatorKind::Ip {
            return Rule::Host(rest);
        }
        return match rest.find(['/', '?']) {
            Some(i) if rest[i..].trim_end_matches('/').is_empty() => Rule::Host(&rest[..i]),
            Some(_) => Rule::Url(format!("http://{rest}")),
            None => Rule::Host(rest),
        };
    }
    if let Some(rest) = p.strip_prefix('|') {
        let rest = rest.strip_suffix('|').unwrap_or(rest);
        if rest.contains("://") && !rest.contains(['*', '^', '|']) {
            return Rule::Url(rest.to_string());
        }
        return Rule::Unsupported("intel.import.adblock_pattern");
    }
    if p.contains(PATTERN_CHARS) && fanzha_core::ip::parse_ip_or_cidr(p).is_err() {
        return Rule::Unsupported("intel.import.adblock_pattern");
    }
    Rule::Host(p)
}
