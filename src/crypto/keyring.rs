//! The master key ring: parsing `id:BASE64` specs and generating new keys.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// Length in bytes of one AES-256 master key.
pub const MASTER_KEY_LEN: usize = 32;

/// Longest accepted key id. Ids are stored beside every ciphertext, so they stay short.
pub const MAX_KEY_ID_LEN: usize = 32;

/// A ring of AES-256-GCM master keys.
///
/// The first key seals new secrets; every key in the ring opens. Rotation is
/// therefore: put a new key first, keep the old ones behind it until every
/// stored secret has been re-sealed, then drop them.
///
/// Cloning is cheap (the keys sit behind an [`Arc`]). Key bytes live only inside
/// the AES-GCM ciphers, which wipe themselves on drop, and `Debug` shows key ids only.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<RingKeys>,
}

/// The keys of a ring. The sealing key is a separate field so that a ring can
/// never be empty and no lookup of "the first key" can fail.
struct RingKeys {
    current: MasterKey,
    older: Vec<MasterKey>,
}

/// One master key, already expanded into a cipher.
pub(super) struct MasterKey {
    pub(super) id: String,
    pub(super) cipher: Aes256Gcm,
}

/// Why a key ring could not be parsed, generated, read or written.
///
/// Messages name an entry by its id, or by its 1-based position when the id
/// itself is unusable, and never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRingError {
    /// The spec holds no entries at all.
    #[error("no master key given: expected one or more comma-separated id:BASE64 entries")]
    Empty,
    /// Two commas in a row, or a leading or trailing comma.
    #[error("master key entry {position} is empty")]
    EmptyEntry {
        /// 1-based position of the entry in the spec.
        position: usize,
    },
    /// The entry has no `:` between id and key.
    #[error("master key entry {position} is not of the form id:BASE64")]
    MissingSeparator {
        /// 1-based position of the entry in the spec.
        position: usize,
    },
    /// The id is empty, too long or uses characters outside `[A-Za-z0-9_-]`.
    /// The id is not echoed: a malformed entry may have key material where the id should be.
    #[error(
        "master key entry {position} has an invalid id: ids are 1 to 32 characters of A-Z, a-z, 0-9, '_' and '-'"
    )]
    InvalidId {
        /// 1-based position of the entry in the spec.
        position: usize,
    },
    /// The id asked of [`generate_key_spec`] is not a valid key id.
    #[error("invalid key id: ids are 1 to 32 characters of A-Z, a-z, 0-9, '_' and '-'")]
    InvalidNewKeyId,
    /// The same id appears twice, so a stored key id could not pick one key.
    #[error("master key id {id:?} appears more than once")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },
    /// The key is not standard (padded) base64.
    #[error("master key {id:?} is not valid standard base64")]
    InvalidBase64 {
        /// Id of the bad entry.
        id: String,
    },
    /// The key decodes to a length other than 32 bytes.
    #[error("master key {id:?} decodes to {len} bytes, but AES-256 needs exactly 32")]
    WrongLength {
        /// Id of the bad entry.
        id: String,
        /// Decoded length in bytes.
        len: usize,
    },
    /// The operating system's random source failed while generating a key.
    #[error("the operating system's random number generator failed: {0}")]
    Random(getrandom::Error),
    /// Reading, creating or writing the key file failed.
    #[error("cannot {action} master key file {}", path.display())]
    Io {
        /// What was being done: "read", "create", "write", ...
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The key file exists but does not hold a valid spec.
    #[error("master key file {} is invalid: {source}", path.display())]
    BadFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with its contents.
        #[source]
        source: Box<KeyRingError>,
    },
}

impl KeyRing {
    /// Parses a ring spec such as `"k2:BASE64,k1:BASE64"`.
    ///
    /// Each key is standard base64 of exactly 32 bytes; ids are 1 to 32
    /// characters of `[A-Za-z0-9_-]` and unique. Whitespace around entries
    /// (and around the `:`) is ignored, so a spec can be wrapped in an env file.
    /// The first entry becomes the sealing key.
    pub fn parse(spec: &str) -> Result<KeyRing, KeyRingError> {
        if spec.trim().is_empty() {
            return Err(KeyRingError::Empty);
        }
        let mut keys: Vec<MasterKey> = Vec::new();
        for (index, entry) in spec.split(',').enumerate() {
            let key = parse_entry(index + 1, entry)?;
            if keys.iter().any(|seen| seen.id == key.id) {
                return Err(KeyRingError::DuplicateId { id: key.id });
            }
            keys.push(key);
        }
        let mut keys = keys.into_iter();
        let current = keys.next().ok_or(KeyRingError::Empty)?;
        Ok(KeyRing {
            inner: Arc::new(RingKeys {
                current,
                older: keys.collect(),
            }),
        })
    }

