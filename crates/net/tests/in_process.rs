//! The library API in one process: a host, a proxy with a fault plan and
//! engine terminals on loopback TCP, driven by tokio.

#![allow(missing_docs, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardwire_codec::specs;
use cardwire_engine::fault::{Fault, FaultPlan, FaultRule};
use cardwire_engine::terminal::{Action, Card, Terminal, TerminalConfig};
use cardwire_engine::{HostConfig, Money};
use cardwire_net::framing::FrameCodec;
use cardwire_net::host::{self, HostOptions};
use cardwire_net::proxy::{self, ProxyOptions};
use cardwire_net::terminal::{Connection, Dial, run_action};

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn alice() -> Card {
    let c = HostConfig::demo()
        .cards
        .into_iter()
        .find(|c| c.id == "alice")
        .unwrap();
    Card {
        id: Some(c.id),
        pan: c.pan,
        expiry: Some(c.expiry),
        pin: Some(c.pin),
        entry: Default::default(),
        track2: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_and_duplicated_replies_through_the_proxy() {
    let spec = Arc::new(specs::cups().clone());
    let h = host::start(HostOptions {
        listen: Some(any_port()),
        admin: None,
        ..HostOptions::demo(Arc::clone(&spec))
    })
    .await
    .unwrap();
    let plan = FaultPlan {
        seed: 3,
        rules: vec![
            FaultRule::always(Fault::DelayResponse)
                .on(cardwire_codec::TxnKind::BalanceInquiry)
                .delay(Duration::from_millis(300)),
            FaultRule::always(Fault::DuplicateResponse).on(cardwire_codec::TxnKind::Sale),
        ],
    };
    let p = proxy::start(ProxyOptions {
        spec: Arc::clone(&spec),
        listen: any_port(),
        upstream: h.addr.unwrap().into(),
        plan,
        admin: None,
        admin_token: None,
        journal: None,
        journal_rotation: Default::default(),
        decode_mode: Default::default(),
        codec: FrameCodec::default(),
        verbose: false,
        max_connections: 100,
        idle_timeout: Duration::from_secs(60),
        frame_timeout: Duration::from_secs(10),
    })
    .await
    .unwrap();
    let dial = Dial::new(p.addr, FrameCodec::default(), &spec);
    let mut term = Terminal::new(
        Arc::clone(&spec),
        TerminalConfig {
            timeout: Duration::from_secs(5),
            ..TerminalConfig::default()
        },
    )
    .unwrap();
    let mut conn: Option<Connection> = None;

    // The balance reply is held 300 ms by the link, still within the timeout.
    let t = Instant::now();
    let o = run_action(
        &mut term,
        &mut conn,
        &dial,
        Action::Balance { card: alice() },
        |_| {},
    )
    .await
    .unwrap();
    assert!(o.approved, "{o:?}");
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(o.balance, Some(500_000));

    // The sale's reply arrives twice: the copy is ignored, one debit.
    let mut unexpected = 0;
    let o = run_action(
        &mut term,
        &mut conn,
        &dial,
        Action::sale(alice(), Money(1_000)),
        |_| {},
    )
    .await
    .unwrap();
    assert!(o.approved, "{o:?}");
    let o2 = run_action(
        &mut term,
        &mut conn,
        &dial,
        Action::Balance { card: alice() },
        |p| {
            if let cardwire_net::terminal::Progress::Event(
                cardwire_engine::terminal::TerminalEvent::UnexpectedReply { .. },
                _,
            ) = p
            {
                unexpected += 1;
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(
        unexpected, 1,
        "the duplicated sale reply is seen and ignored"
    );
    assert_eq!(o2.balance, Some(499_000));
    assert!(term.pending_reversal().is_none());

    p.shutdown().await;
    h.shutdown().await.unwrap();
}
