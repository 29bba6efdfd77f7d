//! Host configuration: cards, accounts, terminals, policies. Serde types,
//! read from the `[host]` part of a scenario file or the net host's config.
//!
//! Amounts are written in major units as strings (`"12.34"`) or numbers;
//! durations as `"60s"`, `"250ms"`, `"2m"`.

use core::fmt;
use core::time::Duration;

use cardwire_codec::Amount;
use cardwire_security::MacAlgorithm;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::rules::ResponseRule;

/// An amount in minor units, written in major units in files.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(pub i64);

impl Money {
    /// From major units (`"12.34"`, two decimals).
    ///
    /// # Errors
    ///
    /// A message when `s` is not an amount.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (neg, body) = match s.trim().strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, s.trim()),
        };
        let a = Amount::parse_major(body, Some(156)).map_err(|e| e.to_string())?;
        let v = i64::try_from(a.minor).map_err(|_| format!("amount {s:?} too large"))?;
        Ok(Money(if neg { -v } else { v }))
    }

    /// Minor units as unsigned (0 when negative).
    pub fn minor(self) -> u64 {
        u64::try_from(self.0).unwrap_or(0)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let v = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", v / 100, v % 100)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            I(i64),
            F(f64),
        }
        match Raw::deserialize(d)? {
            Raw::S(s) => Money::parse(&s).map_err(serde::de::Error::custom),
            Raw::I(i) => i
                .checked_mul(100)
                .map(Money)
                .ok_or_else(|| serde::de::Error::custom("amount too large")),
            Raw::F(f) => Money::parse(&format!("{f:.2}")).map_err(serde::de::Error::custom),
        }
    }
}

/// `"60s"`, `"250ms"` ... (humantime).
pub mod duration {
    use super::*;

    /// Serializes as humantime text.
    ///
    /// # Errors
    ///
    /// Serializer errors.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Deserializes humantime text.
    ///
    /// # Errors
    ///
    /// Unparseable durations.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<Duration>`.
    pub mod option {
        use super::*;

        /// Serializes as humantime text.
        ///
        /// # Errors
        ///
        /// Serializer errors.
        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
                None => s.serialize_none(),
            }
        }

        /// Deserializes humantime text.
        ///
        /// # Errors
        ///
        /// Unparseable durations.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            let s = Option::<String>::deserialize(d)?;
            s.map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

/// A card's status at the issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CardStatus {
    /// In use.
    #[default]
    Active,
    /// Reported lost (41).
    Lost,
    /// Reported stolen (43).
    Stolen,
    /// Blocked by the issuer (57).
    Blocked,
}

/// A card and its account, as the issuer knows them.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardConfig {
    /// Id used in journals, scenarios and reports (never the PAN).
    pub id: String,
    /// Primary account number.
    pub pan: String,
    /// The PIN (4 to 12 digits).
    pub pin: String,
    /// Account id; cards may share one. Defaults to the card id.
    #[serde(default)]
    pub account: Option<String>,
    /// Opening balance.
    #[serde(default)]
    pub balance: Money,
    /// Expiry `YYMM`.
    #[serde(default = "default_expiry")]
    pub expiry: String,
    /// Status.
    #[serde(default)]
    pub status: CardStatus,
    /// Largest single debit (61 above it).
    #[serde(default)]
    pub per_txn_limit: Option<Money>,
    /// Largest total of debits in a day (61 above it).
    #[serde(default)]
    pub daily_limit: Option<Money>,
    /// Whether a swipe or chip debit needs a PIN (debit cards: yes).
    #[serde(default = "yes")]
    pub pin_required: bool,
    /// Phone the SMS goes to (shown in notifications).
    #[serde(default)]
    pub phone: Option<String>,
}

fn default_expiry() -> String {
    "3012".into()
}

fn yes() -> bool {
    true
}

impl fmt::Debug for CardConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardConfig")
            .field("id", &self.id)
            .field("pan", &cardwire_codec::mask::mask_pan(self.pan.as_bytes()))
            .field("pin", &"<hidden>")
            .field("balance", &self.balance)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl CardConfig {
    /// The account id (the card id unless set).
    pub fn account_id(&self) -> &str {
        self.account.as_deref().unwrap_or(&self.id)
    }
}

/// A terminal as the host knows it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalProfile {
    /// Terminal id (41), 8 characters.
    pub id: String,
    /// Merchant id (42), 15 characters.
    pub merchant: String,
    /// Merchant name, as printed in SMS texts.
    #[serde(default = "default_merchant_name")]
    pub merchant_name: String,
    /// Terminal master key, hex (the key field 62 is wrapped under).
    pub tmk: String,
    /// MAC algorithm (`ecb`, `x9.9`, `x9.19`).
    #[serde(default = "default_mac", with = "mac_serde")]
    pub mac: MacAlgorithm,
    /// Current batch number.
    #[serde(default = "one")]
    pub batch: u32,
}

fn default_merchant_name() -> String {
    "CARDWIRE DEMO SHOP".into()
}

fn default_mac() -> MacAlgorithm {
    MacAlgorithm::UnionPayEcb
}

fn one() -> u32 {
    1
}

impl fmt::Debug for TerminalProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminalProfile")
            .field("id", &self.id)
            .field("merchant", &self.merchant)
            .field("tmk", &"<hidden>")
            .field("mac", &self.mac)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

/// MAC algorithm names in files.
pub mod mac_serde {
    use super::*;

