//! Reading frames the way people paste them: plain hex with or without
//! spaces, `0x` prefixes, colons, newlines, or a Wireshark-style hex dump
//! (offset, up to 16 byte columns, ASCII column).

use anyhow::{Context, Result, bail};

/// Whether a line looks like a hex-dump line: an offset of 4-8 hex digits,
/// then whitespace, then byte columns.
fn dump_line(line: &str) -> Option<Vec<u8>> {
    let trimmed = line.trim_start();
    let (offset, rest) = trimmed.split_once(|c: char| c.is_whitespace())?;
    let offset = offset.trim_end_matches(':');
    if !(4..=8).contains(&offset.len()) || !offset.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = Vec::new();
    for tok in rest.split_whitespace().take(16) {
        if tok.len() != 2 {
            break;
        }
        match u8::from_str_radix(tok, 16) {
            Ok(b) => out.push(b),
            Err(_) => break,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Parses pasted hex in any of the accepted shapes.
pub(crate) fn parse_hex(text: &str) -> Result<Vec<u8>> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() > 1
        || lines
            .first()
            .is_some_and(|l| dump_line(l).is_some() && l.split_whitespace().count() > 2)
    {
        let dumped: Option<Vec<Vec<u8>>> = lines.iter().map(|l| dump_line(l)).collect();
        if let Some(chunks) = dumped {
            return Ok(chunks.concat());
        }
    }
    let mut clean = String::with_capacity(text.len());
    for tok in text.split(|c: char| c.is_whitespace() || c == ':' || c == ',') {
        let tok = tok
            .strip_prefix("0x")
            .or_else(|| tok.strip_prefix("0X"))
            .unwrap_or(tok);
        clean.push_str(tok);
    }
    if clean.is_empty() {
        bail!("no hex input");
    }
    if let Some(bad) = clean.chars().position(|c| !c.is_ascii_hexdigit()) {
        bail!(
            "input is not hex: character {} is {:?}",
            bad + 1,
            clean.chars().nth(bad).unwrap_or('?')
        );
    }
    if clean.len() % 2 == 1 {
        bail!("input has an odd number of hex digits ({})", clean.len());
    }
    hex::decode(&clean).context("input is not hex")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_pasted_shape() {
        let want = vec![0x60, 0x00, 0x03, 0x02, 0x00];
        for text in [
            "6000030200",
            "60 00 03 02 00",
            "0x60 0x00 0x03 0x02 0x00",
            "60:00:03:02:00",
            "600003\n0200\n",
            "0000   60 00 03 02 00                                    `....",
        ] {
            assert_eq!(parse_hex(text).unwrap(), want, "{text:?}");
        }
        let dump = "0000  60 00 03 00 00 60 31 00 31 10 03 02 00 70 3c 06   `....`1.1....p<.\n0010  c0 0a                                             ..\n";
        let got = parse_hex(dump).unwrap();
        assert_eq!(got.len(), 18);
        assert_eq!(got[16..], [0xc0, 0x0a]);
        assert!(parse_hex("60 0").is_err());
        assert!(parse_hex("zz").is_err());
    }
}
