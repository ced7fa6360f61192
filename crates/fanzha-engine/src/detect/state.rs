//! Per-person risk state: a fixed-size record per tracked person, kept in a
//! chunked slab and found through a `hashbrown::HashTable` of `u32` slab
//! positions (5 bytes per bucket).
//!
//! A record ([`PersonState`], 176 bytes) holds the person key, the last
//! [`RING`] signals ([`Entry`], 20 bytes each: time, event sequence number,
//! compact evidence, strength, type, fraud type) and the person's last lead
//! (time and grade). Entries store no weights: scoring applies the current
//! rules to them, so swapping the rules keeps every person's state.
//!
//! Only signals create state; a person never touched by a signal costs
//! nothing. Persons whose newest signal has left the window are dropped by
//! [`StateStore::evict_idle`].

use hashbrown::HashTable;

/// Signals kept per person.
pub const RING: usize = 8;

/// 2000-01-01T00:00:00Z in Unix seconds: state times count from here (u32
/// seconds last until 2136).
pub const STATE_EPOCH_S: i64 = 946_684_800;

/// Unix milliseconds → state seconds (clamped).
pub fn state_secs(ms: i64) -> u32 {
    (ms.div_euclid(1000) - STATE_EPOCH_S).clamp(0, i64::from(u32::MAX)) as u32
}

/// State seconds → Unix milliseconds.
pub fn unix_ms(s: u32) -> i64 {
    (i64::from(s) + STATE_EPOCH_S) * 1000
}

/// No fraud type.
pub const NO_FRAUD: u8 = u8::MAX;
/// An empty entry.
const NO_SIGNAL: u8 = u8::MAX;

/// One signal in a person's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Entry {
    /// State seconds.
    pub at: u32,
    seq_lo: u32,
    seq_hi: u32,
    /// Compact evidence; its meaning depends on the signal type (see
    /// [`super::score::StoredEvidence`]).
    pub evidence: u32,
    /// Strength in 1/10 000.
    pub strength: u16,
    pub sig: u8,
    /// Index into `FraudType::ALL`, or [`NO_FRAUD`].
    pub fraud: u8,
}

impl Entry {
    pub const EMPTY: Entry = Entry {
        at: 0,
        seq_lo: 0,
        seq_hi: 0,
        evidence: 0,
        strength: 0,
        sig: NO_SIGNAL,
        fraud: NO_FRAUD,
    };

    pub fn new(at: u32, seq: u64, sig: u8, fraud: u8, strength: f32, evidence: u32) -> Entry {
        Entry {
            at,
            seq_lo: seq as u32,
            seq_hi: (seq >> 32) as u32,
            evidence,
            strength: (strength.clamp(0.0, 1.0) * 10_000.0).round() as u16,
            sig,
            fraud,
        }
    }

    pub fn seq(&self) -> u64 {
        u64::from(self.seq_hi) << 32 | u64::from(self.seq_lo)
    }

    pub fn set_seq(&mut self, seq: u64) {
        self.seq_lo = seq as u32;
        self.seq_hi = (seq >> 32) as u32;
    }

    pub fn strength(&self) -> f32 {
        f32::from(self.strength) / 10_000.0
    }
}

/// One tracked person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct PersonState {
    pub key: u64,
    pub entries: [Entry; RING],
    /// State seconds of the last lead raised (valid when `lead_grade > 0`).
    pub lead_at: u32,
    pub len: u8,
    /// 0: no lead yet; 1–4: the highest grade of the last lead (low … critical).
    pub lead_grade: u8,
}

