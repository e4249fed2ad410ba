//! Master key ring and AES-256-GCM sealing of stored secrets.
//!
//! Seller API keys are stored only sealed. [`KeyRing::seal`] encrypts with
//! AES-256-GCM under a fresh random 96-bit nonce, and binds the ciphertext to
//! its [`Purpose`] and row id through the associated data
//! (`udam/v1/<purpose>/<row_id>`), so a ciphertext copied onto another row does
//! not open. Each [`Sealed`] value records the id of the master key that sealed it.
//!
//! Master keys form a ring, configured as `UDAM_MASTER_KEYS=k2:BASE64,k1:BASE64`
//! (see [`KeyRing::parse`]): the first key seals, all of them open. To rotate,
//! generate a key ([`generate_key_spec`], `udam keygen`), put it first, re-seal
//! the stored secrets, then drop the old key. Without a configured ring, the
//! embedded default keeps one in a 0600 file ([`KeyRing::load_or_create`]).
//!
//! Nothing here panics on bad input: a wrong key, an unknown key id, a
//! truncated or altered blob each give an [`OpenError`]. No error, `Debug` or
//! `Display` output contains key bytes or plaintext.

mod key_file;
mod keyring;
mod seal;
mod secret;

pub use key_file::LOCAL_KEY_ID;
pub use keyring::{
    KeyRing, KeyRingError, MASTER_KEY_LEN, MAX_KEY_ID_LEN, generate_key_spec, is_valid_key_id,
};
pub use seal::{NONCE_LEN, OpenError, Purpose, SealError, Sealed, TAG_LEN};
pub use secret::SecretString;
