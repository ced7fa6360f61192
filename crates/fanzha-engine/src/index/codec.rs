//! Byte-level encoding shared by the builder, the snapshot and the file
//! format: namespaces, stable codes for kinds and fraud types, varints,
//! arena records and the key hash.
//!
//! An arena record is
//! `[ns | flags][varint key length][key bytes][id i64 LE][fraud u8][confidence u8]`.
//! The high bit of the first byte says that more entries for the same key
//! live in a run `[varint count][entry]…` found through the extras table.

use fanzha_core::{FraudType, IndicatorKind};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// String tables, one per namespace. Phones and bank accounts that pack
/// into a `u64` go to the numeric tables instead.
pub(crate) const ST_PHONE: usize = 0;
pub(crate) const ST_DOMAIN: usize = 1;
pub(crate) const ST_URL: usize = 2;
pub(crate) const ST_APP: usize = 3;
pub(crate) const ST_BANK: usize = 4;
pub(crate) const ST_PAYMENT: usize = 5;
pub(crate) const ST_SOCIAL: usize = 6;
pub(crate) const STR_TABLES: usize = 7;

/// Numeric tables.
pub(crate) const NT_PHONE: usize = 0;
pub(crate) const NT_BANK: usize = 1;
pub(crate) const NUM_TABLES: usize = 2;

/// The IP records' namespace byte (they are found through the tries).
pub(crate) const NS_IP: u8 = 15;

pub(crate) const FLAG_EXTRAS: u8 = 0x80;

/// The kind of the indicators in a string table.
pub(crate) const fn st_kind(table: usize) -> IndicatorKind {
    match table {
        ST_PHONE => IndicatorKind::Phone,
        ST_DOMAIN => IndicatorKind::Domain,
        ST_URL => IndicatorKind::Url,
        ST_APP => IndicatorKind::App,
        ST_BANK => IndicatorKind::BankAccount,
        ST_PAYMENT => IndicatorKind::PaymentAccount,
        _ => IndicatorKind::SocialAccount,
    }
}

/// The kind of the indicators in a numeric table.
pub(crate) const fn nt_kind(table: usize) -> IndicatorKind {
    match table {
        NT_PHONE => IndicatorKind::Phone,
        _ => IndicatorKind::BankAccount,
    }
}

/// Bytes of one encoded entry: id (8), fraud type (1), confidence (1).
pub(crate) const ENTRY_LEN: usize = 10;

/// Number of kinds, for per-kind counters.
pub(crate) const KIND_COUNT: usize = 8;

/// Stable code of a kind, 0-based, used in files and counters.
pub(crate) const fn kind_code(kind: IndicatorKind) -> u8 {
    match kind {
        IndicatorKind::Phone => 0,
        IndicatorKind::Domain => 1,
        IndicatorKind::Url => 2,
        IndicatorKind::Ip => 3,
        IndicatorKind::App => 4,
        IndicatorKind::BankAccount => 5,
        IndicatorKind::PaymentAccount => 6,
        IndicatorKind::SocialAccount => 7,
    }
}

#[cfg(test)]
pub(crate) const fn kind_from_code(code: u8) -> Option<IndicatorKind> {
    Some(match code {
        0 => IndicatorKind::Phone,
        1 => IndicatorKind::Domain,
        2 => IndicatorKind::Url,
        3 => IndicatorKind::Ip,
        4 => IndicatorKind::App,
        5 => IndicatorKind::BankAccount,
        6 => IndicatorKind::PaymentAccount,
        7 => IndicatorKind::SocialAccount,
        _ => return None,
    })
}

/// Stable code of a fraud type, used in files. Explicit, so that reordering
/// the enum in `fanzha-core` cannot change what a saved index means.
pub(crate) const fn fraud_code(fraud: FraudType) -> u8 {
    match fraud {
        FraudType::BrushingRebate => 0,
        FraudType::FakeInvestment => 1,
        FraudType::FakeShopping => 2,
        FraudType::FakeCustomerService => 3,
        FraudType::FakeLoan => 4,
        FraudType::FakeCredit => 5,
        FraudType::ImpersonateAcquaintance => 6,
        FraudType::ImpersonateAuthority => 7,
        FraudType::RomanceScam => 8,
        FraudType::GameTrading => 9,
        FraudType::Other => 10,
    }
}

pub(crate) const fn fraud_from_code(code: u8) -> Option<FraudType> {
    Some(match code {
        0 => FraudType::BrushingRebate,
        1 => FraudType::FakeInvestment,
        2 => FraudType::FakeShopping,
        3 => FraudType::FakeCustomerService,
        4 => FraudType::FakeLoan,
        5 => FraudType::FakeCredit,
        6 => FraudType::ImpersonateAcquaintance,
        7 => FraudType::ImpersonateAuthority,
        8 => FraudType::RomanceScam,
        9 => FraudType::GameTrading,
        10 => FraudType::Other,
        _ => return None,
    })
}

