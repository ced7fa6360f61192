//! Parsing addresses and CIDR prefixes into the keys of the prefix tries.
//! Host bits are masked off; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
//! is treated as the IPv4 address it maps.

use std::net::{Ipv4Addr, Ipv6Addr};

use prefix_trie::PrefixMap;

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

/// The IP prefixes: tries for longest-prefix lookups, and the same prefixes
/// as sorted lists `(address, length, record offset)`, which are what a file
/// stores (walking a trie is far slower than reading a list).
#[derive(Default)]
pub(crate) struct IpTables {
    pub v4: PrefixMap<(u32, u8), u32>,
    pub v6: PrefixMap<(u128, u8), u32>,
    pub list4: Vec<(u32, u8, u32)>,
    pub list6: Vec<(u128, u8, u32)>,
}

impl IpTables {
    pub(crate) fn get(&self, key: IpKey) -> Option<u32> {
        match key {
            IpKey::V4(a, l) => self.v4.get(&(a, l)).copied(),
            IpKey::V6(a, l) => self.v6.get(&(a, l)).copied(),
        }
    }

    /// Adds a prefix that is not there yet.
    pub(crate) fn insert(&mut self, key: IpKey, off: u32) {
        match key {
            IpKey::V4(a, l) => {
                self.v4.insert((a, l), off);
                self.list4.push((a, l, off));
            }
            IpKey::V6(a, l) => {
                self.v6.insert((a, l), off);
                self.list6.push((a, l, off));
            }
        }
    }

    pub(crate) fn sort(&mut self) {
        self.list4.sort_unstable();
        self.list6.sort_unstable();
        self.list4.shrink_to_fit();
        self.list6.shrink_to_fit();
    }

    /// Rebuilds the tries from sorted, masked, distinct lists.
    pub(crate) fn from_lists(
        list4: Vec<(u32, u8, u32)>,
        list6: Vec<(u128, u8, u32)>,
    ) -> Result<IpTables, &'static str> {
        let mut v4 = PrefixMap::new();
        for w in list4.windows(2) {
            if (w[0].0, w[0].1) >= (w[1].0, w[1].1) {
                return Err("IPv4 prefixes out of order");
            }
        }
        for w in list6.windows(2) {
            if (w[0].0, w[0].1) >= (w[1].0, w[1].1) {
                return Err("IPv6 prefixes out of order");
            }
        }
        for &(a, l, off) in &list4 {
            if l > 32 || mask4(a, l) != a {
                return Err("IPv4 prefix");
            }
            v4.insert((a, l), off);
        }
        let mut v6 = PrefixMap::new();
        for &(a, l, off) in &list6 {
            if l > 128 || mask6(a, l) != a {
                return Err("IPv6 prefix");
            }
            v6.insert((a, l), off);
        }
        Ok(IpTables { v4, v6, list4, list6 })
    }

    pub(crate) fn mem_size(&self) -> usize {
        self.v4.mem_size()
            + self.v6.mem_size()
            + self.list4.capacity() * size_of::<(u32, u8, u32)>()
            + self.list6.capacity() * size_of::<(u128, u8, u32)>()
    }
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
