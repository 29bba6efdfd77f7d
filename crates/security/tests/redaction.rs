//! PCI DSS log hygiene: no `Debug`, `Display` or error text shows a key, a
//! PIN, a PIN block or more of a PAN than its first 6 and last 4 digits.

use cardwire_security::{
    ClearPinBlock, DesKey, Field62Layout, FixedBytes, MacAlgorithm, Pan, Pin, PinBlockFormat,
    SecurityControl, SecurityError, WorkingKeys, compute_mac, encrypt_pin,
};

const KEY_HEX: &str = "0123456789ABCDEFFEDCBA9876543210";
const PAN: &str = "6225880112345678";
const PIN: &str = "907142";

fn assert_clean(text: &str, secrets: &[&str]) {
    let upper = text.to_uppercase();
    for s in secrets {
        assert!(!upper.contains(&s.to_uppercase()), "{text:?} leaks {s:?}");
    }
}

#[test]
fn keys_print_length_and_kcv_only() -> Result<(), SecurityError> {
    let key = DesKey::from_hex(KEY_HEX)?;
    let text = format!("{key:?} {:?} {}", key.kcv(), key.kcv());
    assert_eq!(format!("{key:?}"), "DesKey(16 bytes, kcv 08D7B4FB)");
    assert_clean(&text, &["0123456789", "FEDCBA98", "89ABCDEF", "76543210"]);
    Ok(())
}

#[test]
fn working_keys_debug_hides_every_key() -> Result<(), SecurityError> {
    let bytes: Vec<u8> = (0u8..=255).collect();
    let keys = WorkingKeys::generate(Field62Layout::Bytes60, &mut FixedBytes::new(&bytes))?;
    let text = format!("{keys:?}");
    for key in [&keys.pik, &keys.mak] {
        let hex = hex::encode_upper(key.expose_secret());
        assert_clean(&text, &[&hex[..8], &hex[8..16], &hex[16..]]);
    }
    Ok(())
}

#[test]
fn pin_pan_and_blocks_are_redacted() -> Result<(), SecurityError> {
    let pik = DesKey::from_hex(KEY_HEX)?;
    let pin = Pin::new(PIN)?;
    let pan = Pan::new(PAN)?;
    let clear = ClearPinBlock::build(
        PinBlockFormat::Iso0,
        &pin,
        Some(&pan),
        &mut FixedBytes::new(&[]),
    )?;
    let encrypted = clear.encrypt(&pik);
    let clear_hex = hex::encode_upper(clear.expose_secret());
    let enc_hex = hex::encode_upper(encrypted.as_bytes());
    let text = format!("{pin:?} {pan:?} {pan} {clear:?} {encrypted:?}");
    assert_eq!(format!("{pan}"), "622588******5678");
    assert_eq!(format!("{pin:?}"), "Pin(<redacted>)");
    assert_eq!(format!("{clear:?}"), "ClearPinBlock(<redacted>)");
    assert_eq!(format!("{encrypted:?}"), "EncryptedPinBlock(<redacted>)");
    assert_clean(
        &text,
        &[
            PIN,
            "011234",
            PAN,
            &clear_hex[..8],
            &clear_hex[8..],
            &enc_hex[..8],
            &enc_hex[8..],
        ],
    );
    Ok(())
}

#[test]
fn errors_never_echo_secrets() -> Result<(), SecurityError> {
    let mut messages = Vec::new();
    let mut push = |e: Option<SecurityError>| {
        if let Some(e) = e {
            messages.push(format!("{e} {e:?}"));
        }
    };
    push(DesKey::from_hex("0123456789ABCDEZ").err());
    push(DesKey::from_hex("0123456789ABCDEF01").err());
    push(DesKey::from_hex("0123456789ABCDE").err());
    push(Pin::new("90714x").err());
    push(Pin::new("9071429071429").err());
    push(Pan::new("62258801123456x8").err());
    let pik = DesKey::from_hex(KEY_HEX)?;
    let pan = Pan::new(PAN)?;
    let block = encrypt_pin(
        &pik,
        PinBlockFormat::Iso0,
        &Pin::new(PIN)?,
        Some(&pan),
        &mut FixedBytes::new(&[]),
    )?;
    let wrong = DesKey::from_hex("1111111111111111")?;
    push(
        block
            .decrypt(&wrong)
            .extract_pin(PinBlockFormat::Iso0, Some(&pan))
            .err(),
    );
    push(
        block
            .decrypt(&pik)
            .extract_pin(PinBlockFormat::Iso0, Some(&Pan::new("6225880112349998")?))
            .err(),
    );
    let mac = compute_mac(MacAlgorithm::X919, &pik, b"mab")?;
    push(cardwire_security::verify_mac(MacAlgorithm::X919, &pik, b"mab!", &mac).err());
    push("2900000000000000".parse::<SecurityControl>().err());
    assert!(
        messages.len() >= 10,
        "every case produced an error: {messages:?}"
    );
    let joined = messages.join("\n");
    assert_clean(
        &joined,
        &[
            "0123456789",
            "89ABCDEF",
            "FEDCBA98",
            PIN,
            "90714",
            "0112345",
            "1234567",
            "11111111",
        ],
    );
    Ok(())
}
