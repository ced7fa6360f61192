//! The model file format, version 1. All integers little-endian.
//!
//! ```text
//! header (28 bytes)
//!   magic        8  b"FZTXTMDL"
//!   version      2  u16 = 1
//!   reserved     2  u16 = 0
//!   payload_len  8  u64, bytes of payload that follow
//!   crc32        4  u32, CRC-32 (IEEE) of the payload
//!   header_crc   4  u32, CRC-32 of the 24 bytes above
//! payload
//!   min_n u8, max_n u8, bits u8, boundaries u8 (0/1), head u8, reserved u8 = 0,
//!   seed u64
//!   n_labels u32, then per label: len u32, UTF-8 bytes
//!   bias  f32 × n_labels
//!   scale f32 × n_labels
//!   weights i8 × (2^bits × n_labels)
//! ```
//!
//! Loading checks everything: magic, version, the header checksum, the length
//! (a truncated file is reported as such before anything is parsed), the
//! payload checksum, then every field (spec valid, labels unique, non-empty
//! UTF-8 within limits, floats finite, exact weight count, no trailing bytes).
//! Any failure is a [`ModelFormatError`]; nothing panics and nothing
//! allocates more than the bytes actually present.

use super::features::{MAX_BITS, NgramSpec};
use super::model::{MAX_LABEL_BYTES, MAX_LABELS, Model};
use std::io::{Read, Write};

pub const MAGIC: &[u8; 8] = b"FZTXTMDL";
pub const VERSION: u16 = 1;
const HEADER_LEN: usize = 28;
/// Largest payload accepted: 2^24 buckets × 64 classes plus change.
pub const MAX_PAYLOAD: u64 = (1 << MAX_BITS) * 64 + (1 << 24);

