//! Amounts (field 4 and friends) with their ISO 4217 currency.

use core::fmt;

/// An amount in minor units with an optional ISO 4217 numeric currency.
///
/// ```
/// use cardwire_codec::Amount;
/// let a = Amount::parse_major("12.34", Some(156)).unwrap();
/// assert_eq!(a.minor, 1234);
/// assert_eq!(a.to_string(), "12.34 CNY");
/// assert_eq!(a.field_value(), "000000001234");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Amount {
    /// Minor units (fen, cents).
    pub minor: u64,
    /// ISO 4217 numeric code, e.g. 156 for CNY.
    pub currency: Option<u16>,
}

/// (numeric, alpha, exponent)
const CURRENCIES: &[(u16, &str, u8)] = &[
    (36, "AUD", 2),
    (48, "BHD", 3),
    (124, "CAD", 2),
    (156, "CNY", 2),
    (344, "HKD", 2),
    (356, "INR", 2),
    (392, "JPY", 0),
    (410, "KRW", 0),
    (414, "KWD", 3),
    (446, "MOP", 2),
    (458, "MYR", 2),
    (512, "OMR", 3),
    (643, "RUB", 2),
    (702, "SGD", 2),
    (764, "THB", 2),
    (788, "TND", 3),
    (826, "GBP", 2),
    (840, "USD", 2),
    (901, "TWD", 2),
    (978, "EUR", 2),
];

/// An amount string that is not a number of major units.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("amount {0:?} is not a number of major units with at most the currency's decimals")]
pub struct AmountError(String);

impl Amount {
    /// The currency's minor-unit exponent (2 when unknown).
    pub fn exponent(&self) -> u8 {
        self.currency
            .and_then(|c| CURRENCIES.iter().find(|x| x.0 == c))
            .map_or(2, |x| x.2)
    }

    /// The currency's alphabetic code, if known.
    pub fn currency_alpha(&self) -> Option<&'static str> {
        let c = self.currency?;
        CURRENCIES.iter().find(|x| x.0 == c).map(|x| x.1)
    }

    /// Parses major units (`"12.34"`).
    ///
    /// # Errors
    /// [`AmountError`] when the text is not digits with at most the
    /// currency's number of decimals, or overflows.
    pub fn parse_major(s: &str, currency: Option<u16>) -> Result<Self, AmountError> {
        let bad = || AmountError(s.into());
        let exp = Amount { minor: 0, currency }.exponent() as usize;
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty() && frac.is_empty()
            || frac.len() > exp
            || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        let mut minor: u64 = 0;
        for c in int
            .bytes()
            .chain(frac.bytes())
            .chain(std::iter::repeat_n(b'0', exp - frac.len()))
        {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(c - b'0')))
                .ok_or_else(bad)?;
        }
        Ok(Amount { minor, currency })
    }

    /// The 12-digit field value.
    pub fn field_value(&self) -> String {
        format!("{:012}", self.minor)
    }

    /// Major units as text, `12.34`.
    pub fn major(&self) -> String {
        let exp = u32::from(self.exponent());
        if exp == 0 {
            return self.minor.to_string();
        }
        let p = 10u64.pow(exp);
        format!(
            "{}.{:0w$}",
            self.minor / p,
            self.minor % p,
            w = exp as usize
        )
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.major())?;
        match (self.currency_alpha(), self.currency) {
            (Some(a), _) => write!(f, " {a}"),
            (None, Some(c)) => write!(f, " ({c:03})"),
            (None, None) => Ok(()),
        }
    }
}

impl crate::MessageRef<'_> {
    /// Field 4 with the currency of field 49, if both are digits.
    pub fn amount(&self) -> Option<Amount> {
        let minor = self.value(4)?.to_u64()?;
        let currency = self
            .value(49)
            .and_then(|v| v.to_u64())
            .and_then(|c| u16::try_from(c).ok());
        Some(Amount { minor, currency })
    }

    /// Field 39 as text.
    pub fn response_code(&self) -> Option<String> {
        self.value(39).map(|v| v.to_string())
    }

    /// The spec's response-code row for field 39.
    pub fn response_info(&self) -> Option<crate::codes::CodeInfo> {
        Some(self.spec().codes.lookup(&self.response_code()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_units_respect_currency_exponent() {
        assert_eq!(
            Amount::parse_major("9901.01", Some(156)).unwrap().minor,
            990101
        );
        assert_eq!(
            Amount::parse_major("500", Some(392)).unwrap().to_string(),
            "500 JPY"
        );
        assert!(Amount::parse_major("1.234", Some(840)).is_err());
        assert!(Amount::parse_major("1.5", Some(392)).is_err());
        assert!(Amount::parse_major("", None).is_err());
        assert!(Amount::parse_major("99999999999999999999", None).is_err());
        assert_eq!(
            Amount {
                minor: 5,
                currency: Some(48)
            }
            .to_string(),
            "0.005 BHD"
        );
    }
}
