//! IP addresses and CIDR networks.
//!
//! # Canonical form
//!
//! * A single address is written bare: `1.2.3.4`, `2001:db8::1` (IPv6 in its
//!   RFC 5952 form: lower case, longest zero run compressed). `/32` and
//!   `/128` are single addresses too.
//! * A network is `address/prefix` with **host bits masked off**:
//!   `1.2.3.4/24` becomes `1.2.3.0/24`. The reporter meant the network the
//!   address is in; keeping the host bits would make two spellings of one
//!   network differ.
//! * An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, prefix ≥ 96) is written as
//!   the IPv4 address it carries (prefix − 96), so that it matches IPv4 intel.
//! * Accepted noise: surrounding whitespace and brackets (`[2001:db8::1]`),
//!   spaces around `/`, one trailing dot on IPv4, defanged dots (`1[.]2[.]3[.]4`), zero-padded IPv4
//!   parts (`010.001.002.003` is `10.1.2.3`: lists padded in spreadsheets
//!   mean decimal; URL hosts follow browsers instead, see [`crate::url`]),
//!   and a dotted netmask (`10.0.0.0/255.0.0.0`) when it is contiguous.
//! * Rejected: a prefix beyond the address width (`1.2.3.4/40`), zone ids
//!   (`fe80::1%eth0`), ports, and anything but exactly four IPv4 parts.
//!
//! [`normalize`] (the indicator form) also rejects networks broader than
//! [`MIN_PREFIX_V4`] / [`MIN_PREFIX_V6`]: as indicators they would flag a
//! large part of the Internet and are almost always an import mistake.

pub use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The broadest IPv4 network accepted as an indicator.
pub const MIN_PREFIX_V4: u8 = 8;
/// The broadest IPv6 network accepted as an indicator.
pub const MIN_PREFIX_V6: u8 = 16;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IpError {
    #[error("the IP address is empty")]
    Empty,
    #[error("not a valid IPv4 or IPv6 address")]
    BadAddress,
    #[error("the prefix length after / is not a number")]
    BadPrefix,
    #[error("the prefix length /{prefix} is longer than the address ({max} bits)")]
    PrefixTooLong { prefix: u32, max: u8 },
    #[error("the netmask is not contiguous")]
    BadNetmask,
    #[error("the network /{prefix} is too broad to be an indicator (at least /{min})")]
    TooBroad { prefix: u8, min: u8 },
}

/// Parses an address or a CIDR network; host bits are masked off.
pub fn parse_ip_or_cidr(input: &str) -> Result<IpNet, IpError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(IpError::Empty);
    }
    let r = crate::indicator::refang(t);
    let (addr_s, prefix_s) = match r.split_once('/') {
        Some((a, p)) => (a.trim(), Some(p.trim())),
        None => (r.as_ref(), None),
    };
    let addr = parse_ip(addr_s)?;
    let max = if addr.is_ipv4() { 32u8 } else { 128u8 };
    let prefix = match prefix_s {
        None => max,
        Some(p) => parse_prefix(p, addr, max)?,
    };
    let net = IpNet::new(addr, prefix).map_err(|_| IpError::BadPrefix)?.trunc();
    Ok(unmap(net))
}

/// Parses a single address (no prefix) with the same leniency.
pub fn parse_ip(input: &str) -> Result<IpAddr, IpError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(IpError::Empty);
    }
    let t = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(t);
    if t.contains(':') {
        return t
            .parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| IpError::BadAddress);
    }
    // `1.2.3.4.` (a trailing root dot, as in host lists) is the same address.
    let t = t.strip_suffix('.').unwrap_or(t);
    parse_v4_padded(t).map(IpAddr::V4).ok_or(IpError::BadAddress)
}

/// Exactly four decimal parts of 1–3 digits, each at most 255.
fn parse_v4_padded(t: &str) -> Option<Ipv4Addr> {
    let mut out = [0u8; 4];
    let mut n = 0usize;
    for part in t.split('.') {
        let slot = out.get_mut(n)?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse::<u8>().ok()?;
        n += 1;
    }
    (n == 4).then(|| Ipv4Addr::from(out))
}

