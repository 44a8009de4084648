//! Helpers for the operator's tests against a real Kubernetes API server:
//! the cluster from `tests/cluster/start.sh`, `kubectl` as users type it,
//! the operator binary, and data-plane replicas on the snapshot channel.

#![allow(dead_code)]

pub mod dataplane;
pub mod replica;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Limit on each wait for the operator to converge.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A throwaway API server, shared by the tests of one binary that run at
/// the same time, stopped with `tests/cluster/stop.sh` when the last one
/// drops it.
pub struct Cluster {
    state: PathBuf,
    pub kubeconfig: PathBuf,
}

static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());

/// Returns the shared cluster, starting it when no running test has one, or
/// `None` after printing why the tests are skipped.
pub fn cluster() -> Option<Arc<Cluster>> {
    let mut shared = SHARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(cluster) = shared.upgrade() {
        return Some(cluster);
    }
    if !server_available() {
        eprintln!(
            "SKIPPED: no Kubernetes API server available; set KUBEBUILDER_ASSETS or run \
             tests/cluster/build-apiserver.sh"
        );
        return None;
    }
    let cluster = Arc::new(Cluster::start());
    *shared = Arc::downgrade(&cluster);
    Some(cluster)
}

fn server_available() -> bool {
    if std::env::var_os("KUBEBUILDER_ASSETS").is_some() {
        return true;
    }
    let cache = match std::env::var_os("PORTCULLIS_CLUSTER_CACHE") {
        Some(cache) => PathBuf::from(cache),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/portcullis-cluster"),
    };
    cache.join("bin/apiextensions-apiserver").is_file() && cache.join("bin/etcd").is_file()
}

/// Returns the repository root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds a unique name from a prefix, the process id and a counter.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

// === impl Cluster ===

