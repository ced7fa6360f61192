//! Field encryption (AES-256-GCM), blind indexes (HMAC-SHA256) and password
//! hashes (argon2id). DESIGN.md §7.
//!
//! One 32-byte master key comes from configuration. Two sub-keys are derived
//! from it with HKDF-SHA256: one encrypts, one computes blind indexes. The
//! store only ever sees ciphertext, blind index and masked display form.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// What a sealed value is, bound into its ciphertext as associated data so a
/// phone ciphertext cannot be passed off as an ID number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    IdNumber,
    Phone,
    /// An ingested event's whole content (numbers, texts…).
    Event,
    /// The digest of an event's `(source, id)`, its duplicate check.
    EventId,
    /// The digest of an event's `(source, id stem)`.
    EventIdStem,
    /// A bank, payment or social account that identifies a person.
    Account,
    /// A person's name from outside the resident registry (pushed leads).
    Name,
}

impl Field {
    fn label(self) -> &'static [u8] {
        match self {
            Field::IdNumber => b"id_number",
            Field::Phone => b"phone",
            Field::Event => b"event",
            Field::EventId => b"event_id",
            Field::EventIdStem => b"event_id_stem",
            Field::Account => b"account",
            Field::Name => b"name",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the master key must be 32 bytes written as 64 hex characters")]
    BadKey,
    #[error("encryption failed")]
    Encrypt,
    #[error("a stored value could not be decrypted (wrong key or damaged data)")]
    Decrypt,
    #[error("the random number source failed")]
    Random,
    #[error("password hashing failed")]
    Hash,
}

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// A 32-byte master key.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn from_hex(s: &str) -> Result<MasterKey, CryptoError> {
        let bytes = hex::decode(s.trim()).map_err(|_| CryptoError::BadKey)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(MasterKey(arr))
    }
    pub fn generate() -> Result<MasterKey, CryptoError> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|_| CryptoError::Random)?;
        Ok(MasterKey(k))
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// Encrypts and blind-indexes personal fields.
#[derive(Clone)]
pub struct FieldCipher {
    aead: Aes256Gcm,
    /// HMAC-SHA256 keyed with the blind-index key, cloned for each index.
    index_mac: Hmac<Sha256>,
}

impl FieldCipher {
    pub fn new(master: &MasterKey) -> Result<FieldCipher, CryptoError> {
        let hk = Hkdf::<Sha256>::new(Some(b"fanzha"), &master.0);
        let mut enc = [0u8; 32];
        let mut idx = [0u8; 32];
        hk.expand(b"fanzha/field-encryption/v1", &mut enc)
            .map_err(|_| CryptoError::BadKey)?;
        hk.expand(b"fanzha/blind-index/v1", &mut idx)
            .map_err(|_| CryptoError::BadKey)?;
        let aead = Aes256Gcm::new_from_slice(&enc).map_err(|_| CryptoError::BadKey)?;
        let index_mac = <Hmac<Sha256>>::new_from_slice(&idx).map_err(|_| CryptoError::BadKey)?;
        Ok(FieldCipher { aead, index_mac })
    }

    /// `version ‖ nonce ‖ ciphertext+tag`.
    pub fn seal(&self, field: Field, plaintext: &str) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let ct = self
            .aead
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: field.label(),
                },
            )
            .map_err(|_| CryptoError::Encrypt)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn open(&self, field: Field, sealed: &[u8]) -> Result<String, CryptoError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(CryptoError::Decrypt);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
        let pt = self
            .aead
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad: field.label(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(pt).map_err(|_| CryptoError::Decrypt)
    }

    /// Keyed blind index of a normalised value: 16 bytes of HMAC-SHA256.
    pub fn blind_index(&self, field: Field, normalised: &str) -> Vec<u8> {
        self.blind_index16(field, normalised.as_bytes()).to_vec()
    }

    /// [`FieldCipher::blind_index`] without allocating, over bytes.
    pub fn blind_index16(&self, field: Field, normalised: &[u8]) -> [u8; 16] {
        let mut mac = self.index_mac.clone();
        mac.update(field.label());
        mac.update(&[0]);
        mac.update(normalised);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// Seals many values of one field; the nonces come from one call to the
    /// random source. Random 96-bit nonces stay safe far beyond the volumes
    /// one key sees here (a collision is a 2^-32 event only after about 2^32
    /// values under one key).
    pub fn seal_many(&self, field: Field, plaintexts: &[&[u8]]) -> Result<Vec<Vec<u8>>, CryptoError> {
        let mut nonces = vec![0u8; NONCE_LEN * plaintexts.len()];
        getrandom::fill(&mut nonces).map_err(|_| CryptoError::Random)?;
        let mut out = Vec::with_capacity(plaintexts.len());
        for (pt, nonce) in plaintexts.iter().zip(nonces.chunks_exact(NONCE_LEN)) {
            let mut n = [0u8; NONCE_LEN];
            n.copy_from_slice(nonce);
            let ct = self
                .aead
                .encrypt(
                    &Nonce::from(n),
                    Payload {
                        msg: pt,
                        aad: field.label(),
                    },
                )
                .map_err(|_| CryptoError::Encrypt)?;
            let mut v = Vec::with_capacity(1 + NONCE_LEN + ct.len());
            v.push(VERSION);
            v.extend_from_slice(&n);
            v.extend_from_slice(&ct);
            out.push(v);
        }
        Ok(out)
    }

    /// Opens a value sealed as bytes ([`FieldCipher::seal_many`]).
    pub fn open_bytes(&self, field: Field, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(CryptoError::Decrypt);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
        self.aead
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad: field.label(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)
    }
}

