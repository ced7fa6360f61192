//! Hashed character n-grams, computed on the fly.
//!
//! The text is normalised one character at a time ([`Normalizer`]); the last
//! `max_n` characters sit in a small ring. For each new character the n-grams
//! that end there are hashed from the newest character backwards, one multiply
//! per character, and the top `bits` bits of the hash name the bucket. The
//! n-grams that end within the first `head` characters are emitted a second
//! time under a salted hash: the opening of a message is where the sender says
//! who they claim to be (我是京东客服 / 我是公安局民警), so the same words
//! there mean more than further down. Nothing is allocated.

use super::normalize::Normalizer;

/// Longest n-gram the hasher supports.
pub const MAX_N: u8 = 8;
/// Smallest and largest number of hash bits (buckets = 2^bits).
pub const MIN_BITS: u8 = 4;
pub const MAX_BITS: u8 = 24;

const K: u64 = 0x9E37_79B9_7F4A_7C15;
const HEAD_SALT: u64 = 0x4EAD_5A17;
/// Stands for the start and the end of the text, when boundaries are on.
/// Above the last Unicode scalar value, so no character can collide with it.
const BOUNDARY: u32 = 0x11_0000;

/// How text becomes feature buckets. Stored in the model file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NgramSpec {
    /// Shortest and longest n-gram, in characters.
    pub min_n: u8,
    pub max_n: u8,
    /// Buckets = 2^bits.
    pub bits: u8,
    /// Adds a boundary mark before and after the text, so n-grams can tell
    /// "starts with" and "ends with".
    pub boundaries: bool,
    /// N-grams ending within the first `head` symbols count once more, as
    /// "near the start".
    pub head: u8,
    /// Seeds the hash.
    pub seed: u64,
}

impl NgramSpec {
    pub fn buckets(&self) -> usize {
        1usize << self.bits
    }

    pub fn is_valid(&self) -> bool {
        self.min_n >= 1
            && self.min_n <= self.max_n
            && self.max_n <= MAX_N
            && (MIN_BITS..=MAX_BITS).contains(&self.bits)
    }

    /// Calls `f` with the bucket (`< self.buckets()`) of every n-gram of the
    /// normalised `text` and returns how many times it called. Deterministic
    /// for a given spec. The spec must be valid.
    #[inline]
    pub fn for_each_bucket(&self, text: &str, mut f: impl FnMut(usize)) -> u32 {
        let shift = 64 - u32::from(self.bits.clamp(MIN_BITS, MAX_BITS));
        let max_n = usize::from(self.max_n.clamp(1, MAX_N));
        let min_n = usize::from(self.min_n.max(1));
        let head = usize::from(self.head);
        let mut ring = [0u32; MAX_N as usize];
        let mut seen = 0usize;
        let mut count = 0u32;
        let mut push = |c: u32| {
            ring[seen % MAX_N as usize] = c;
            seen += 1;
            let mut h = self.seed;
            let upto = max_n.min(seen);
            for k in 0..upto {
                let cc = ring[(seen - 1 - k) % MAX_N as usize];
                h = (h.rotate_left(5) ^ u64::from(cc)).wrapping_mul(K);
                if k + 1 >= min_n {
                    f((h >> shift) as usize);
                    count += 1;
                    if seen <= head {
                        f(((h ^ HEAD_SALT).wrapping_mul(K) >> shift) as usize);
                        count += 1;
                    }
                }
            }
        };
        if self.boundaries {
            push(BOUNDARY);
        }
        for c in Normalizer::new(text) {
            push(c as u32);
        }
        if self.boundaries {
            push(BOUNDARY);
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(min_n: u8, max_n: u8, boundaries: bool, head: u8) -> NgramSpec {
        NgramSpec {
            min_n,
            max_n,
            bits: 20,
            boundaries,
            head,
            seed: 7,
        }
    }

    fn buckets(s: &NgramSpec, t: &str) -> Vec<usize> {
        let mut v = Vec::new();
        let n = s.for_each_bucket(t, |b| v.push(b));
        assert_eq!(n as usize, v.len());
        assert!(v.iter().all(|&b| b < s.buckets()));
        v
    }

    #[test]
    fn counts_ngrams() {
        // 4 chars: 4 unigrams + 3 bigrams + 2 trigrams.
        assert_eq!(buckets(&spec(1, 3, false, 0), "安全账户").len(), 9);
        assert_eq!(buckets(&spec(2, 3, false, 0), "安全账户").len(), 5);
        // With boundaries, 6 symbols: 6 + 5 + 4.
        assert_eq!(buckets(&spec(1, 3, true, 0), "安全账户").len(), 15);
        // Head 2: the n-grams ending at the first two symbols (1 + 2) twice.
        assert_eq!(buckets(&spec(1, 3, false, 2), "安全账户").len(), 12);
        assert!(buckets(&spec(1, 3, false, 4), "").is_empty());
    }

    #[test]
    fn normalised_texts_hash_alike() {
        let s = spec(1, 4, true, 3);
        assert_eq!(buckets(&s, "ＱＱ１２"), buckets(&s, "qq98"));
        assert_ne!(buckets(&s, "ab"), buckets(&s, "ba"));
        let other_seed = NgramSpec { seed: 8, ..s };
        assert_ne!(buckets(&s, "安全账户"), buckets(&other_seed, "安全账户"));
    }
}