    /// Id of the key that seals new secrets (the first key of the spec).
    pub fn current_key_id(&self) -> &str {
        &self.inner.current.id
    }

    /// Ids of every key in the ring, sealing key first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys().map(|key| key.id.as_str())
    }

    /// Whether the ring holds a key with this id, i.e. can open what it sealed.
    pub fn contains(&self, key_id: &str) -> bool {
        self.find(key_id).is_some()
    }

    /// The sealing key.
    pub(super) fn current(&self) -> &MasterKey {
        &self.inner.current
    }

    /// The key with this id, if the ring holds it.
    pub(super) fn find(&self, key_id: &str) -> Option<&MasterKey> {
        self.keys().find(|key| key.id == key_id)
    }

    fn keys(&self) -> impl Iterator<Item = &MasterKey> {
        std::iter::once(&self.inner.current).chain(self.inner.older.iter())
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Ids only: the key bytes must never reach a log line.
        f.debug_struct("KeyRing")
            .field("key_ids", &self.key_ids().collect::<Vec<_>>())
            .finish()
    }
}

/// Parses one `id:BASE64` entry; `position` is 1-based, for error messages.
fn parse_entry(position: usize, entry: &str) -> Result<MasterKey, KeyRingError> {
    let entry = entry.trim();
    if entry.is_empty() {
        return Err(KeyRingError::EmptyEntry { position });
    }
    let (id, encoded) = entry
        .split_once(':')
        .ok_or(KeyRingError::MissingSeparator { position })?;
    let id = id.trim();
    if !is_valid_key_id(id) {
        return Err(KeyRingError::InvalidId { position });
    }
    // The base64 crate's error names the offending byte and offset, which would
    // leak part of the key, so it is deliberately dropped here.
    let bytes = Zeroizing::new(
        STANDARD
            .decode(encoded.trim())
            .map_err(|_| KeyRingError::InvalidBase64 { id: id.to_owned() })?,
    );
    let wrong_length = || KeyRingError::WrongLength {
        id: id.to_owned(),
        len: bytes.len(),
    };
    if bytes.len() != MASTER_KEY_LEN {
        return Err(wrong_length());
    }
    let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| wrong_length())?;
    Ok(MasterKey {
        id: id.to_owned(),
        cipher,
    })
}

