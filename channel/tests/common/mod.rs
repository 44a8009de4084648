//! Helpers shared by the channel's integration tests: certificates made
//! at test time, snapshots compiled from Route manifests, and running
//! servers and clients on 127.0.0.1.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use portcullis_channel::{
    Backoff, ChannelClient, ChannelServer, ClientConfig, ClientStatus, NackReason, ReplicaStatus,
    TlsFiles,
};
use portcullis_compiler::ir::SnapshotIr;
use portcullis_compiler::{ObjectRef, Snapshot, compile, parse_documents};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Limit on every wait for a condition.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// DNS name in the operator's test certificate.
pub const SERVER_NAME: &str = "operator.portcullis.test";

/// Name of a Route that the test replicas reject.
pub const REJECTED_ROUTE: &str = "rejected-by-replica";

/// A folder under the target directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        // The process id separates test binaries and the counter separates
        // tests within one binary.
        let name = format!(
            "channel-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::create_dir_all(&path).expect("create the test folder");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).expect("write a test file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A certificate authority that issues server and client certificates.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub cert_pem: String,
}

impl TestCa {
    pub fn new(common_name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("empty SAN list");
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, common_name);
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("generate the CA key");
        let cert = params.self_signed(&key).expect("self-sign the CA");
        Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Issues a leaf for `names` with one extended key usage; returns the
    /// chain and key in PEM.
    pub fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("valid DNS names");
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("generate a leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign a leaf");
        (cert.pem(), key.serialize_pem())
    }

    /// Writes a CA file, this CA's leaf and its key into `dir` under
    /// `prefix`, trusting `trusted` as the peer's CA.
    pub fn write_files(
        &self,
        dir: &TempDir,
        prefix: &str,
        leaf: (String, String),
        trusted: &TestCa,
    ) -> TlsFiles {
        TlsFiles {
            ca: dir.write(&format!("{prefix}-ca.pem"), &trusted.cert_pem),
            cert: dir.write(&format!("{prefix}-cert.pem"), &leaf.0),
            key: dir.write(&format!("{prefix}-key.pem"), &leaf.1),
        }
    }
}

/// One CA with a server certificate and a client certificate, on disk.
pub struct Pki {
    pub dir: TempDir,
    pub ca: TestCa,
    pub server: TlsFiles,
    pub client: TlsFiles,
}

impl Pki {
    pub fn new() -> Self {
        let dir = TempDir::new();
        let ca = TestCa::new("Portcullis channel test CA");
        let server_leaf = ca.issue(&[SERVER_NAME], ExtendedKeyUsagePurpose::ServerAuth);
        let client_leaf = ca.issue(
            &["replica.portcullis.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let server = ca.write_files(&dir, "server", server_leaf, &ca);
        let client = ca.write_files(&dir, "client", client_leaf, &ca);
        Self {
            dir,
            ca,
            server,
            client,
        }
    }
}

/// Compiles Routes named `names`, each with one prefix match and a direct
/// response, into a snapshot.
pub fn snapshot_of(names: &[&str]) -> Snapshot {
    let mut yaml = String::new();
    for name in names {
        yaml.push_str(&format!(
            "---\napiVersion: portcullis.io/v1alpha1\nkind: Route\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  hostnames: [{name}.example.com]\n  rules:\n  - matches: [{{path: {{type: Prefix, value: /{name}}}}}]\n    directResponse: {{status: 200, body: {name}}}\n"
        ));
    }
    let (resources, diagnostics) = parse_documents(&yaml, "channel-test.yaml");
    assert!(
        diagnostics.is_empty(),
        "parse diagnostics: {diagnostics:#?}"
    );
    let compiled = compile(&resources);
    assert_eq!(
        compiled.snapshot.ir().routes.len(),
        names.len(),
        "every route accepted"
    );
    compiled.snapshot
}

/// A server accepting on 127.0.0.1 until stopped.
pub struct RunningServer {
    pub server: ChannelServer,
    pub address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Starts a server on an ephemeral port.
    pub async fn start(files: &TlsFiles) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        Self::start_on(files, listener)
    }

    /// Starts a server on `listener`.
    pub fn start_on(files: &TlsFiles, listener: TcpListener) -> Self {
        let server = ChannelServer::from_files(files).expect("server TLS files load");
        let address = listener.local_addr().expect("listener address");
        let (stop, stopped) = oneshot::channel();
        let serving = server.clone();
        let task = tokio::spawn(async move {
            serving
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
        });
        Self {
            server,
            address,
            stop: Some(stop),
            task,
        }
    }

    /// Stops accepting and closes every connection.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = (&mut self.task).await.expect("server task completes");
        served.expect("serve returns Ok");
    }

