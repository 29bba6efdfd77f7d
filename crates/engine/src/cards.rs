//! Test cards from a file, so a terminal can present a host's own cards.
//!
//! ```toml
//! [[cards]]
//! label = "approve"                      # how reports and --card name it
//! pan = "4761739001010010"
//! expiry = "2512"                        # YYMM
//! track2 = "4761739001010010=25122011143804400000"
//! pin = "1234"                           # none: no PIN entered
//! entry = "swipe"                        # swipe | chip | contactless | manual
//! ```
//!
//! Every card is checked when the file is read; an error names the card by
//! its label (or its place in the file), never by its PAN.

use serde::Deserialize;

use crate::terminal::{Card, EntryMode};

/// Errors reading a card file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CardsError {
    /// Not TOML, or not a list of cards.
    #[error("not a card file: {0}")]
    Syntax(String),
    /// No cards.
    #[error("the file has no [[cards]]")]
    Empty,
    /// A card with a bad value.
    #[error("card {card}: {what}")]
    Card {
        /// Label, or `#n` (1-based) without one.
        card: String,
        /// What is wrong (no card data).
        what: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CardFile {
    #[serde(default)]
    cards: Vec<CardEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CardEntry {
    #[serde(default)]
    label: Option<String>,
    pan: String,
    #[serde(default)]
    expiry: Option<String>,
    #[serde(default)]
    track2: Option<String>,
    #[serde(default)]
    pin: Option<String>,
    #[serde(default)]
    entry: EntryMode,
}

fn digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// Reads a card file (TOML).
///
/// # Errors
///
/// [`CardsError`] for a file that is not TOML, has no cards, or a card
/// whose PAN (12-19 digits), expiry (YYMM), track 2 (digits with one `=`
/// or `D`, at most 37, starting with the PAN), PIN (4-12 digits) or label
/// (unique) is wrong.
pub fn parse_cards(text: &str) -> Result<Vec<Card>, CardsError> {
    // The TOML error quotes the offending line, which may hold a PAN: keep
    // only its message.
    let file: CardFile = toml::from_str(text).map_err(|e| {
        CardsError::Syntax(
            e.message().to_owned()
                + &e.span()
                    .map(|s| format!(" (at byte {})", s.start))
                    .unwrap_or_default(),
        )
    })?;
    if file.cards.is_empty() {
        return Err(CardsError::Empty);
    }
    let mut out: Vec<Card> = Vec::with_capacity(file.cards.len());
    for (i, c) in file.cards.into_iter().enumerate() {
        let name = c.label.clone().unwrap_or_else(|| format!("#{}", i + 1));
        let bad = |what: &str| CardsError::Card {
            card: name.clone(),
            what: what.to_owned(),
        };
        if c.label.as_deref().is_some_and(|l| l.trim().is_empty()) {
            return Err(bad("the label is empty"));
        }
        if !(12..=19).contains(&c.pan.len()) || !digits(&c.pan) {
            return Err(bad("pan: expected 12 to 19 digits"));
        }
        if let Some(e) = &c.expiry {
            let month = e.get(2..4).and_then(|m| m.parse::<u8>().ok());
            if e.len() != 4 || !digits(e) || !month.is_some_and(|m| (1..=12).contains(&m)) {
                return Err(bad("expiry: expected YYMM"));
            }
        }
        if let Some(t) = &c.track2 {
            let seps = t.bytes().filter(|b| matches!(b, b'=' | b'D')).count();
            let ok = t.len() <= 37
                && seps == 1
                && t.bytes()
                    .all(|b| b.is_ascii_digit() || b == b'=' || b == b'D')
                && t.starts_with(&c.pan);
            if !ok {
                return Err(bad(
                    "track2: expected the PAN, one '=' or 'D', then digits (at most 37)",
                ));
            }
        }
        if let Some(p) = &c.pin {
            if !(4..=12).contains(&p.len()) || !digits(p) {
                return Err(bad("pin: expected 4 to 12 digits"));
            }
        }
        if c.label.is_some() && out.iter().any(|o| o.id == c.label) {
            return Err(bad("the label is used twice"));
        }
        out.push(Card {
            id: c.label,
            pan: c.pan,
            expiry: c.expiry,
            pin: c.pin,
            entry: c.entry,
            track2: c.track2,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[cards]]
label = "approve"
pan = "4761739001010010"
expiry = "2512"
track2 = "4761739001010010=25122011143804400000"
pin = "1234"

[[cards]]
pan = "5413330089020011"
entry = "contactless"
"#;

    #[test]
    fn a_card_file_reads_with_labels_and_entry_modes() {
        let cards = parse_cards(GOOD).unwrap();
        assert_eq!(cards.len(), 2);
        assert_eq!(cards[0].id.as_deref(), Some("approve"));
        assert_eq!(cards[0].pin.as_deref(), Some("1234"));
        assert!(cards[0].track2.is_some());
        assert_eq!(cards[1].entry, EntryMode::Contactless);
        assert_eq!(cards[1].pin, None);
    }

    #[test]
    fn bad_cards_are_named_by_label_and_never_echo_the_pan() {
        let cases = [
            ("pan = \"4761\"", "pan"),
            ("pan = \"4761739001010010\"\nexpiry = \"2513\"", "expiry"),
            (
                "pan = \"4761739001010010\"\ntrack2 = \"5000000000000000=2512\"",
                "track2",
            ),
            ("pan = \"4761739001010010\"\npin = \"12\"", "pin"),
            ("pan = \"4761739001010010\"\ncvv = \"123\"", "unknown field"),
        ];
        for (body, what) in cases {
            let text = format!("[[cards]]\nlabel = \"x\"\n{body}\n");
            let e = parse_cards(&text).unwrap_err().to_string();
            assert!(e.contains(what), "{body}: {e}");
            assert!(!e.contains("4761739001010010"), "{e}");
        }
        assert_eq!(parse_cards(""), Err(CardsError::Empty));
        let twice = "[[cards]]\nlabel = \"a\"\npan = \"4761739001010010\"\n[[cards]]\nlabel = \"a\"\npan = \"4761739001010010\"\n";
        assert!(
            parse_cards(twice)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        assert!(parse_cards("cards = 3").is_err());
    }
}
