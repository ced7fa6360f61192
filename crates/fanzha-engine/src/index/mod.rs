//! The compiled intel index: an immutable snapshot of every active indicator,
//! built once and then only read.
//!
//! Values arrive already in canonical form (the normalisers live in
//! `fanzha-core`); the index compares canonical strings and never rewrites
//! them. Each indicator carries its store row id, kind, fraud type and
//! confidence (0–100). Several indicators may share one value; a lookup
//! reports each of them.
//!
//! Matching, per kind:
//!
//! | kind | match |
//! |---|---|
//! | `phone` | exact (E.164 numbers are packed into a `u64`) |
//! | `domain` | the domain itself and every parent domain at a label boundary |
//! | `url` | the canonical URL exactly, then its host: domain rules for a name, CIDR rules for an address |
//! | `ip` | the longest CIDR prefix that contains the address or prefix (v4 and v6); [`IndexSnapshot::for_each_ip_cover`] gives every containing prefix |
//! | `app` | exact on the key string (`pkg:…`, `cert:…`, `apk:…`) |
//! | accounts | exact |
//!
//! Layout, chosen so that a lookup touches as little memory as possible
//! (on a large index every lookup is bound by random memory reads):
//!
//! * Phone numbers and digit-only bank accounts are packed into a `u64`
//!   (`1` followed by the digits) and kept in numeric tables whose 24-byte
//!   slots hold the key and its first entry: one memory read per lookup.
//! * Every other value lives in one byte arena as a record (key bytes, first
//!   entry) found through a per-kind open-addressing table of `u64` slots
//!   (32-bit hash tag, 32-bit arena offset): one read for a miss, two for a
//!   hit. A domain lookup hashes every suffix first and loads all their slots
//!   before comparing, so its reads overlap; a URL lookup loads its own slot
//!   in the same batch as its host's. Domains of up to 21 bytes are also
//!   kept inline with their first entry in a side table beside the domain
//!   table (`inline`, derived at build and load), loaded together with the
//!   slot: a hit on them is one round trip to memory, not two.
//! * Values shared by several indicators keep their further entries in runs
//!   in the arena.
//! * IP prefixes live in [`prefix_trie`] maps whose values point at arena
//!   records, and in sorted lists beside them. Lookups go through a layout
//!   derived from those lists (`iplayout`): IPv4 grouped by /16 behind a
//!   direct table, IPv6 in a table keyed by the first 32 bits, entries
//!   inline: one memory read per lookup instead of a walk down a trie.
//!
//! The builder only appends; `finish` sorts each kind's keys by hash, merges
//! repeated values and fills the tables front to back. The layout is saved
//! as is, so loading is a read, a checksum and a few linear copies; only the
//! IP tries and the IP layout are rebuilt from their lists.
//!
//! [`LiveIndex`] holds the current snapshot behind an [`arc_swap::ArcSwap`]:
//! readers never wait for the writer that swaps a new one in.

pub mod bench;
mod builder;
mod codec;
mod inline;
mod ip;
mod iplayout;
mod live;
mod persist;
mod snapshot;
mod table;
mod url;

pub use builder::{BuildError, IndexBuilder};
pub use live::LiveIndex;
pub use persist::{FORMAT_VERSION, LoadError, MAGIC, SaveError};
pub use snapshot::{Hit, IndexSnapshot, IndexStats, MatchVia};

/// Longest domain (in bytes) the index accepts; also bounds the suffixes a
/// lookup probes, so a hostile query costs at most a few hundred probes.
pub const MAX_DOMAIN_LEN: usize = 253;

/// Longest value of any other kind, in bytes.
pub const MAX_VALUE_LEN: usize = 8192;
