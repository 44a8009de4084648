//! Data-plane replicas for tests: real snapshot-channel clients with
//! mutual TLS certificates made at test time. The test decides whether
//! each replica acknowledges, rejects or delays its response to a snapshot.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_channel::{Backoff, ChannelClient, ClientConfig, NackReason, TlsFiles};
use portcullis_compiler::ObjectRef;
use portcullis_compiler::Snapshot;
use portcullis_compiler::ir::SnapshotIr;
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Name in the operator's certificate.
pub const SERVER_NAME: &str = "localhost";

/// PEM files of a test CA, the operator's certificate and a replica
/// certificate, in a folder removed on drop.
pub struct Pki {
    dir: PathBuf,
    pub operator: TlsFiles,
    pub replica: TlsFiles,
}

// === impl Pki ===

impl Pki {
    /// Issues the certificates into a new folder under the target dir.
    pub fn new() -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(super::unique("operator-pki"));
        std::fs::create_dir_all(&dir).expect("create the certificate folder");
        let ca_key = KeyPair::generate().expect("generate the CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).expect("sign the CA");
        let ca_path = dir.join("ca.crt");
        std::fs::write(&ca_path, ca_cert.pem()).expect("write the CA");
        let issuer = Issuer::new(ca_params, ca_key);
        let operator = issue(
            &dir,
            &issuer,
            &ca_path,
            "operator",
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let replica = issue(
            &dir,
            &issuer,
            &ca_path,
            "replica",
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        Self {
            dir,
            operator,
            replica,
        }
    }

    /// Returns the operator flags for these files.
    pub fn operator_flags(&self) -> Vec<String> {
        let path = |path: &PathBuf| path.to_str().expect("UTF-8 path").to_owned();
        vec![
            "--snapshot-listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--tls-ca".to_owned(),
            path(&self.operator.ca),
            "--tls-cert".to_owned(),
            path(&self.operator.cert),
            "--tls-key".to_owned(),
            path(&self.operator.key),
        ]
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn issue(
    dir: &Path,
    issuer: &Issuer<'_, KeyPair>,
    ca: &Path,
    name: &str,
    usage: ExtendedKeyUsagePurpose,
) -> TlsFiles {
    let key = KeyPair::generate().expect("generate a key");
    let mut params =
        CertificateParams::new(vec![SERVER_NAME.to_owned()]).expect("certificate parameters");
    params.extended_key_usages = vec![usage];
    let cert = params
        .signed_by(&key, issuer)
        .expect("sign the certificate");
    let cert_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, cert.pem()).expect("write the certificate");
    std::fs::write(&key_path, key.serialize_pem()).expect("write the key");
    TlsFiles {
        ca: ca.to_path_buf(),
        cert: cert_path,
        key: key_path,
    }
}

/// The response of a replica to the next snapshots.
#[derive(Clone, Debug)]
pub enum Answer {
    /// Apply and acknowledge.
    Ack,
    /// Reject, blaming the resource when one is given.
    Nack(String, Option<ObjectRef>),
    /// Block, sending nothing, until the test changes the response.
    Hold,
}

/// A replica connected to the operator, stopped on drop.
pub struct Replica {
    answer: Arc<Mutex<Answer>>,
    applied: Arc<Mutex<Option<SnapshotIr>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

// === impl Replica ===

impl Replica {
    /// Connects a replica named `name` to the operator at `address`.
    pub fn start(name: &str, address: SocketAddr, pki: &Pki, answer: Answer) -> Self {
        let mut config =
            ClientConfig::new(address.to_string(), SERVER_NAME, pki.replica.clone(), name);
        config.backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let client = ChannelClient::new(config).expect("create the channel client");
        let answer = Arc::new(Mutex::new(answer));
        let applied = Arc::new(Mutex::new(None));
        let shared = answer.clone();
        let latest = applied.clone();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        // Each replica has its own thread and runtime, so a delayed response
        // blocks only this replica.
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build the replica runtime");
            let apply = move |ir: SnapshotIr| answer_snapshot(&shared, &latest, ir);
            runtime.block_on(client.run(apply, async {
                let _ = stopped.await;
            }));
        });
        Self {
            answer,
            applied,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// Returns the last snapshot the replica applied.
    pub fn applied(&self) -> Option<SnapshotIr> {
        self.applied
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Waits until the last applied snapshot satisfies `check`, and
    /// returns it.
    pub fn wait_applied(&self, what: &str, check: impl Fn(&SnapshotIr) -> bool) -> SnapshotIr {
        let deadline = Instant::now() + super::DEADLINE;
        loop {
            if let Some(ir) = self.applied().filter(|ir| check(ir)) {
                return ir;
            }
            assert!(
                Instant::now() < deadline,
                "replica never applied a snapshot with {what}: {:#?}",
                self.applied()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Changes the response to the next snapshots.
    pub fn set_answer(&self, answer: Answer) {
        *self
            .answer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = answer;
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.set_answer(Answer::Ack);
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer_snapshot(
    answer: &Mutex<Answer>,
    applied: &Mutex<Option<SnapshotIr>>,
    ir: SnapshotIr,
) -> Result<String, NackReason> {
    let deadline = Instant::now() + super::DEADLINE;
    loop {
        let current = answer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        match current {
            Answer::Ack => {
                let snapshot = Snapshot::from_ir(ir.clone()).map_err(NackReason::new)?;
                *applied
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(ir);
                return Ok(snapshot.version().to_owned());
            }
            Answer::Nack(reason, Some(resource)) => {
                return Err(NackReason::new(reason).with_resource(resource));
            }
            Answer::Nack(reason, None) => return Err(NackReason::new(reason)),
            Answer::Hold if Instant::now() > deadline => {
                return Err(NackReason::new("held past the test deadline"));
            }
            Answer::Hold => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