impl Cluster {
    fn start() -> Self {
        let state = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique("operator-cluster"));
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).expect("create the cluster state folder");
        let kubeconfig = state.join("kubeconfig");
        let cluster_state = state.join("cluster");
        let output = Command::new(workspace().join("tests/cluster/start.sh"))
            .arg(&kubeconfig)
            .arg(&cluster_state)
            .stdin(Stdio::null())
            .output()
            .expect("run tests/cluster/start.sh");
        assert!(
            output.status.success(),
            "start.sh failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = Self { state, kubeconfig };
        let crds = workspace().join("crds/crds.yaml");
        cluster.kubectl_ok(&["apply", "-f", crds.to_str().expect("UTF-8 path")]);
        cluster.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "crd/routes.portcullis.io",
            "--timeout=60s",
        ]);
        cluster
    }

    /// Runs kubectl with this cluster's kubeconfig.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        if let Some(mut input) = child.stdin.take() {
            input
                .write_all(stdin.unwrap_or("").as_bytes())
                .expect("write kubectl stdin");
        }
        child.wait_with_output().expect("wait for kubectl")
    }

    /// Runs kubectl and returns its stdout, failing the test on an error.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let output = self.kubectl(args, None);
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `kubectl apply -f -` of `manifest`, failing the test on an error.
    pub fn apply(&self, manifest: &str) {
        let output = self.kubectl(&["apply", "-f", "-"], Some(manifest));
        assert!(
            output.status.success(),
            "kubectl apply failed: {}\n{manifest}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `kubectl apply --server-side --force-conflicts -f -` of `manifest`,
    /// taking over fields that client-side apply set. Updates of
    /// EndpointSlices and Secrets use it because the crd-only test cluster
    /// cannot apply the strategic merge patches of client-side apply to
    /// them (see docs/testing.md). A real cluster accepts both forms.
    pub fn apply_server_side(&self, manifest: &str) {
        let output = self.kubectl(
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            Some(manifest),
        );
        assert!(
            output.status.success(),
            "kubectl apply --server-side failed: {}\n{manifest}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Creates a namespace for one test.
    pub fn namespace(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.apply(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n"
        ));
        name
    }

    /// Returns the Route as JSON.
    pub fn route(&self, namespace: &str, name: &str) -> Value {
        let text = self.kubectl_ok(&["get", "route", name, "-n", namespace, "-o", "json"]);
        serde_json::from_str(&text).expect("kubectl prints JSON")
    }

    /// `kubectl wait --for=condition=TYPE[=STATUS]` on a Route.
    pub fn wait_condition(&self, namespace: &str, name: &str, condition: &str) {
        let timeout = format!("--timeout={}s", DEADLINE.as_secs());
        let expected = format!("--for=condition={condition}");
        let route = format!("route/{name}");
        self.kubectl_ok(&["wait", &expected, &route, "-n", namespace, &timeout]);
    }

    /// Waits for an `events.k8s.io` Event with `reason` regarding the object
    /// `name`, and returns it. Events follow status writes, so they may land
    /// a moment after the condition.
    pub fn wait_event(&self, namespace: &str, reason: &str, name: &str) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let text =
                self.kubectl_ok(&["get", "events.events.k8s.io", "-n", namespace, "-o", "json"]);
            let events: Value = serde_json::from_str(&text).expect("kubectl prints JSON");
            let found = events["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|event| event["reason"] == reason && event["regarding"]["name"] == name);
            if let Some(event) = found {
                return event.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {reason} event for {name} in {events:#}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the Route's condition of `type_` satisfies `check`, and
    /// returns it.
    pub fn wait_for_condition(
        &self,
        namespace: &str,
        name: &str,
        type_: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let route = self.route(namespace, name);
            let condition = condition(&route, type_);
            if let Some(condition) = condition.filter(|condition| check(condition)) {
                return condition;
            }
            assert!(
                Instant::now() < deadline,
                "condition {type_} of {namespace}/{name} not as expected:\n{route:#}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(workspace().join("tests/cluster/stop.sh"))
            .arg(self.state.join("cluster"))
            .stdin(Stdio::null())
            .output();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// Finds the condition of `type_` in a Route's status.
pub fn condition(route: &Value, type_: &str) -> Option<Value> {
    route["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|condition| condition["type"] == type_)
        .cloned()
}

/// A running `portcullis-operator run`, killed on drop.
pub struct Operator {
    child: Child,
    logs: Arc<Mutex<Vec<Value>>>,
    pub metrics: SocketAddr,
    pub snapshot: Option<SocketAddr>,
}

// === impl Operator ===

impl Operator {
    /// Starts the operator for `namespace` with `extra` flags and waits for
    /// its listeners.
    pub fn start(cluster: &Cluster, namespace: &str, extra: &[&str]) -> Self {
        // Tests see Ready at once unless they ask for the restart grace.
        let grace: &[&str] = if extra.contains(&"--ready-grace-seconds") {
            &[]
        } else {
            &["--ready-grace-seconds", "0"]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis-operator"))
            .args(["run", "--namespace", namespace])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .args(["--log-format", "json", "--debounce-ms", "100"])
            .args(grace)
            .args(extra)
            .env("KUBECONFIG", &cluster.kubeconfig)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start portcullis-operator");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let sink = logs.clone();
        std::thread::spawn(move || collect_logs(stderr, &sink));
        let mut operator = Self {
            child,
            logs,
            metrics: "127.0.0.1:0".parse().expect("valid address"),
            snapshot: None,
        };
        operator.metrics = operator.wait_listener("metrics");
        if extra.contains(&"--snapshot-listen") {
            operator.snapshot = Some(operator.wait_listener("snapshot"));
        }
        operator
    }

    fn wait_listener(&mut self, name: &str) -> SocketAddr {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let found = self.logs().into_iter().find_map(|line| {
                let fields = &line["fields"];
                let matches = fields["message"] == "listener started" && fields["listener"] == name;
                matches
                    .then(|| {
                        fields["address"]
                            .as_str()
                            .and_then(|text| text.parse().ok())
                    })
                    .flatten()
            });
            if let Some(address) = found {
                return address;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("operator exited with {status}; logs:\n{:#?}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "operator logged no {name} listener; logs:\n{:#?}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Returns every JSON log line so far.
    pub fn logs(&self) -> Vec<Value> {
        self.logs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reads the value of a metric without labels from `/metrics`.
    pub fn metric(&self, name: &str) -> u64 {
        let body = http_get(self.metrics, "/metrics");
        body.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("metric {name} missing from:\n{body}"))
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect_logs(stderr: impl Read, sink: &Mutex<Vec<Value>>) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
        sink.lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(value);
    }
}

/// Sends a plain HTTP/1.0 GET on loopback and returns the body.
pub fn http_get(address: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
        .expect("connect to the operator");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// Builds a Route manifest in `namespace` with the given spec body (YAML
/// flow style).
pub fn route(namespace: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: portcullis.io/v1alpha1\nkind: Route\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec: {spec}\n"
    )
}

/// Builds a Service `name` on port 80 with one ready endpoint on
/// 127.0.0.1, and its EndpointSlice.
pub fn service_with_endpoints(namespace: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
         spec: {{ports: [{{name: http, port: 80, targetPort: 8080}}]}}\n---\n\
         apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata: {{name: {name}-1, namespace: {namespace}, labels: {{kubernetes.io/service-name: {name}}}}}\n\
         addressType: IPv4\nports: [{{name: http, port: 8080}}]\n\
         endpoints: [{{addresses: [127.0.0.1], conditions: {{ready: true}}}}]\n"
    )
}
