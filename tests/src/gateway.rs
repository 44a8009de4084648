//! The `portcullis` process under test: start it on ephemeral ports, read
//! its JSON log lines, wait for readiness and kill it on drop.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use http::StatusCode;
use serde_json::Value;

use crate::client;
use crate::logs::{LogBuffer, capture};

pub use crate::config_dir::ConfigDir;
pub use crate::logs::LogLine;

/// Time allowed for the binary to bind its listeners and load a snapshot.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Interval between polls of admin endpoints while waiting on a condition.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Returns the path of the `portcullis` binary: `PORTCULLIS_BIN` when set,
/// else `debug/portcullis` under `CARGO_TARGET_DIR` or `<workspace>/target`.
pub fn binary_path() -> PathBuf {
    if let Some(path) = std::env::var_os("PORTCULLIS_BIN") {
        return PathBuf::from(path);
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target"),
    };
    target.join("debug").join("portcullis")
}

/// Returns the path of the workspace root, for tests that read files such
/// as `deploy/examples`.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Options for starting a [`Gateway`]; see [`Gateway::builder`].
#[derive(Debug, Default)]
pub struct GatewayBuilder {
    binary: Option<PathBuf>,
    config: Option<PathBuf>,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    tls: bool,
    skip_ready: bool,
}

/// A running `portcullis` process, killed when dropped.
#[derive(Debug)]
pub struct Gateway {
    child: Child,
    logs: Arc<LogBuffer>,
    http: SocketAddr,
    https: Option<SocketAddr>,
    admin: SocketAddr,
}

// === impl GatewayBuilder ===

impl GatewayBuilder {
    /// Runs `binary` instead of [`binary_path`].
    pub fn binary(mut self, binary: impl AsRef<Path>) -> Self {
        self.binary = Some(binary.as_ref().to_path_buf());
        self
    }

    /// Sets `--config`: a manifest file or a folder of manifests.
    pub fn config_dir(mut self, path: impl AsRef<Path>) -> Self {
        self.config = Some(path.as_ref().to_path_buf());
        self
    }

    /// Adds one command-line argument after the defaults.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds several command-line arguments after the defaults.
    pub fn args<I, A>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the process.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Adds `--tls-listen 127.0.0.1:0` and waits for the `https` listener.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Returns from [`GatewayBuilder::start`] once the listeners are bound,
    /// without waiting for `/readyz` to return 200.
    pub fn skip_ready(mut self) -> Self {
        self.skip_ready = true;
        self
    }

    /// Starts the process and waits for its listeners and, unless
    /// [`GatewayBuilder::skip_ready`] was called, for `/readyz` to return 200.
    ///
    /// # Panics
    /// Panics with the captured log when [`GatewayBuilder::try_start`] fails.
    pub async fn start(self) -> Gateway {
        match self.try_start().await {
            Ok(gateway) => gateway,
            Err(err) => panic!("gateway did not start: {err:#}"),
        }
    }

