//! The versioned binary file format.
//!
//! ```text
//! header (40 bytes, little-endian)
//!   0  magic        8 bytes  "FZIDX\r\n\x1a"
//!   8  version      u32      FORMAT_VERSION
//!  12  flags        u32      0
//!  16  payload_len  u64      bytes after the header
//!  24  arena_len    u64      bytes of the arena at the start of the payload
//!  32  checksum     u64      xxh3-64 of header[0..32] followed by the payload
//! payload
//!   arena          arena_len bytes (records and runs, as in memory)
//!   counts         8 × u64   indicators per kind
//!   string tables  7 × (u64 n, n × u64 slot)
//!   numeric tables 2 × (u64 n, n × 24-byte slot: u64 key, i64 id, u32 run, u8 fraud, u8 confidence, 2 × 0)
//!   runs           u64 n, n × (u32 record, u32 run)
//!   ipv4           u64 n, n × (u32 address, u8 length, u32 record)
//!   ipv6           u64 n, n × (u128 address, u8 length, u32 record)
//! ```
//!
//! The arena and the table are stored exactly as they sit in memory, so a
//! load is one read, one checksum pass and a few linear copies; only the IP
//! prefixes are inserted again into their tries. Any damage is reported as a
//! [`LoadError`]; loading never panics on bad input.

use std::io::{self, Read, Write};

use xxhash_rust::xxh3::Xxh3;

use super::codec::{KIND_COUNT, NUM_TABLES, STR_TABLES};
use super::ip::IpTables;
use super::snapshot::IndexSnapshot;
use super::table::{NUM_SLOT_BYTES, NumSlot};

/// First bytes of every index file. The CR LF and ^Z catch text-mode
/// mangling, as in PNG.
pub const MAGIC: [u8; 8] = *b"FZIDX\r\n\x1a";
/// Version of the file format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

const HEADER_LEN: usize = 40;
/// Largest payload a load will try to allocate (64 GiB).
const MAX_PAYLOAD: u64 = 1 << 36;

/// Why an index file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the index file is truncated")]
    Truncated,
    #[error("not an index file (wrong magic bytes)")]
    BadMagic,
    #[error("index file format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("the index file is corrupt (checksum mismatch)")]
    ChecksumMismatch,
    #[error("the index file is malformed: {0}")]
    Malformed(&'static str),
    #[error("the index file declares a payload of {0} bytes, more than can be loaded")]
    TooLarge(u64),
    #[error("reading the index file failed: {0}")]
    Io(io::Error),
}

/// Why an index could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("writing the index file failed: {0}")]
    Io(#[from] io::Error),
}

/// Where serialised bytes go: a checksum pass or the real writer.
trait Sink {
    fn put(&mut self, b: &[u8]) -> io::Result<()>;
}

struct HashSink(Xxh3, u64);

impl Sink for HashSink {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.0.update(b);
        self.1 += b.len() as u64;
        Ok(())
    }
}

struct WriteSink<W: Write>(W);

impl<W: Write> Sink for WriteSink<W> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.0.write_all(b)
    }
}

/// Batches small writes into 64 KiB chunks.
struct Chunked<'a, S: Sink> {
    sink: &'a mut S,
    buf: Vec<u8>,
}

impl<'a, S: Sink> Chunked<'a, S> {
    fn new(sink: &'a mut S) -> Self {
        Chunked {
            sink,
            buf: Vec::with_capacity(1 << 16),
        }
    }
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        if self.buf.len() + b.len() > self.buf.capacity() {
            self.sink.put(&self.buf)?;
            self.buf.clear();
        }
        if b.len() >= self.buf.capacity() {
            return self.sink.put(b);
        }
        self.buf.extend_from_slice(b);
        Ok(())
    }
    fn u64(&mut self, v: u64) -> io::Result<()> {
        self.put(&v.to_le_bytes())
    }
    fn finish(self) -> io::Result<()> {
        self.sink.put(&self.buf)
    }
}

impl IndexSnapshot {
    /// Writes the snapshot in the versioned format; returns the bytes written.
    /// Writes are issued in 64 KiB pieces or larger; a `BufWriter` is not needed.
    pub fn save<W: Write>(&self, w: W) -> Result<u64, SaveError> {
        let payload_len = (self.arena.len() + self.meta_len()) as u64;

        let mut header = [0u8; HEADER_LEN];
        header[0..8].copy_from_slice(&MAGIC);
        header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        header[12..16].copy_from_slice(&0u32.to_le_bytes());
        header[16..24].copy_from_slice(&payload_len.to_le_bytes());
        header[24..32].copy_from_slice(&(self.arena.len() as u64).to_le_bytes());
        let mut sum = HashSink(Xxh3::new(), 0);
        sum.put(&header[..32])?;
        sum.put(&self.arena)?;
        self.write_meta(&mut sum)?;
        debug_assert_eq!(sum.1, 32 + payload_len);
        header[32..40].copy_from_slice(&sum.0.digest().to_le_bytes());

        let mut out = WriteSink(w);
        out.put(&header)?;
        out.put(&self.arena)?;
        self.write_meta(&mut out)?;
        out.0.flush()?;
        Ok(HEADER_LEN as u64 + payload_len)
    }