/// The hash of a key in a string table. xxh3 is a specified algorithm, so
/// the hashes saved in a file stay valid across crate versions.
#[inline]
pub(crate) fn key_hash(table: usize, key: &[u8]) -> u64 {
    xxh3_64_with_seed(key, (table as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Packs 1–19 ASCII digits into a `u64` as the number `1` followed by the
/// digits, so leading zeros count and 0 never occurs. `None` when the string
/// is not all digits or the number does not fit.
#[inline]
pub(crate) fn pack_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut n: u64 = 1;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(n)
}

/// A canonical phone (`+` and digits) as a numeric key.
#[inline]
pub(crate) fn pack_phone(value: &str) -> Option<u64> {
    pack_digits(value.strip_prefix('+')?.as_bytes())
}

/// A bank account of digits only as a numeric key.
#[inline]
pub(crate) fn pack_bank(value: &str) -> Option<u64> {
    pack_digits(value.as_bytes())
}

pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads a varint at `pos`; returns the value and the position after it.
#[inline]
pub(crate) fn get_varint(buf: &[u8], mut pos: usize) -> Option<(u32, usize)> {
    let mut v: u32 = 0;
    for shift in [0u32, 7, 14, 21, 28] {
        let b = *buf.get(pos)?;
        pos += 1;
        v |= u32::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some((v, pos));
        }
    }
    None
}

/// One decoded entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawEntry {
    pub id: i64,
    pub fraud: u8,
    pub confidence: u8,
}

impl RawEntry {
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.id.to_le_bytes());
        buf.push(self.fraud);
        buf.push(self.confidence);
    }

    #[inline]
    pub(crate) fn decode(b: &[u8]) -> Option<RawEntry> {
        let id = i64::from_le_bytes(b.get(..8)?.try_into().ok()?);
        Some(RawEntry {
            id,
            fraud: *b.get(8)?,
            confidence: *b.get(9)?,
        })
    }
}

/// A record read out of the arena.
pub(crate) struct Record {
    pub has_extras: bool,
    pub entry: RawEntry,
}

/// Appends a record; returns its offset.
pub(crate) fn write_record(arena: &mut Vec<u8>, head: u8, key: &[u8], entry: RawEntry) -> usize {
    let off = arena.len();
    arena.push(head);
    // Keys are bounded by MAX_VALUE_LEN, so the length fits.
    put_varint(arena, key.len() as u32);
    arena.extend_from_slice(key);
    entry.encode(arena);
    off
}

/// Reads the key part of a record: first byte and key bytes.
#[inline]
pub(crate) fn record_key(arena: &[u8], off: usize) -> Option<(u8, &[u8], usize)> {
    let head = *arena.get(off)?;
    let (len, pos) = get_varint(arena, off + 1)?;
    let end = pos.checked_add(len as usize)?;
    Some((head, arena.get(pos..end)?, end))
}

#[inline]
pub(crate) fn read_record(arena: &[u8], off: usize) -> Option<Record> {
    let (head, _, end) = record_key(arena, off)?;
    let entry = RawEntry::decode(arena.get(end..end.checked_add(ENTRY_LEN)?)?)?;
    Some(Record {
        has_extras: head & FLAG_EXTRAS != 0,
        entry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip() {
        for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(get_varint(&b, 0), Some((v, b.len())));
        }
        assert_eq!(get_varint(&[0x80, 0x80], 0), None);
        assert_eq!(get_varint(&[0xff; 6], 0), None);
    }

    #[test]
    fn codes_round_trip() {
        for k in IndicatorKind::ALL {
            assert_eq!(kind_from_code(kind_code(*k)), Some(*k));
        }
        for f in FraudType::ALL {
            assert_eq!(fraud_from_code(fraud_code(*f)), Some(*f));
        }
        assert_eq!(fraud_from_code(11), None);
    }

    #[test]
    fn digit_packing() {
        assert_eq!(pack_phone("+8613812345678"), Some(18_613_812_345_678));
        assert_eq!(pack_phone("+0861"), Some(10_861));
        assert_ne!(pack_phone("+0861"), pack_phone("+861"));
        assert_eq!(pack_bank("6222021234567890123"), Some(16_222_021_234_567_890_123));
        // 1 followed by 19 nines does not fit in a u64.
        assert_eq!(pack_bank("9999999999999999999"), None);
        assert_eq!(pack_phone("+"), None);
        assert_eq!(pack_phone("110"), None);
        assert_eq!(pack_phone("+86138x"), None);
        assert_eq!(pack_bank("GB82WEST12345698765432"), None);
        assert_eq!(pack_bank("12345678901234567890"), None);
    }
}
