//! Helpers for this crate's unit tests: temporary folders and manifests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Maximum time a test waits for a condition.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A folder under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates an empty folder with a name unique to this process and call.
    pub fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "portcullis-dataplane-{}-{unique}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self { path }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `text` to `name` inside the folder, replacing it atomically
    /// by a rename as editors do.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let target = self.path.join(name);
        let staging = self.path.join(format!(".{name}.tmp"));
        std::fs::write(&staging, text).expect("write staging file");
        std::fs::rename(&staging, &target).expect("rename into place");
        target
    }

    /// Removes `name` inside the folder.
    pub fn remove(&self, name: &str) {
        std::fs::remove_file(self.path.join(name)).expect("remove file");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Returns a Route with one Prefix match on `path` and a direct response
/// whose body is `body`.
pub fn route(name: &str, host: &str, path: &str, body: &str) -> String {
    format!(
        "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata:
  name: {name}
  namespace: default
spec:
  hostnames: [\"{host}\"]
  rules:
    - matches:
        - path: {{type: Prefix, value: \"{path}\"}}
      directResponse:
        status: 200
        body: \"{body}\"
"
    )
}

/// Returns a Route whose regex path does not compile, so the compiler
/// rejects it.
pub fn route_with_bad_regex(name: &str, host: &str) -> String {
    format!(
        "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata:
  name: {name}
  namespace: default
spec:
  hostnames: [\"{host}\"]
  rules:
    - matches:
        - path: {{type: Regex, value: \"/broken/(\"}}
      directResponse:
        status: 200
"
    )
}

/// Polls `condition` every few milliseconds until it holds or [`DEADLINE`]
/// passes, and returns whether it held.
pub fn wait_for(mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    condition()
}

/// Encodes `bytes` as standard base64 with padding, as Secret `data`
/// values are written.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let word = chunk.iter().enumerate().fold(0u32, |word, (i, &byte)| {
            word | u32::from(byte) << (16 - 8 * i)
        });
        for i in 0..4 {
            if i <= chunk.len() {
                let index = (word >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[index as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Returns a `kubernetes.io/tls` Secret with a fresh self-signed
/// certificate for `host`, and a Route on `host` that references it.
pub fn tls_route(name: &str, host: &str) -> String {
    let certified =
        rcgen::generate_simple_self_signed(vec![host.to_owned()]).expect("generate certificate");
    let cert = base64(certified.cert.pem().as_bytes());
    let key = base64(certified.signing_key.serialize_pem().as_bytes());
    format!(
        "apiVersion: v1
kind: Secret
metadata:
  name: {name}-tls
  namespace: default
type: kubernetes.io/tls
data:
  tls.crt: {cert}
  tls.key: {key}
---
apiVersion: portcullis.io/v1alpha1
kind: Route
metadata:
  name: {name}
  namespace: default
spec:
  hostnames: [\"{host}\"]
  tls:
    certificateRefs:
      - name: {name}-tls
  rules:
    - matches:
        - path: {{type: Prefix, value: /}}
      directResponse:
        status: 200
        body: \"{name}\"
"
    )
}

#[test]
fn base64_matches_known_vectors() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}
