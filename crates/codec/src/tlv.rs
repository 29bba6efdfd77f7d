//! BER-TLV (EMV) data objects, as carried in field 55.
//!
//! ```
//! use cardwire_codec::tlv::{walk, tag_name};
//! let data = [0x9F, 0x26, 0x02, 0xAB, 0xCD, 0x95, 0x01, 0x00];
//! let tags: Vec<u32> = walk(&data).map(|t| t.unwrap().tag).collect();
//! assert_eq!(tags, vec![0x9F26, 0x95]);
//! assert_eq!(tag_name(0x9F26), Some("Application Cryptogram"));
//! ```

use nom::IResult;
use nom::Parser;
use nom::bytes::complete::take;
use nom::number::complete::u8 as byte;

/// One data object, borrowed from its input.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag as an integer (`0x9F26`).
    pub tag: u32,
    /// The tag bytes.
    pub tag_bytes: &'a [u8],
    /// The value.
    pub value: &'a [u8],
    /// Byte offset of the tag in the walked input.
    pub offset: usize,
}

impl<'a> Tlv<'a> {
    /// Whether the object holds other objects.
    pub fn is_constructed(&self) -> bool {
        self.tag_bytes.first().is_some_and(|b| b & 0x20 != 0)
    }

    /// The nested objects of a constructed object.
    pub fn children(&self) -> TlvIter<'a> {
        walk(if self.is_constructed() {
            self.value
        } else {
            &[]
        })
    }

    /// The EMV name of the tag, if known.
    pub fn name(&self) -> Option<&'static str> {
        tag_name(self.tag)
    }

    /// Whether the value is card data that must be masked.
    pub fn is_sensitive(&self) -> bool {
        is_sensitive_tag(self.tag)
    }
}

impl core::fmt::Debug for Tlv<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Tlv({:X}, {} bytes)", self.tag, self.value.len())
    }
}

/// A malformed TLV sequence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlvError {
    /// The input ends inside a tag, length or value.
    #[error("TLV truncated at byte {offset}: {what}")]
    Truncated {
        /// Byte offset of the object.
        offset: usize,
        /// What was being read.
        what: &'static str,
    },
    /// A length form BER does not allow here (indefinite, or over 3 bytes).
    #[error("TLV at byte {offset}: unsupported length byte 0x{byte:02X}")]
    BadLength {
        /// Byte offset of the object.
        offset: usize,
        /// The first length byte.
        byte: u8,
    },
    /// A tag longer than 4 bytes.
    #[error("TLV at byte {offset}: tag longer than 4 bytes")]
    TagTooLong {
        /// Byte offset of the object.
        offset: usize,
    },
}

/// Walks the data objects of `input` in order.
pub fn walk(input: &[u8]) -> TlvIter<'_> {
    TlvIter {
        input,
        pos: 0,
        failed: false,
    }
}

/// Iterator over data objects; stops after the first error.
#[derive(Debug, Clone)]
pub struct TlvIter<'a> {
    input: &'a [u8],
    pos: usize,
    failed: bool,
}

fn tag(input: &[u8]) -> IResult<&[u8], usize> {
    let (rest, first) = byte(input)?;
    if first & 0x1f != 0x1f {
        return Ok((rest, 1));
    }
    let mut n = 1;
    let mut rest = rest;
    loop {
        let (r, b) = byte(rest)?;
        rest = r;
        n += 1;
        if b & 0x80 == 0 || n > 4 {
            return Ok((rest, n));
        }
    }
}

fn length(input: &[u8]) -> IResult<&[u8], Result<usize, u8>> {
    let (rest, first) = byte(input)?;
    match first {
        0..=0x7f => Ok((rest, Ok(usize::from(first)))),
        0x81..=0x83 => {
            let (rest, bytes) = take(usize::from(first & 0x7f)).parse(rest)?;
            Ok((
                rest,
                Ok(bytes.iter().fold(0usize, |a, &b| a << 8 | usize::from(b))),
            ))
        }
        other => Ok((rest, Err(other))),
    }
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Result<Tlv<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        // EMV allows 0x00 padding between objects.
        while self.input.get(self.pos) == Some(&0) {
            self.pos += 1;
        }
        let offset = self.pos;
        let input = self.input.get(offset..)?;
        if input.is_empty() {
            return None;
        }
        let mut fail = |e: TlvError| {
            self.failed = true;
            Some(Err(e))
        };
        let Ok((after_tag, tag_len)) = tag(input) else {
            return fail(TlvError::Truncated {
                offset,
                what: "tag",
            });
        };
        if tag_len > 4 {
            return fail(TlvError::TagTooLong { offset });
        }
        let tag_bytes = &input[..tag_len];
        let len = match length(after_tag) {
            Ok((r, Ok(l))) => (r, l),
            Ok((_, Err(byte))) => return fail(TlvError::BadLength { offset, byte }),
            Err(_) => {
                return fail(TlvError::Truncated {
                    offset,
                    what: "length",
                });
            }
        };
        let Ok((rest, value)) = take::<usize, &[u8], nom::error::Error<&[u8]>>(len.1).parse(len.0)
        else {
            return fail(TlvError::Truncated {
                offset,
                what: "value",
            });
        };
        self.pos = self.input.len() - rest.len();
        Some(Ok(Tlv {
            tag: tag_bytes.iter().fold(0u32, |a, &b| a << 8 | u32::from(b)),
            tag_bytes,
            value,
            offset,
        }))
    }
}