/// SHA-256 of a bearer secret (session cookie or API token); only the hash is stored.
pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A fresh random secret, 32 bytes, hex.
pub fn random_secret() -> Result<String, CryptoError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|_| CryptoError::Random)?;
    Ok(hex::encode(b))
}

/// Cost settings of argon2id. The defaults are OWASP's (19 MiB, 2 passes).
#[derive(Clone, Copy, Debug)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl Default for PasswordCost {
    fn default() -> Self {
        PasswordCost {
            memory_kib: 19_456,
            iterations: 2,
        }
    }
}

impl PasswordCost {
    fn argon2(self) -> Result<Argon2<'static>, CryptoError> {
        let params = Params::new(self.memory_kib, self.iterations, 1, None).map_err(|_| CryptoError::Hash)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// A PHC string (`$argon2id$v=19$…`).
pub fn hash_password(cost: PasswordCost, password: &str) -> Result<String, CryptoError> {
    let h = cost
        .argon2()?
        .hash_password(password.as_bytes())
        .map_err(|_| CryptoError::Hash)?;
    Ok(h.to_string())
}

/// Checks a password against a stored PHC string. The parameters stored in
/// the string are used, so older hashes keep working when the cost changes.
pub fn verify_password(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> FieldCipher {
        FieldCipher::new(&MasterKey::from_hex(&"11".repeat(32)).unwrap()).unwrap()
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let c = cipher();
        let s = c.seal(Field::Phone, "+8613812345678").unwrap();
        assert_eq!(c.open(Field::Phone, &s).unwrap(), "+8613812345678");
        // Bound to its field.
        assert!(c.open(Field::IdNumber, &s).is_err());
        // Tampering is detected.
        let mut t = s.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert!(c.open(Field::Phone, &t).is_err());
        // Nonces differ.
        assert_ne!(s, c.seal(Field::Phone, "+8613812345678").unwrap());
        // Never contains the plaintext.
        assert!(!s.windows(11).any(|w| w == b"13812345678"));
    }

    #[test]
    fn blind_index_is_keyed_and_stable() {
        let c = cipher();
        let a = c.blind_index(Field::Phone, "+8613812345678");
        assert_eq!(a, c.blind_index(Field::Phone, "+8613812345678"));
        assert_ne!(a, c.blind_index(Field::IdNumber, "+8613812345678"));
        let other = FieldCipher::new(&MasterKey::from_hex(&"22".repeat(32)).unwrap()).unwrap();
        assert_ne!(a, other.blind_index(Field::Phone, "+8613812345678"));
        assert!(MasterKey::from_hex("abcd").is_err());
    }

    #[test]
    fn batch_sealing_and_fast_index() {
        let c = cipher();
        let sealed = c.seal_many(Field::Event, &[b"{\"a\":1}", b""]).unwrap();
        assert_eq!(c.open_bytes(Field::Event, &sealed[0]).unwrap(), b"{\"a\":1}");
        assert_eq!(c.open_bytes(Field::Event, &sealed[1]).unwrap(), b"");
        assert!(c.open_bytes(Field::Phone, &sealed[0]).is_err());
        assert_ne!(sealed[0][1..13], sealed[1][1..13], "distinct nonces");
        assert_eq!(
            c.blind_index16(Field::Phone, b"+8613812345678").to_vec(),
            c.blind_index(Field::Phone, "+8613812345678")
        );
        assert_ne!(
            c.blind_index16(Field::Account, b"x"),
            c.blind_index16(Field::EventId, b"x")
        );
    }

    #[test]
    fn passwords() {
        let cost = PasswordCost {
            memory_kib: 64,
            iterations: 1,
        };
        let h = hash_password(cost, "correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong"));
        assert!(!verify_password("garbage", "x"));
    }
}
