//! Building a snapshot: indicators are appended to the arena as they come and
//! deduplicated through the key table on the way, so the builder holds no
//! second copy of the data and `finish` only has to lay out the runs of
//! values shared by several indicators.

use fanzha_core::{FraudType, IndicatorKind};
use prefix_trie::PrefixMap;

use super::codec::{
    ENTRY_LEN, FLAG_EXTRAS, KIND_COUNT, NS_APP, NS_BANK, NS_DOMAIN, NS_IP, NS_PAYMENT, NS_PHONE,
    NS_PHONE_PACKED, NS_SOCIAL, NS_URL, RawEntry, fraud_code, key_hash, kind_code, pack_phone, put_varint,
    write_record,
};
use super::ip::{IpKey, parse_ip};
use super::snapshot::IndexSnapshot;
use super::table::Slots;
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
pub struct IndexBuilder {
    arena: Vec<u8>,
    slots: Slots,
    extras: Vec<(u32, RawEntry)>,
    v4: PrefixMap<(u32, u8), u32>,
    v6: PrefixMap<(u128, u8), u32>,
    counts: [u64; KIND_COUNT],
}

impl Default for IndexBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Worst-case bytes a run entry adds at `finish` (count varint + entry).
const EXTRA_RESERVE: usize = ENTRY_LEN + 5;

impl IndexBuilder {
    pub fn new() -> Self {
        Self::with_capacity(0, 0)
    }

    /// A builder sized for `indicators` values taking `value_bytes` in total,
    /// so that nothing is reallocated while it fills.
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
            slots: Slots::with_keys(indicators),
            extras: Vec::new(),
            v4: PrefixMap::new(),
            v6: PrefixMap::new(),
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
        let entry = RawEntry {
            id,
            fraud: fraud_code(fraud_type),
            confidence,
        };
        let packed;
        let (ns, key, max) = match kind {
            IndicatorKind::Ip => return self.push_ip(id, value, entry),
            IndicatorKind::Phone => match pack_phone(value) {
                Some(p) => {
                    packed = p;
                    (NS_PHONE_PACKED, &packed[..], MAX_VALUE_LEN)
                }
                None => (NS_PHONE, value.as_bytes(), MAX_VALUE_LEN),
            },
            IndicatorKind::Domain => (NS_DOMAIN, value.as_bytes(), MAX_DOMAIN_LEN),
            IndicatorKind::Url => (NS_URL, value.as_bytes(), MAX_VALUE_LEN),
            IndicatorKind::App => (NS_APP, value.as_bytes(), MAX_VALUE_LEN),
            IndicatorKind::BankAccount => (NS_BANK, value.as_bytes(), MAX_VALUE_LEN),
            IndicatorKind::PaymentAccount => (NS_PAYMENT, value.as_bytes(), MAX_VALUE_LEN),
            IndicatorKind::SocialAccount => (NS_SOCIAL, value.as_bytes(), MAX_VALUE_LEN),
        };
        if key.len() > max {
            return Err(BuildError::ValueTooLong {
                id,
                len: key.len(),
                max,
            });
        }
        let hash = key_hash(ns, key);
        match Slots::find(&self.slots.slots, &self.arena, ns, key, hash) {
            Some(off) => self.add_extra(off, entry)?,
            None => {
                let off = self.new_record(ns, key, entry)?;
                self.slots.reserve_one(&self.arena);
                self.slots.insert_new(hash, off);
            }
        }
        self.counts[usize::from(kind_code(kind))] += 1;
        Ok(())
    }

    fn push_ip(&mut self, id: i64, value: &str, entry: RawEntry) -> Result<(), BuildError> {
        let key = parse_ip(value).ok_or(BuildError::InvalidIp { id })?;
        let existing = match key {
            IpKey::V4(a, l) => self.v4.get(&(a, l)).copied(),
            IpKey::V6(a, l) => self.v6.get(&(a, l)).copied(),
        };
        match existing {
            Some(off) => self.add_extra(off, entry)?,
            None => {
                let off = self.new_record(NS_IP, &[], entry)?;
                match key {
                    IpKey::V4(a, l) => self.v4.insert((a, l), off),
                    IpKey::V6(a, l) => self.v6.insert((a, l), off),
                };
            }
        }
        self.counts[usize::from(kind_code(IndicatorKind::Ip))] += 1;
        Ok(())
    }

    /// Bytes the arena will hold once `finish` has written the runs.
    fn projected(&self, more: usize) -> usize {
        self.arena
            .len()
            .saturating_add(self.extras.len().saturating_mul(EXTRA_RESERVE))
            .saturating_add(more)
    }

    fn new_record(&mut self, ns: u8, key: &[u8], entry: RawEntry) -> Result<u32, BuildError> {
        if self.projected(key.len() + ENTRY_LEN + 6) > u32::MAX as usize {
            return Err(BuildError::TooLarge);
        }
        let off = write_record(&mut self.arena, ns, key, entry);
        u32::try_from(off).map_err(|_| BuildError::TooLarge)
    }

    fn add_extra(&mut self, off: u32, entry: RawEntry) -> Result<(), BuildError> {
        if self.projected(EXTRA_RESERVE) > u32::MAX as usize {
            return Err(BuildError::TooLarge);
        }
        if let Some(head) = self.arena.get_mut(off as usize) {
            *head |= FLAG_EXTRAS;
        }
        self.extras.push((off, entry));
        Ok(())
    }

    /// Lays out the runs of shared values and returns the snapshot.
    pub fn finish(self) -> IndexSnapshot {
        let IndexBuilder {
            mut arena,
            slots,
            mut extras,
            v4,
            v6,
            counts,
        } = self;
        // Stable: a value's entries keep the order they were pushed in.
        extras.sort_by_key(|e| e.0);
        let mut runs = Vec::new();
        let mut i = 0;
        while i < extras.len() {
            let off = extras[i].0;
            let mut j = i;
            while j < extras.len() && extras[j].0 == off {
                j += 1;
            }
            // `projected` kept the arena below 4 GiB including these runs.
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
        IndexSnapshot::from_parts(arena, slots.slots, slots.len, runs, v4, v6, counts)
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
