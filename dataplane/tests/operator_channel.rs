//! Operator mode of the `portcullis` binary against an in-process
//! `ChannelServer`: snapshots are applied and acknowledged, the NACK test
//! hook keeps the previous snapshot, the persisted snapshot serves while the
//! operator is down, a damaged cache is rejected, and a replica with a
//! certificate from another CA gets nothing.
//!
//! Everything runs on 127.0.0.1 with ports chosen by the kernel, and
//! certificates are made at test time.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use portcullis_channel::{ChannelServer, ReplicaStatus, TlsFiles, save_persisted};
use portcullis_compiler::{Snapshot, compile, parse_documents};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Limit on every wait for a condition. Generous because a reconnect after
/// an outage waits out the channel's backoff, which grows to several
/// seconds.
const DEADLINE: Duration = Duration::from_secs(40);

/// Interval between checks of state that has no change notification.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// DNS name in the operator's test certificate.
const SERVER_NAME: &str = "operator.portcullis.test";

// === certificates ===

/// A folder under the target directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "operator-channel-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the test folder");
        Self(path)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.file(name);
        std::fs::write(&path, content).expect("write a test file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A certificate authority made at test time.
struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl TestCa {
    fn new(common_name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("empty SAN list");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("generate the CA key");
        let cert = params.self_signed(&key).expect("self-sign the CA");
        Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Issues a leaf for `name` and writes `<prefix>-{ca,cert,key}.pem`,
    /// with `trusted` as the CA of the peer.
    fn leaf_files(
        &self,
        dir: &TempDir,
        prefix: &str,
        name: &str,
        usage: ExtendedKeyUsagePurpose,
        trusted: &TestCa,
    ) -> TlsFiles {
        let mut params = CertificateParams::new(vec![name.to_owned()]).expect("valid DNS name");
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("generate a leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign a leaf");
        TlsFiles {
            ca: dir.write(&format!("{prefix}-ca.pem"), &trusted.cert_pem),
            cert: dir.write(&format!("{prefix}-cert.pem"), &cert.pem()),
            key: dir.write(&format!("{prefix}-key.pem"), &key.serialize_pem()),
        }
    }
}

/// The channel's CA with the operator's and one replica's files.
struct Pki {
    dir: TempDir,
    ca: TestCa,
    server: TlsFiles,
    client: TlsFiles,
}

impl Pki {
    fn new() -> Self {
        let dir = TempDir::new();
        let ca = TestCa::new("Portcullis channel test CA");
        let server = ca.leaf_files(
            &dir,
            "server",
            SERVER_NAME,
            ExtendedKeyUsagePurpose::ServerAuth,
            &ca,
        );
        let client = ca.leaf_files(
            &dir,
            "client",
            "replica.portcullis.test",
            ExtendedKeyUsagePurpose::ClientAuth,
            &ca,
        );
        Self {
            dir,
            ca,
            server,
            client,
        }
    }
}

// === operator side ===

/// Compiles Routes with a direct response each: for `(name, body)`,
/// `GET http://<name>.example.com/` returns 200 with `body`.
fn snapshot_of(routes: &[(&str, &str)]) -> Snapshot {
    let mut yaml = String::new();
    for (name, body) in routes {
        yaml.push_str(&format!(
            "---\napiVersion: portcullis.io/v1alpha1\nkind: Route\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  hostnames: [{name}.example.com]\n  rules:\n  - matches: [{{path: {{type: Prefix, value: /}}}}]\n    directResponse: {{status: 200, body: {body}}}\n"
        ));
    }
    let (resources, diagnostics) = parse_documents(&yaml, "operator-channel-test.yaml");
    assert!(
        diagnostics.is_empty(),
        "parse diagnostics: {diagnostics:#?}"
    );
    let compiled = compile(&resources);
    assert_eq!(
        compiled.snapshot.ir().routes.len(),
        routes.len(),
        "every route accepted: {:#?}",
        compiled.diagnostics
    );
    compiled.snapshot
}

/// A channel server accepting on 127.0.0.1 until stopped.
struct Operator {
    server: ChannelServer,
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Operator {
    async fn start(files: &TlsFiles) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        Self::start_on(files, listener)
    }

    fn start_on(files: &TlsFiles, listener: TcpListener) -> Self {
        let server = ChannelServer::from_files(files).expect("server TLS files load");
        let address = listener.local_addr().expect("listener address");
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = server.clone();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            serving.serve(listener, shutdown).await
        });
        Self {
            server,
            address,
            stop: Some(stop),
            task,
        }
    }

    fn publish(&self, snapshot: &Snapshot) {
        self.server.publish(snapshot).expect("snapshot publishes");
    }

    /// Stops accepting and closes every connection.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = within("server stop", &mut self.task).await;
        served
            .expect("server task completes")
            .expect("serve returns Ok");
    }

    /// Waits until `replica` is listed and satisfies `accept`.
    async fn wait_replica(
        &self,
        replica: &str,
        mut accept: impl FnMut(&ReplicaStatus) -> bool,
    ) -> ReplicaStatus {
        let mut watch = self.server.watch_replicas();
        let wait = async {
            loop {
                let current = watch.current();
                let found = current.iter().find(|status| status.replica == replica);
                if let Some(status) = found.filter(|status| accept(status)) {
                    return status.clone();
                }
                assert!(watch.changed().await, "server dropped while waiting");
            }
        };
        match tokio::time::timeout(DEADLINE, wait).await {
            Ok(status) => status,
            Err(_) => panic!(
                "replica {replica} never matched; replicas: {:#?}",
                self.server.replicas()
            ),
        }
    }

    async fn wait_acked(&self, replica: &str, version: &str) -> ReplicaStatus {
        self.wait_replica(replica, |status| {
            status.acked_version.as_deref() == Some(version)
        })
        .await
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// === data plane side ===

/// A running `portcullis` binary in operator mode, killed on drop.
struct DataPlane {
    child: Child,
    logs: watch::Receiver<Vec<Value>>,
    http: SocketAddr,
    admin: SocketAddr,
}

/// Flags of one data plane.
struct DataPlaneFlags<'a> {
    operator: SocketAddr,
    tls: &'a TlsFiles,
    replica: &'a str,
    cache: Option<&'a Path>,
    reject_route: Option<&'a str>,
}

