//! Building a snapshot: indicators are appended to the arena as they come and
//! deduplicated through the key table on the way, so the builder holds no
//! second copy of the data and `finish` only has to lay out the runs of
//! values shared by several indicators.

use fanzha_core::{FraudType, IndicatorKind};

use super::codec::{
    ENTRY_LEN, FLAG_EXTRAS, KIND_COUNT, NS_IP, NT_BANK, NT_PHONE, NUM_TABLES, RawEntry, ST_APP, ST_BANK,
    ST_DOMAIN, ST_PAYMENT, ST_PHONE, ST_SOCIAL, ST_URL, STR_TABLES, fraud_code, key_hash, kind_code,
    pack_bank, pack_phone, put_varint, read_record, record_key, write_record,
};
use super::ip::{IpTables, parse_ip};
use super::snapshot::IndexSnapshot;
use super::table::{NumSlot, num_hash, num_layout, str_layout};
use super::{MAX_DOMAIN_LEN, MAX_VALUE_LEN};

/// Why an indicator was not added. Messages carry the indicator id, never
/// the value (values can be personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("indicator {id}: empty value")]
    EmptyValue { id: i64 },
    #[error("indicator {id}: value of {len} bytes is longer than the {max} bytes allowed for its kind")]
    ValueTooLong { id: i64, len: usize, max: usize },
    #[error("indicator {id}: not an IP address or CIDR prefix")]
    InvalidIp { id: i64 },
    #[error("indicator {id}: confidence {confidence} is outside 0..=100")]
    Confidence { id: i64, confidence: u8 },
    #[error("the index is full: its arena would pass 4 GiB")]
    TooLarge,
}

/// Accumulates indicators; [`IndexBuilder::finish`] turns them into an
/// [`IndexSnapshot`].
///
/// `push` only appends: the value goes to the arena (or, for a phone or card
/// number, into a packed slot) and its hash to a pending list. `finish`
/// sorts each list by hash, merges values pushed more than once, and lays the
/// tables out front to back.
pub struct IndexBuilder {
    arena: Vec<u8>,
    strs: [Vec<(u64, u32)>; STR_TABLES],
    nums: [Vec<NumSlot>; NUM_TABLES],
    /// Further entries of a record: `(record offset, entry)`.
    extras: Vec<(u32, RawEntry)>,
    ip: IpTables,
    counts: [u64; KIND_COUNT],
}

impl Default for IndexBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Worst-case bytes one entry adds to a run at `finish` (count varint + entry).
const EXTRA_RESERVE: usize = ENTRY_LEN + 5;

impl IndexBuilder {
    pub fn new() -> Self {
        Self::with_capacity(0, 0)
    }

    /// A builder sized for `indicators` values taking `value_bytes` in total,
    /// so that its buffers are not reallocated while it fills.
    pub fn with_capacity(indicators: usize, value_bytes: usize) -> Self {
        let mut arena = Vec::with_capacity(
            value_bytes
                .saturating_add(indicators.saturating_mul(ENTRY_LEN + 2))
                .saturating_add(1),
        );
        // Offset 0 is the empty-slot marker, so no record may start there.
        arena.push(0);
        IndexBuilder {
            arena,
            strs: Default::default(),
            nums: Default::default(),
            extras: Vec::new(),
            ip: IpTables::default(),
            counts: [0; KIND_COUNT],
        }
    }

