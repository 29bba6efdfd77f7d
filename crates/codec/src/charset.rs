//! Character classes for field validation, as one 256-entry table, plus
//! the EBCDIC (code page 037) mapping for printable ASCII.

use crate::spec::FieldKind;

const DIGIT: u8 = 1;
const ALPHA: u8 = 2;
const SPACE: u8 = 4;
const SPECIAL: u8 = 8;
const HIGH: u8 = 16;
const TRACK_SEP: u8 = 32;
const HEX_UPPER: u8 = 64;

const fn build() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_digit() {
            c |= DIGIT | HEX_UPPER;
        } else if b.is_ascii_alphabetic() {
            c |= ALPHA;
            if b >= b'A' && b <= b'F' {
                c |= HEX_UPPER;
            }
        } else if b == b' ' {
            c |= SPACE;
        } else if b > 0x20 && b < 0x7f {
            c |= SPECIAL;
        } else if b >= 0x80 {
            c |= HIGH;
        }
        if b == b'=' || b == b'D' {
            c |= TRACK_SEP;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CLASS: [u8; 256] = build();

/// The class mask a field kind accepts (for `x+n`, the digits after the sign).
pub(crate) fn mask(kind: FieldKind) -> u8 {
    match kind {
        FieldKind::N | FieldKind::XN => DIGIT,
        FieldKind::A => ALPHA | SPACE,
        FieldKind::An => ALPHA | DIGIT | SPACE,
        FieldKind::As => ALPHA | SPACE | SPECIAL,
        FieldKind::Ns => DIGIT | SPACE | SPECIAL,
        FieldKind::Ans => ALPHA | DIGIT | SPACE | SPECIAL | HIGH,
        FieldKind::Z => DIGIT | TRACK_SEP,
        FieldKind::B => 0xff,
    }
}

/// What a field kind expects, for error messages.
pub(crate) fn expected(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::N => "a digit",
        FieldKind::XN => "a digit after the C/D sign",
        FieldKind::A => "a letter or space",
        FieldKind::An => "a letter, digit or space",
        FieldKind::As => "a letter, space or special character",
        FieldKind::Ns => "a digit, space or special character",
        FieldKind::Ans => "a printable character",
        FieldKind::Z => "a digit or track separator (= or D)",
        FieldKind::B => "any byte",
    }
}

/// Index of the first byte not in `mask`.
#[inline]
pub(crate) fn find_invalid(bytes: &[u8], mask: u8) -> Option<usize> {
    bytes.iter().position(|&b| CLASS[b as usize] & mask == 0)
}

/// Index of the first byte that is not an uppercase hex digit.
#[inline]
pub(crate) fn find_non_hex(bytes: &[u8]) -> Option<usize> {
    find_invalid(bytes, HEX_UPPER)
}

/// Whether `b` belongs to `mask`.
#[inline]
pub(crate) fn is(b: u8, mask: u8) -> bool {
    CLASS[b as usize] & mask != 0
}