    /// Waits until the replica list satisfies `accept`, and returns it.
    pub async fn wait_replicas(
        &self,
        mut accept: impl FnMut(&[ReplicaStatus]) -> bool,
    ) -> Vec<ReplicaStatus> {
        let mut watch = self.server.watch_replicas();
        let wait = async {
            loop {
                let current = watch.current();
                if accept(&current) {
                    return current;
                }
                assert!(watch.changed().await, "server dropped while waiting");
            }
        };
        match tokio::time::timeout(DEADLINE, wait).await {
            Ok(replicas) => replicas,
            Err(_) => panic!(
                "replicas never matched; last: {:#?}",
                self.server.replicas()
            ),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Finds the status of `replica`, when listed.
pub fn replica<'a>(replicas: &'a [ReplicaStatus], name: &str) -> Option<&'a ReplicaStatus> {
    replicas.iter().find(|status| status.replica == name)
}

/// A client running in a task, reporting each applied version.
pub struct RunningClient {
    pub status: watch::Receiver<ClientStatus>,
    pub applied: mpsc::UnboundedReceiver<String>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// Client settings for `replica` against `address`, with fast retries.
pub fn client_config(files: &TlsFiles, address: SocketAddr, replica: &str) -> ClientConfig {
    let mut config = ClientConfig::new(address.to_string(), SERVER_NAME, files.clone(), replica);
    config.backoff = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
    };
    config
}

impl RunningClient {
    /// Starts a client whose apply callback rebuilds the snapshot, rejects
    /// any snapshot containing [`REJECTED_ROUTE`], and reports the rest.
    pub fn start(config: ClientConfig) -> Self {
        let client = ChannelClient::new(config).expect("client TLS files load");
        let status = client.status();
        let (report, applied) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(client.run(move |ir| apply(ir, &report), async {
            let _ = stopped.await;
        }));
        Self {
            status,
            applied,
            stop: Some(stop),
            task,
        }
    }

    /// Waits for the next applied version.
    pub async fn next_applied(&mut self) -> String {
        let next = tokio::time::timeout(DEADLINE, self.applied.recv()).await;
        let status = self.status.borrow().clone();
        next.unwrap_or_else(|_| panic!("no snapshot applied; client status: {status:#?}"))
            .expect("client task alive")
    }

    /// Waits until the status satisfies `accept`.
    pub async fn wait_status(&mut self, accept: impl FnMut(&ClientStatus) -> bool) -> ClientStatus {
        let wait = within(self.status.wait_for(accept)).await;
        wait.expect("client task alive").clone()
    }

    /// Stops the client and waits for its task.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        within(&mut self.task).await.expect("client task completes");
    }
}

impl Drop for RunningClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn apply(ir: SnapshotIr, report: &mpsc::UnboundedSender<String>) -> Result<String, NackReason> {
    if let Some(route) = ir.routes.iter().find(|route| route.name == REJECTED_ROUTE) {
        let resource = ObjectRef {
            kind: "Route".to_owned(),
            namespace: route.namespace.clone(),
            name: route.name.clone(),
        };
        return Err(NackReason::new("route rejected by the test replica").with_resource(resource));
    }
    let snapshot = Snapshot::from_ir(ir).map_err(NackReason::new)?;
    let version = snapshot.version().to_owned();
    let _ = report.send(version.clone());
    Ok(version)
}

/// Awaits `future`, failing the test after [`DEADLINE`].
pub async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .expect("condition not met within the deadline")
}

/// Polls `condition` every 10 ms until it holds, failing after
/// [`DEADLINE`]. For state that has no change notification.
pub async fn poll_until(what: &str, mut condition: impl FnMut() -> bool) {
    let wait = async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(DEADLINE, wait).await.is_err() {
        panic!("{what} did not happen within {DEADLINE:?}");
    }
}
