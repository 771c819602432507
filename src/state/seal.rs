//! Secrets sealed before they reach PostgreSQL (`state.key_file`, `docs/fleet.md`):
//! XChaCha20-Poly1305 with a random 24-byte nonce per value, the field and object id as
//! associated data (a sealed value copied to another field or object does not open), stored as
//! `sealed:v1:` + base64(nonce ‖ ciphertext).

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// The prefix of a sealed value.
const PREFIX: &str = "sealed:v1:";
/// XChaCha20's nonce length.
const NONCE_LEN: usize = 24;

/// The 32-byte key of `state.key_file`. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct StateKey([u8; 32]);

impl fmt::Debug for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StateKey(***)")
    }
}

impl StateKey {
    /// Parses a key file's text: 64 hex digits or the base64 of 32 bytes (surrounding
    /// whitespace ignored). Errors never quote the text.
    pub fn parse(text: &str) -> Result<StateKey, String> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            STANDARD.decode(text).ok()
        };
        bytes
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(StateKey)
            .ok_or_else(|| {
                "must hold a 32-byte key: 64 hex digits or its base64 (e.g. `openssl rand -hex 32`)"
                    .into()
            })
    }

    /// Reads and parses `path`; the error names the file, never its content.
    pub fn read(path: &Path) -> Result<StateKey, String> {
        let text = fs_err::read_to_string(path).map_err(|e| e.to_string())?;
        StateKey::parse(&text).map_err(|m| format!("{}: {m}", path.display()))
    }
}

/// Why a sealed value did not open.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum OpenError {
    /// Not a sealed value at all (written by something else).
    NotSealed,
    /// The key (or the associated data) does not match.
    WrongKey,
}

/// Seals and opens values with one key.
pub(super) struct Sealer(XChaCha20Poly1305);

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    pub(super) fn new(key: &StateKey) -> Sealer {
        Sealer(XChaCha20Poly1305::new(&key.0.into()))
    }

    /// `value` sealed under `aad` (e.g. `remotes.hf_token/<id>`).
    pub(super) fn seal(&self, aad: &str, value: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: value.as_bytes(),
            aad: aad.as_bytes(),
        };
        // Encryption fails only for messages over 256 GiB.
        let sealed = self.0.encrypt(&nonce, payload).unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD.encode(bytes))
    }

    /// The value `sealed` holds, if it was sealed with this key under `aad`.
    pub(super) fn open(&self, aad: &str, sealed: &str) -> Result<String, OpenError> {
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or(OpenError::NotSealed)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: aad.as_bytes(),
        };
        let plain = self
            .0
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| OpenError::WrongKey)?;
        String::from_utf8(plain).map_err(|_| OpenError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> StateKey {
        StateKey([byte; 32])
    }

    #[test]
    fn sealed_value_opens_with_its_key_and_aad_only() {
        let sealer = Sealer::new(&key(1));
        let sealed = sealer.seal("remotes.hf_token/1", "hf_secret");
        assert!(sealed.starts_with(PREFIX));
        assert!(!sealed.contains("hf_secret"));
        assert_eq!(
            sealer.open("remotes.hf_token/1", &sealed).unwrap(),
            "hf_secret"
        );
        assert_eq!(
            sealer.open("remotes.password/1", &sealed),
            Err(OpenError::WrongKey)
        );
        assert_eq!(
            Sealer::new(&key(2)).open("remotes.hf_token/1", &sealed),
            Err(OpenError::WrongKey)
        );
        assert_eq!(sealer.open("x", "hf_secret"), Err(OpenError::NotSealed));
        // A fresh nonce per value: the same secret seals differently.
        assert_ne!(sealed, sealer.seal("remotes.hf_token/1", "hf_secret"));
    }

    #[test]
    fn key_file_text_is_hex_or_base64_of_32_bytes() {
        let hex_text = format!("{}\n", "ab".repeat(32));
        assert_eq!(StateKey::parse(&hex_text).unwrap(), StateKey([0xab; 32]));
        let b64 = STANDARD.encode([7u8; 32]);
        assert_eq!(StateKey::parse(&b64).unwrap(), key(7));
        for bad in ["", "abcd", &"ab".repeat(31), &STANDARD.encode([1u8; 16])] {
            let err = StateKey::parse(bad).unwrap_err();
            assert!(err.contains("32-byte key"), "{err}");
        }
        assert_eq!(format!("{:?}", key(9)), "StateKey(***)");
    }
}
