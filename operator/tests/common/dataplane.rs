//! Real data-plane processes for the operator's end-to-end tests: the
//! `portcullis` binary in operator mode, hyper backends on 127.0.0.1 that
//! EndpointSlices point at, and plain HTTP and TLS clients.
//!
//! The `portcullis` binary is not a target of this package, so it is taken
//! from the same target folder as the operator binary and must be built
//! first with `cargo build --workspace --bins`.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::replica::{Pki, SERVER_NAME};
use super::{DEADLINE, collect_logs};

/// Interval between checks of state that has no change notification.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Limit on one request or TLS handshake.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Flags of one data plane in operator mode.
pub struct DataPlaneFlags<'a> {
    pub operator: SocketAddr,
    pub pki: &'a Pki,
    pub replica: &'a str,
    pub cache: Option<&'a Path>,
    pub reject_route: Option<&'a str>,
}

/// A running `portcullis --operator ...` process, killed on drop.
pub struct DataPlane {
    child: Child,
    logs: Arc<Mutex<Vec<Value>>>,
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub admin: SocketAddr,
}

/// An HTTP/1.1 server on 127.0.0.1 that returns its name as the body of
/// every response, stopped on drop.
pub struct Backend {
    pub name: String,
    pub address: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A folder under the target folder, removed on drop.
pub struct TempDir(PathBuf);

// === impl DataPlane ===

impl DataPlane {
    /// Starts the binary and waits until its three listeners are bound.
    pub fn start(flags: &DataPlaneFlags<'_>) -> Self {
        let binary = data_plane_binary();
        let tls = &flags.pki.replica;
        let mut command = Command::new(&binary);
        command
            .args(["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"])
            .args(["--admin", "127.0.0.1:0", "--log-format", "json"])
            .arg("--operator")
            .arg(flags.operator.to_string())
            .args(["--operator-server-name", SERVER_NAME])
            .arg("--operator-ca")
            .arg(&tls.ca)
            .arg("--operator-cert")
            .arg(&tls.cert)
            .arg("--operator-key")
            .arg(&tls.key)
            .args(["--replica-name", flags.replica])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(cache) = flags.cache {
            command.arg("--snapshot-cache").arg(cache);
        }
        if let Some(route) = flags.reject_route {
            command.args(["--reject-snapshots-with-route", route]);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", binary.display()));

        let logs = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let sink = logs.clone();
        std::thread::spawn(move || collect_logs(stdout, &sink));
        let unbound: SocketAddr = ([127, 0, 0, 1], 0).into();
        let mut data_plane = Self {
            child,
            logs,
            http: unbound,
            https: unbound,
            admin: unbound,
        };
        data_plane.http = data_plane.wait_listener("http");
        data_plane.https = data_plane.wait_listener("https");
        data_plane.admin = data_plane.wait_listener("admin");
        data_plane
    }

    fn wait_listener(&self, name: &str) -> SocketAddr {
        let line = self.wait_log(&format!("{name} listener"), |fields| {
            fields["message"] == "listener started" && fields["listener"] == name
        });
        let address = line["fields"]["address"].as_str().expect("address field");
        address.parse().expect("listener address parses")
    }

    /// Returns every JSON log line so far.
    pub fn logs(&self) -> Vec<Value> {
        self.logs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Waits for a log line whose `fields` satisfy `accept`, and returns it.
    pub fn wait_log(&self, what: &str, accept: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let found = self.logs().into_iter().find(|line| accept(&line["fields"]));
            if let Some(line) = found {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "data plane logged no {what}; logs:\n{:#?}",
                self.logs()
            );
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Sends `GET path` with `Host: host` through the proxy.
    pub fn get(&self, host: &str, path: &str) -> (u16, String) {
        http_get(self.http, host, path)
    }

    /// Waits until `GET path` on `host` returns 200 with `body`.
    pub fn wait_body(&self, host: &str, path: &str, body: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let response = self.get(host, path);
            if response == (200, body.to_owned()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "GET http://{host}{path} returned {response:?}, expected 200 {body:?}"
            );
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits until the TLS listener presents `expected_pem` for `server_name`.
    pub fn wait_certificate(&self, server_name: &str, expected_pem: &str) {
        let expected = pem_base64(expected_pem);
        let deadline = Instant::now() + DEADLINE;
        loop {
            let presented = presented_certificate(self.https, server_name);
            if presented.as_deref().map(pem_base64).as_deref() == Some(expected.as_str()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the TLS listener never presented the expected certificate for {server_name}; \
                 last one: {presented:?}"
            );
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Returns whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Freezes the process with SIGSTOP, so it keeps its connections open
    /// but sends nothing.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Resumes a process frozen by [`DataPlane::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} failed");
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        // SIGKILL also ends a stopped process, so no SIGCONT is needed.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn data_plane_binary() -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_portcullis-operator")).with_file_name("portcullis");
    assert!(
        binary.is_file(),
        "{} is missing; build it with `cargo build --workspace --bins`",
        binary.display()
    );
    binary
}

// === impl Backend ===

impl Backend {
    /// Starts the server on an ephemeral port of 127.0.0.1.
    pub fn start(name: &str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("make the listener non-blocking");
        let address = listener.local_addr().expect("listener address");
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let body = Bytes::from(name.to_owned());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build the backend runtime");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("register the listener");
                tokio::select! {
                    () = accept_loop(listener, body) => {}
                    _ = stopped => {}
                }
            });
        });
        Self {
            name: name.to_owned(),
            address,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// Returns the port that EndpointSlices point at.
    pub fn port(&self) -> u16 {
        self.address.port()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, body: Bytes) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Accept errors such as a full file table pass, so retry later.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let body = body.clone();
        let service = service_fn(move |_request: Request<hyper::body::Incoming>| {
            let body = body.clone();
            async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
        });
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

// === impl TempDir ===

impl TempDir {
    /// Creates an empty folder named after `prefix`.
    pub fn new(prefix: &str) -> Self {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(super::unique(prefix));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the test folder");
        Self(path)
    }

    /// Returns the path of `name` in the folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// === clients ===

/// Sends one HTTP/1.1 GET and returns the status and the body. A connection
/// error counts as status 0, so callers can poll.
pub fn http_get(address: SocketAddr, host: &str, path: &str) -> (u16, String) {
    let exchange = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&address, REQUEST_TIMEOUT)?;
        stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        Ok(String::from_utf8_lossy(&response).into_owned())
    };
    match exchange() {
        Ok(response) => parse_response(&response),
        Err(_) => (0, String::new()),
    }
}

fn parse_response(response: &str) -> (u16, String) {
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut decoded = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        decoded.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    decoded
}

/// Connects with `openssl s_client`, sending `server_name` as SNI, and
/// returns the PEM of the certificate the listener presented.
///
/// NOTE: the OpenSSL command line replaces a rustls client because this
/// package has no rustls dev-dependency. The check compares the same DER.
fn presented_certificate(address: SocketAddr, server_name: &str) -> Option<String> {
    let timeout = REQUEST_TIMEOUT.as_secs().to_string();
    let output = Command::new("timeout")
        .args([timeout.as_str(), "openssl", "s_client"])
        .args(["-connect", &address.to_string(), "-servername", server_name])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let start = stdout.find("-----BEGIN CERTIFICATE-----")?;
    let end_marker = "-----END CERTIFICATE-----";
    let end = stdout[start..].find(end_marker)? + start + end_marker.len();
    Some(stdout[start..end].to_owned())
}

/// Returns the base64 body of a PEM block without line breaks, so two
/// encodings of the same DER compare equal.
fn pem_base64(pem: &str) -> String {
    pem.lines()
        .filter(|line| !line.starts_with("-----"))
        .flat_map(|line| line.trim().chars())
        .collect()
}

// === manifests ===

/// Builds a Service `name` on port 80 and its EndpointSlice with one ready
/// endpoint on 127.0.0.1 at `port`.
pub fn service(namespace: &str, name: &str, port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
         spec: {{ports: [{{name: http, port: 80, targetPort: http}}]}}\n---\n{}",
        endpoint_slice(namespace, name, port)
    )
}

/// Builds the EndpointSlice of Service `name` with one ready endpoint on
/// 127.0.0.1 at `port`.
pub fn endpoint_slice(namespace: &str, name: &str, port: u16) -> String {
    format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata: {{name: {name}-1, namespace: {namespace}, labels: {{kubernetes.io/service-name: {name}}}}}\n\
         addressType: IPv4\nports: [{{name: http, port: {port}}}]\n\
         endpoints: [{{addresses: [127.0.0.1], conditions: {{ready: true}}}}]\n"
    )
}
