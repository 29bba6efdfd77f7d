//! What the host answers on each dialect, over real loopback TCP: network
//! management without a terminal, reply codes from the dialect's own
//! table, and frames it cannot decode.

#![allow(missing_docs, clippy::unwrap_used)]

mod net_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use cardwire_codec::{Message, MessageRef, Spec, decode, encode_to_vec, specs};
use net_support::{closed_by_host, host};

const DIALECTS: [&str; 3] = ["cups", "iso87ascii", "iso87binary"];

fn spec(name: &str) -> &'static Spec {
    specs::builtin(name).unwrap()
}

/// Writes one frame (2-byte binary length) and reads one reply frame;
/// `None` when the host closes the connection or says nothing for 3 s.
fn exchange(s: &mut TcpStream, frame: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(frame.len()).unwrap().to_be_bytes();
    s.write_all(&len).unwrap();
    s.write_all(frame).unwrap();
    read_frame(s)
}

fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut out = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut out).ok()?;
    Some(out)
}

fn connect(addr: &str) -> TcpStream {
    TcpStream::connect(addr).unwrap()
}

/// A request in `spec_name`'s conventions: UnionPay carries TPDU and
/// header, and its network management code in 60.3; ISO 8583:1987 in 70.
fn request(spec_name: &str, mti: &str) -> Message {
    let mut m = Message::new(mti.parse().unwrap());
    if spec_name == "cups" {
        m.tpdu = Some(Bytes::from_static(&[0x60, 0x00, 0x03, 0x00, 0x00]));
        m.header = Some(Bytes::from_static(&[0x60, 0x31, 0x00, 0x31, 0x10, 0x03]));
    } else {
        m.set(7, "1206101010");
    }
    m
}

fn echo_test(spec_name: &str) -> Message {
    let mut m = request(spec_name, "0800");
    m.set_stan(4242);
    if spec_name == "cups" {
        m.set(60, "00000001301");
    } else {
        m.set(70, "301");
    }
    m
}

fn reply_of<'a>(spec_name: &str, bytes: &'a [u8]) -> MessageRef<'a> {
    decode(spec(spec_name), bytes).unwrap()
}

fn field(m: &MessageRef<'_>, n: u8) -> Option<String> {
    m.value(n).map(|v| v.to_string())
}

#[test]
fn echo_test_without_terminal_id_is_answered_00_on_every_dialect() {
    for name in DIALECTS {
        let h = host(&["--db", ":memory:", "--spec", name]);
        let mut s = connect(&h.addr);
        let frame = encode_to_vec(spec(name), &echo_test(name)).unwrap();
        let reply = exchange(&mut s, &frame).unwrap_or_else(|| panic!("{name}: no reply"));
        let r = reply_of(name, &reply);
        assert_eq!(r.mti().as_str(), "0810", "{name}");
        assert_eq!(field(&r, 39).as_deref(), Some("00"), "{name}");
        assert_eq!(field(&r, 11).as_deref(), Some("004242"), "{name}");
    }
}

/// A sale request from terminal `tid` (no MAC, no card data: the host
/// answers before it looks at the card).
fn sale_from(spec_name: &str, tid: &str, stan: u32) -> Vec<u8> {
    let mut m = sale_without_60(spec_name, tid, stan);
    if spec_name == "cups" {
        m.set(60, "22000001000");
    } else {
        m.set(60, "000001");
    }
    encode_to_vec(spec(spec_name), &m).unwrap()
}

/// A sale whose last field is the currency (49, a numeric code).
fn sale_without_60(spec_name: &str, tid: &str, stan: u32) -> Message {
    let mut m = request(spec_name, "0200");
    m.set(3, "000000");
    m.set_amount(100);
    m.set_stan(stan);
    m.set(25, "00");
    m.set_terminal_id(tid);
    m.set_merchant_id("123456789012345");
    m.set(49, "156");
    m
}

#[test]
fn reply_codes_come_from_the_dialects_own_table() {
    // (dialect, unknown terminal, no working keys / bad MAC)
    for (name, unknown, mac) in [
        ("cups", "97", "A0"),
        ("iso87ascii", "58", "63"),
        ("iso87binary", "58", "63"),
    ] {
        let h = host(&["--db", ":memory:", "--spec", name]);
        let table = spec(name).codes;
        let mut s = connect(&h.addr);
        let reply = exchange(&mut s, &sale_from(name, "99999999", 1)).unwrap();
        let got = field(&reply_of(name, &reply), 39).unwrap();
        assert_eq!(got, unknown, "{name}: unknown terminal");
        assert!(table.lookup(&got).known, "{name}: {got} not in its table");
        // The demo terminal has not signed on: no keys to check a MAC with.
        let reply = exchange(&mut s, &sale_from(name, "12345678", 2)).unwrap();
        let got = field(&reply_of(name, &reply), 39).unwrap();
        assert_eq!(got, mac, "{name}: no working keys");
        assert!(table.lookup(&got).known, "{name}: {got} not in its table");
    }
}