/// Whether `id` can name a master key: 1 to 32 characters of `[A-Za-z0-9_-]`.
///
/// The alphabet leaves out `:` and `,` (the spec's separators) and anything
/// that would need quoting in an env file or a database column.
pub fn is_valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Generates a fresh master key and returns it as a one-entry spec, `"id:BASE64"`.
///
/// This is what `udam keygen` prints. The key is 32 bytes from the operating
/// system's random source.
pub fn generate_key_spec(id: &str) -> Result<String, KeyRingError> {
    if !is_valid_key_id(id) {
        return Err(KeyRingError::InvalidNewKeyId);
    }
    let mut key = Zeroizing::new([0u8; MASTER_KEY_LEN]);
    getrandom::fill(key.as_mut_slice()).map_err(KeyRingError::Random)?;
    Ok(format!("{id}:{}", STANDARD.encode(key.as_slice())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid spec entry for `id` whose key is 32 copies of `byte`.
    fn entry(id: &str, byte: u8) -> String {
        format!("{id}:{}", STANDARD.encode([byte; MASTER_KEY_LEN]))
    }

    #[test]
    fn parses_a_ring_with_the_first_key_sealing() {
        let spec = format!("{},{}", entry("k2", 2), entry("k1", 1));
        let ring = KeyRing::parse(&spec).expect("valid spec");
        assert_eq!(ring.current_key_id(), "k2");
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["k2", "k1"]);
        assert!(ring.contains("k1"));
        assert!(!ring.contains("k3"));
    }

    #[test]
    fn tolerates_whitespace_around_entries() {
        let spec = format!("  {} ,\n {}\n", entry("k2", 2), entry("k1", 1));
        let ring = KeyRing::parse(&spec).expect("valid spec with whitespace");
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["k2", "k1"]);
    }

    #[test]
    fn rejects_an_empty_spec() {
        assert!(matches!(KeyRing::parse(""), Err(KeyRingError::Empty)));
        assert!(matches!(KeyRing::parse("  \n"), Err(KeyRingError::Empty)));
    }

    #[test]
    fn rejects_an_empty_entry_by_position() {
        let spec = format!("{},", entry("k1", 1));
        let err = KeyRing::parse(&spec).expect_err("trailing comma");
        assert!(matches!(err, KeyRingError::EmptyEntry { position: 2 }));
    }

    #[test]
    fn rejects_bad_base64_naming_the_id_but_not_the_key() {
        let key = "not*base64*at*all*but*long*enough*AAAA";
        let err = KeyRing::parse(&format!("k7:{key}")).expect_err("bad base64");
        assert!(matches!(&err, KeyRingError::InvalidBase64 { id } if id == "k7"));
        let message = err.to_string();
        assert!(message.contains("k7"), "{message}");
        assert!(!message.contains(key), "{message}");
    }

    #[test]
    fn rejects_a_key_of_the_wrong_length() {
        let short = STANDARD.encode([9u8; 16]);
        let err = KeyRing::parse(&format!("short:{short}")).expect_err("16-byte key");
        assert!(matches!(&err, KeyRingError::WrongLength { id, len: 16 } if id == "short"));
        assert!(!err.to_string().contains(&short));
    }

    #[test]
    fn rejects_a_duplicate_id() {
        let spec = format!("{},{}", entry("k1", 1), entry("k1", 2));
        let err = KeyRing::parse(&spec).expect_err("duplicate id");
        assert!(matches!(&err, KeyRingError::DuplicateId { id } if id == "k1"));
        assert!(!err.to_string().contains(&STANDARD.encode([2u8; 32])));
    }

    #[test]
    fn rejects_invalid_ids_without_echoing_the_entry() {
        let key = STANDARD.encode([5u8; MASTER_KEY_LEN]);
        // A bare key (no id) is the likeliest mistake; its error must not echo it.
        let bare = KeyRing::parse(&key).expect_err("no separator");
        assert!(matches!(
            bare,
            KeyRingError::MissingSeparator { position: 1 }
        ));
        assert!(!bare.to_string().contains(&key));

        for bad_id in ["", "has space", "k.1", &"x".repeat(33)] {
            let spec = format!("{},{bad_id}:{key}", entry("ok", 1));
            let err = KeyRing::parse(&spec).expect_err("invalid id");
            assert!(
                matches!(err, KeyRingError::InvalidId { position: 2 }),
                "{bad_id:?} gave {err:?}"
            );
            assert!(!err.to_string().contains(&key));
        }
    }

    #[test]
    fn accepts_ids_up_to_32_characters_of_the_allowed_alphabet() {
        let id = "Ab9_-".repeat(6) + "zz";
        assert_eq!(id.len(), 32);
        let ring = KeyRing::parse(&entry(&id, 3)).expect("32-char id");
        assert_eq!(ring.current_key_id(), id);
    }

    #[test]
    fn debug_shows_ids_and_no_key_material() {
        let spec = format!("{},{}", entry("k2", 2), entry("k1", 1));
        let ring = KeyRing::parse(&spec).expect("valid spec");
        let debug = format!("{ring:?}");
        assert_eq!(debug, r#"KeyRing { key_ids: ["k2", "k1"] }"#);
    }

    #[test]
    fn generated_specs_parse_and_differ() {
        let first = generate_key_spec("k9").expect("keygen");
        let second = generate_key_spec("k9").expect("keygen");
        assert_ne!(first, second);
        assert!(first.starts_with("k9:"));
        let ring = KeyRing::parse(&first).expect("generated spec parses");
        assert_eq!(ring.current_key_id(), "k9");
    }

    #[test]
    fn generate_rejects_an_invalid_id() {
        assert!(matches!(
            generate_key_spec("a,b"),
            Err(KeyRingError::InvalidNewKeyId)
        ));
    }
}