fn parse_prefix(p: &str, addr: IpAddr, max: u8) -> Result<u8, IpError> {
    if p.is_empty() {
        return Err(IpError::BadPrefix);
    }
    if p.bytes().all(|c| c.is_ascii_digit()) {
        if p.len() > 3 {
            return Err(IpError::BadPrefix);
        }
        let digits = p.trim_start_matches('0');
        let v: u32 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| IpError::BadPrefix)?
        };
        if v > u32::from(max) {
            return Err(IpError::PrefixTooLong { prefix: v, max });
        }
        return u8::try_from(v).map_err(|_| IpError::BadPrefix);
    }
    // A dotted netmask, only for IPv4.
    if addr.is_ipv4() && p.contains('.') {
        let m = u32::from(parse_v4_padded(p).ok_or(IpError::BadPrefix)?);
        let ones = m.leading_ones();
        if m.checked_shl(ones).unwrap_or(0) != 0 {
            return Err(IpError::BadNetmask);
        }
        return u8::try_from(ones).map_err(|_| IpError::BadPrefix);
    }
    Err(IpError::BadPrefix)
}

/// `::ffff:a.b.c.d/p` (p ≥ 96) becomes `a.b.c.d/(p − 96)`.
fn unmap(net: IpNet) -> IpNet {
    if let IpNet::V6(n) = net
        && let Some(v4) = n.addr().to_ipv4_mapped()
        && n.prefix_len() >= 96
        && let Ok(v4net) = Ipv4Net::new(v4, n.prefix_len() - 96)
    {
        return IpNet::V4(v4net);
    }
    net
}

/// The canonical string: bare address for a single host, else `addr/prefix`.
pub fn to_canonical_string(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// Normalises an indicator value: parses, masks host bits, rejects networks
/// broader than [`MIN_PREFIX_V4`] / [`MIN_PREFIX_V6`], and returns the
/// canonical string. Borrows the input when it already is canonical.
pub fn normalize_cow(input: &str) -> Result<Cow<'_, str>, IpError> {
    let net = parse_ip_or_cidr(input)?;
    let min = if matches!(net, IpNet::V4(_)) {
        MIN_PREFIX_V4
    } else {
        MIN_PREFIX_V6
    };
    if net.prefix_len() < min {
        return Err(IpError::TooBroad {
            prefix: net.prefix_len(),
            min,
        });
    }
    let s = to_canonical_string(&net);
    let t = input.trim();
    Ok(if s == t { Cow::Borrowed(t) } else { Cow::Owned(s) })
}

/// [`normalize_cow`], owned.
pub fn normalize(input: &str) -> Result<String, IpError> {
    normalize_cow(input).map(Cow::into_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_unmaps() {
        assert_eq!(normalize("1.2.3.4/24").unwrap(), "1.2.3.0/24");
        assert_eq!(normalize("::ffff:1.2.3.4").unwrap(), "1.2.3.4");
        assert_eq!(normalize("::ffff:1.2.3.4/120").unwrap(), "1.2.3.0/24");
        assert_eq!(normalize("10.0.0.0/255.255.0.0").unwrap(), "10.0.0.0/16");
        assert_eq!(normalize("10.0.0.0/255.0.255.0"), Err(IpError::BadNetmask));
        assert_eq!(
            normalize("1.2.3.4/40"),
            Err(IpError::PrefixTooLong { prefix: 40, max: 32 })
        );
        assert_eq!(
            normalize("0.0.0.0/0"),
            Err(IpError::TooBroad { prefix: 0, min: 8 })
        );
        assert!(matches!(normalize_cow("2001:db8::/32"), Ok(Cow::Borrowed(_))));
        assert_eq!(parse_ip_or_cidr("1.2.3.4").unwrap().prefix_len(), 32);
    }
}
