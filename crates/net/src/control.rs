//! The admin protocol: one JSON object per line over a local TCP socket,
//! one JSON object per line back. `cardwire host-ctl` is its client; any
//! tool that can write a line works (`nc 127.0.0.1 8584`).
//!
//! | request | host | proxy | reply |
//! |---|---|---|---|
//! | `{"cmd":"status"}` | yes | yes | counters, issuer state, money check |
//! | `{"cmd":"issuer","state":"down"}` | yes | | `up`, `down`, `unreachable`, `slow` |
//! | `{"cmd":"rules"}` | yes | | the response rules |
//! | `{"cmd":"add-rule","rule":{"amount":"66.60","respond":"05"}}` | yes | | rule goes first |
//! | `{"cmd":"set-rules","rules":[...]}` | yes | | replaces them |
//! | `{"cmd":"balance","account":"alice"}` | yes | | card id, account id or `merchant:<id>` |
//! | `{"cmd":"accounts"}` | yes | | every balance |
//! | `{"cmd":"audit","terminal_prefix":"1000","since":0}` | yes | | per terminal: approved sales not reversed (STANs) after entry `since`, the last STAN seen, the last entry number |
//! | `{"cmd":"faults"}` | | yes | the fault plan |
//! | `{"cmd":"set-faults","plan":{"seed":1,"rules":[...]}}` | | yes | new connections use it |
//!
//! Every reply has `"ok": true` or `"ok": false, "error": "..."`.
//! The admin socket listens on loopback only by default: it can change
//! what the host answers, so do not expose it.

use std::net::SocketAddr;

use cardwire_engine::config::IssuerState;
use cardwire_engine::fault::FaultPlan;
use cardwire_engine::rules::ResponseRule;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::NetError;

/// An admin request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ControlRequest {
    /// Counters.
    Status,
    /// Sets the issuer state.
    Issuer {
        /// New state.
        state: IssuerState,
    },
    /// Lists the response rules.
    Rules,
    /// Adds a rule in front.
    AddRule {
        /// The rule.
        rule: ResponseRule,
    },
    /// Replaces every rule.
    SetRules {
        /// The rules.
        rules: Vec<ResponseRule>,
    },
    /// One balance.
    Balance {
        /// Card id, account id or `merchant:<id>`.
        account: String,
    },
    /// Every balance.
    Accounts,
    /// Approved debits not reversed, per terminal.
    Audit {
        /// Only terminals whose id starts with this.
        #[serde(default)]
        terminal_prefix: String,
        /// Only entries after this sequence number (the reply's
        /// `last_seq` of an earlier audit).
        #[serde(default)]
        since: u64,
    },
    /// The proxy's fault plan.
    Faults,
    /// Replaces the proxy's fault plan (for new connections).
    SetFaults {
        /// The plan.
        plan: FaultPlan,
    },
}

/// An error reply.
pub fn error_reply(msg: impl core::fmt::Display) -> Value {
    json!({"ok": false, "error": msg.to_string()})
}

/// Sends one request and returns the reply.
///
/// # Errors
///
/// [`NetError::Io`] when the admin socket cannot be reached,
/// [`NetError::Other`] for a reply that is not JSON.
pub async fn request(addr: SocketAddr, req: &Value) -> Result<Value, NetError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| NetError::io(format!("connecting to the admin socket {addr}"), e))?;
    let (rd, mut wr) = stream.into_split();
    let mut line = serde_json::to_string(req).map_err(|e| NetError::Other(e.to_string()))?;
    line.push('\n');
    wr.write_all(line.as_bytes())
        .await
        .map_err(|e| NetError::io("writing to the admin socket", e))?;
    let mut reply = String::new();
    BufReader::new(rd)
        .read_line(&mut reply)
        .await
        .map_err(|e| NetError::io("reading the admin reply", e))?;
    serde_json::from_str(&reply)
        .map_err(|e| NetError::Other(format!("admin reply is not JSON ({e}): {reply:?}")))
}

/// Serves the admin protocol on `listener`: each line is parsed as a
/// [`ControlRequest`] and answered by `handle`. Ends when `shutdown`
/// fires.
pub(crate) async fn serve<F, Fut>(
    listener: tokio::net::TcpListener,
    handle: F,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) where
    F: Fn(ControlRequest) -> Fut + Clone + Send + Sync + 'static,
    Fut: core::future::Future<Output = Value> + Send,
{
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let handle = handle.clone();
        tokio::spawn(async move {
            let (rd, mut wr) = stream.into_split();
            let mut lines = BufReader::new(rd).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim().is_empty() {
                    continue;
                }
                let reply = match serde_json::from_str::<ControlRequest>(&line) {
                    Ok(req) => handle(req).await,
                    Err(e) => error_reply(format!("bad request: {e}")),
                };
                let mut text = reply.to_string();
                text.push('\n');
                if wr.write_all(text.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
    }
}
