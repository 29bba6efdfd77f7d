//! Bad input on the host's socket: garbage, a length bomb, a frame cut
//! mid-way, a slow sender, idle connections past the limit. The host logs
//! why it closed each one, never panics, and keeps serving the others.

#![allow(missing_docs, clippy::unwrap_used)]

mod net_support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use net_support::{cardwire, closed_by_host, host, scratch, text};

fn sale_ok(dir: &std::path::Path, addr: &str) -> bool {
    let o = cardwire(
        dir,
        &[
            "terminal",
            "--connect",
            addr,
            "--timeout",
            "2s",
            "sale",
            "--amount",
            "1.00",
            "--card",
            "alice",
        ],
    );
    o.status.success() && text(&o).contains("APPROVED")
}

#[test]
fn broken_streams_are_closed_and_others_served() {
    let dir = scratch("bad-input");
    let mut h = host(&["--db", ":memory:", "--max-frame", "1024"]);
    let addr = h.addr.clone();

    // Garbage: "GE" reads as a 2-byte length of 18245, over the limit.
    let mut g = TcpStream::connect(&addr).unwrap();
    g.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(closed_by_host(&mut g));

    // Length bomb: announces 65535 bytes; refused before buffering.
    let mut bomb = TcpStream::connect(&addr).unwrap();
    bomb.write_all(&[0xFF, 0xFF, 0x60, 0x00]).unwrap();
    assert!(closed_by_host(&mut bomb));

    // Well-framed nonsense without a readable MTI: nothing to answer,
    // closed with the reason logged.
    let mut junk = TcpStream::connect(&addr).unwrap();
    junk.write_all(&[0x00, 0x05, 1, 2, 3, 4, 5]).unwrap();
    assert!(closed_by_host(&mut junk));

    // A slow sender trickling a frame one byte at a time, while a
    // terminal is served.
    let slow_addr = addr.clone();
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(&slow_addr).unwrap();
        for b in [0x00u8, 0x06, b'0', b'8', b'0', b'0', b'x', b'y'] {
            s.write_all(&[b]).unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    });
    assert!(sale_ok(&dir, &addr), "{}", h.stderr_text());

    // A frame cut mid-way by the peer.
    let mut cut = TcpStream::connect(&addr).unwrap();
    cut.write_all(&[0x00, 0x50, 0x60, 0x00, 0x03]).unwrap();
    drop(cut);

    let _slow = slow.join().unwrap();
    assert!(sale_ok(&dir, &addr), "{}", h.stderr_text());
    std::thread::sleep(Duration::from_millis(200));
    assert!(h.is_running());
    let log = h.stderr_text();
    assert!(log.contains("exceeds the maximum of 1024"), "{log}");
    assert!(log.contains("closed mid-frame"), "{log}");
    assert!(log.contains("no MTI to answer"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    drop(junk);

    // Ctrl-C stops it cleanly.
    assert!(h.interrupt().success(), "{}", h.stderr_text());
}

#[test]
fn idle_connections_hit_the_limit_and_time_out() {
    let dir = scratch("idle");
    let h = host(&[
        "--db",
        ":memory:",
        "--max-connections",
        "20",
        "--idle-timeout",
        "1s",
    ]);
    let idle: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(&h.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // Over the limit: the terminal's connection is closed at once.
    assert!(!sale_ok(&dir, &h.addr));
    assert!(h.stderr_text().contains("limit of 20 reached"));
    // The idle ones are closed after 1 s; the terminal gets through.
    std::thread::sleep(Duration::from_millis(1300));
    assert!(sale_ok(&dir, &h.addr), "{}", h.stderr_text());
    drop(idle);
}

#[test]
fn a_slow_sender_cannot_hold_a_connection() {
    let dir = scratch("slowloris");
    let h = host(&["--db", ":memory:", "--frame-timeout", "300ms"]);
    let mut s = TcpStream::connect(&h.addr).unwrap();
    // Two bytes of a frame, then one byte every 100 ms: never idle, never done.
    s.write_all(&[0x00, 0x40]).unwrap();
    let t = std::time::Instant::now();
    let mut closed = false;
    while t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
        if s.write_all(&[0x60]).is_err() {
            closed = true;
            break;
        }
    }
    assert!(closed || closed_by_host(&mut s), "{}", h.stderr_text());
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(
        h.stderr_text().contains("not completed within 300ms"),
        "{}",
        h.stderr_text()
    );
    assert!(sale_ok(&dir, &h.addr));
}

#[test]
fn many_idle_connections_do_not_slow_the_others() {
    let dir = scratch("many-idle");
    let h = host(&["--db", ":memory:"]);
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(&h.addr).unwrap())
        .collect();
    let t = std::time::Instant::now();
    assert!(sale_ok(&dir, &h.addr), "{}", h.stderr_text());
    assert!(sale_ok(&dir, &h.addr), "{}", h.stderr_text());
    assert!(t.elapsed() < Duration::from_secs(5));
    let status = net_support::ctl(h.admin.as_deref().unwrap(), &["status"]);
    assert!(status["accepted"].as_u64().unwrap() >= 302, "{status:#}");
    drop(idle);
}

#[test]
fn proxy_limits_connections_and_closes_idle_slow_and_oversized_clients() {
    use net_support::{ctl, proxy};
    let dir = scratch("proxy-limits");
    let h = host(&["--db", ":memory:"]);
    let admin = h.admin.clone().unwrap();
    let p = proxy(
        &h.addr,
        &[
            "--max-connections",
            "2",
            "--idle-timeout",
            "1s",
            "--frame-timeout",
            "300ms",
            "--max-frame",
            "1024",
        ],
    );
    let host_conns = || ctl(&admin, &["status"])["connections"].as_u64().unwrap();

    // A frame over --max-frame: closed.
    let mut bomb = TcpStream::connect(&p.addr).unwrap();
    bomb.write_all(&[0x08, 0x00, 0x60]).unwrap();
    assert!(closed_by_host(&mut bomb), "{}", p.stderr_text());

    // A frame begun and never finished: closed after --frame-timeout.
    let mut slow = TcpStream::connect(&p.addr).unwrap();
    slow.write_all(&[0x00, 0x40, 0x60]).unwrap();
    let t = std::time::Instant::now();
    assert!(closed_by_host(&mut slow), "{}", p.stderr_text());
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );

    // The client leaves: its upstream connection is closed too.
    std::thread::sleep(Duration::from_millis(200));
    let before = host_conns();
    let c = TcpStream::connect(&p.addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(host_conns(), before + 1);
    drop(c);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(host_conns(), before, "{}", p.stderr_text());

    // Two idle clients fill --max-connections: a third is closed at once;
    // after --idle-timeout the idle ones are closed and a terminal gets through.
    let mut idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(&p.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut third = TcpStream::connect(&p.addr).unwrap();
    assert!(closed_by_host(&mut third), "{}", p.stderr_text());
    std::thread::sleep(Duration::from_millis(1300));
    for s in &mut idle {
        assert!(closed_by_host(s), "{}", p.stderr_text());
    }
    assert!(sale_ok(&dir, &p.addr), "{}", p.stderr_text());
}
