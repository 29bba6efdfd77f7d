//! How a terminal gets its working keys, and whether it signs on.
//!
//! | `keys` | where the keys come from | MAC (64/128) | PIN block (52) |
//! |---|---|---|---|
//! | `cups` | sign-on reply, field 62 under the TMK | yes | yes |
//! | `static` | configured: clear or under the TMK, check values verified | yes | with a PIK |
//! | `none` | nowhere | no | no |
//!
//! | `signon` | what goes out before the first transaction |
//! |---|---|
//! | `keys` | `0800`, network code `003` (UnionPay 60.3) or `001` (1987 field 70) |
//! | `echo` | `0800`/`0820`, network code `301` |
//! | `none` | nothing |
//!
//! `cups` needs the `keys` sign-on (the keys come in its reply); the other
//! modes sign on only when asked to, and take no keys from the reply.
//!
//! A configured key is `HEX` or `HEX:KCV`: 16 or 32 hex digits, and the
//! check value (the first 3 or 4 bytes of the clear key encrypting zeros)
//! that the terminal verifies before it uses the key. With
//! `keys_under_tmk` the hex is the key encrypted under the TMK (ECB), as a
//! key-loading slip gives it.

use cardwire_security::{DesKey, WorkingKeys};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

/// Where a terminal's working keys come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyMode {
    /// Downloaded in the sign-on reply (field 62), wrapped under the TMK.
    #[default]
    Cups,
    /// Configured working keys.
    Static,
    /// No keys: no MAC, no PIN block.
    None,
}

impl KeyMode {
    /// The mode's name in files and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyMode::Cups => "cups",
            KeyMode::Static => "static",
            KeyMode::None => "none",
        }
    }

    /// The sign-on a terminal in this mode does unless told otherwise.
    pub fn default_sign_on(self) -> SignOnMode {
        match self {
            KeyMode::Cups => SignOnMode::Keys,
            KeyMode::Static | KeyMode::None => SignOnMode::None,
        }
    }
}

impl core::str::FromStr for KeyMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cups" => Ok(KeyMode::Cups),
            "static" => Ok(KeyMode::Static),
            "none" => Ok(KeyMode::None),
            _ => Err(format!("{s:?}: cups, static or none")),
        }
    }
}

/// What a terminal sends before its first transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignOnMode {
    /// Nothing.
    None,
    /// An echo test (network code 301).
    Echo,
    /// A sign-on (network code 003 on UnionPay, 001 on 1987).
    Keys,
}

impl SignOnMode {
    /// The mode's name in files and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            SignOnMode::None => "none",
            SignOnMode::Echo => "echo",
            SignOnMode::Keys => "keys",
        }
    }
}

impl core::str::FromStr for SignOnMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(SignOnMode::None),
            "echo" => Ok(SignOnMode::Echo),
            "keys" => Ok(SignOnMode::Keys),
            _ => Err(format!("{s:?}: none, echo or keys")),
        }
    }
}

/// The keys a terminal holds.
///
/// `Debug` shows check values only.
#[derive(Clone, PartialEq, Eq)]
pub struct TerminalKeys {
    /// MAC key.
    pub mak: DesKey,
    /// PIN key (none: the terminal cannot take a PIN).
    pub pik: Option<DesKey>,
    /// Track data key.
    pub tdk: Option<DesKey>,
}

impl core::fmt::Debug for TerminalKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TerminalKeys")
            .field("mak_kcv", &self.mak.kcv().to_string())
            .field("pik_kcv", &self.pik.as_ref().map(|k| k.kcv().to_string()))
            .field("tdk_kcv", &self.tdk.as_ref().map(|k| k.kcv().to_string()))
            .finish()
    }
}

impl From<WorkingKeys> for TerminalKeys {
    fn from(k: WorkingKeys) -> Self {
        TerminalKeys {
            mak: k.mak,
            pik: Some(k.pik),
            tdk: k.tdk,
        }
    }
}

/// Errors reading configured keys. Never shows key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// `keys = "static"` without a MAK.
    #[error("static keys need a MAK (--mak or `mak` in the profile)")]
    MissingMak,
    /// Not hex, or not 16/32 hex digits.
    #[error("{key}: expected 16 or 32 hex digits, optionally followed by :KCV")]
    Format {
        /// Which key.
        key: &'static str,
    },
    /// A check value that is not 6 or 8 hex digits.
    #[error("{key}: the check value after ':' must be 6 or 8 hex digits")]
    CheckFormat {
        /// Which key.
        key: &'static str,
    },
    /// The key does not give the check value.
    #[error(
        "{key}: check value mismatch (the key gives {got}, expected {want}){hint}",
        hint = if *under_tmk { "; wrong TMK?" } else { "; is it given under the TMK?" }
    )]
    CheckValue {
        /// Which key.
        key: &'static str,
        /// Check value of the key as read.
        got: String,
        /// Check value given.
        want: String,
        /// Whether the key was given under the TMK.
        under_tmk: bool,
    },
}

