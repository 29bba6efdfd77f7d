//! Field 62 working key download (UnionPay POS sign-on), terminal side.
//!
//! Published: the CSDN walk-through (blog.csdn.net/zhu244912654/article/
//! details/80005341) gives TMK 70F2A84CCBC2AE8625CBB0F2C22AB923 and a MAK
//! ("TAK") encrypted under it, 96D605EA176B7E9E, whose clear value is
//! C24A8FB57AA20123. No public page we could read shows a complete field 62
//! with its check values, so the fields below were assembled with
//! pycryptodome 4.4 (3DES-ECB under the TMK; check value = leftmost 4 bytes
//! of E(clear key, 0^8)) around that published MAK, and recorded as fixed
//! hex. The MAK slot of the 24- and 40-byte fields is exactly the published
//! ciphertext.

use cardwire_security::{DesKey, SecurityError, WorkingKeyKind, WorkingKeys};

const TMK: &str = "70F2A84CCBC2AE8625CBB0F2C22AB923";

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_default()
}

fn secret_hex(key: &DesKey) -> String {
    hex::encode_upper(key.expose_secret())
}

#[test]
fn unwraps_24_byte_layout() -> Result<(), SecurityError> {
    let field = unhex("482EF01EB4BA66AFA68CDCA996D605EA176B7E9E0547DB3E");
    let keys = WorkingKeys::unwrap(&DesKey::from_hex(TMK)?, &field)?;
    assert_eq!(secret_hex(&keys.pik), "FEDCBA9876543210");
    assert_eq!(secret_hex(&keys.mak), "C24A8FB57AA20123");
    assert!(keys.tdk.is_none());
    Ok(())
}

#[test]
fn unwraps_40_byte_layout() -> Result<(), SecurityError> {
    let field =
        unhex("4C555721128EF42B482EF01EB4BA66AF08D7B4FB96D605EA176B7E9E00000000000000000547DB3E");
    let keys = WorkingKeys::unwrap(&DesKey::from_hex(TMK)?, &field)?;
    assert_eq!(secret_hex(&keys.pik), "0123456789ABCDEFFEDCBA9876543210");
    assert_eq!(secret_hex(&keys.mak), "C24A8FB57AA20123");
    assert!(keys.tdk.is_none());
    Ok(())
}

#[test]
fn unwraps_60_byte_layout() -> Result<(), SecurityError> {
    let field = unhex(
        "4C555721128EF42B482EF01EB4BA66AF08D7B4FB8948B582FD1E7649482EF01EB4BA66AFAD7614FE4C555721128EF42B8948B582FD1E76494FA9846C",
    );
    let tmk = DesKey::from_hex(TMK)?;
    let keys = WorkingKeys::unwrap(&tmk, &field)?;
    assert_eq!(secret_hex(&keys.pik), "0123456789ABCDEFFEDCBA9876543210");
    assert_eq!(secret_hex(&keys.mak), "89ABCDEF01234567FEDCBA9876543210");
    assert_eq!(
        keys.tdk.as_ref().map(secret_hex).as_deref(),
        Some("0123456789ABCDEF89ABCDEF01234567")
    );
    // Host side wraps them back to the same bytes.
    assert_eq!(
        keys.wrap(&tmk, cardwire_security::Field62Layout::Bytes60)?,
        field
    );
    Ok(())
}

#[test]
fn wrong_tmk_fails_on_the_first_key() -> Result<(), SecurityError> {
    let field = unhex("482EF01EB4BA66AFA68CDCA996D605EA176B7E9E0547DB3E");
    let wrong = DesKey::from_hex("70F2A84CCBC2AE8625CBB0F2C22AB922")?;
    // 0x22 vs 0x23 differ in the parity bit only, which DES ignores: the
    // same key. Flip a real key bit instead.
    assert!(WorkingKeys::unwrap(&wrong, &field).is_ok());
    let wrong = DesKey::from_hex("70F2A84CCBC2AE8625CBB0F2C22AB9A3")?;
    assert_eq!(
        WorkingKeys::unwrap(&wrong, &field),
        Err(SecurityError::CheckValueMismatch {
            key: WorkingKeyKind::Pik
        })
    );
    Ok(())
}
