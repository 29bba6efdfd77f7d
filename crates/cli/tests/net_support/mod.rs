//! Helpers for the network tests: start `cardwire host` / `cardwire proxy`
//! on ephemeral loopback ports, read the addresses they print, run
//! `cardwire` commands, and kill everything on drop.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cardwire")
}

/// A background `cardwire` process, killed (SIGKILL) on drop.
pub struct Proc {
    pub child: Child,
    pub addr: String,
    pub admin: Option<String>,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGKILL, as `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGINT, as Ctrl-C, and wait for the exit status.
    pub fn interrupt(&mut self) -> std::process::ExitStatus {
        self.signal("INT")
    }

    /// SIGTERM, as a service manager stops it, and wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal("TERM")
    }

    fn signal(&mut self, name: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "no exit after SIG{name}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str], marker: &str) -> Proc {
    spawn_with_env(args, &[], marker)
}

fn spawn_with_env(args: &[&str], env: &[(&str, &str)], marker: &str) -> Proc {
    let mut child = Command::new(bin())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    let store = Arc::clone(&lines);
    let marker = marker.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if line.contains(&marker) {
                let _ = tx.send(line.clone());
            }
            store.lock().unwrap().push(line);
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("{args:?} did not start: {:?}", lines.lock().unwrap())
        });
    Proc {
        child,
        addr: String::new(),
        admin: None,
        stderr: lines,
    }
    .with_line(&first)
}

impl Proc {
    fn with_line(mut self, line: &str) -> Self {
        // "... listening on ADDR (... admin ADDR); ..." or "proxy: ADDR -> ..."
        let after = |key: &str| {
            line.split(key)
                .nth(1)
                .map(|r| r.split([' ', ')', ';', ',']).next().unwrap().to_owned())
        };
        self.addr = after("listening on ").or_else(|| after("proxy: ")).unwrap();
        self.admin = after("admin ").filter(|a| a != "off");
        self
    }
}

/// `cardwire host --listen 127.0.0.1:0 --admin 127.0.0.1:0 ARGS`.
pub fn host(args: &[&str]) -> Proc {
    let mut all = vec!["host"];
    if !args.contains(&"--listen") {
        all.extend(["--listen", "127.0.0.1:0"]);
    }
    if !args.contains(&"--admin") {
        all.extend(["--admin", "127.0.0.1:0"]);
    }
    all.extend_from_slice(args);
    spawn(&all, "listening on")
}

/// [`host`] with environment variables (`RUST_LOG`).
#[allow(dead_code)]
pub fn host_with_env(args: &[&str], env: &[(&str, &str)]) -> Proc {
    let mut all = vec!["host", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"];
    all.extend_from_slice(args);
    spawn_with_env(&all, env, "listening on")
}

/// `cardwire proxy --listen 127.0.0.1:0 --upstream UP ARGS`.
pub fn proxy(upstream: &str, args: &[&str]) -> Proc {
    let mut all = vec!["proxy", "--listen", "127.0.0.1:0", "--upstream", upstream];
    all.extend_from_slice(args);
    spawn(&all, "cardwire proxy:")
}

/// Runs `cardwire ARGS` in `dir`, with `dir` as the state directory
/// (terminal state files stay with the test).
pub fn cardwire(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env("XDG_STATE_HOME", dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh scratch directory under the target dir.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cardwire-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `cardwire host-ctl --admin ADMIN ARGS` as JSON.
pub fn ctl(admin: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["host-ctl", "--admin", admin];
    all.extend_from_slice(args);
    let o = Command::new(bin()).args(&all).output().unwrap();
    assert!(o.status.success(), "host-ctl {args:?}: {}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

pub fn balance(admin: &str, card: &str) -> String {
    ctl(admin, &["balance", card])["balance"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Reads until the host closes the connection; `false` if it stays open
/// for 3 s.
pub fn closed_by_host(s: &mut std::net::TcpStream) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}
