//! What can still be read of a frame that does not decode.
//!
//! A host must not meet a broken request with silence: the terminal would
//! wait out its timeout and reverse. When the MTI can be read, the host
//! answers the response MTI with a format error, echoing the fields that
//! came before the broken one (STAN 11 and terminal 41, where they are
//! intact). This module rebuilds such a frame from the broken one, using
//! only the codec's public decoder:
//!
//! ```text
//!  [TPDU+header] MTI  bitmap(s)            data of fields 2..F-1 | field F (broken) ...
//!  [TPDU+header] MTI  bitmap of 2..F-1     data of fields 2..F-1 | (cut)
//! ```
//!
//! The fields before the broken field F sit at the same place in both, so
//! the decoder reads them as it read them in the broken frame; the cut
//! falls where it reports the bytes that follow them.

use cardwire_codec::spec::{BitmapEncoding, MtiEncoding};
use cardwire_codec::{
    DecodeError, DecodeErrorKind, MessageRef, Mti, MtiClass, MtiVersion, Spec, decode,
};

/// The readable part of a broken frame.
#[derive(Debug)]
pub enum Salvage {
    /// A frame that decodes: the broken frame's header, MTI and the
    /// fields before the broken one (possibly none).
    Readable(Vec<u8>),
    /// Not even the MTI can be read.
    Unreadable,
}

/// The readable part of `frame`, which failed to decode with `err`.
pub fn salvage(spec: &Spec, frame: &[u8], err: &DecodeError) -> Salvage {
    let at = spec.header_len();
    let Some(mti) = read_mti(spec, frame, at) else {
        return Salvage::Unreadable;
    };
    let bitmap_at = at + mti.1;
    // The first field that cannot be trusted; only primary-bitmap fields
    // are kept (STAN and terminal id are there).
    let first_bad = match (&err.kind, err.field) {
        (DecodeErrorKind::UndefinedField(n), _) => u16::from(*n),
        (DecodeErrorKind::TrailingBytes(_), _) => 65,
        (_, Some(n)) => u16::from(n.get()),
        (_, None) => 2,
    }
    .min(65);
    let rebuilt = rebuild(spec, frame, bitmap_at, first_bad)
        .or_else(|| rebuild(spec, frame, bitmap_at, 2))
        .filter(|f| readable(spec, f).is_some());
    match rebuilt {
        Some(f) => match readable(spec, &f) {
            Some(end) => Salvage::Readable(f[..end].to_vec()),
            None => Salvage::Unreadable,
        },
        None => Salvage::Unreadable,
    }
}