impl DataPlane {
    async fn start(flags: DataPlaneFlags<'_>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        command
            .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .args(["--log-format", "json", "--log-level", "info"])
            .arg("--operator")
            .arg(flags.operator.to_string())
            .args(["--operator-server-name", SERVER_NAME])
            .arg("--operator-ca")
            .arg(&flags.tls.ca)
            .arg("--operator-cert")
            .arg(&flags.tls.cert)
            .arg("--operator-key")
            .arg(&flags.tls.key)
            .args(["--replica-name", flags.replica])
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(cache) = flags.cache {
            command.arg("--snapshot-cache").arg(cache);
        }
        if let Some(route) = flags.reject_route {
            command.args(["--reject-snapshots-with-route", route]);
        }
        let mut child = command.spawn().expect("start the portcullis binary");
        let stdout = child.stdout.take().expect("stdout is piped");
        let logs = collect_logs(stdout);

        let mut data_plane = Self {
            child,
            logs,
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        data_plane.http = data_plane.listener("http").await;
        data_plane.admin = data_plane.listener("admin").await;
        data_plane
    }

    async fn listener(&mut self, name: &str) -> SocketAddr {
        let line = self
            .wait_log(|fields| {
                fields["message"] == "listener started" && fields["listener"] == name
            })
            .await;
        let address = line["fields"]["address"].as_str().expect("address field");
        address.parse().expect("listener address parses")
    }

    /// Waits for a log line whose `fields` satisfy `accept`, and returns it.
    async fn wait_log(&mut self, mut accept: impl FnMut(&Value) -> bool) -> Value {
        let wait = async {
            let found = self
                .logs
                .wait_for(|lines| lines.iter().any(|line| accept(&line["fields"])))
                .await;
            found.is_ok()
        };
        let found = tokio::time::timeout(DEADLINE, wait).await.unwrap_or(false);
        let lines = self.logs.borrow().clone();
        assert!(found, "expected log line not found; output: {lines:#?}");
        let line = lines.iter().find(|line| accept(&line["fields"]));
        line.expect("line found above").clone()
    }

    async fn ready(&self) -> u16 {
        get(self.admin, "localhost", "/readyz").await.0
    }

    async fn wait_ready(&self) {
        poll_until("/readyz answers 200", || async {
            self.ready().await == 200
        })
        .await;
    }

    /// Waits until `host` returns `body` through the proxy.
    async fn wait_serving(&self, host: &str, body: &str) {
        poll_until(&format!("{host} returns {body:?}"), || async {
            let (status, text) = get(self.http, host, "/").await;
            status == 200 && text == body
        })
        .await;
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads JSON log lines on a thread into a watch channel; lines that are
/// not JSON are kept as strings.
fn collect_logs(stdout: std::process::ChildStdout) -> watch::Receiver<Vec<Value>> {
    let (sender, receiver) = watch::channel(Vec::new());
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
            sender.send_modify(|lines| lines.push(value));
        }
    });
    receiver
}