#[test]
fn an_undecodable_request_is_answered_with_a_format_error_or_closed() {
    for name in DIALECTS {
        let h = host(&["--db", ":memory:", "--spec", name]);
        let mut s = connect(&h.addr);
        // A sale whose last field (49, numeric) holds a byte no numeric
        // encoding allows: the fields before it are intact.
        let mut frame = encode_to_vec(spec(name), &sale_without_60(name, "12345678", 31)).unwrap();
        let last = frame.len() - 1;
        frame[last] = 0xEE;
        assert!(decode(spec(name), &frame).is_err(), "{name}: still decodes");
        let reply = exchange(&mut s, &frame)
            .unwrap_or_else(|| panic!("{name}: silence for a broken frame"));
        let r = reply_of(name, &reply);
        assert_eq!(r.mti().as_str(), "0210", "{name}");
        assert_eq!(field(&r, 39).as_deref(), Some("30"), "{name}");
        assert_eq!(field(&r, 11).as_deref(), Some("000031"), "{name}");
        assert_eq!(field(&r, 41).as_deref(), Some("12345678"), "{name}");
        // The connection stays: a good request on it is still answered.
        let frame = encode_to_vec(spec(name), &echo_test(name)).unwrap();
        let reply = exchange(&mut s, &frame).unwrap();
        assert_eq!(field(&reply_of(name, &reply), 39).as_deref(), Some("00"));

        // No MTI to read (three bytes): the host closes, saying why.
        let mut s = connect(&h.addr);
        s.write_all(&[0x00, 0x03, 0x60, 0x00, 0x03]).unwrap();
        assert!(closed_by_host(&mut s), "{name}: {}", h.stderr_text());
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            h.stderr_text().contains("no MTI to answer"),
            "{name}: {}",
            h.stderr_text()
        );
    }
}

#[test]
fn junk_on_one_connection_is_logged_as_a_summary_at_most_once_a_second() {
    let h = host(&["--db", ":memory:"]);
    let mut s = connect(&h.addr);
    let mut frame = encode_to_vec(spec("cups"), &sale_without_60("cups", "12345678", 31)).unwrap();
    let last = frame.len() - 1;
    frame[last] = 0xEE;
    let len = u16::try_from(frame.len()).unwrap().to_be_bytes();
    let sent = 500;
    let mut all = Vec::new();
    for _ in 0..sent {
        all.extend_from_slice(&len);
        all.extend_from_slice(&frame);
    }
    s.write_all(&all).unwrap();
    for _ in 0..sent {
        assert!(read_frame(&mut s).is_some(), "every junk frame is answered");
    }
    drop(s);
    std::thread::sleep(Duration::from_millis(300));
    let log = h.stderr_text();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("rejected")).collect();
    assert!(
        !lines.is_empty() && lines.len() <= 3,
        "{} lines for one connection:\n{log}",
        lines.len()
    );
    // The summaries count every frame.
    let counted: u64 = lines
        .iter()
        .filter_map(|l| {
            l.split(" rejected")
                .next()?
                .rsplit(' ')
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert_eq!(counted, sent, "{log}");
}

/// An echo test with two bytes after its last field: strict decoding
/// refuses it, lenient decoding reads it with a warning.
fn echo_with_trailing_bytes() -> Vec<u8> {
    let mut frame = encode_to_vec(spec("cups"), &echo_test("cups")).unwrap();
    frame.extend_from_slice(b"\x00\x00");
    assert!(decode(spec("cups"), &frame).is_err());
    frame
}

/// The journal's lines, once one of them is a frame going `dir` (the
/// writer thread writes a moment after the reply left; 10 s at most).
fn journal_lines(path: &std::path::Path, dir: &str) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if lines.iter().any(|l| l["dir"] == dir) || std::time::Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn lenient_host_answers_what_strict_refuses_and_journals_the_warning() {
    let dir = net_support::scratch("lenient-host");
    let frame = echo_with_trailing_bytes();

    let strict = host(&["--db", ":memory:"]);
    let reply = exchange(&mut connect(&strict.addr), &frame).unwrap();
    assert_eq!(field(&reply_of("cups", &reply), 39).as_deref(), Some("30"));

    let journal = dir.join("journal.jsonl");
    let lenient = host(&[
        "--db",
        ":memory:",
        "--lenient",
        "--journal",
        journal.to_str().unwrap(),
    ]);
    let reply = exchange(&mut connect(&lenient.addr), &frame).unwrap();
    let r = reply_of("cups", &reply);
    assert_eq!(field(&r, 39).as_deref(), Some("00"));
    assert_eq!(field(&r, 11).as_deref(), Some("004242"));
    let lines = journal_lines(&journal, "in");
    drop(lenient);
    let request = lines
        .iter()
        .find(|l| l["dir"] == "in")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(request["mti"], "0800", "{request}");
    assert_eq!(request["stan"], 4242, "{request}");
    assert!(request.get("error").is_none(), "{request}");
    let warnings = request["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{request}");
}

#[test]
fn lenient_proxy_reads_and_journals_what_strict_cannot() {
    let dir = net_support::scratch("lenient-proxy");
    let h = host(&["--db", ":memory:", "--lenient"]);
    let journal = dir.join("proxy.jsonl");
    let p = net_support::proxy(
        &h.addr,
        &["--lenient", "--journal", journal.to_str().unwrap()],
    );
    let reply = exchange(&mut connect(&p.addr), &echo_with_trailing_bytes()).unwrap();
    assert_eq!(field(&reply_of("cups", &reply), 39).as_deref(), Some("00"));
    std::thread::sleep(Duration::from_millis(300));
    let lines = journal_lines(&journal, "in");
    drop(p);
    let request = lines
        .iter()
        .find(|l| l["dir"] == "in")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(request["stan"], 4242, "{request}");
    assert_eq!(
        request["warnings"].as_array().map(Vec::len),
        Some(1),
        "{request}"
    );
}