/// Reads one configured key (`HEX` or `HEX:KCV`), decrypting it under
/// `tmk` when given, and verifies its check value.
///
/// # Errors
///
/// [`KeyError`] naming `name` for bad hex, a bad length or a check value
/// that does not match.
pub fn parse_key(name: &'static str, text: &str, tmk: Option<&DesKey>) -> Result<DesKey, KeyError> {
    let (hex_part, kcv) = match text.trim().split_once(':') {
        Some((k, c)) => (k.trim(), Some(c.trim())),
        None => (text.trim(), None),
    };
    if !matches!(hex_part.len(), 16 | 32) {
        return Err(KeyError::Format { key: name });
    }
    let mut buf = [0u8; 16];
    let bytes = buf
        .get_mut(..hex_part.len() / 2)
        .ok_or(KeyError::Format { key: name })?;
    hex::decode_to_slice(hex_part, bytes).map_err(|_| KeyError::Format { key: name })?;
    if let Some(tmk) = tmk {
        for chunk in bytes.chunks_exact_mut(8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            tmk.decrypt_block(&mut b);
            chunk.copy_from_slice(&b);
            b.zeroize();
        }
    }
    let key = DesKey::from_bytes(bytes).map_err(|_| KeyError::Format { key: name });
    buf.zeroize();
    let key = key?;
    if let Some(want) = kcv {
        let want_bytes = hex::decode(want)
            .ok()
            .filter(|b| matches!(b.len(), 3 | 4))
            .ok_or(KeyError::CheckFormat { key: name })?;
        let full = key.kcv();
        let got = full.as_bytes().get(..want_bytes.len()).unwrap_or(&[]);
        if got != want_bytes.as_slice() {
            return Err(KeyError::CheckValue {
                key: name,
                got: hex::encode_upper(got),
                want: want.to_ascii_uppercase(),
                under_tmk: tmk.is_some(),
            });
        }
    }
    Ok(key)
}

/// Configured working keys, as written in a profile or given as flags.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticKeys {
    /// MAC key, `HEX[:KCV]`.
    #[serde(default)]
    pub mak: Option<String>,
    /// PIN key, `HEX[:KCV]`.
    #[serde(default)]
    pub pik: Option<String>,
    /// Track data key, `HEX[:KCV]`.
    #[serde(default)]
    pub tdk: Option<String>,
    /// The keys are given encrypted under the TMK.
    #[serde(default)]
    pub under_tmk: bool,
}

impl core::fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let hidden = |k: &Option<String>| k.as_ref().map(|_| "<hidden>");
        f.debug_struct("StaticKeys")
            .field("mak", &hidden(&self.mak))
            .field("pik", &hidden(&self.pik))
            .field("tdk", &hidden(&self.tdk))
            .field("under_tmk", &self.under_tmk)
            .finish()
    }
}

impl StaticKeys {
    /// The keys, each checked.
    ///
    /// # Errors
    ///
    /// [`KeyError`] for a missing MAK or a key that does not read or
    /// check.
    pub fn load(&self, tmk: &DesKey) -> Result<TerminalKeys, KeyError> {
        let tmk = self.under_tmk.then_some(tmk);
        let mak = self.mak.as_deref().ok_or(KeyError::MissingMak)?;
        Ok(TerminalKeys {
            mak: parse_key("MAK", mak, tmk)?,
            pik: self
                .pik
                .as_deref()
                .map(|k| parse_key("PIK", k, tmk))
                .transpose()?,
            tdk: self
                .tdk
                .as_deref()
                .map(|k| parse_key("TDK", k, tmk))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789ABCDEFFEDCBA9876543210";

    #[test]
    fn a_clear_key_with_its_check_value_loads() {
        let k = DesKey::from_hex(KEY).unwrap();
        let kcv = k.kcv().to_string();
        let got = parse_key("MAK", &format!("{KEY}:{kcv}"), None).unwrap();
        assert_eq!(got, k);
        // Three bytes of check value are enough.
        parse_key("MAK", &format!("{KEY}:{}", &kcv[..6]), None).unwrap();
    }

    #[test]
    fn a_wrong_check_value_is_refused_without_showing_the_key() {
        let e = parse_key("PIK", &format!("{KEY}:000000"), None).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("PIK: check value mismatch"), "{text}");
        assert!(!text.contains("0123456789"), "{text}");
    }

    #[test]
    fn a_key_under_the_tmk_is_decrypted_before_its_check() {
        let tmk = DesKey::from_hex(crate::config::DEMO_TMK).unwrap();
        let clear = DesKey::from_hex(KEY).unwrap();
        let mut wrapped = clear.expose_secret().to_vec();
        for c in wrapped.chunks_exact_mut(8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            tmk.encrypt_block(&mut b);
            c.copy_from_slice(&b);
        }
        let text = format!("{}:{}", hex::encode_upper(&wrapped), clear.kcv());
        assert_eq!(parse_key("MAK", &text, Some(&tmk)).unwrap(), clear);
        // The same text read as a clear key fails its check value.
        assert!(matches!(
            parse_key("MAK", &text, None),
            Err(KeyError::CheckValue { .. })
        ));
    }

    #[test]
    fn bad_key_text_is_an_error_not_a_panic() {
        for bad in [
            "",
            "XYZ",
            "0123",
            &format!("{KEY}:12"),
            &format!("{KEY}:ZZZZZZ"),
            "é",
        ] {
            assert!(parse_key("MAK", bad, None).is_err(), "{bad:?}");
        }
        assert_eq!(
            StaticKeys::default().load(&DesKey::from_hex(KEY).unwrap()),
            Err(KeyError::MissingMak)
        );
    }
}