/// Sends one HTTP/1.1 GET and returns the status and the body. Any
/// connection error counts as status 0, so callers can poll.
async fn get(address: SocketAddr, host: &str, path: &str) -> (u16, String) {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = match tokio::time::timeout(Duration::from_secs(5), exchange).await {
        Ok(Ok(response)) => String::from_utf8_lossy(&response).into_owned(),
        _ => return (0, String::new()),
    };
    parse_response(&response)
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
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Awaits `future`, failing the test after [`DEADLINE`].
async fn within<T>(description: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, future).await {
        Ok(value) => value,
        Err(_) => panic!("{description} did not finish within {DEADLINE:?}"),
    }
}

/// Checks `condition` every [`POLL_INTERVAL`] until it holds, failing
/// after [`DEADLINE`].
async fn poll_until<F, Fut>(description: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let wait = async {
        while !condition().await {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    };
    if tokio::time::timeout(DEADLINE, wait).await.is_err() {
        panic!("{description} did not happen within {DEADLINE:?}");
    }
}

// === tests ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_versions_are_served_and_acked() {
    let pki = Pki::new();
    let operator = Operator::start(&pki.server).await;
    let first = snapshot_of(&[("web", "one")]);
    operator.publish(&first);

    let mut data_plane = DataPlane::start(DataPlaneFlags {
        operator: operator.address,
        tls: &pki.client,
        replica: "replica-a",
        cache: None,
        reject_route: None,
    })
    .await;
    let status = operator.wait_acked("replica-a", first.version()).await;
    assert!(status.connected);
    assert_eq!(status.nacked, None);
    data_plane.wait_ready().await;
    assert_eq!(
        get(data_plane.http, "web.example.com", "/").await,
        (200, "one".to_owned())
    );
    let applied = data_plane
        .wait_log(|fields| {
            fields["message"] == "snapshot applied" && fields["version"] == first.version()
        })
        .await;
    assert_eq!(applied["fields"]["generation"], 1);

    let second = snapshot_of(&[("web", "two"), ("api", "three")]);
    operator.publish(&second);
    operator.wait_acked("replica-a", second.version()).await;
    data_plane.wait_serving("web.example.com", "two").await;
    assert_eq!(
        get(data_plane.http, "api.example.com", "/").await,
        (200, "three".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_hook_keeps_previous_snapshot() {
    let pki = Pki::new();
    let operator = Operator::start(&pki.server).await;
    let good = snapshot_of(&[("web", "good")]);
    operator.publish(&good);
    let data_plane = DataPlane::start(DataPlaneFlags {
        operator: operator.address,
        tls: &pki.client,
        replica: "replica-nack",
        cache: None,
        reject_route: Some("default/blocked"),
    })
    .await;
    operator.wait_acked("replica-nack", good.version()).await;

    let bad = snapshot_of(&[("web", "bad"), ("blocked", "never")]);
    operator.publish(&bad);
    let status = operator
        .wait_replica("replica-nack", |status| {
            status.nacked.as_ref().map(|nacked| nacked.version.as_str()) == Some(bad.version())
        })
        .await;
    let nacked = status.nacked.expect("nacked is set");
    assert!(
        nacked.reason.contains("default/blocked"),
        "reason names the Route: {}",
        nacked.reason
    );
    let resource = nacked.resource.expect("the Route is named as the resource");
    assert_eq!(resource.kind, "Route");
    assert_eq!(resource.namespace, "default");
    assert_eq!(resource.name, "blocked");
    assert_eq!(status.acked_version.as_deref(), Some(good.version()));

    assert_eq!(
        get(data_plane.http, "web.example.com", "/").await,
        (200, "good".to_owned())
    );
    let (blocked_status, _) = get(data_plane.http, "blocked.example.com", "/").await;
    assert_eq!(blocked_status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persisted_snapshot_serves_while_operator_is_down() {
    let pki = Pki::new();
    let cache = pki.dir.file("snapshot.json");
    let operator = Operator::start(&pki.server).await;
    let address = operator.address;
    let snapshot = snapshot_of(&[("web", "cached")]);
    operator.publish(&snapshot);
    let flags = || DataPlaneFlags {
        operator: address,
        tls: &pki.client,
        replica: "replica-cache",
        cache: Some(&cache),
        reject_route: None,
    };
    let data_plane = DataPlane::start(flags()).await;
    operator
        .wait_acked("replica-cache", snapshot.version())
        .await;
    assert!(cache.is_file(), "the acknowledged snapshot is saved");

    // The data plane keeps serving while the operator is gone.
    operator.stop().await;
    assert_eq!(
        get(data_plane.http, "web.example.com", "/").await,
        (200, "cached".to_owned())
    );
    assert_eq!(data_plane.ready().await, 200);

    // A restart without the operator serves the persisted snapshot.
    data_plane.stop();
    let mut restarted = DataPlane::start(flags()).await;
    restarted.wait_ready().await;
    assert_eq!(
        get(restarted.http, "web.example.com", "/").await,
        (200, "cached".to_owned())
    );
    restarted
        .wait_log(|fields| fields["message"] == "snapshot applied" && fields["source"] == "cache")
        .await;

    // The operator comes back on the same address and the replica converges.
    let listener = TcpListener::bind(address)
        .await
        .expect("rebind the operator address");
    let operator = Operator::start_on(&pki.server, listener);
    operator.publish(&snapshot);
    let status = operator
        .wait_acked("replica-cache", snapshot.version())
        .await;
    assert_eq!(status.reported_version.as_deref(), Some(snapshot.version()));
    assert_eq!(
        get(restarted.http, "web.example.com", "/").await,
        (200, "cached".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_cache_is_rejected_and_logged() {
    let pki = Pki::new();
    let cache = pki.dir.file("snapshot.json");
    let snapshot = snapshot_of(&[("web", "fresh")]);
    save_persisted(&cache, snapshot.version(), snapshot.ir()).expect("save the snapshot");
    let mut bytes = std::fs::read(&cache).expect("read the saved file");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&cache, &bytes).expect("write the corrupted file");

    let operator = Operator::start(&pki.server).await;
    let mut data_plane = DataPlane::start(DataPlaneFlags {
        operator: operator.address,
        tls: &pki.client,
        replica: "replica-corrupt",
        cache: Some(&cache),
        reject_route: None,
    })
    .await;
    let file = cache.display().to_string();
    let line = data_plane
        .wait_log(|fields| {
            fields["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("persisted snapshot rejected"))
        })
        .await;
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["fields"]["file"], file.as_str());
    let error = line["fields"]["error"].as_str().expect("error field");
    assert!(error.contains(&file), "error names the file: {error}");
    data_plane
        .wait_log(|fields| fields["message"] == "connecting to the operator")
        .await;
    assert_eq!(
        data_plane.ready().await,
        503,
        "nothing served before the operator delivers"
    );

    operator.publish(&snapshot);
    operator
        .wait_acked("replica-corrupt", snapshot.version())
        .await;
    data_plane.wait_ready().await;
    assert_eq!(
        get(data_plane.http, "web.example.com", "/").await,
        (200, "fresh".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_from_another_ca_is_rejected() {
    let pki = Pki::new();
    let other = TestCa::new("Another CA");
    let intruder = other.leaf_files(
        &pki.dir,
        "intruder",
        "replica.portcullis.test",
        ExtendedKeyUsagePurpose::ClientAuth,
        &pki.ca,
    );
    let operator = Operator::start(&pki.server).await;
    operator.publish(&snapshot_of(&[("web", "secret")]));

    let data_plane = DataPlane::start(DataPlaneFlags {
        operator: operator.address,
        tls: &intruder,
        replica: "intruder",
        cache: None,
        reject_route: None,
    })
    .await;
    poll_until("a rejected handshake", || async {
        operator.server.rejected_handshakes() >= 1
    })
    .await;
    assert!(operator.server.replicas().is_empty());
    assert_eq!(data_plane.ready().await, 503);
    let (status, _) = get(data_plane.http, "web.example.com", "/").await;
    assert_eq!(status, 404);
}
