//! What values a field accepts, as data: the characters and the lengths
//! that survive encode then decode unchanged.
//!
//! Generators build on these rules: the `arbitrary` feature
//! ([`crate::arbitrary`]) and the crate's property tests. The rules hold
//! for a spec that passes [`Spec::validate`](crate::Spec::validate).

use crate::charset;
use crate::spec::{DataEncoding, FieldKind, FieldSpec, Length, LengthUnit};

/// The signs an `x+n` value starts with: `C` (credit) and `D` (debit).
pub const SIGNS: &[u8; 2] = b"CD";

/// The logical lengths a field's value may have: every `min + k * step`
/// up to `max`, in characters (the `x+n` sign included) or bytes (`b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueLengths {
    /// The shortest value.
    pub min: usize,
    /// The longest value.
    pub max: usize,
    /// Distance between two valid lengths: 2 for BCD digits counted in
    /// bytes (a byte-counted prefix cannot express an odd digit count),
    /// else 1.
    pub step: usize,
}

impl ValueLengths {
    /// How many lengths are valid.
    pub fn count(&self) -> usize {
        (self.max - self.min) / self.step + 1
    }

    /// The `i`-th valid length, counting from `min`, if there are that many.
    pub fn nth(&self, i: usize) -> Option<usize> {
        let len = self.min.checked_add(i.checked_mul(self.step)?)?;
        (len <= self.max).then_some(len)
    }

    /// Whether `len` is a valid length.
    pub fn contains(&self, len: usize) -> bool {
        (self.min..=self.max).contains(&len) && (len - self.min) % self.step == 0
    }
}

impl FieldSpec {
    /// Whether a value of this field is an `x+n` amount, whose first
    /// character is one of [`SIGNS`].
    pub fn has_sign(&self) -> bool {
        self.kind == FieldKind::XN
    }

    /// Whether byte `b` may stand in a value of this field (for `x+n`,
    /// after the sign) and reads back unchanged after encode and decode.
    ///
    /// That is the kind's character set, narrowed by the data encoding:
    /// EBCDIC carries printable ASCII only, and packed BCD carries the
    /// track separator as `D` (an `=` would read back as `D`).
    pub fn accepts_char(&self, b: u8) -> bool {
        match self.encoding {
            DataEncoding::Binary | DataEncoding::Hex => true,
            DataEncoding::Bcd => match self.kind {
                FieldKind::Z => b.is_ascii_digit() || b == b'D',
                _ => b.is_ascii_digit(),
            },
            DataEncoding::Ascii => self.kind.class().accepts(b),
            DataEncoding::Ebcdic => {
                self.kind.class().accepts(b) && charset::ascii_to_ebcdic(b) != 0
            }
        }
    }

    /// Every byte [`FieldSpec::accepts_char`] accepts, in ascending order.
    ///
    /// ```
    /// use cardwire_codec::{FieldNo, specs};
    /// let pan = specs::iso87ascii().field(FieldNo::new(2).unwrap()).unwrap();
    /// assert_eq!(pan.alphabet(), b"0123456789");
    /// ```
    pub fn alphabet(&self) -> Vec<u8> {
        (0..=u8::MAX).filter(|&b| self.accepts_char(b)).collect()
    }

    /// The lengths a value of this field may have.
    ///
    /// ```
    /// use cardwire_codec::{FieldNo, specs};
    /// let pan = specs::iso87ascii().field(FieldNo::new(2).unwrap()).unwrap();
    /// let lengths = pan.value_lengths();
    /// assert_eq!((lengths.min, lengths.max, lengths.step), (0, 19, 1));
    /// ```
    pub fn value_lengths(&self) -> ValueLengths {
        let sign = usize::from(self.has_sign());
        let step = if self.unit == LengthUnit::Bytes && self.encoding == DataEncoding::Bcd {
            2
        } else {
            1
        };
        match self.length {
            Length::Fixed(n) => ValueLengths {
                min: usize::from(n) + sign,
                max: usize::from(n) + sign,
                step,
            },
            Length::Variable { max, .. } => ValueLengths {
                min: sign,
                max: usize::from(max) / step * step + sign,
                step,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::FieldSpec;
    use crate::{FieldNo, Message, Spec, decode, encode_to_vec, specs};

    /// A message for `spec` holding only field `n` = `v`.
    fn only(spec: &Spec, n: FieldNo, v: Vec<u8>) -> Message {
        let mut m = Message::new("0200".parse().expect("MTI"));
        m.tpdu = spec.header.tpdu.then(|| vec![0x60, 0, 0, 0, 0].into());
        m.header = (spec.header.length > 0).then(|| vec![0; spec.header.length].into());
        m.set_no(n, v);
        m
    }

    fn round_trips(spec: &Spec, m: &Message) -> bool {
        encode_to_vec(spec, m)
            .ok()
            .and_then(|w| decode(spec, &w).ok().map(|d| d.to_message()))
            .as_ref()
            == Some(m)
    }

    /// A value of the field's shortest non-empty length, `b` at the
    /// position a character (not the sign) goes.
    fn with_char(fs: &FieldSpec, b: u8) -> Vec<u8> {
        let lengths = fs.value_lengths();
        let len = (0..lengths.count())
            .filter_map(|i| lengths.nth(i))
            .find(|&l| l > usize::from(fs.has_sign()))
            .unwrap_or(lengths.max);
        let filler = fs.alphabet()[0];
        let mut v = vec![filler; len];
        if fs.has_sign() {
            v[0] = b'C';
        }
        if let Some(last) = v.last_mut() {
            *last = b;
        }
        v
    }

    #[test]
    fn alphabet_is_exactly_what_round_trips_in_every_built_in_field() {
        for name in specs::NAMES {
            let spec: &Spec = specs::builtin(name).expect("built-in");
            for (n, fs) in spec.fields() {
                for b in 0..=u8::MAX {
                    let m = only(spec, n, with_char(fs, b));
                    assert_eq!(
                        round_trips(spec, &m),
                        fs.accepts_char(b),
                        "{name} field {n}: byte 0x{b:02X}"
                    );
                }
            }
        }
    }

    #[test]
    fn value_lengths_are_exactly_what_encodes_in_every_built_in_field() {
        for name in specs::NAMES {
            let spec: &Spec = specs::builtin(name).expect("built-in");
            for (n, fs) in spec.fields() {
                let lengths = fs.value_lengths();
                let filler = fs.alphabet()[0];
                for len in 0..=lengths.max + 2 {
                    let mut v = vec![filler; len];
                    if fs.has_sign() {
                        if let Some(s) = v.first_mut() {
                            *s = b'D';
                        }
                    }
                    let m = only(spec, n, v);
                    assert_eq!(
                        round_trips(spec, &m),
                        lengths.contains(len),
                        "{name} field {n}: length {len} of {lengths:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn nth_walks_the_valid_lengths() {
        let l = super::ValueLengths {
            min: 1,
            max: 8,
            step: 2,
        };
        assert_eq!(l.count(), 4);
        assert_eq!(
            (0..6).map(|i| l.nth(i)).collect::<Vec<_>>(),
            [Some(1), Some(3), Some(5), Some(7), None, None]
        );
        assert!(l.contains(5) && !l.contains(4) && !l.contains(9));
    }
}
