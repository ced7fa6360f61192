//! Parsing addresses and CIDR prefixes into the keys of the prefix tries.
//! Host bits are masked off; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
//! is treated as the IPv4 address it maps.

use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IpKey {
    V4(u32, u8),
    V6(u128, u8),
}

/// Parses `addr` or `addr/len` (v4 or v6). Returns `None` for anything else.
pub(crate) fn parse_ip(s: &str) -> Option<IpKey> {
    if s.len() > 64 {
        return None;
    }
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => {
            if l.is_empty() || l.len() > 3 || !l.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (a, Some(l.parse::<u8>().ok()?))
        }
        None => (s, None),
    };
    if let Ok(v4) = addr.parse::<Ipv4Addr>() {
        let len = len.unwrap_or(32);
        if len > 32 {
            return None;
        }
        return Some(IpKey::V4(mask4(v4.to_bits(), len), len));
    }
    let v6 = addr.parse::<Ipv6Addr>().ok()?;
    let len = len.unwrap_or(128);
    if len > 128 {
        return None;
    }
    if let Some(v4) = v6.to_ipv4_mapped()
        && len >= 96
    {
        let l4 = len - 96;
        return Some(IpKey::V4(mask4(v4.to_bits(), l4), l4));
    }
    Some(IpKey::V6(mask6(v6.to_bits(), len), len))
}

pub(crate) fn mask4(a: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        a & (u32::MAX << (32 - u32::from(len.min(32))))
    }
}

pub(crate) fn mask6(a: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        a & (u128::MAX << (128 - u32::from(len.min(128))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        assert_eq!(parse_ip("1.2.3.4"), Some(IpKey::V4(0x0102_0304, 32)));
        assert_eq!(parse_ip("1.2.3.4/24"), Some(IpKey::V4(0x0102_0300, 24)));
        assert_eq!(parse_ip("0.0.0.0/0"), Some(IpKey::V4(0, 0)));
        assert_eq!(parse_ip("2001:db8::/32"), Some(IpKey::V6(0x2001_0db8 << 96, 32)));
        assert_eq!(parse_ip("::ffff:1.2.3.4"), Some(IpKey::V4(0x0102_0304, 32)));
        assert_eq!(parse_ip("::ffff:1.2.3.0/120"), Some(IpKey::V4(0x0102_0300, 24)));
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4/33",
            "1.2.3.4/",
            "1.2.3.4/+1",
            "::/129",
            "x",
            "1.2.3.4/024x",
        ] {
            assert_eq!(parse_ip(bad), None, "{bad}");
        }
    }
}