    /// Bytes `write_meta` writes.
    fn meta_len(&self) -> usize {
        KIND_COUNT * 8
            + self.strs.iter().map(|t| 8 + t.len() * 8).sum::<usize>()
            + self
                .nums
                .iter()
                .map(|t| 8 + t.len() * NUM_SLOT_BYTES)
                .sum::<usize>()
            + 8
            + self.runs.len() * 8
            + 8
            + self.ip.list4.len() * 9
            + 8
            + self.ip.list6.len() * 21
    }

    fn write_meta<S: Sink>(&self, sink: &mut S) -> io::Result<()> {
        let mut c = Chunked::new(sink);
        for n in self.counts {
            c.u64(n)?;
        }
        for table in &self.strs {
            c.u64(table.len() as u64)?;
            for s in table {
                c.u64(*s)?;
            }
        }
        let mut b = [0u8; NUM_SLOT_BYTES];
        for table in &self.nums {
            c.u64(table.len() as u64)?;
            for s in table {
                s.encode(&mut b);
                c.put(&b)?;
            }
        }
        c.u64(self.runs.len() as u64)?;
        for (rec, run) in &self.runs {
            c.put(&rec.to_le_bytes())?;
            c.put(&run.to_le_bytes())?;
        }
        c.u64(self.ip.list4.len() as u64)?;
        for (a, l, off) in &self.ip.list4 {
            c.put(&a.to_le_bytes())?;
            c.put(&[*l])?;
            c.put(&off.to_le_bytes())?;
        }
        c.u64(self.ip.list6.len() as u64)?;
        for (a, l, off) in &self.ip.list6 {
            c.put(&a.to_le_bytes())?;
            c.put(&[*l])?;
            c.put(&off.to_le_bytes())?;
        }
        c.finish()
    }