    /// Starts the process like [`GatewayBuilder::start`].
    ///
    /// # Errors
    /// Fails when the binary is missing, exits early, or does not log its
    /// listeners or become ready within [`START_TIMEOUT`]. The error carries
    /// the log lines seen so far.
    pub async fn try_start(self) -> anyhow::Result<Gateway> {
        let binary = self.binary.clone().unwrap_or_else(binary_path);
        if !binary.exists() {
            bail!(
                "{} not found; build it first: cargo build --workspace --bins",
                binary.display()
            );
        }
        let mut command = self.command(&binary);
        let mut child = command
            .spawn()
            .with_context(|| format!("failed to spawn {}", binary.display()))?;
        let logs = Arc::new(LogBuffer::default());
        capture(child.stdout.take(), &logs);
        capture(child.stderr.take(), &logs);

        let deadline = Instant::now() + START_TIMEOUT;
        let addresses = wait_for_listeners(&mut child, &logs, self.tls, deadline).await;
        let mut gateway = match addresses {
            Ok((http, https, admin)) => Gateway {
                child,
                logs,
                http,
                https,
                admin,
            },
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err.context(format!("log:\n{}", logs.dump())));
            }
        };
        let ready = match self.skip_ready {
            true => Ok(()),
            false => gateway.wait_until_ready(deadline).await,
        };
        if let Err(err) = ready {
            return Err(err.context(format!("log:\n{}", gateway.logs.dump())));
        }
        gateway.ensure_running()?;
        Ok(gateway)
    }

    fn command(&self, binary: &Path) -> Command {
        let mut command = Command::new(binary);
        if let Some(config) = &self.config {
            command.arg("--config").arg(config);
        }
        command.args(["--log-format", "json", "--listen", "127.0.0.1:0"]);
        command.args(["--admin", "127.0.0.1:0"]);
        if self.tls {
            command.args(["--tls-listen", "127.0.0.1:0"]);
        }
        command.args(&self.args);
        // RUST_LOG from the test environment would change what is logged.
        command.env_remove("RUST_LOG");
        command.envs(self.envs.iter().map(|(key, value)| (key, value)));
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

// === impl Gateway ===

impl Gateway {
    /// Returns a builder for a gateway process.
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder::default()
    }

    /// Bound address of the plain-text listener.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// Bound address of the TLS listener.
    ///
    /// # Panics
    /// Panics when the gateway was started without [`GatewayBuilder::tls`].
    pub fn https_addr(&self) -> SocketAddr {
        self.https
            .expect("gateway started without GatewayBuilder::tls()")
    }

    /// Bound address of the admin listener.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Returns every log line seen so far, in arrival order. Lines of stdout and
    /// stderr are interleaved as they were read.
    pub fn logs(&self) -> Vec<LogLine> {
        self.logs.snapshot()
    }

    /// Returns every log line so far as one string, for assertion messages.
    pub fn log_text(&self) -> String {
        self.logs.dump()
    }

    /// Waits for a log line that satisfies `predicate`, including lines
    /// logged before the call. Returns the first such line.
    ///
    /// # Panics
    /// Panics with the log when no line matches within `timeout`.
    pub async fn wait_for_log<F>(&self, predicate: F, timeout: Duration) -> LogLine
    where
        F: Fn(&LogLine) -> bool,
    {
        let deadline = Instant::now() + timeout;
        match self.logs.wait_for(&predicate, 0, deadline).await {
            Some(line) => line,
            None => panic!(
                "no matching log line within {timeout:?}; log:\n{}",
                self.logs.dump()
            ),
        }
    }

    /// Waits for a log line with `fields.message == message` that arrives
    /// after the first `skip` lines, so a test can ignore older lines by
    /// passing `gateway.logs().len()` taken before an action.
    ///
    /// # Panics
    /// Panics with the log when no line matches within `timeout`.
    pub async fn wait_for_message_after(
        &self,
        message: &str,
        skip: usize,
        timeout: Duration,
    ) -> LogLine {
        let deadline = Instant::now() + timeout;
        let predicate = |line: &LogLine| line.message() == Some(message);
        match self.logs.wait_for(&predicate, skip, deadline).await {
            Some(line) => line,
            None => panic!(
                "no {message:?} log line within {timeout:?}; log:\n{}",
                self.logs.dump()
            ),
        }
    }

    /// Peak resident set size (`VmHWM` of `/proc/<pid>/status`), in KiB.
    ///
    /// # Panics
    /// Panics when the status file cannot be read or has no `VmHWM` line.
    pub fn peak_rss_kib(&self) -> u64 {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("failed to read {path}: {err}"));
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmHWM line in {path}"))
    }

    /// Fetches `GET /config` from the admin listener as JSON.
    ///
    /// # Panics
    /// Panics when the request fails or the body is not JSON.
    pub async fn config(&self) -> Value {
        let response = client::get(self.admin, "localhost", "/config").await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "GET /config: {}",
            response.text()
        );
        response.json()
    }

    /// Returns the `version` field of `GET /config`, or an empty string when
    /// the field is not a string.
    pub async fn config_version(&self) -> String {
        let config = self.config().await;
        config["version"].as_str().unwrap_or_default().to_owned()
    }

    /// Polls `GET /config` until its version differs from `old` and
    /// returns the new version.
    ///
    /// # Panics
    /// Panics with the log when the version stays `old` for `timeout`.
    pub async fn wait_for_version_change(&self, old: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let version = self.config_version().await;
            if version != old {
                return version;
            }
            if Instant::now() >= deadline {
                panic!(
                    "config version stayed {old} for {timeout:?}; log:\n{}",
                    self.logs.dump()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Sends SIGTERM, as Kubernetes does before it stops a pod.
    ///
    /// # Panics
    /// Panics when the `kill` command cannot be run.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("failed to run kill");
        assert!(
            status.success(),
            "kill -TERM {} failed: {status}",
            self.pid()
        );
    }

    /// Waits for the process to exit and returns its status, or `None`
    /// when it still runs after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn wait_until_ready(&mut self, deadline: Instant) -> anyhow::Result<()> {
        loop {
            self.ensure_running()?;
            let ready = client::try_get(self.admin, "localhost", "/readyz").await;
            if matches!(ready, Ok(ref response) if response.status == StatusCode::OK) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("/readyz did not return 200 within {START_TIMEOUT:?} (last: {ready:?})");
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    fn ensure_running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait() {
            Ok(Some(status)) => bail!("gateway exited early with {status}"),
            Ok(None) => Ok(()),
            Err(err) => Err(err).context("failed to poll the gateway process"),
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for the `listener started` lines and returns the http, https and
/// admin addresses.
async fn wait_for_listeners(
    child: &mut Child,
    logs: &LogBuffer,
    tls: bool,
    deadline: Instant,
) -> anyhow::Result<(SocketAddr, Option<SocketAddr>, SocketAddr)> {
    loop {
        let http = listener_address(logs, "http");
        let https = listener_address(logs, "https");
        let admin = listener_address(logs, "admin");
        let https_ready = !tls || https.is_some();
        if let (Some(http), Some(admin), true) = (http, admin, https_ready) {
            return Ok((http, https, admin));
        }
        if let Some(status) = child
            .try_wait()
            .context("failed to poll the gateway process")?
        {
            bail!("gateway exited with {status} before logging its listeners");
        }
        if Instant::now() >= deadline {
            bail!("no `listener started` lines within {START_TIMEOUT:?}");
        }
        let wait = POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now()));
        let _ = tokio::time::timeout(wait, logs.changed.notified()).await;
    }
}

fn listener_address(logs: &LogBuffer, listener: &str) -> Option<SocketAddr> {
    let line = logs.find(
        &|line| {
            line.message() == Some("listener started") && line.field("listener") == Some(listener)
        },
        0,
    )?;
    line.field("address")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the binary that logs its listeners and then waits.
    const FAKE_BINARY: &str = r#"#!/bin/sh
echo 'not json'
echo '{"level":"INFO","fields":{"message":"listener started","listener":"http","address":"127.0.0.1:4001"}}'
echo '{"level":"INFO","fields":{"message":"listener started","listener":"admin","address":"127.0.0.1:4002"}}' >&2
echo '{"level":"INFO","fields":{"message":"snapshot applied","version":"abc","generation":1}}'
exec sleep 30
"#;

    fn fake_binary(dir: &ConfigDir) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.write("fake-portcullis", FAKE_BINARY);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("failed to make the fake binary executable");
        path
    }

    #[tokio::test]
    async fn builder_reads_listener_addresses_from_logs() {
        let dir = ConfigDir::new();
        let gateway = Gateway::builder()
            .binary(fake_binary(&dir))
            .skip_ready()
            .start()
            .await;

        assert_eq!(
            gateway.http_addr(),
            "127.0.0.1:4001".parse().expect("valid address")
        );
        assert_eq!(
            gateway.admin_addr(),
            "127.0.0.1:4002".parse().expect("valid address")
        );
        let applied = gateway
            .wait_for_log(
                |line| line.message() == Some("snapshot applied"),
                START_TIMEOUT,
            )
            .await;
        assert_eq!(applied.field("version"), Some("abc"));
        assert!(
            gateway
                .logs()
                .iter()
                .any(|line| line.raw == "not json" && line.json.is_none())
        );
        assert!(gateway.peak_rss_kib() > 0);
    }

    #[tokio::test]
    async fn builder_reports_missing_binary() {
        let dir = ConfigDir::new();
        let result = Gateway::builder()
            .binary(dir.path().join("absent"))
            .try_start()
            .await;

        let message = format!("{:#}", result.expect_err("start fails"));
        assert!(
            message.contains("cargo build --workspace --bins"),
            "{message}"
        );
    }

    #[test]
    fn config_dir_write_replaces_and_drop_removes() {
        let dir = ConfigDir::new();
        let path = dir.write("a.yaml", "one");
        dir.write("a.yaml", "two");
        assert_eq!(std::fs::read_to_string(&path).expect("file exists"), "two");
        let entries = std::fs::read_dir(dir.path())
            .expect("folder exists")
            .count();
        assert_eq!(entries, 1, "no temporary file left behind");

        let folder = dir.path().to_path_buf();
        drop(dir);
        assert!(!folder.exists());
    }
}
