//! The two kinds of open-addressing table, both probed linearly from the
//! slot `hash × len / 2⁶⁴` (so a table can have any length, and inserting
//! keys in hash order fills it front to back).
//!
//! * [`StrTable`]: `u64` slots, each `(hash tag << 32) | arena offset` of a
//!   record holding the key and its first entry. Offset 0 is never a record
//!   (the arena starts with a pad byte), so a zero slot is empty.
//! * [`NumTable`]: numeric keys (phone numbers, bank card numbers packed
//!   into a `u64`) with their first entry inline, so a lookup touches one
//!   slot and nothing else. Key 0 marks an empty slot.

use super::codec::RawEntry;

/// Target load of a table built by `finish`.
const LOAD_NUM: usize = 7;
const LOAD_DEN: usize = 10;

/// Slots for `n` keys.
pub(crate) fn capacity_for(n: usize) -> usize {
    (n.saturating_mul(LOAD_DEN) / LOAD_NUM).saturating_add(1).max(8)
}

/// The first slot to probe for `hash` in a table of `len` slots.
#[inline]
pub(crate) fn home(hash: u64, len: usize) -> usize {
    ((u128::from(hash) * len as u128) >> 64) as usize
}

#[inline]
pub(crate) const fn tag_of(hash: u64) -> u32 {
    hash as u32
}

/// Finds the record of `key` in a string table; `first` is the content of
/// the home slot, which the caller may have loaded ahead. Returns the arena
/// offset of the record and the end of its key.
#[inline]
pub(crate) fn str_find(slots: &[u64], arena: &[u8], key: &[u8], hash: u64, first: u64) -> Option<usize> {
    // The same probe as a table with a side table, with none.
    super::inline::find::<super::inline::Side32>(slots, &[], arena, key, hash, first).map(|(off, _)| off)
}

#[inline]
pub(crate) fn str_first(slots: &[u64], hash: u64) -> u64 {
    slots.get(home(hash, slots.len())).copied().unwrap_or(0)
}

/// Lays out a string table from `(hash, record offset)` pairs of distinct
/// keys sorted by hash.
pub(crate) fn str_layout(keys: &[(u64, u32)]) -> Vec<u64> {
    let mut slots = vec![0u64; capacity_for(keys.len())];
    let items = keys
        .iter()
        .map(|&(h, off)| (h, (u64::from(tag_of(h)) << 32) | u64::from(off)));
    place(&mut slots, items, |s| *s != 0);
    slots
}

/// Inserts items into `slots` by linear probing. With the items sorted by
/// hash, the writes move through the table front to back.
fn place<T>(slots: &mut [T], items: impl Iterator<Item = (u64, T)>, used: impl Fn(&T) -> bool) {
    let len = slots.len();
    for (h, v) in items {
        let mut i = home(h, len);
        while used(&slots[i]) {
            i += 1;
            if i == len {
                i = 0;
            }
        }
        slots[i] = v;
    }
}

/// A numeric-key slot: the key, its first entry, and the arena offset of a
/// run of further entries (0 when there are none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NumSlot {
    pub key: u64,
    pub id: i64,
    pub run: u32,
    pub fraud: u8,
    pub confidence: u8,
}

/// Bytes of a numeric slot in the file.
pub(crate) const NUM_SLOT_BYTES: usize = 24;

impl NumSlot {
    pub(crate) fn entry(&self) -> RawEntry {
        RawEntry {
            id: self.id,
            fraud: self.fraud,
            confidence: self.confidence,
        }
    }

    pub(crate) fn encode(&self, out: &mut [u8; NUM_SLOT_BYTES]) {
        out[0..8].copy_from_slice(&self.key.to_le_bytes());
        out[8..16].copy_from_slice(&self.id.to_le_bytes());
        out[16..20].copy_from_slice(&self.run.to_le_bytes());
        out[20] = self.fraud;
        out[21] = self.confidence;
        out[22] = 0;
        out[23] = 0;
    }

    pub(crate) fn decode(b: &[u8; NUM_SLOT_BYTES]) -> NumSlot {
        let mut k = [0u8; 8];
        let mut id = [0u8; 8];
        let mut run = [0u8; 4];
        k.copy_from_slice(&b[0..8]);
        id.copy_from_slice(&b[8..16]);
        run.copy_from_slice(&b[16..20]);
        NumSlot {
            key: u64::from_le_bytes(k),
            id: i64::from_le_bytes(id),
            run: u32::from_le_bytes(run),
            fraud: b[20],
            confidence: b[21],
        }
    }
}

/// Hash of a numeric key: an invertible mix, so distinct keys never share a
/// hash and sorting by hash groups equal keys.
#[inline]
pub(crate) fn num_hash(key: u64) -> u64 {
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[inline]
pub(crate) fn num_find(slots: &[NumSlot], key: u64) -> Option<&NumSlot> {
    let len = slots.len();
    let mut i = home(num_hash(key), len);
    for _ in 0..len {
        let s = slots.get(i)?;
        if s.key == key {
            return Some(s);
        }
        if s.key == 0 {
            return None;
        }
        i += 1;
        if i == len {
            i = 0;
        }
    }
    None
}

/// Lays out a numeric table from slots of distinct keys sorted by hash.
pub(crate) fn num_layout(items: &[NumSlot]) -> Vec<NumSlot> {
    let mut slots = vec![NumSlot::default(); capacity_for(items.len())];
    place(&mut slots, items.iter().map(|s| (num_hash(s.key), *s)), |s| {
        s.key != 0
    });
    slots
}