impl PersonState {
    pub fn new(key: u64) -> PersonState {
        PersonState {
            key,
            entries: [Entry::EMPTY; RING],
            lead_at: 0,
            len: 0,
            lead_grade: 0,
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries[..usize::from(self.len).min(RING)]
    }

    /// Time of the newest signal.
    pub fn newest(&self) -> Option<u32> {
        self.entries().iter().map(|e| e.at).max()
    }

    /// Drops entries older than `window_s` before `now`; keeps order.
    pub fn expire(&mut self, now: u32, window_s: u32) {
        let mut w = 0;
        for r in 0..usize::from(self.len).min(RING) {
            let e = self.entries[r];
            if now.saturating_sub(e.at) <= window_s {
                self.entries[w] = e;
                w += 1;
            }
        }
        for e in &mut self.entries[w..] {
            *e = Entry::EMPTY;
        }
        self.len = w as u8;
    }

    /// Adds an entry. When the ring is full, the entry at `victim` (chosen
    /// by the caller) is replaced.
    pub fn push(&mut self, e: Entry, victim: impl FnOnce(&[Entry]) -> usize) {
        let n = usize::from(self.len);
        if n < RING {
            self.entries[n] = e;
            self.len += 1;
        } else {
            let v = victim(&self.entries).min(RING - 1);
            self.entries[v] = e;
        }
    }
}

const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;

/// Every tracked person's state.
#[derive(Default)]
pub struct StateStore {
    table: HashTable<u32>,
    chunks: Vec<Box<[PersonState]>>,
    len: usize,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("persons", &self.len)
            .field("bytes", &self.allocated_bytes())
            .finish()
    }
}

/// Person keys are already xxh3 hashes: use them as they are.
#[inline]
fn h(key: u64) -> u64 {
    key
}

impl StateStore {
    pub fn new() -> StateStore {
        StateStore::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn slot(&self, i: u32) -> &PersonState {
        let i = i as usize;
        &self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }

    fn slot_mut(&mut self, i: u32) -> &mut PersonState {
        let i = i as usize;
        &mut self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }

    pub fn get(&self, key: u64) -> Option<&PersonState> {
        let chunks = &self.chunks;
        let at = |i: u32| &chunks[i as usize >> CHUNK_BITS][i as usize & (CHUNK - 1)];
        self.table.find(h(key), |&i| at(i).key == key).map(|&i| at(i))
    }

    pub fn get_mut(&mut self, key: u64) -> Option<&mut PersonState> {
        let chunks = &self.chunks;
        let i = *self.table.find(h(key), |&i| {
            chunks[i as usize >> CHUNK_BITS][i as usize & (CHUNK - 1)].key == key
        })?;
        Some(self.slot_mut(i))
    }

    /// The person's state, created empty when missing.
    pub fn get_or_insert(&mut self, key: u64) -> &mut PersonState {
        let chunks = &self.chunks;
        let found = self
            .table
            .find(h(key), |&i| {
                chunks[i as usize >> CHUNK_BITS][i as usize & (CHUNK - 1)].key == key
            })
            .copied();
        let i = match found {
            Some(i) => i,
            None => {
                let i = self.len as u32;
                if self.len == self.chunks.len() * CHUNK {
                    self.chunks
                        .push(vec![PersonState::new(0); CHUNK].into_boxed_slice());
                }
                self.len += 1;
                *self.slot_mut(i) = PersonState::new(key);
                let chunks = &self.chunks;
                self.table.insert_unique(h(key), i, |&j| {
                    h(chunks[j as usize >> CHUNK_BITS][j as usize & (CHUNK - 1)].key)
                });
                i
            }
        };
        self.slot_mut(i)
    }

    /// Removes a person; the last slab record moves into the hole.
    pub fn remove(&mut self, key: u64) -> bool {
        let chunks = &self.chunks;
        let Ok(entry) = self.table.find_entry(h(key), |&i| {
            chunks[i as usize >> CHUNK_BITS][i as usize & (CHUNK - 1)].key == key
        }) else {
            return false;
        };
        let (i, _) = entry.remove();
        self.remove_at(i);
        true
    }

    /// Drops slab record `i` (already gone from the table).
    fn remove_at(&mut self, i: u32) {
        let last = (self.len - 1) as u32;
        if i != last {
            let moved = *self.slot(last);
            *self.slot_mut(i) = moved;
            if let Some(p) = self.table.find_mut(h(moved.key), |&j| j == last) {
                *p = i;
            }
        }
        self.len -= 1;
        // Free a trailing chunk once a whole further chunk is empty, so a
        // size that hovers at a chunk boundary does not allocate repeatedly.
        while self.chunks.len() * CHUNK >= self.len + 2 * CHUNK {
            self.chunks.pop();
        }
    }

    /// Removes every person for whom `idle` holds; returns how many.
    pub fn evict(&mut self, mut idle: impl FnMut(&PersonState) -> bool) -> usize {
        let mut removed = 0;
        let mut i = 0u32;
        while (i as usize) < self.len {
            let (key, gone) = {
                let s = self.slot(i);
                (s.key, idle(s))
            };
            if gone {
                if let Ok(e) = self.table.find_entry(h(key), |&j| j == i) {
                    e.remove();
                }
                self.remove_at(i);
                removed += 1;
                // The record moved into `i` is examined next.
            } else {
                i += 1;
            }
        }
        if removed > 0 && self.table.capacity() > 4 * self.len.max(1024) {
            let chunks = &self.chunks;
            self.table.shrink_to(self.len, |&j| {
                h(chunks[j as usize >> CHUNK_BITS][j as usize & (CHUNK - 1)].key)
            });
        }
        removed
    }

    /// Calls `f` for every tracked person.
    pub fn for_each(&self, mut f: impl FnMut(&PersonState)) {
        for i in 0..self.len as u32 {
            f(self.slot(i));
        }
    }

    /// Bytes allocated for the state: table, slab chunks and the chunk list.
    pub fn allocated_bytes(&self) -> usize {
        self.table.allocation_size()
            + self.chunks.len() * CHUNK * size_of::<PersonState>()
            + self.chunks.capacity() * size_of::<Box<[PersonState]>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size_of::<Entry>(), 20);
        assert_eq!(size_of::<PersonState>(), 176);
    }