    /// Reads a snapshot written by [`IndexSnapshot::save`]. Reads exactly the
    /// bytes of one index from `r`.
    pub fn load<R: Read>(mut r: R) -> Result<IndexSnapshot, LoadError> {
        let mut header = [0u8; HEADER_LEN];
        read_exact(&mut r, &mut header[..8])?;
        if header[0..8] != MAGIC {
            return Err(LoadError::BadMagic);
        }
        read_exact(&mut r, &mut header[8..])?;
        let version = u32::from_le_bytes(fixed(&header[8..12]));
        if version != FORMAT_VERSION {
            return Err(LoadError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let payload_len = u64::from_le_bytes(fixed(&header[16..24]));
        if payload_len > MAX_PAYLOAD {
            return Err(LoadError::TooLarge(payload_len));
        }
        let want = usize::try_from(payload_len).map_err(|_| LoadError::TooLarge(payload_len))?;
        let mut buf = Vec::new();
        buf.try_reserve_exact(want)
            .map_err(|_| LoadError::TooLarge(payload_len))?;
        r.take(payload_len).read_to_end(&mut buf).map_err(io_error)?;
        if buf.len() != want {
            return Err(LoadError::Truncated);
        }
        let mut sum = Xxh3::new();
        sum.update(&header[..32]);
        sum.update(&buf);
        if sum.digest() != u64::from_le_bytes(fixed(&header[32..40])) {
            return Err(LoadError::ChecksumMismatch);
        }
        if u32::from_le_bytes(fixed(&header[12..16])) != 0 {
            return Err(LoadError::Malformed("unknown flags"));
        }
        let arena_len = u64::from_le_bytes(fixed(&header[24..32]));
        let arena_len = usize::try_from(arena_len)
            .ok()
            .filter(|&n| n >= 1 && n <= want && n <= u32::MAX as usize + 1)
            .ok_or(LoadError::Malformed("arena length"))?;
        let snapshot = parse(&buf, arena_len)?;
        buf.truncate(arena_len);
        buf.shrink_to_fit();
        let mut snapshot = IndexSnapshot {
            arena: buf,
            ..snapshot
        };
        // Derived from the tables and the records, now that the arena is in.
        snapshot.derive_layouts();
        Ok(snapshot)
    }
}

/// Parses the sections after the arena; the returned snapshot has an empty
/// arena that the caller fills in.
fn parse(buf: &[u8], arena_len: usize) -> Result<IndexSnapshot, LoadError> {
    let mut c = Cursor {
        b: buf,
        pos: arena_len,
    };
    let in_arena = |off: u32| (off as usize) < arena_len && off != 0;

    let mut counts = [0u64; KIND_COUNT];
    for n in &mut counts {
        *n = c.u64()?;
    }
    let mut strs: [Vec<u64>; STR_TABLES] = Default::default();
    for table in &mut strs {
        let n = c.count(8)?;
        if n == 0 {
            return Err(LoadError::Malformed("empty table"));
        }
        let raw = c.take(n * 8)?;
        table.reserve_exact(n);
        let mut used = 0usize;
        for s in raw.chunks_exact(8) {
            let v = u64::from_le_bytes(fixed(s));
            if v != 0 {
                if !in_arena(v as u32) {
                    return Err(LoadError::Malformed("table slot points outside the arena"));
                }
                used += 1;
            }
            table.push(v);
        }
        if used == n {
            return Err(LoadError::Malformed("table without an empty slot"));
        }
    }
    let mut nums: [Vec<NumSlot>; NUM_TABLES] = Default::default();
    for table in &mut nums {
        let n = c.count(NUM_SLOT_BYTES)?;
        if n == 0 {
            return Err(LoadError::Malformed("empty table"));
        }
        let raw = c.take(n * NUM_SLOT_BYTES)?;
        table.reserve_exact(n);
        let mut used = 0usize;
        for s in raw.chunks_exact(NUM_SLOT_BYTES) {
            let slot = NumSlot::decode(&fixed(s));
            if slot.key == 0 && slot != NumSlot::default() {
                return Err(LoadError::Malformed("empty numeric slot with content"));
            }
            if slot.run != 0 && !in_arena(slot.run) {
                return Err(LoadError::Malformed("numeric slot run points outside the arena"));
            }
            used += usize::from(slot.key != 0);
            table.push(slot);
        }
        if used == n {
            return Err(LoadError::Malformed("table without an empty slot"));
        }
    }

    let n_runs = c.count(8)?;
    let raw = c.take(n_runs * 8)?;
    let mut runs = Vec::with_capacity(n_runs);
    for r in raw.chunks_exact(8) {
        let rec = u32::from_le_bytes(fixed(&r[..4]));
        let run = u32::from_le_bytes(fixed(&r[4..]));
        if !in_arena(rec) || !in_arena(run) {
            return Err(LoadError::Malformed("shared-value run points outside the arena"));
        }
        if runs.last().is_some_and(|&(prev, _)| prev >= rec) {
            return Err(LoadError::Malformed("shared-value runs out of order"));
        }
        runs.push((rec, run));
    }

    let n4 = c.count(9)?;
    let raw = c.take(n4 * 9)?;
    let mut list4 = Vec::with_capacity(n4);
    for e in raw.chunks_exact(9) {
        let off = u32::from_le_bytes(fixed(&e[5..]));
        if !in_arena(off) {
            return Err(LoadError::Malformed("IPv4 prefix points outside the arena"));
        }
        list4.push((u32::from_le_bytes(fixed(&e[..4])), e[4], off));
    }
    let n6 = c.count(21)?;
    let raw = c.take(n6 * 21)?;
    let mut list6 = Vec::with_capacity(n6);
    for e in raw.chunks_exact(21) {
        let off = u32::from_le_bytes(fixed(&e[17..]));
        if !in_arena(off) {
            return Err(LoadError::Malformed("IPv6 prefix points outside the arena"));
        }
        list6.push((u128::from_le_bytes(fixed(&e[..16])), e[16], off));
    }
    if c.pos != buf.len() {
        return Err(LoadError::Malformed("trailing bytes after the last section"));
    }
    let ip = IpTables::from_lists(list4, list6).map_err(LoadError::Malformed)?;
    Ok(IndexSnapshot::from_parts(
        Vec::new(),
        strs,
        nums,
        runs,
        ip,
        counts,
    ))
}
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LoadError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(LoadError::Malformed("section length"))?;
        let s = self
            .b
            .get(self.pos..end)
            .ok_or(LoadError::Malformed("section runs past the end"))?;
        self.pos = end;
        Ok(s)
    }
    fn u64(&mut self) -> Result<u64, LoadError> {
        Ok(u64::from_le_bytes(fixed(self.take(8)?)))
    }
    /// Reads an item count and checks that `count × item` bytes remain.
    fn count(&mut self, item: usize) -> Result<usize, LoadError> {
        let n = usize::try_from(self.u64()?).map_err(|_| LoadError::Malformed("item count"))?;
        match n.checked_mul(item) {
            Some(bytes) if bytes <= self.b.len() - self.pos => Ok(n),
            _ => Err(LoadError::Malformed("item count larger than the file")),
        }
    }
}

/// Copies a slice of known length into an array (the callers slice exactly N bytes).
fn fixed<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    let n = s.len().min(N);
    a[..n].copy_from_slice(&s[..n]);
    a
}

fn read_exact<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<(), LoadError> {
    r.read_exact(buf).map_err(io_error)
}

fn io_error(e: io::Error) -> LoadError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        LoadError::Truncated
    } else {
        LoadError::Io(e)
    }
}