    /// As `ecb`, `x9.9`, `x9.19`.
    ///
    /// # Errors
    ///
    /// Serializer errors.
    pub fn serialize<S: Serializer>(m: &MacAlgorithm, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match m {
            MacAlgorithm::UnionPayEcb => "ecb",
            MacAlgorithm::X99 => "x9.9",
            _ => "x9.19",
        })
    }

    /// From `ecb`, `x9.9`, `x9.19`.
    ///
    /// # Errors
    ///
    /// Unknown names.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MacAlgorithm, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|_| {
            serde::de::Error::custom(format!("unknown MAC algorithm {s:?}: ecb, x9.9, x9.19"))
        })
    }
}

/// What the issuer behind the host is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssuerState {
    /// Answers normally.
    #[default]
    Up,
    /// Inoperative: 91.
    Down,
    /// Unreachable from the acquirer: 92.
    Unreachable,
    /// Too slow: the acquirer answers 98 after `slow_delay`.
    Slow,
}

/// What a third wrong PIN in a day does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinLockPolicy {
    /// 75, and 75 for every try until the next day.
    #[default]
    Daily,
    /// 38 and the card stays locked until the issuer unlocks it.
    Hard,
}

/// The host's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Cards and their accounts.
    #[serde(default)]
    pub cards: Vec<CardConfig>,
    /// Registered terminals.
    #[serde(default)]
    pub terminals: Vec<TerminalProfile>,
    /// ISO 4217 numeric currency of accounts and texts.
    #[serde(default = "cny")]
    pub currency: u16,
    /// Contactless (22 = 07x) at or under this needs no PIN.
    #[serde(default = "no_pin_limit")]
    pub no_pin_limit: Money,
    /// Wrong PINs allowed per card per day before the lock.
    #[serde(default = "three")]
    pub pin_tries: u8,
    /// What the lock does.
    #[serde(default)]
    pub pin_lock: PinLockPolicy,
    /// Financial requests without a MAC are refused (A0) once the
    /// terminal holds a MAK.
    #[serde(default = "yes")]
    pub require_mac: bool,
    /// Issuer state.
    #[serde(default)]
    pub issuer: IssuerState,
    /// Delay before the 98 of a slow issuer.
    #[serde(default = "slow_delay", with = "duration")]
    pub slow_delay: Duration,
    /// Response rules, first match wins.
    #[serde(default)]
    pub rules: Vec<ResponseRule>,
    /// The built-in rule: an amount of 9901.NN forces response code NN.
    #[serde(default = "yes")]
    pub amount_code_rule: bool,
    /// Bank name in SMS texts.
    #[serde(default = "bank")]
    pub bank: String,
    /// Seed of the host's randomness (working keys, auth codes).
    #[serde(default)]
    pub seed: u64,
    /// Business days of journal entries the host keeps in memory besides
    /// the current one: the window for refunds, completions and late
    /// reversals of earlier days (pre-authorizations holding money are
    /// kept until completed). Older entries stay in the ledger only.
    #[serde(default = "thirty")]
    pub keep_days: u32,
    /// Snapshot the host's state into the ledger every this many entries
    /// (0: never), so a restart replays only the entries after it.
    #[serde(default = "snapshot_every")]
    pub snapshot_every: u64,
}

fn cny() -> u16 {
    156
}
fn no_pin_limit() -> Money {
    Money(100_000)
}
fn three() -> u8 {
    3
}
fn slow_delay() -> Duration {
    Duration::from_secs(20)
}
fn thirty() -> u32 {
    30
}
fn snapshot_every() -> u64 {
    100_000
}
fn bank() -> String {
    "CardwireBank".into()
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            cards: Vec::new(),
            terminals: Vec::new(),
            currency: cny(),
            no_pin_limit: no_pin_limit(),
            pin_tries: three(),
            pin_lock: PinLockPolicy::Daily,
            require_mac: true,
            issuer: IssuerState::Up,
            slow_delay: slow_delay(),
            rules: Vec::new(),
            amount_code_rule: true,
            bank: bank(),
            seed: 0,
            keep_days: thirty(),
            snapshot_every: snapshot_every(),
        }
    }
}

/// The demo TMK of the demo terminal (documented in the README).
pub const DEMO_TMK: &str = "70F2A84CCBC2AE8625CBB0F2C22AB923";

impl HostConfig {
    /// The demo set: three cards and one terminal, documented in the
    /// README so a newcomer can transact at once.
    ///
    /// | card | PAN | PIN | balance | note |
    /// |---|---|---|---|---|
    /// | `alice` | 6222021234567890123 | 123456 | 5000.00 | debit |
    /// | `bob` | 6228480402564890018 | 888888 | 50.00 | low balance, limit 2000.00 per transaction |
    /// | `lost` | 6217001234567890011 | 000000 | 100.00 | reported lost |
    ///
    /// Terminal `12345678`, merchant `123456789012345`, TMK
    /// [`DEMO_TMK`], ECB MAC.
    pub fn demo() -> Self {
        let card = |id: &str, pan: &str, pin: &str, balance: i64| CardConfig {
            id: id.into(),
            pan: pan.into(),
            pin: pin.into(),
            account: None,
            balance: Money(balance),
            expiry: default_expiry(),
            status: CardStatus::Active,
            per_txn_limit: None,
            daily_limit: None,
            pin_required: true,
            phone: None,
        };
        let mut bob = card("bob", "6228480402564890018", "888888", 5_000);
        bob.per_txn_limit = Some(Money(200_000));
        let mut lost = card("lost", "6217001234567890011", "000000", 10_000);
        lost.status = CardStatus::Lost;
        HostConfig {
            cards: vec![
                card("alice", "6222021234567890123", "123456", 500_000),
                bob,
                lost,
            ],
            terminals: vec![TerminalProfile {
                id: "12345678".into(),
                merchant: "123456789012345".into(),
                merchant_name: default_merchant_name(),
                tmk: DEMO_TMK.into(),
                mac: MacAlgorithm::UnionPayEcb,
                batch: 1,
            }],
            ..HostConfig::default()
        }
    }
}
