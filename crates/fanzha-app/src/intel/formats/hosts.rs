//! Hosts files used as block lists.
//!
//! * `0.0.0.0 name…`, `127.0.0.1 name…`, `:: name…` and `::1 name…` block
//!   every name on the line; `#` starts a comment anywhere.
//! * Entries for the machine itself (`localhost`, `broadcasthost`,
//!   `ip6-allnodes`… and `0.0.0.0` as a name) are skipped.
//! * A line that maps names to another address is a real mapping, not a
//!   block: it is reported as unsupported.
//! * A line of bare names (some lists drop the address) blocks those names.
//! * Names are domains; an address in the name column is rejected.

use super::{Builder, IndicatorDraft, SkipReason, for_each_line, strip_inline_comment};
use fanzha_core::i18n::Msg;
use fanzha_core::{IndicatorKind, ip};
use std::net::IpAddr;

const LOCAL_NAMES: [&str; 13] = [
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
    "0.0.0.0",
    "localhost6.localdomain6",
];

fn is_sink(addr: IpAddr) -> bool {
    addr.is_unspecified() || addr.is_loopback()
}

fn is_local_name(n: &str) -> bool {
    let n = n.strip_suffix('.').unwrap_or(n);
    LOCAL_NAMES.iter().any(|l| l.eq_ignore_ascii_case(n)) || n.eq_ignore_ascii_case("localhost6")
}

/// An IPv4 address (four dotted numbers) or something IPv6-like (with a
/// zone id, which is no sink address either).
fn looks_like_address(t: &str) -> bool {
    let v4 = t.split('.').count() == 4 && t.bytes().all(|c| c.is_ascii_digit() || c == b'.');
    let v6 = t.contains(':')
        && t.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b':' | b'.' | b'%'));
    v4 || v6
}

pub(crate) fn parse(bytes: &[u8], b: &mut Builder<'_>) {
    for_each_line(bytes, b, |b, line, s| {
        let t = s.trim();
        if t.is_empty() {
            return b.skip(line, SkipReason::Blank);
        }
        let body = strip_inline_comment(t).trim();
        if body.is_empty() {
            return b.skip(line, SkipReason::Comment);
        }
        let tokens: Vec<&str> = body.split_whitespace().collect();
        let first = tokens.first().copied().unwrap_or("");
        let addr = looks_like_address(first).then(|| ip::parse_ip(first).ok());
        let names = if addr.is_some() {
            tokens.get(1..).unwrap_or(&[])
        } else {
            &tokens[..]
        };
        if names.is_empty() {
            return b.reject(line, Msg::new("intel.import.hosts_no_name"), body);
        }
        if names.iter().all(|n| is_local_name(n)) {
            return b.skip(line, SkipReason::Localhost);
        }
        if let Some(a) = addr
            && !a.is_some_and(is_sink)
        {
            return b.unsupported(line, Msg::new("intel.import.hosts_real_address"), body);
        }
        for name in names.iter().filter(|n| !is_local_name(n)) {
            if let Some((kind, value)) = b.value(line, Some(IndicatorKind::Domain), name) {
                b.accept(line, IndicatorDraft::new(kind, value));
            }
        }
    });
}
