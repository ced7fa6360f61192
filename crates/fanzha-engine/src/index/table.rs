//! The open-addressing key table: a power-of-two array of `u64` slots, each
//! `(hash tag << 32) | arena offset`, probed linearly. Offset 0 is never a
//! record (the arena starts with a pad byte), so a zero slot is empty.

use super::codec::{NS_MASK, key_hash, record_key};

/// Smallest table.
pub(crate) const MIN_SLOTS: usize = 16;

#[derive(Clone, Debug, Default)]
pub(crate) struct Slots {
    pub(crate) slots: Vec<u64>,
    pub(crate) len: usize,
}

#[inline]
pub(crate) const fn tag_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// Capacity that keeps `n` keys at a load of at most 0.7.
pub(crate) fn capacity_for(n: usize) -> usize {
    let want = n.saturating_mul(10) / 7 + 1;
    want.max(MIN_SLOTS)
        .checked_next_power_of_two()
        .unwrap_or(MIN_SLOTS)
}

impl Slots {
    pub(crate) fn with_keys(n: usize) -> Slots {
        Slots {
            slots: vec![0; capacity_for(n)],
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// Finds the record of `(ns, key)` whose hash is `hash`, starting the probe
    /// at slot `start` whose content `first` the caller may already have
    /// loaded. Returns the arena offset.
    #[inline]
    pub(crate) fn find_from(
        slots: &[u64],
        arena: &[u8],
        ns: u8,
        key: &[u8],
        hash: u64,
        mut first: u64,
    ) -> Option<u32> {
        let mask = slots.len().wrapping_sub(1);
        let tag = tag_of(hash);
        let mut i = hash as usize & mask;
        // Bounded: a full table (possible only in a corrupt file) ends the probe.
        for _ in 0..slots.len() {
            if first == 0 {
                return None;
            }
            if (first >> 32) as u32 == tag {
                let off = first as u32;
                if let Some((head, k, _)) = record_key(arena, off as usize)
                    && head & NS_MASK == ns
                    && k == key
                {
                    return Some(off);
                }
            }
            i = (i + 1) & mask;
            first = *slots.get(i)?;
        }
        None
    }

    #[inline]
    pub(crate) fn find(slots: &[u64], arena: &[u8], ns: u8, key: &[u8], hash: u64) -> Option<u32> {
        let first = *slots.get(hash as usize & slots.len().wrapping_sub(1))?;
        Self::find_from(slots, arena, ns, key, hash, first)
    }

    /// Inserts a key known to be absent. The caller grows the table first.
    pub(crate) fn insert_new(&mut self, hash: u64, off: u32) {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = (u64::from(tag_of(hash)) << 32) | u64::from(off);
        self.len += 1;
    }

    /// Grows if one more key would push the load above 0.7.
    pub(crate) fn reserve_one(&mut self, arena: &[u8]) {
        if (self.len + 1) * 10 > self.slots.len() * 7 {
            self.rehash(capacity_for(self.len + 1).max(self.slots.len() * 2), arena);
        }
    }

    fn rehash(&mut self, cap: usize, arena: &[u8]) {
        let old = std::mem::replace(&mut self.slots, vec![0; cap]);
        self.len = 0;
        for s in old {
            if s == 0 {
                continue;
            }
            let off = s as u32;
            // The builder wrote every record, so the key reads back.
            if let Some((head, key, _)) = record_key(arena, off as usize) {
                self.insert_new(key_hash(head & NS_MASK, key), off);
            }
        }
    }
}
