//! Time as the engine sees it: a value passed in, never read from a clock.
//!
//! The drivers (the in-memory [`Pair`](crate::pair::Pair), the tokio driver in
//! `cardwire-net`) pass `now` into every `handle_*` call. Tests start a
//! simulated clock at a fixed date and advance it by hand, so a 60-second
//! response timeout takes no real time at all.

use core::fmt;
use core::time::Duration;

/// Milliseconds since the Unix epoch (UTC).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// 2026-11-21 09:00:00 UTC: where simulated clocks start.
    pub const SIM_START: Timestamp = Timestamp(1_795_251_600_000);

    /// From milliseconds since the epoch.
    pub fn from_millis(ms: u64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating.
    pub fn plus(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        )
    }

    /// `self - earlier`, zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// Days since the epoch: the "business day" used for duplicate checks,
    /// PIN-try counters, daily limits and the same-day rule of voids.
    pub fn day(self) -> u32 {
        u32::try_from(self.0 / 86_400_000).unwrap_or(u32::MAX)
    }

    fn civil(self) -> time::OffsetDateTime {
        let secs = i64::try_from(self.0 / 1000).unwrap_or(i64::MAX);
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }

    /// `MMDD` (fields 13, 15, 61.3).
    pub fn mmdd(self) -> String {
        let c = self.civil();
        format!("{:02}{:02}", u8::from(c.month()), c.day())
    }

    /// `hhmmss` (field 12).
    pub fn hhmmss(self) -> String {
        let c = self.civil();
        format!("{:02}{:02}{:02}", c.hour(), c.minute(), c.second())
    }

    /// `MMDDhhmmss` (field 7).
    pub fn mmddhhmmss(self) -> String {
        format!("{}{}", self.mmdd(), self.hhmmss())
    }

    /// The time written by `pattern`: `YYYY`, `YY`, `MM`, `DD`, `hh`,
    /// `mm`, `ss` are replaced, digits and `-`, `:`, `.`, `T`, ` ` are
    /// kept; `None` for anything else.
    pub fn format(self, pattern: &str) -> Option<String> {
        let c = self.civil();
        let mut out = String::with_capacity(pattern.len());
        let mut rest = pattern;
        while !rest.is_empty() {
            let (text, len) = if rest.starts_with("YYYY") {
                (format!("{:04}", c.year()), 4)
            } else if rest.starts_with("YY") {
                (format!("{:02}", c.year().rem_euclid(100)), 2)
            } else if rest.starts_with("MM") {
                (format!("{:02}", u8::from(c.month())), 2)
            } else if rest.starts_with("DD") {
                (format!("{:02}", c.day()), 2)
            } else if rest.starts_with("hh") {
                (format!("{:02}", c.hour()), 2)
            } else if rest.starts_with("mm") {
                (format!("{:02}", c.minute()), 2)
            } else if rest.starts_with("ss") {
                (format!("{:02}", c.second()), 2)
            } else {
                let ch = rest.chars().next()?;
                if !(ch.is_ascii_digit() || "-:.T ".contains(ch)) {
                    return None;
                }
                (ch.to_string(), ch.len_utf8())
            };
            out.push_str(&text);
            rest = rest.get(len..)?;
        }
        Some(out)
    }

    /// `YYMM`, as card expiry dates are written.
    pub fn yymm(self) -> String {
        let c = self.civil();
        format!("{:02}{:02}", c.year().rem_euclid(100), u8::from(c.month()))
    }
}

impl fmt::Display for Timestamp {
    /// `2026-11-21 09:00:00.000`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.civil();
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
            c.year(),
            u8::from(c.month()),
            c.day(),
            c.hour(),
            c.minute(),
            c.second(),
            self.0 % 1000
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_start_is_the_documented_date() {
        let t = Timestamp::SIM_START;
        assert_eq!(t.to_string(), "2026-11-21 09:00:00.000");
        assert_eq!(t.mmdd(), "1121");
        assert_eq!(t.hhmmss(), "090000");
        assert_eq!(t.yymm(), "2611");
    }

    #[test]
    fn next_day_is_a_new_business_day() {
        let t = Timestamp::SIM_START;
        assert_eq!(t.plus(Duration::from_secs(14 * 3600)).day(), t.day());
        assert_eq!(t.plus(Duration::from_secs(15 * 3600)).day(), t.day() + 1);
    }
}