/// Tags whose values are card data (PAN, tracks, cardholder name, expiry).
pub fn is_sensitive_tag(tag: u32) -> bool {
    matches!(
        tag,
        0x5A | 0x56 | 0x57 | 0x5F20 | 0x5F24 | 0x9F0B | 0x9F1F | 0x9F20 | 0x9F6B | 0x99 | 0x5F30
    )
}

/// EMV names of common tags (EMV Book 3 annex A, Book 4).
pub fn tag_name(tag: u32) -> Option<&'static str> {
    Some(match tag {
        0x4F => "Application Identifier (AID)",
        0x50 => "Application Label",
        0x56 => "Track 1 Data",
        0x57 => "Track 2 Equivalent Data",
        0x5A => "Application PAN",
        0x5F20 => "Cardholder Name",
        0x5F24 => "Application Expiration Date",
        0x5F25 => "Application Effective Date",
        0x5F28 => "Issuer Country Code",
        0x5F2A => "Transaction Currency Code",
        0x5F30 => "Service Code",
        0x5F34 => "PAN Sequence Number",
        0x71 => "Issuer Script Template 1",
        0x72 => "Issuer Script Template 2",
        0x82 => "Application Interchange Profile",
        0x84 => "Dedicated File Name",
        0x8A => "Authorisation Response Code",
        0x91 => "Issuer Authentication Data",
        0x95 => "Terminal Verification Results",
        0x99 => "Transaction PIN Data",
        0x9A => "Transaction Date",
        0x9B => "Transaction Status Information",
        0x9C => "Transaction Type",
        0x9F02 => "Amount, Authorised",
        0x9F03 => "Amount, Other",
        0x9F06 => "Application Identifier (Terminal)",
        0x9F07 => "Application Usage Control",
        0x9F08 => "Application Version Number (Card)",
        0x9F09 => "Application Version Number (Terminal)",
        0x9F0B => "Cardholder Name Extended",
        0x9F0D => "Issuer Action Code - Default",
        0x9F0E => "Issuer Action Code - Denial",
        0x9F0F => "Issuer Action Code - Online",
        0x9F10 => "Issuer Application Data",
        0x9F12 => "Application Preferred Name",
        0x9F1A => "Terminal Country Code",
        0x9F1E => "Interface Device Serial Number",
        0x9F1F => "Track 1 Discretionary Data",
        0x9F20 => "Track 2 Discretionary Data",
        0x9F21 => "Transaction Time",
        0x9F26 => "Application Cryptogram",
        0x9F27 => "Cryptogram Information Data",
        0x9F33 => "Terminal Capabilities",
        0x9F34 => "Cardholder Verification Method Results",
        0x9F35 => "Terminal Type",
        0x9F36 => "Application Transaction Counter",
        0x9F37 => "Unpredictable Number",
        0x9F41 => "Transaction Sequence Counter",
        0x9F53 => "Transaction Category Code",
        0x9F5B => "Issuer Script Results",
        0x9F63 => "Card Product Identification Information",
        0x9F66 => "Terminal Transaction Qualifiers",
        0x9F6B => "Track 2 Data",
        0x9F6E => "Form Factor Indicator",
        0xDF31 => "Issuer Script Results (UnionPay)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_multi_byte_tags_and_long_lengths() {
        let mut data = vec![0x9F, 0x10, 0x81, 0x03, 1, 2, 3, 0x00, 0x5A, 0x01, 0x47];
        let got: Vec<_> = walk(&data).collect::<Result<_, _>>().unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].tag, 0x9F10);
        assert_eq!(got[0].value, &[1, 2, 3]);
        assert_eq!(got[1].offset, 8);
        assert!(got[1].is_sensitive());
        data.truncate(5);
        let err = walk(&data).last().unwrap().unwrap_err();
        assert_eq!(
            err,
            TlvError::Truncated {
                offset: 0,
                what: "value"
            }
        );
    }

    #[test]
    fn rejects_indefinite_length_and_long_tags() {
        assert!(matches!(
            walk(&[0x70, 0x80]).next(),
            Some(Err(TlvError::BadLength { .. }))
        ));
        assert!(matches!(
            walk(&[0x9F, 0x81, 0x81, 0x81, 0x01, 0x00]).next(),
            Some(Err(TlvError::TagTooLong { .. }))
        ));
        let c: Vec<_> = walk(&[0x70, 0x03, 0x95, 0x01, 0x80]).collect();
        let inner: Vec<_> = c[0].as_ref().unwrap().children().collect();
        assert_eq!(inner.len(), 1);
    }
}