/// Where a decodable prefix of `f` ends: all of it, or up to the bytes
/// the decoder calls trailing.
fn readable(spec: &Spec, f: &[u8]) -> Option<usize> {
    match decode(spec, f) {
        Ok(_) => Some(f.len()),
        Err(e) if matches!(e.kind, DecodeErrorKind::TrailingBytes(_)) => {
            let end = e.offset.min(f.len());
            decode(spec, &f[..end]).ok().map(|_: MessageRef<'_>| end)
        }
        Err(_) => None,
    }
}

/// The MTI at `at`, and its width on the wire.
fn read_mti(spec: &Spec, frame: &[u8], at: usize) -> Option<(Mti, usize)> {
    let digits: [u8; 4] = match spec.mti {
        MtiEncoding::Bcd => {
            let b = frame.get(at..at + 2)?;
            [b[0] >> 4, b[0] & 0x0F, b[1] >> 4, b[1] & 0x0F]
                .map(|d| if d <= 9 { b'0' + d } else { b'x' })
        }
        MtiEncoding::Ebcdic => {
            let b: [u8; 4] = frame.get(at..at + 4)?.try_into().ok()?;
            b.map(|c| {
                if (0xF0..=0xF9).contains(&c) {
                    c - 0xF0 + b'0'
                } else {
                    b'x'
                }
            })
        }
        // Ascii, and any encoding added later that is four bytes wide.
        _ => frame.get(at..at + 4)?.try_into().ok()?,
    };
    let width = if spec.mti == MtiEncoding::Bcd { 2 } else { 4 };
    // Four digits ISO 8583 gives no meaning (a reserved version or class)
    // are not an MTI: bytes from another protocol, not a broken request.
    let mti = Mti::from_digits(digits).ok()?;
    if matches!(mti.version(), MtiVersion::Reserved(_))
        || matches!(mti.class(), MtiClass::Reserved(_))
    {
        return None;
    }
    Some((mti, width))
}

/// `frame` with a primary bitmap of only fields `2..first_bad`, no
/// secondary or tertiary bitmap, and the data that followed the bitmaps.
fn rebuild(spec: &Spec, frame: &[u8], bitmap_at: usize, first_bad: u16) -> Option<Vec<u8>> {
    let hex = spec.bitmap == BitmapEncoding::Hex;
    let width = if hex { 16 } else { 8 };
    let read = |at: usize| -> Option<u64> {
        let b = frame.get(at..at + width)?;
        if hex {
            let s = core::str::from_utf8(b).ok()?;
            if !s
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
            {
                return None;
            }
            u64::from_str_radix(s, 16).ok()
        } else {
            Some(u64::from_be_bytes(b.try_into().ok()?))
        }
    };
    let keep = |bits: u64| -> u64 {
        // Bit n (1-based) is 1 << (64 - n); keep bits 2..first_bad.
        let mut mask = 0u64;
        for n in 2..first_bad.min(65) {
            mask |= 1 << (64 - n);
        }
        bits & mask
    };
    let (primary, data_at) = if first_bad <= 2 {
        (0, None)
    } else {
        let primary = read(bitmap_at)?;
        let mut data_at = bitmap_at + width;
        if primary & (1 << 63) != 0 {
            let secondary = read(data_at)?;
            data_at += width;
            if spec.tertiary_bitmap && secondary & (1 << 63) != 0 {
                read(data_at)?;
                data_at += width;
            }
        }
        (keep(primary), Some(data_at))
    };
    let mut out = frame.get(..bitmap_at)?.to_vec();
    if hex {
        out.extend_from_slice(format!("{primary:016X}").as_bytes());
    } else {
        out.extend_from_slice(&primary.to_be_bytes());
    }
    if let Some(at) = data_at {
        out.extend_from_slice(frame.get(at..)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardwire_codec::{Message, encode_to_vec, specs};

    fn sale(spec: &Spec) -> Vec<u8> {
        let mut m = Message::new("0200".parse().expect("mti"));
        m.set(3, "000000");
        m.set_amount(100);
        m.set_stan(77);
        m.set_terminal_id("12345678");
        m.set_merchant_id("123456789012345");
        m.set(49, "156");
        if spec.header.tpdu {
            m.tpdu = Some(bytes::Bytes::from_static(&[0x60, 0, 3, 0, 0]));
            m.header = Some(bytes::Bytes::from(vec![0x60; spec.header.length]));
        }
        encode_to_vec(spec, &m).expect("encodes")
    }

    #[test]
    fn fields_before_a_broken_one_are_read_on_every_spec() {
        for name in ["cups", "iso87ascii", "iso87binary"] {
            let spec = specs::builtin(name).expect("spec");
            let mut f = sale(spec);
            // Break field 49 (the last one): a letter in a numeric field
            // for ASCII, a non-BCD nibble for BCD.
            let last = f.len() - 1;
            f[last] = 0xEE;
            let err = decode(spec, &f).expect_err("broken");
            let Salvage::Readable(r) = salvage(spec, &f, &err) else {
                panic!("{name}: nothing readable ({err})");
            };
            let m = decode(spec, &r).expect("salvaged frame decodes");
            assert_eq!(m.mti().as_str(), "0200", "{name}");
            assert_eq!(
                m.value(11).map(|v| v.to_string()).as_deref(),
                Some("000077")
            );
            assert_eq!(
                m.value(41).map(|v| v.to_string()).as_deref(),
                Some("12345678")
            );
            assert!(!m.has(49), "{name}");
        }
    }

    #[test]
    fn a_frame_shorter_than_its_mti_is_unreadable() {
        let spec = specs::cups();
        let f = [0x60, 0, 3, 0, 0, 0x60];
        let err = decode(spec, &f).expect_err("broken");
        assert!(matches!(salvage(spec, &f, &err), Salvage::Unreadable));
    }

    #[test]
    fn digits_iso_8583_gives_no_meaning_are_not_an_mti() {
        // "6000": version 6 is reserved (BCD MTI of iso87binary).
        let spec = specs::iso87binary();
        let f = [0x60, 0x00, 0x03];
        let err = decode(spec, &f).expect_err("broken");
        assert!(matches!(salvage(spec, &f, &err), Salvage::Unreadable));
    }

    #[test]
    fn salvage_never_panics_on_prefixes_of_a_frame() {
        for name in ["cups", "iso87ascii", "iso87binary"] {
            let spec = specs::builtin(name).expect("spec");
            let f = sale(spec);
            for cut in 0..f.len() {
                let part = &f[..cut];
                if let Err(e) = decode(spec, part) {
                    let _ = salvage(spec, part, &e);
                }
            }
        }
    }
}
