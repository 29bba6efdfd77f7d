//! Published ISO 9564-1 PIN block examples.

use cardwire_security::{
    ClearPinBlock, DesKey, EncryptedPinBlock, FixedBytes, Pan, Pin, PinBlockFormat, SecurityError,
    decrypt_pin, encrypt_pin, verify_pin,
};

fn clear(
    format: PinBlockFormat,
    pin: &str,
    pan: Option<&str>,
    fill: &[u8],
) -> Result<String, SecurityError> {
    let pin = Pin::new(pin)?;
    let pan = pan.map(Pan::new).transpose()?;
    let mut rng = FixedBytes::new(fill);
    let block = ClearPinBlock::build(format, &pin, pan.as_ref(), &mut rng)?;
    assert_eq!(rng.remaining(), 0, "every fill byte is consumed");
    let back = block.extract_pin(format, pan.as_ref())?;
    assert!(back.ct_eq(&pin));
    Ok(hex::encode_upper(block.expose_secret()))
}

/// IDTech knowledge base, "PIN block formats" (ISO-0 example, BP-Tools
/// output): PAN 43219876543210987, PIN 1234 -> 0412AC89ABCDEF67.
#[test]
fn idtech_iso0_example() -> Result<(), SecurityError> {
    assert_eq!(
        clear(PinBlockFormat::Iso0, "1234", Some("43219876543210987"), &[])?,
        "0412AC89ABCDEF67"
    );
    Ok(())
}

/// Thales payShield host command reference, "PIN block format 01" (ANSI
/// X9.8 = ISO format 0) worked example: PIN 92389, 13-digit account number
/// 4000 0012 3456 2 (check digit 2) -> 0592 789F FFED CBA9.
#[test]
fn thales_format01_example() -> Result<(), SecurityError> {
    assert_eq!(
        clear(PinBlockFormat::Iso0, "92389", Some("4000001234562"), &[])?,
        "0592789FFFEDCBA9"
    );
    Ok(())
}

/// IBM CCA Basic Services (4758, release 2.54) appendix E, "ISO-1 PIN-block
/// format": PIN 123456 -> 161234566ABCFDE1, the fill 6ABCFDE1 being the
/// random digits. Format 1 takes the low nibble of one byte per fill digit.
#[test]
fn ibm_cca_iso1_example() -> Result<(), SecurityError> {
    let fill = [0x06, 0x0A, 0x0B, 0x0C, 0x0F, 0x0D, 0x0E, 0x01];
    assert_eq!(
        clear(PinBlockFormat::Iso1, "123456", None, &fill)?,
        "161234566ABCFDE1"
    );
    Ok(())
}

/// IBM documentation (Linux on IBM Z, "ISO Format 3"): PIN 123456, IPB
/// 36123456AFBECDDC, PAN block 0000222333444555 -> 361216759CFA8889.
///
/// IBM's example lists the account number 111222333444555 and uses its 12
/// rightmost digits as they are, i.e. that number is already without the
/// check digit; our `Pan` holds the full PAN, so a check digit (0) is
/// appended. Format 3 maps a fill byte b to 0xA + b % 6, so the bytes
/// 0,5,1,4,2,3,3,2 give IBM's fill AFBECDDC.
#[test]
fn ibm_iso3_example() -> Result<(), SecurityError> {
    assert_eq!(
        hex::encode_upper(Pan::new("1112223334445550")?.account_field()),
        "0000222333444555"
    );
    let fill = [0, 5, 1, 4, 2, 3, 3, 2];
    assert_eq!(
        clear(
            PinBlockFormat::Iso3,
            "123456",
            Some("1112223334445550"),
            &fill
        )?,
        "361216759CFA8889"
    );
    Ok(())
}

/// Encryption of those clear blocks under a PIN key. No published
/// encrypted-block example with a known key was found; the expected values
/// were computed independently with pycryptodome 4.4 (DES / DES3 ECB) and
/// are recorded as fixed hex.
#[test]
fn encrypted_blocks_cross_checked_with_pycryptodome() -> Result<(), SecurityError> {
    let double = DesKey::from_hex("0123456789ABCDEFFEDCBA9876543210")?;
    let single = DesKey::from_hex("0123456789ABCDEF")?;
    for (clear_hex, under_double, under_single) in [
        ("0412AC89ABCDEF67", "C967C8198151A458", "864C0D7C2D6C8B94"),
        ("361216759CFA8889", "647B2755E98F441F", "19E0D9EFB12D3933"),
        ("161234566ABCFDE1", "69890023DD3517CF", "385A577AABD894DB"),
        ("0592789FFFEDCBA9", "5688FEC52654FE71", "5D1B629D084CF4AE"),
    ] {
        let mut b = [0u8; 8];
        assert!(hex::decode_to_slice(clear_hex, &mut b).is_ok());
        let block = ClearPinBlock::from_bytes(b);
        assert_eq!(
            hex::encode_upper(block.encrypt(&double).as_bytes()),
            under_double
        );
        assert_eq!(
            hex::encode_upper(block.encrypt(&single).as_bytes()),
            under_single
        );
        assert_eq!(block.encrypt(&double).decrypt(&double).expose_secret(), &b);
    }
    Ok(())
}

/// Host side: field 52 from the first vector decrypts and verifies.
#[test]
fn host_decrypts_and_verifies_field52() -> Result<(), SecurityError> {
    let pik = DesKey::from_hex("0123456789ABCDEFFEDCBA9876543210")?;
    let pan = Pan::new("43219876543210987")?;
    let mut field52 = [0u8; 8];
    assert!(hex::decode_to_slice("C967C8198151A458", &mut field52).is_ok());
    let block = EncryptedPinBlock::from_slice(&field52)?;
    assert_eq!(
        decrypt_pin(&pik, PinBlockFormat::Iso0, &block, Some(&pan))?.expose_secret(),
        "1234"
    );
    assert!(verify_pin(
        &pik,
        PinBlockFormat::Iso0,
        &block,
        Some(&pan),
        &Pin::new("1234")?
    )?);
    assert!(!verify_pin(
        &pik,
        PinBlockFormat::Iso0,
        &block,
        Some(&pan),
        &Pin::new("4321")?
    )?);
    // The wrong key gives a malformed block, not a wrong PIN.
    let other = DesKey::from_hex("0123456789ABCDEF")?;
    assert!(matches!(
        decrypt_pin(&other, PinBlockFormat::Iso0, &block, Some(&pan)),
        Err(SecurityError::InvalidPinBlock(_))
    ));
    assert_eq!(
        EncryptedPinBlock::from_slice(&field52[..7]).err(),
        Some(SecurityError::PinBlockLength { len: 7 })
    );
    let again = encrypt_pin(
        &pik,
        PinBlockFormat::Iso0,
        &Pin::new("1234")?,
        Some(&pan),
        &mut FixedBytes::new(&[]),
    )?;
    assert_eq!(again, block);
    Ok(())
}
