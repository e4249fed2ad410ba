//! AES-256-GCM sealing and opening of secrets bound to a database row.

use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Nonce, Payload};

use super::keyring::KeyRing;
use super::secret::SecretString;

/// Length of the random AES-GCM nonce (96 bits) at the start of every blob.
pub const NONCE_LEN: usize = 12;

/// Length of the AES-GCM authentication tag at the end of every blob.
pub const TAG_LEN: usize = 16;

/// What a sealed secret is for. It is part of the associated data, so a
/// ciphertext sealed for one purpose cannot be opened as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// A seller's upstream API key, stored on the listing row.
    ListingApiKey,
    /// A webhook endpoint's signing secret (`whsec_…`), stored on the endpoint row.
    WebhookSecret,
}

impl Purpose {
    /// The stable name used in the associated data. Changing it would make every
    /// stored ciphertext of this purpose unopenable.
    pub const fn as_str(self) -> &'static str {
        match self {
            Purpose::ListingApiKey => "listing_api_key",
            Purpose::WebhookSecret => "webhook_secret",
        }
    }
}

/// A sealed secret as stored in the database: the id of the master key that
/// sealed it and the blob `nonce (12 bytes) || ciphertext || tag (16 bytes)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Id of the master key that sealed `blob`; store it beside the blob.
    pub key_id: String,
    /// `nonce || ciphertext || tag`.
    pub blob: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The blob is not readable without a key, but printing it would still put
        // key-dependent bytes in logs for no benefit; its length is enough to debug.
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("blob", &format_args!("[{} bytes]", self.blob.len()))
            .finish()
    }
}

/// Why a secret could not be sealed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The operating system's random source failed, so no fresh nonce could be drawn.
    #[error("the operating system's random number generator failed: {0}")]
    Random(getrandom::Error),
    /// The plaintext is beyond AES-GCM's limit (about 64 GiB).
    #[error("the secret is too large to seal")]
    TooLarge,
}

/// Why a sealed secret could not be opened. No variant carries secret data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The ring holds no key with the stored key id (removed too early from the ring?).
    #[error("the sealed secret names master key {key_id:?}, which is not in the key ring")]
    UnknownKeyId {
        /// The key id stored with the secret. Ids are not secret.
        key_id: String,
    },
    /// The blob is too short to hold a nonce and a tag.
    #[error("the sealed secret is malformed")]
    Malformed,
    /// The tag did not verify: wrong key, wrong row or purpose, or altered bytes.
    #[error("the sealed secret failed authentication (wrong key, wrong row, or tampered)")]
    Authentication,
    /// The secret opened but is not UTF-8 text; it was not sealed from a string.
    #[error("the opened secret is not UTF-8 text")]
    NotUtf8,
}

impl KeyRing {
    /// Seals `plaintext` with the current key under a fresh random 96-bit nonce.
    ///
    /// The associated data binds the ciphertext to `purpose` and `row_id`, so
    /// it opens only for that same pair: a blob copied to another row fails.
    pub fn seal(
        &self,
        purpose: Purpose,
        row_id: &str,
        plaintext: &[u8],
    ) -> Result<Sealed, SealError> {
        let key = self.current();
        // A fresh random nonce per seal. NIST SP 800-38D allows 2^32 random-nonce
        // seals per key; rotation resets the count, and stored keys are far fewer.
        let mut nonce_bytes = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce_bytes).map_err(SealError::Random)?;
        let nonce = Nonce::<Aes256Gcm>::from(nonce_bytes);
        let aad = associated_data(purpose, row_id);
        let ciphertext = key
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::TooLarge)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce_bytes);
        blob.extend_from_slice(&ciphertext);
        Ok(Sealed {
            key_id: key.id.clone(),
            blob,
        })
    }

    /// Opens a blob sealed by [`KeyRing::seal`] for the same `purpose` and `row_id`,
    /// using the ring's key named `key_id`.
    pub fn open(
        &self,
        purpose: Purpose,
        row_id: &str,
        key_id: &str,
        blob: &[u8],
    ) -> Result<SecretString, OpenError> {
        let key = self.find(key_id).ok_or_else(|| OpenError::UnknownKeyId {
            key_id: key_id.to_owned(),
        })?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError::Malformed);
        }
        let (nonce_bytes, ciphertext) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::<Aes256Gcm>::try_from(nonce_bytes).map_err(|_| OpenError::Malformed)?;
        let aad = associated_data(purpose, row_id);
        let plaintext = key
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::Authentication)?;
        match String::from_utf8(plaintext) {
            Ok(text) => Ok(SecretString::new(text)),
            Err(err) => {
                // Wipe the authenticated but unusable plaintext before reporting.
                zeroize::Zeroize::zeroize(&mut err.into_bytes());
                Err(OpenError::NotUtf8)
            }
        }
    }
}