const fn ebcdic_tables() -> ([u8; 256], [u8; 256]) {
    // (ASCII, EBCDIC 037) pairs for the printable ASCII range.
    const PAIRS: [(u8, u8); 95] = [
        (b' ', 0x40),
        (b'!', 0x5A),
        (b'"', 0x7F),
        (b'#', 0x7B),
        (b'$', 0x5B),
        (b'%', 0x6C),
        (b'&', 0x50),
        (b'\'', 0x7D),
        (b'(', 0x4D),
        (b')', 0x5D),
        (b'*', 0x5C),
        (b'+', 0x4E),
        (b',', 0x6B),
        (b'-', 0x60),
        (b'.', 0x4B),
        (b'/', 0x61),
        (b'0', 0xF0),
        (b'1', 0xF1),
        (b'2', 0xF2),
        (b'3', 0xF3),
        (b'4', 0xF4),
        (b'5', 0xF5),
        (b'6', 0xF6),
        (b'7', 0xF7),
        (b'8', 0xF8),
        (b'9', 0xF9),
        (b':', 0x7A),
        (b';', 0x5E),
        (b'<', 0x4C),
        (b'=', 0x7E),
        (b'>', 0x6E),
        (b'?', 0x6F),
        (b'@', 0x7C),
        (b'A', 0xC1),
        (b'B', 0xC2),
        (b'C', 0xC3),
        (b'D', 0xC4),
        (b'E', 0xC5),
        (b'F', 0xC6),
        (b'G', 0xC7),
        (b'H', 0xC8),
        (b'I', 0xC9),
        (b'J', 0xD1),
        (b'K', 0xD2),
        (b'L', 0xD3),
        (b'M', 0xD4),
        (b'N', 0xD5),
        (b'O', 0xD6),
        (b'P', 0xD7),
        (b'Q', 0xD8),
        (b'R', 0xD9),
        (b'S', 0xE2),
        (b'T', 0xE3),
        (b'U', 0xE4),
        (b'V', 0xE5),
        (b'W', 0xE6),
        (b'X', 0xE7),
        (b'Y', 0xE8),
        (b'Z', 0xE9),
        (b'[', 0xBA),
        (b'\\', 0xE0),
        (b']', 0xBB),
        (b'^', 0xB0),
        (b'_', 0x6D),
        (b'`', 0x79),
        (b'a', 0x81),
        (b'b', 0x82),
        (b'c', 0x83),
        (b'd', 0x84),
        (b'e', 0x85),
        (b'f', 0x86),
        (b'g', 0x87),
        (b'h', 0x88),
        (b'i', 0x89),
        (b'j', 0x91),
        (b'k', 0x92),
        (b'l', 0x93),
        (b'm', 0x94),
        (b'n', 0x95),
        (b'o', 0x96),
        (b'p', 0x97),
        (b'q', 0x98),
        (b'r', 0x99),
        (b's', 0xA2),
        (b't', 0xA3),
        (b'u', 0xA4),
        (b'v', 0xA5),
        (b'w', 0xA6),
        (b'x', 0xA7),
        (b'y', 0xA8),
        (b'z', 0xA9),
        (b'{', 0xC0),
        (b'|', 0x4F),
        (b'}', 0xD0),
        (b'~', 0xA1),
    ];
    let mut to_ascii = [0u8; 256];
    let mut to_ebcdic = [0u8; 256];
    let mut i = 0;
    while i < PAIRS.len() {
        let (a, e) = PAIRS[i];
        to_ascii[e as usize] = a;
        to_ebcdic[a as usize] = e;
        i += 1;
    }
    (to_ascii, to_ebcdic)
}

static EBCDIC: ([u8; 256], [u8; 256]) = ebcdic_tables();

/// The ASCII character for an EBCDIC byte; 0 when it has none here.
#[inline]
pub(crate) fn ebcdic_to_ascii(b: u8) -> u8 {
    EBCDIC.0[b as usize]
}

/// The EBCDIC byte for a printable ASCII character; 0 when it has none.
#[inline]
pub(crate) fn ascii_to_ebcdic(b: u8) -> u8 {
    EBCDIC.1[b as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ebcdic_round_trips_printable_ascii() {
        for a in 0x20u8..0x7f {
            let e = ascii_to_ebcdic(a);
            assert_ne!(e, 0, "{a:#x}");
            assert_eq!(ebcdic_to_ascii(e), a);
        }
    }

    #[test]
    fn classes_match_iso_types() {
        assert_eq!(find_invalid(b"0123456789", mask(FieldKind::N)), None);
        assert_eq!(find_invalid(b"12A4", mask(FieldKind::N)), Some(2));
        assert_eq!(find_invalid(b"AB 1", mask(FieldKind::A)), Some(3));
        assert_eq!(find_invalid(b"4761=2512", mask(FieldKind::Z)), None);
        assert_eq!(find_invalid(b"ab\x01", mask(FieldKind::Ans)), Some(2));
        assert_eq!(find_non_hex(b"09AFa"), Some(4));
    }
}