    #[test]
    fn insert_find_remove_evict() {
        let mut s = StateStore::new();
        for k in 0..5000u64 {
            let key = k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            s.get_or_insert(key).lead_at = k as u32;
        }
        assert_eq!(s.len(), 5000);
        for k in 0..5000u64 {
            let key = k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(s.get(key).map(|p| p.lead_at), Some(k as u32));
        }
        assert!(s.remove(0));
        assert!(!s.remove(0));
        let gone = s.evict(|p| p.lead_at % 2 == 0);
        assert_eq!(gone, 2499);
        assert_eq!(s.len(), 2500);
        for k in 0..5000u64 {
            let key = k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(s.get(key).is_some(), k % 2 == 1, "{k}");
        }
        let n = s.evict(|_| true);
        assert_eq!((n, s.len()), (2500, 0));
        assert!(s.get(1).is_none());
    }

    #[test]
    fn expire_and_push() {
        let mut p = PersonState::new(7);
        for i in 0..RING as u32 {
            p.push(Entry::new(100 + i, u64::from(i), 0, 0, 0.5, i), |_| 0);
        }
        p.push(Entry::new(200, 99, 1, 0, 1.0, 9), |_| 3);
        assert_eq!(p.entries()[3].seq(), 99);
        p.expire(205, 105);
        assert_eq!(p.len as usize, RING);
        p.expire(206, 100);
        assert_eq!(p.entries().len(), 3);
        p.expire(300, 100);
        assert_eq!(p.entries().len(), 1);
        assert_eq!(p.entries()[0].at, 200);
        let e = Entry::new(1, (7u64 << 32) | 5, 0, 0, 2.0, 0);
        assert_eq!((e.seq(), e.strength()), ((7u64 << 32) | 5, 1.0));
    }
}
