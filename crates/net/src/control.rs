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
//! what the host answers. Binding it to any other address is refused
//! unless a token is set; with a token, every request must carry it as
//! `"token": "..."` (on loopback too). A request line longer than
//! [`MAX_LINE`] closes the connection.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;

use cardwire_engine::config::IssuerState;
use cardwire_engine::fault::FaultPlan;
use cardwire_engine::rules::ResponseRule;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Decoder, LinesCodec};

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

/// The secret every admin request must carry. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(Arc<str>);

impl AdminToken {
    /// A token; `None` for an empty one.
    pub fn new(token: &str) -> Option<Self> {
        (!token.is_empty()).then(|| AdminToken(Arc::from(token)))
    }

    /// The secret.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl core::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AdminToken(<hidden>)")
    }
}

/// The longest request line the admin socket reads (64 KiB).
pub const MAX_LINE: usize = 64 * 1024;

/// Binds an admin socket. Anything but a loopback address needs a token:
/// the socket can change what the host answers and read balances.
///
/// # Errors
///
/// [`NetError::Other`] for a non-loopback address without a token,
/// [`NetError::Io`] when the address cannot be bound.
pub async fn bind(addr: SocketAddr, token: Option<&AdminToken>) -> Result<TcpListener, NetError> {
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(NetError::Other(format!(
            "refusing to open the admin socket on {addr}, which is not loopback, without --admin-token"
        )));
    }
    TcpListener::bind(addr)
        .await
        .map_err(|e| NetError::io(format!("binding the admin socket {addr}"), e))
}

/// Sends one request and returns the reply.
///
/// # Errors
///
/// [`NetError::Io`] when the admin socket cannot be reached,
/// [`NetError::Other`] for a reply that is not JSON.
pub async fn request(addr: SocketAddr, req: &Value) -> Result<Value, NetError> {
    request_with_token(addr, req, None).await
}

/// Sends one request carrying `token` (when given) and returns the reply.
///
/// # Errors
///
/// As [`request`].
pub async fn request_with_token(
    addr: SocketAddr,
    req: &Value,
    token: Option<&AdminToken>,
) -> Result<Value, NetError> {
    let mut req = req.clone();
    if let (Some(t), Some(o)) = (token, req.as_object_mut()) {
        o.insert("token".into(), Value::String(t.expose().to_owned()));
    }
    let req = &req;
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
/// [`ControlRequest`] and answered by `handle`. With a `token`, a request
/// without it (field `"token"`) is refused. Ends when `shutdown` fires.
pub(crate) async fn serve<F, Fut>(
    listener: TcpListener,
    token: Option<AdminToken>,
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
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let handle = handle.clone();
        let token = token.clone();
        tokio::spawn(async move {
            if let Err(why) = serve_conn(stream, token.as_ref(), handle).await {
                tracing::warn!("admin connection from {peer}: {why}");
            }
        });
    }
}

/// One admin connection: lines in, replies out, until EOF or a line over
/// [`MAX_LINE`] (an error: the connection closes).
async fn serve_conn<F, Fut>(
    stream: TcpStream,
    token: Option<&AdminToken>,
    handle: F,
) -> Result<(), String>
where
    F: Fn(ControlRequest) -> Fut,
    Fut: core::future::Future<Output = Value>,
{
    let (mut rd, mut wr) = stream.into_split();
    let mut codec = LinesCodec::new_with_max_length(MAX_LINE);
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        let line = match codec.decode(&mut buf) {
            Ok(Some(line)) => line,
            Ok(None) => {
                let n = rd
                    .read_buf(&mut buf)
                    .await
                    .map_err(|e| format!("read error: {e}"))?;
                if n > 0 {
                    continue;
                }
                match codec.decode_eof(&mut buf) {
                    Ok(Some(line)) => line,
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(format!("closed: {e}")),
                }
            }
            Err(e) => return Err(format!("closed: {e} (limit {MAX_LINE} bytes)")),
        };
        if line.trim().is_empty() {
            continue;
        }
        let reply = match parse_request(&line, token) {
            Ok(req) => handle(req).await,
            Err(e) => error_reply(e),
        };
        let mut text = reply.to_string();
        text.push('\n');
        wr.write_all(text.as_bytes())
            .await
            .map_err(|e| format!("write error: {e}"))?;
    }
}

/// Parses a request line and checks its token.
fn parse_request(line: &str, token: Option<&AdminToken>) -> Result<ControlRequest, String> {
    let mut v: Value = serde_json::from_str(line).map_err(|e| format!("bad request: {e}"))?;
    let given = v
        .as_object_mut()
        .and_then(|o| o.remove("token"))
        .and_then(|t| t.as_str().map(str::to_owned));
    if let Some(want) = token {
        if !given
            .as_deref()
            .is_some_and(|g| same_secret(g, want.expose()))
        {
            return Err("bad request: missing or wrong admin token".into());
        }
    }
    serde_json::from_value(v).map_err(|e| format!("bad request: {e}"))
}

/// Compares two secrets in time that depends on their lengths only.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
