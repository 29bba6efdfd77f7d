//! Property tests: round trips and tamper detection.

use cardwire_security::{
    ClearPinBlock, DesKey, Field62Layout, FixedBytes, MacAlgorithm, Pan, Pin, PinBlockFormat,
    SecurityError, WorkingKeys, compute_mac, verify_mac,
};
use proptest::prelude::*;

fn any_key() -> impl Strategy<Value = DesKey> {
    prop_oneof![
        any::<[u8; 8]>().prop_map(DesKey::single),
        any::<[u8; 16]>().prop_map(DesKey::double),
        any::<[u8; 24]>().prop_map(DesKey::triple),
    ]
}

fn any_format() -> impl Strategy<Value = PinBlockFormat> {
    prop_oneof![
        Just(PinBlockFormat::Iso0),
        Just(PinBlockFormat::Iso1),
        Just(PinBlockFormat::Iso3),
    ]
}

fn any_layout() -> impl Strategy<Value = Field62Layout> {
    prop_oneof![
        Just(Field62Layout::Bytes24),
        Just(Field62Layout::Bytes40),
        Just(Field62Layout::Bytes60),
    ]
}

fn any_algorithm() -> impl Strategy<Value = MacAlgorithm> {
    prop_oneof![
        Just(MacAlgorithm::UnionPayEcb),
        Just(MacAlgorithm::X99),
        Just(MacAlgorithm::X919),
    ]
}

proptest! {
    /// Every format, any PIN of 4 to 12 digits, any PAN of 13 to 19 digits,
    /// any key: build, encrypt, decrypt, extract gives the PIN back, and the
    /// block has the format's control nibble.
    #[test]
    fn pin_block_round_trip(
        format in any_format(),
        pin in "[0-9]{4,12}",
        pan in "[0-9]{13,19}",
        key in any_key(),
        fill in proptest::collection::vec(any::<u8>(), 64),
    ) {
        let pin = Pin::new(&pin)?;
        let pan = Pan::new(&pan)?;
        let clear = ClearPinBlock::build(format, &pin, Some(&pan), &mut FixedBytes::new(&fill))?;
        prop_assert_eq!(clear.expose_secret()[0] >> 4, format.control());
        let encrypted = clear.encrypt(&key);
        let back = encrypted.decrypt(&key).extract_pin(format, Some(&pan))?;
        prop_assert!(back.ct_eq(&pin));
        prop_assert_eq!(back.expose_secret(), pin.expose_secret());
    }

    /// Changing any single byte of the MAB changes the MAC (CBC-MACs
    /// always; the ECB MAC keeps 32 bits, so a collision has probability
    /// 2^-32 per case).
    #[test]
    fn mac_detects_any_single_byte_change(
        algo in any_algorithm(),
        key in any_key(),
        mab in proptest::collection::vec(any::<u8>(), 1..300),
        index in any::<prop::sample::Index>(),
        delta in 1u8..,
    ) {
        // X9.19 is defined for 8- and 16-byte keys.
        let key = if algo == MacAlgorithm::X919 && key.len() == 24 {
            DesKey::from_bytes(&key.expose_secret()[..16])?
        } else {
            key
        };
        let mac = compute_mac(algo, &key, &mab)?;
        prop_assert!(verify_mac(algo, &key, &mab, &mac).is_ok());
        let mut tampered = mab.clone();
        let i = index.index(tampered.len());
        tampered[i] ^= delta;
        prop_assert_eq!(
            verify_mac(algo, &key, &tampered, &mac),
            Err(SecurityError::MacMismatch { algorithm: algo.name() })
        );
    }

    /// Host wraps fresh keys, terminal unwraps them: the same keys, for
    /// every layout and every TMK length.
    #[test]
    fn working_keys_wrap_unwrap_round_trip(
        layout in any_layout(),
        tmk in any_key(),
        seed in proptest::collection::vec(any::<u8>(), 48),
    ) {
        let keys = WorkingKeys::generate(layout, &mut FixedBytes::new(&seed))?;
        let field = keys.wrap(&tmk, layout)?;
        prop_assert_eq!(field.len(), layout.bytes());
        let back = WorkingKeys::unwrap(&tmk, &field)?;
        prop_assert_eq!(&back, &keys);
        prop_assert_eq!(back.tdk.is_some(), layout == Field62Layout::Bytes60);
    }
}
