//! Character classes and the EBCDIC code page: which bytes a field's
//! type allows, checked a 16-byte block at a time.
//!
//! Each class is a few range comparisons per byte, with no table, so that
//! [`Class::all`] over a block of 16 compiles to vector instructions; the
//! decoder and the encoder check every text value through it.

/// A set of bytes a field's type allows (ISO 8583 `n`, `a`, `an`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// `n`: `0`-`9`.
    Digit,
    /// `a`: letters and space.
    Alpha,
    /// `an`: letters, digits and space.
    AlphaNum,
    /// `as`: letters, space and printable specials.
    AlphaSpecial,
    /// `ns`: digits, space and printable specials.
    NumSpecial,
    /// `ans`: any printable ASCII character, and bytes 0x80-0xFF for
    /// national character sets such as GBK.
    Printable,
    /// `z`: digits and the track separators `=` and `D`.
    Track,
    /// Uppercase hex digits (hex text and hex bitmaps).
    HexUpper,
    /// Any byte (`b`).
    Any,
}

#[inline(always)]
fn digit(b: u8) -> bool {
    b.wrapping_sub(b'0') < 10
}

#[inline(always)]
fn letter(b: u8) -> bool {
    (b | 0x20).wrapping_sub(b'a') < 26
}

#[inline(always)]
fn ascii_printable(b: u8) -> bool {
    b.wrapping_sub(0x20) < 0x5F
}

impl Class {
    /// Whether `b` is in the class.
    #[inline(always)]
    pub(crate) fn accepts(self, b: u8) -> bool {
        match self {
            Class::Digit => digit(b),
            Class::Alpha => letter(b) | (b == b' '),
            Class::AlphaNum => letter(b) | digit(b) | (b == b' '),
            Class::AlphaSpecial => ascii_printable(b) & !digit(b),
            Class::NumSpecial => ascii_printable(b) & !letter(b),
            Class::Printable => (b >= 0x20) & (b != 0x7F),
            Class::Track => digit(b) | (b == b'=') | (b == b'D'),
            Class::HexUpper => digit(b) | (b.wrapping_sub(b'A') < 6),
            Class::Any => true,
        }
    }

    /// Whether every byte of `data` is in the class. A value shorter than
    /// a block is checked byte by byte: there is nothing around it to
    /// read a whole block from.
    #[inline]
    pub(crate) fn all(self, data: &[u8]) -> bool {
        if data.len() < LANES {
            return data.iter().all(|&b| self.accepts(b));
        }
        self.all_in(data, 0, data.len())
    }

    /// Whether every byte of `buf[start..end]` is in the class, 16 bytes a
    /// step without an early exit inside a step, so that each step is a
    /// handful of vector instructions. The last step reads the 16 bytes
    /// from its start when `buf` has them (lanes past `end` do not count),
    /// or a copy.
    #[inline(always)]
    pub(crate) fn all_in(self, buf: &[u8], start: usize, end: usize) -> bool {
        match self {
            Class::Any => start <= end && end <= buf.len(),
            Class::Digit => all_by(buf, start, end, digit),
            Class::Alpha => all_by(buf, start, end, |b| Class::Alpha.accepts(b)),
            Class::AlphaNum => all_by(buf, start, end, |b| Class::AlphaNum.accepts(b)),
            Class::AlphaSpecial => all_by(buf, start, end, |b| Class::AlphaSpecial.accepts(b)),
            Class::NumSpecial => all_by(buf, start, end, |b| Class::NumSpecial.accepts(b)),
            Class::Printable => all_by(buf, start, end, |b| Class::Printable.accepts(b)),
            Class::Track => all_by(buf, start, end, |b| Class::Track.accepts(b)),
            Class::HexUpper => all_by(buf, start, end, |b| Class::HexUpper.accepts(b)),
        }
    }

    /// The position of the first byte of `data` outside the class.
    pub(crate) fn first_bad(self, data: &[u8]) -> Option<usize> {
        data.iter().position(|&b| !self.accepts(b))
    }
}

const LANES: usize = 16;

/// `KEEP[16 - n..32 - n]` is `n` lanes true, then false: the lanes of a
/// last step that are inside the run.
const KEEP: [bool; 2 * LANES] = {
    let mut k = [false; 2 * LANES];
    let mut i = 0;
    while i < LANES {
        k[i] = true;
        i += 1;
    }
    k
};

/// Whether `good` holds for every byte of `block`, or every lane `keep`
/// leaves in: one pass over fixed-size arrays, with no early exit.
#[inline(always)]
fn block_ok(block: &[u8; LANES], keep: &[bool; LANES], good: impl Fn(u8) -> bool) -> bool {
    let mut ok = true;
    for i in 0..LANES {
        ok &= good(block[i]) | !keep[i];
    }
    ok
}