/// Why a model file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ModelFormatError {
    #[error("not a Fanzha text model (bad magic)")]
    BadMagic,
    #[error("unsupported model format version {found} (this build reads {VERSION})")]
    UnsupportedVersion { found: u16 },
    #[error("model header is corrupt (checksum mismatch)")]
    HeaderChecksum,
    #[error("model file is truncated: expected {expected} bytes, found {found}")]
    Truncated { expected: u64, found: u64 },
    #[error("model payload too large: {len} bytes (at most {MAX_PAYLOAD})")]
    TooLarge { len: u64 },
    #[error("model payload is corrupt (checksum {found:08x}, expected {expected:08x})")]
    Checksum { expected: u32, found: u32 },
    #[error("model payload is malformed: {0}")]
    Malformed(&'static str),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl Model {
    /// Writes the model in the versioned format.
    pub fn save(&self, mut w: impl Write) -> Result<(), ModelFormatError> {
        let payload = self.payload();
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes());
        header.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        header.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        let hcrc = crc32fast::hash(&header);
        header.extend_from_slice(&hcrc.to_le_bytes());
        w.write_all(&header)?;
        w.write_all(&payload)?;
        w.flush()?;
        Ok(())
    }

    /// The model as bytes (same as [`Model::save`] into a `Vec`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = self.save(&mut v);
        v
    }

    fn payload(&self) -> Vec<u8> {
        let s = &self.spec;
        let mut p = Vec::with_capacity(self.weights.len() + 64 + self.labels.len() * 48);
        p.extend_from_slice(&[s.min_n, s.max_n, s.bits, u8::from(s.boundaries), s.head, 0]);
        p.extend_from_slice(&s.seed.to_le_bytes());
        p.extend_from_slice(&(self.labels.len() as u32).to_le_bytes());
        for l in &self.labels {
            p.extend_from_slice(&(l.len() as u32).to_le_bytes());
            p.extend_from_slice(l.as_bytes());
        }
        for x in self.bias.iter().chain(&self.scale) {
            p.extend_from_slice(&x.to_le_bytes());
        }
        p.extend(self.weights.iter().map(|&w| w as u8));
        p
    }

    /// Reads a model written by [`Model::save`].
    pub fn load(mut r: impl Read) -> Result<Model, ModelFormatError> {
        let mut header = [0u8; HEADER_LEN];
        let got = read_up_to(&mut r, &mut header)?;
        if got < MAGIC.len() || &header[..MAGIC.len()] != MAGIC {
            return Err(if got < MAGIC.len() && header[..got] == MAGIC[..got] {
                ModelFormatError::Truncated {
                    expected: HEADER_LEN as u64,
                    found: got as u64,
                }
            } else {
                ModelFormatError::BadMagic
            });
        }
        if got < HEADER_LEN {
            return Err(ModelFormatError::Truncated {
                expected: HEADER_LEN as u64,
                found: got as u64,
            });
        }
        let u16_at = |i: usize| u16::from_le_bytes([header[i], header[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        if crc32fast::hash(&header[..24]) != u32_at(24) {
            // A version we do not know is reported only if the header is intact.
            return Err(ModelFormatError::HeaderChecksum);
        }
        let version = u16_at(8);
        if version != VERSION {
            return Err(ModelFormatError::UnsupportedVersion { found: version });
        }
        if u16_at(10) != 0 {
            return Err(ModelFormatError::Malformed("reserved header field is not zero"));
        }
        let mut len8 = [0u8; 8];
        len8.copy_from_slice(&header[12..20]);
        let len = u64::from_le_bytes(len8);
        let crc = u32_at(20);
        if len > MAX_PAYLOAD {
            return Err(ModelFormatError::TooLarge { len });
        }
        // Read what is there (never pre-allocating the claimed length).
        let mut payload = Vec::new();
        r.take(len).read_to_end(&mut payload)?;
        if (payload.len() as u64) < len {
            return Err(ModelFormatError::Truncated {
                expected: HEADER_LEN as u64 + len,
                found: (HEADER_LEN + payload.len()) as u64,
            });
        }
        let found = crc32fast::hash(&payload);
        if found != crc {
            return Err(ModelFormatError::Checksum { expected: crc, found });
        }
        parse_payload(&payload)
    }

    /// Reads a model from bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelFormatError> {
        Model::load(bytes)
    }
}

/// Fills `buf` as far as the reader allows; returns the count (short at EOF).
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, std::io::Error> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ModelFormatError> {
        if self.b.len() < n {
            return Err(ModelFormatError::Malformed(what));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, ModelFormatError> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, ModelFormatError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f32s(&mut self, n: usize, what: &'static str) -> Result<Vec<f32>, ModelFormatError> {
        let b = self.take(n * 4, what)?;
        let v: Vec<f32> = b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if v.iter().all(|x| x.is_finite()) {
            Ok(v)
        } else {
            Err(ModelFormatError::Malformed("non-finite number"))
        }
    }
}

fn parse_payload(p: &[u8]) -> Result<Model, ModelFormatError> {
    use ModelFormatError::Malformed;
    let mut c = Cursor { b: p };
    let min_n = c.u8("spec")?;
    let max_n = c.u8("spec")?;
    let bits = c.u8("spec")?;
    let boundaries = match c.u8("spec")? {
        0 => false,
        1 => true,
        _ => return Err(Malformed("boundaries flag is not 0 or 1")),
    };
    let head = c.u8("spec")?;
    if c.u8("spec")? != 0 {
        return Err(Malformed("reserved spec byte is not zero"));
    }
    let mut seed = [0u8; 8];
    seed.copy_from_slice(c.take(8, "seed")?);
    let spec = NgramSpec {
        min_n,
        max_n,
        bits,
        boundaries,
        head,
        seed: u64::from_le_bytes(seed),
    };
    if !spec.is_valid() {
        return Err(Malformed("invalid n-gram spec"));
    }
    let n = c.u32("label count")? as usize;
    if !(2..=MAX_LABELS).contains(&n) {
        return Err(Malformed("label count out of range"));
    }
    let mut labels: Vec<String> = Vec::with_capacity(n.min(p.len() / 4));
    for _ in 0..n {
        let len = c.u32("label length")? as usize;
        if len == 0 || len > MAX_LABEL_BYTES {
            return Err(Malformed("label length out of range"));
        }
        let s = std::str::from_utf8(c.take(len, "label")?).map_err(|_| Malformed("label is not UTF-8"))?;
        if labels.last().is_some_and(|prev| prev.as_str() >= s) {
            return Err(Malformed("labels not sorted and unique"));
        }
        labels.push(s.to_string());
    }
    let bias = c.f32s(n, "bias")?;
    let scale = c.f32s(n, "scale")?;
    if scale.iter().any(|s| *s < 0.0) {
        return Err(Malformed("negative scale"));
    }
    let count = spec
        .buckets()
        .checked_mul(n)
        .ok_or(Malformed("weight table too large"))?;
    let weights: Vec<i8> = c.take(count, "weights")?.iter().map(|&b| b as i8).collect();
    if !c.b.is_empty() {
        return Err(Malformed("trailing bytes after the weights"));
    }
    Ok(Model {
        spec,
        labels,
        bias,
        scale,
        weights,
    })
}