    /// Indicators added so far.
    pub fn len(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds one indicator. `value` must already be canonical (see
    /// `fanzha-core`'s normalisers); the builder only checks what it needs to
    /// index the value.
    pub fn push(
        &mut self,
        id: i64,
        kind: IndicatorKind,
        value: &str,
        fraud_type: FraudType,
        confidence: u8,
    ) -> Result<(), BuildError> {
        if confidence > 100 {
            return Err(BuildError::Confidence { id, confidence });
        }
        if value.is_empty() {
            return Err(BuildError::EmptyValue { id });
        }
        let fraud = fraud_code(fraud_type);
        let entry = RawEntry {
            id,
            fraud,
            confidence,
        };
        let (table, max) = match kind {
            IndicatorKind::Ip => return self.push_ip(id, value, entry),
            IndicatorKind::Phone => match pack_phone(value) {
                Some(key) => {
                    return self.push_num(
                        NT_PHONE,
                        kind,
                        NumSlot {
                            key,
                            id,
                            run: 0,
                            fraud,
                            confidence,
                        },
                    );
                }
                None => (ST_PHONE, MAX_VALUE_LEN),
            },
            IndicatorKind::BankAccount => match pack_bank(value) {
                Some(key) => {
                    return self.push_num(
                        NT_BANK,
                        kind,
                        NumSlot {
                            key,
                            id,
                            run: 0,
                            fraud,
                            confidence,
                        },
                    );
                }
                None => (ST_BANK, MAX_VALUE_LEN),
            },
            IndicatorKind::Domain => (ST_DOMAIN, MAX_DOMAIN_LEN),
            IndicatorKind::Url => (ST_URL, MAX_VALUE_LEN),
            IndicatorKind::App => (ST_APP, MAX_VALUE_LEN),
            IndicatorKind::PaymentAccount => (ST_PAYMENT, MAX_VALUE_LEN),
            IndicatorKind::SocialAccount => (ST_SOCIAL, MAX_VALUE_LEN),
        };
        let key = value.as_bytes();
        if key.len() > max {
            return Err(BuildError::ValueTooLong {
                id,
                len: key.len(),
                max,
            });
        }
        let off = self.new_record(table as u8, key, entry)?;
        self.strs[table].push((key_hash(table, key), off));
        self.counts[usize::from(kind_code(kind))] += 1;
        Ok(())
    }

    fn push_num(&mut self, table: usize, kind: IndicatorKind, slot: NumSlot) -> Result<(), BuildError> {
        self.check_room(0)?;
        self.nums[table].push(slot);
        self.counts[usize::from(kind_code(kind))] += 1;
        Ok(())
    }

    fn push_ip(&mut self, id: i64, value: &str, entry: RawEntry) -> Result<(), BuildError> {
        let key = parse_ip(value).ok_or(BuildError::InvalidIp { id })?;
        match self.ip.get(key) {
            Some(off) => {
                self.check_room(0)?;
                self.extras.push((off, entry));
            }
            None => {
                let off = self.new_record(NS_IP, &[], entry)?;
                self.ip.insert(key, off);
            }
        }
        self.counts[usize::from(kind_code(IndicatorKind::Ip))] += 1;
        Ok(())
    }

    /// Keeps the arena, with every run `finish` may add, below 4 GiB.
    fn check_room(&self, more: usize) -> Result<(), BuildError> {
        let worst = self
            .arena
            .len()
            .saturating_add(
                (self.len() as usize)
                    .saturating_add(1)
                    .saturating_mul(EXTRA_RESERVE),
            )
            .saturating_add(more);
        if worst > u32::MAX as usize {
            Err(BuildError::TooLarge)
        } else {
            Ok(())
        }
    }

    fn new_record(&mut self, head: u8, key: &[u8], entry: RawEntry) -> Result<u32, BuildError> {
        self.check_room(key.len() + ENTRY_LEN + 6)?;
        let off = write_record(&mut self.arena, head, key, entry);
        u32::try_from(off).map_err(|_| BuildError::TooLarge)
    }

    /// Merges repeated values and lays out the tables.
    pub fn finish(self) -> IndexSnapshot {
        let IndexBuilder {
            mut arena,
            strs,
            nums,
            mut extras,
            mut ip,
            counts,
        } = self;
        ip.sort();

        let mut str_tables: [Vec<u64>; STR_TABLES] = Default::default();
        for (t, mut pending) in strs.into_iter().enumerate() {
            // By hash, then by offset: the first record pushed for a value keeps it.
            pending.sort_unstable();
            let mut kept = 0;
            for i in 0..pending.len() {
                let (h, off) = pending[i];
                let mut dup_of = None;
                let mut j = kept;
                while j > 0 && pending[j - 1].0 == h {
                    let first = pending[j - 1].1;
                    if record_key(&arena, first as usize).map(|r| r.1)
                        == record_key(&arena, off as usize).map(|r| r.1)
                    {
                        dup_of = Some(first);
                        break;
                    }
                    j -= 1;
                }
                match dup_of {
                    Some(first) => {
                        if let Some(rec) = read_record(&arena, off as usize) {
                            extras.push((first, rec.entry));
                        }
                    }
                    None => {
                        pending[kept] = (h, off);
                        kept += 1;
                    }
                }
            }
            pending.truncate(kept);
            str_tables[t] = str_layout(&pending);
        }

        let mut num_tables: [Vec<NumSlot>; NUM_TABLES] = Default::default();
        for (t, mut pending) in nums.into_iter().enumerate() {
            // Stable: a value's entries keep the order they were pushed in.
            pending.sort_by_key(|s| num_hash(s.key));
            let mut kept = 0;
            let mut i = 0;
            while i < pending.len() {
                let mut j = i + 1;
                while j < pending.len() && pending[j].key == pending[i].key {
                    j += 1;
                }
                let mut slot = pending[i];
                if j - i > 1 {
                    // check_room kept the arena below 4 GiB including this run.
                    slot.run = arena.len() as u32;
                    put_varint(&mut arena, (j - i - 1) as u32);
                    for s in &pending[i + 1..j] {
                        s.entry().encode(&mut arena);
                    }
                }
                pending[kept] = slot;
                kept += 1;
                i = j;
            }
            pending.truncate(kept);
            num_tables[t] = num_layout(&pending);
        }

        // Runs of string and IP records. Stable: push order within a value.
        extras.sort_by_key(|e| e.0);
        let mut runs = Vec::new();
        let mut i = 0;
        while i < extras.len() {
            let off = extras[i].0;
            let mut j = i;
            while j < extras.len() && extras[j].0 == off {
                j += 1;
            }
            if let Some(head) = arena.get_mut(off as usize) {
                *head |= FLAG_EXTRAS;
            }
            let run = arena.len() as u32;
            put_varint(&mut arena, (j - i) as u32);
            for (_, e) in &extras[i..j] {
                e.encode(&mut arena);
            }
            runs.push((off, run));
            i = j;
        }
        drop(extras);
        arena.shrink_to_fit();
        runs.shrink_to_fit();
        IndexSnapshot::from_parts(arena, str_tables, num_tables, runs, ip, counts)
    }
}
impl IndexSnapshot {
    /// Builds a snapshot from `(id, kind, canonical value, fraud type,
    /// confidence)` items, stopping at the first one that cannot be indexed.
    pub fn build<I, S>(items: I) -> Result<IndexSnapshot, BuildError>
    where
        I: IntoIterator<Item = (i64, IndicatorKind, S, FraudType, u8)>,
        S: AsRef<str>,
    {
        let items = items.into_iter();
        let mut b = IndexBuilder::with_capacity(items.size_hint().0, 0);
        for (id, kind, value, fraud, confidence) in items {
            b.push(id, kind, value.as_ref(), fraud, confidence)?;
        }
        Ok(b.finish())
    }
}
