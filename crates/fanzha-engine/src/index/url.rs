//! Finding the host inside a canonical URL (`scheme://host[:port]/path[?query]`)
//! without allocating.

/// Where the host sits in a URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HostSpan {
    pub start: usize,
    pub end: usize,
    /// The host was written in brackets: an IPv6 literal.
    pub bracketed: bool,
}

/// Returns the byte range of the host, or `None` when the string has no
/// `scheme://` or an empty host. A userinfo part (`user@`) and a port are
/// skipped.
pub(crate) fn host_span(url: &str) -> Option<HostSpan> {
    let sep = url.find("://")?;
    let auth_start = sep + 3;
    let rest = url.get(auth_start..)?;
    let auth_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = rest.get(..auth_len)?;
    let host_off = auth.rfind('@').map_or(0, |i| i + 1);
    let hostport = auth.get(host_off..)?;
    let start = auth_start + host_off;
    let span = if let Some(inner) = hostport.strip_prefix('[') {
        let close = inner.find(']')?;
        HostSpan {
            start: start + 1,
            end: start + 1 + close,
            bracketed: true,
        }
    } else {
        let len = hostport.find(':').unwrap_or(hostport.len());
        HostSpan {
            start,
            end: start + len,
            bracketed: false,
        }
    };
    (span.end > span.start).then_some(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(u: &str) -> Option<&str> {
        host_span(u).map(|s| &u[s.start..s.end])
    }

    #[test]
    fn finds_hosts() {
        assert_eq!(host("https://a.evil.com/x?y=1"), Some("a.evil.com"));
        assert_eq!(host("http://evil.com"), Some("evil.com"));
        assert_eq!(host("http://evil.com:8080/p"), Some("evil.com"));
        assert_eq!(host("http://u:p@evil.com:81"), Some("evil.com"));
        assert_eq!(host("http://[2001:db8::1]:443/a"), Some("2001:db8::1"));
        assert_eq!(host("http://1.2.3.4?q"), Some("1.2.3.4"));
        assert_eq!(host("evil.com/path"), None);
        assert_eq!(host("http:///path"), None);
        assert_eq!(host("http://[::1/"), None);
    }
}
