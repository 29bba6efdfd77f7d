//! Track 2 data: `PAN = YYMM SSS discretionary`.

use nom::IResult;
use nom::Parser;
use nom::bytes::complete::take_while_m_n;
use nom::character::complete::one_of;
use nom::combinator::{opt, rest};

/// Parsed track 2 equivalent data, borrowed from its characters.
/// `Debug` masks the PAN and hides everything else.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Track2<'a> {
    /// Primary account number.
    pub pan: &'a str,
    /// Expiry date, YYMM, if present.
    pub expiry: Option<&'a str>,
    /// Service code, if present.
    pub service_code: Option<&'a str>,
    /// Discretionary data (PVV, CVV ...).
    pub discretionary: &'a str,
}

/// Track data that does not follow the track 2 layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("track 2 data: {0}")]
pub struct Track2Error(&'static str);

fn digits(n: usize, m: usize) -> impl Fn(&[u8]) -> IResult<&[u8], &[u8]> {
    move |i| take_while_m_n(n, m, |c: u8| c.is_ascii_digit())(i)
}

impl<'a> Track2<'a> {
    /// Parses track 2 characters (separator `=` or `D`).
    ///
    /// # Errors
    /// When the PAN is not 12-19 digits, the separator is missing or the
    /// rest is not digits. The error never repeats the data.
    pub fn parse(data: &'a [u8]) -> Result<Self, Track2Error> {
        let s = core::str::from_utf8(data).map_err(|_| Track2Error("not ASCII"))?;
        let parsed: IResult<&[u8], _> = (
            digits(12, 19),
            one_of("=D"),
            opt(digits(4, 4)),
            opt(digits(3, 3)),
            rest,
        )
            .parse(data);
        let (_, (pan, _, expiry, service, disc)) =
            parsed.map_err(|_| Track2Error("expected 12-19 PAN digits then = or D"))?;
        if !disc.iter().all(|c| c.is_ascii_digit()) {
            return Err(Track2Error("discretionary data must be digits"));
        }
        let at = |sub: &[u8]| {
            let start = sub.as_ptr() as usize - data.as_ptr() as usize;
            &s[start..start + sub.len()]
        };
        Ok(Track2 {
            pan: at(pan),
            expiry: expiry.map(at),
            service_code: service.map(at),
            discretionary: at(disc),
        })
    }
}

impl core::fmt::Debug for Track2<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Track2")
            .field("pan", &crate::mask::mask_pan(self.pan.as_bytes()))
            .field("expiry", &self.expiry.map(|_| "****"))
            .field("service_code", &self.service_code)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_separators_and_masks_debug() {
        let t = Track2::parse(b"6222021234567890123D25122011234500000").unwrap();
        assert_eq!(t.pan, "6222021234567890123");
        assert_eq!(t.expiry, Some("2512"));
        assert_eq!(t.service_code, Some("201"));
        assert_eq!(t.discretionary, "1234500000");
        let dbg = format!("{t:?}");
        assert!(dbg.contains("622202*********0123"), "{dbg}");
        assert!(!dbg.contains("2512"));
        let t = Track2::parse(b"4761739001010010=").unwrap();
        assert_eq!(t.expiry, None);
        assert!(Track2::parse(b"4761739001010010").is_err());
        assert!(Track2::parse(b"47617390=2512").is_err());
    }
}