#[inline(always)]
fn all_by(buf: &[u8], start: usize, end: usize, good: impl Fn(u8) -> bool + Copy) -> bool {
    let Some(data) = buf.get(start..end) else {
        return false;
    };
    let all = &[true; LANES];
    let mut blocks = data.chunks_exact(LANES);
    for block in &mut blocks {
        match <&[u8; LANES]>::try_from(block) {
            Ok(block) if block_ok(block, all, good) => {}
            _ => return false,
        }
    }
    let rest = blocks.remainder();
    if rest.is_empty() {
        return true;
    }
    let n = rest.len();
    let from = end - n;
    let keep: &[bool; LANES] = match KEEP
        .get(LANES - n..2 * LANES - n)
        .map(<&[bool; LANES]>::try_from)
    {
        Some(Ok(k)) => k,
        _ => return false,
    };
    match buf.get(from..from + LANES).map(<&[u8; LANES]>::try_from) {
        Some(Ok(window)) => block_ok(window, keep, good),
        _ => {
            let mut copy = [0u8; LANES];
            copy[..n].copy_from_slice(rest);
            block_ok(&copy, keep, good)
        }
    }
}

/// EBCDIC (code page 037) of the printable ASCII characters 0x20-0x7E, in
/// order.
const EBCDIC_OF_PRINTABLE: [u8; 95] = [
    0x40, 0x5A, 0x7F, 0x7B, 0x5B, 0x6C, 0x50, 0x7D, 0x4D, 0x5D, 0x5C, 0x4E, 0x6B, 0x60, 0x4B, 0x61,
    0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0x7A, 0x5E, 0x4C, 0x7E, 0x6E, 0x6F,
    0x7C, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6,
    0xD7, 0xD8, 0xD9, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xBA, 0xE0, 0xBB, 0xB0, 0x6D,
    0x79, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96,
    0x97, 0x98, 0x99, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xC0, 0x4F, 0xD0, 0xA1,
];

const fn ebcdic_tables() -> ([u8; 256], [u8; 256]) {
    let mut to_ascii = [0u8; 256];
    let mut to_ebcdic = [0u8; 256];
    let mut i = 0;
    while i < EBCDIC_OF_PRINTABLE.len() {
        let (a, e) = (0x20 + i as u8, EBCDIC_OF_PRINTABLE[i]);
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
    fn classes_hold_exactly_the_iso_character_sets() {
        let set = |c: Class| (0u8..=255).filter(|&b| c.accepts(b)).collect::<Vec<u8>>();
        let range = |r: core::ops::RangeInclusive<u8>| r.collect::<Vec<u8>>();
        let digits = range(b'0'..=b'9');
        let mut letters = range(b'A'..=b'Z');
        letters.extend(b'a'..=b'z');
        let specials: Vec<u8> = (0x21u8..0x7f)
            .filter(|b| !b.is_ascii_alphanumeric())
            .collect();
        let sorted = |mut v: Vec<u8>| {
            v.sort_unstable();
            v
        };
        assert_eq!(set(Class::Digit), digits);
        assert_eq!(
            set(Class::Alpha),
            sorted([letters.clone(), vec![b' ']].concat())
        );
        assert_eq!(
            set(Class::AlphaNum),
            sorted([letters.clone(), digits.clone(), vec![b' ']].concat())
        );
        assert_eq!(
            set(Class::AlphaSpecial),
            sorted([letters.clone(), specials.clone(), vec![b' ']].concat())
        );
        assert_eq!(
            set(Class::NumSpecial),
            sorted([digits.clone(), specials.clone(), vec![b' ']].concat())
        );
        assert_eq!(
            set(Class::Printable),
            sorted([range(0x20..=0x7e), range(0x80..=0xff)].concat())
        );
        assert_eq!(
            set(Class::Track),
            sorted([digits.clone(), vec![b'=', b'D']].concat())
        );
        assert_eq!(
            set(Class::HexUpper),
            sorted([digits, range(b'A'..=b'F')].concat())
        );
        assert_eq!(set(Class::Any).len(), 256);
    }

    #[test]
    fn a_block_check_finds_a_bad_byte_at_any_position() {
        let classes = [
            Class::Digit,
            Class::Alpha,
            Class::AlphaNum,
            Class::AlphaSpecial,
            Class::NumSpecial,
            Class::Printable,
            Class::Track,
            Class::HexUpper,
        ];
        for c in classes {
            let good = (0u8..=255).find(|&b| c.accepts(b)).unwrap_or(b'0');
            for len in 0..40 {
                let data = vec![good; len];
                assert!(c.all(&data), "{c:?} len {len}");
                for at in 0..len {
                    for bad in (0u8..=255).filter(|&b| !c.accepts(b)) {
                        let mut d = data.clone();
                        d[at] = bad;
                        assert!(!c.all(&d), "{c:?} len {len} bad {bad:#x} at {at}");
                        assert_eq!(c.first_bad(&d), Some(at));
                    }
                }
            }
        }
    }
}