/// `b"udam/v1/" + purpose + b"/" + row_id`. The row id comes last, and purpose
/// names hold no `/`, so distinct (purpose, row) pairs never share bytes.
fn associated_data(purpose: Purpose, row_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(8 + purpose.as_str().len() + 1 + row_id.len());
    aad.extend_from_slice(b"udam/v1/");
    aad.extend_from_slice(purpose.as_str().as_bytes());
    aad.push(b'/');
    aad.extend_from_slice(row_id.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keyring::generate_key_spec;

    const API_KEY: &str = "sk_live_51HxYzSellerUpstreamKey";

    fn ring(spec: &str) -> KeyRing {
        KeyRing::parse(spec).expect("valid spec")
    }

    fn new_key(id: &str) -> String {
        generate_key_spec(id).expect("keygen")
    }

    #[test]
    fn round_trip_returns_the_plaintext_and_records_the_key_id() {
        let ring = ring(&new_key("k1"));
        let sealed = ring
            .seal(Purpose::ListingApiKey, "lst_1", API_KEY.as_bytes())
            .expect("seal");
        assert_eq!(sealed.key_id, "k1");
        assert_eq!(sealed.blob.len(), NONCE_LEN + API_KEY.len() + TAG_LEN);
        assert!(
            !sealed
                .blob
                .windows(API_KEY.len())
                .any(|w| w == API_KEY.as_bytes())
        );
        let opened = ring
            .open(
                Purpose::ListingApiKey,
                "lst_1",
                &sealed.key_id,
                &sealed.blob,
            )
            .expect("open");
        assert_eq!(opened.expose(), API_KEY);
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let ring = ring(&new_key("k1"));
        let sealed = ring.seal(Purpose::ListingApiKey, "r", b"").expect("seal");
        let opened = ring
            .open(Purpose::ListingApiKey, "r", "k1", &sealed.blob)
            .expect("open");
        assert_eq!(opened.expose(), "");
    }

    #[test]
    fn sealing_twice_uses_fresh_nonces() {
        let ring = ring(&new_key("k1"));
        let a = ring.seal(Purpose::ListingApiKey, "lst_1", API_KEY.as_bytes());
        let b = ring.seal(Purpose::ListingApiKey, "lst_1", API_KEY.as_bytes());
        let (a, b) = (a.expect("seal"), b.expect("seal"));
        assert_ne!(a.blob[..NONCE_LEN], b.blob[..NONCE_LEN]);
        assert_ne!(a.blob, b.blob);
    }

    #[test]
    fn a_blob_copied_to_another_row_fails() {
        let ring = ring(&new_key("k1"));
        let sealed = ring
            .seal(Purpose::ListingApiKey, "lst_A", API_KEY.as_bytes())
            .expect("seal");
        let err = ring
            .open(Purpose::ListingApiKey, "lst_B", "k1", &sealed.blob)
            .expect_err("other row");
        assert_eq!(err, OpenError::Authentication);
    }

    #[test]
    fn every_flipped_bit_fails() {
        let ring = ring(&new_key("k1"));
        let sealed = ring
            .seal(Purpose::ListingApiKey, "lst_1", b"short key")
            .expect("seal");
        // Nonce, ciphertext and tag are all covered by the authentication.
        for bit in 0..sealed.blob.len() * 8 {
            let mut tampered = sealed.blob.clone();
            tampered[bit / 8] ^= 1 << (bit % 8);
            let err = ring
                .open(Purpose::ListingApiKey, "lst_1", "k1", &tampered)
                .expect_err("tampered blob");
            assert_eq!(err, OpenError::Authentication, "bit {bit}");
        }
    }

    #[test]
    fn short_or_empty_blobs_are_malformed() {
        let ring = ring(&new_key("k1"));
        for len in [0, 1, NONCE_LEN, NONCE_LEN + TAG_LEN - 1] {
            let err = ring
                .open(Purpose::ListingApiKey, "lst_1", "k1", &vec![0u8; len])
                .expect_err("short blob");
            assert_eq!(err, OpenError::Malformed, "len {len}");
        }
    }

    #[test]
    fn an_unknown_key_id_fails() {
        let ring = ring(&new_key("k1"));
        let sealed = ring
            .seal(Purpose::ListingApiKey, "lst_1", API_KEY.as_bytes())
            .expect("seal");
        let err = ring
            .open(Purpose::ListingApiKey, "lst_1", "k0", &sealed.blob)
            .expect_err("unknown key id");
        assert_eq!(
            err,
            OpenError::UnknownKeyId {
                key_id: "k0".into()
            }
        );
    }

    #[test]
    fn a_different_key_under_the_same_id_fails() {
        let sealer = ring(&new_key("k1"));
        let impostor = ring(&new_key("k1"));
        let sealed = sealer
            .seal(Purpose::ListingApiKey, "lst_1", API_KEY.as_bytes())
            .expect("seal");
        let err = impostor
            .open(Purpose::ListingApiKey, "lst_1", "k1", &sealed.blob)
            .expect_err("wrong key");
        assert_eq!(err, OpenError::Authentication);
    }

    #[test]
    fn a_rotated_ring_opens_old_blobs_and_seals_with_the_new_key() {
        let k1 = new_key("k1");
        let old_ring = ring(&k1);
        let old = old_ring
            .seal(Purpose::ListingApiKey, "lst_1", API_KEY.as_bytes())
            .expect("seal");

        let rotated = ring(&format!("{},{k1}", new_key("k2")));
        let opened = rotated
            .open(Purpose::ListingApiKey, "lst_1", &old.key_id, &old.blob)
            .expect("old blob opens after rotation");
        assert_eq!(opened.expose(), API_KEY);

        let resealed = rotated
            .seal(Purpose::ListingApiKey, "lst_1", opened.expose().as_bytes())
            .expect("reseal");
        assert_eq!(resealed.key_id, "k2");
        // Once k1 is dropped from the ring, only re-sealed secrets remain readable.
        let err = ring(&new_key("k2"))
            .open(Purpose::ListingApiKey, "lst_1", &old.key_id, &old.blob)
            .expect_err("k1 gone");
        assert!(matches!(err, OpenError::UnknownKeyId { .. }));
    }

    #[test]
    fn a_non_utf8_plaintext_opens_as_an_error() {
        let ring = ring(&new_key("k1"));
        let sealed = ring
            .seal(Purpose::ListingApiKey, "lst_1", &[0xff, 0xfe, 0x00])
            .expect("seal");
        let err = ring
            .open(Purpose::ListingApiKey, "lst_1", "k1", &sealed.blob)
            .expect_err("not utf-8");
        assert_eq!(err, OpenError::NotUtf8);
    }

    #[test]
    fn associated_data_has_the_documented_layout() {
        assert_eq!(
            associated_data(Purpose::ListingApiKey, "lst_42"),
            b"udam/v1/listing_api_key/lst_42"
        );
    }

    #[test]
    fn debug_output_hides_blob_and_plaintext() {
        let ring = ring(&new_key("k1"));
        let sealed = ring
            .seal(Purpose::ListingApiKey, "lst_1", API_KEY.as_bytes())
            .expect("seal");
        assert_eq!(
            format!("{sealed:?}"),
            format!(
                r#"Sealed {{ key_id: "k1", blob: [{} bytes] }}"#,
                sealed.blob.len()
            )
        );
        let opened = ring
            .open(Purpose::ListingApiKey, "lst_1", "k1", &sealed.blob)
            .expect("open");
        assert!(!format!("{opened:?} {opened}").contains(API_KEY));
    }

    #[test]
    fn open_errors_carry_no_secret() {
        let ring = ring(&new_key("k1"));
        let sealed = ring
            .seal(Purpose::ListingApiKey, "lst_1", API_KEY.as_bytes())
            .expect("seal");
        let mut tampered = sealed.blob.clone();
        tampered[NONCE_LEN] ^= 1;
        let err = ring
            .open(Purpose::ListingApiKey, "lst_1", "k1", &tampered)
            .expect_err("tampered");
        let printed = format!("{err} {err:?}");
        assert!(!printed.contains(API_KEY));
    }
}
