use std::net::SocketAddr;

use http_body_util::BodyExt;
use hyper::client::conn::http1 as client;
use tokio::net::TcpStream;

use super::*;
use crate::reload::Reloader;
use crate::test_support::{TempDir, route, tls_route};

/// A running admin listener on an ephemeral port.
struct Admin {
    address: SocketAddr,
    store: Arc<SnapshotStore>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// A response with its body parsed as JSON.
struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: serde_json::Value,
    text: String,
}

impl Admin {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
        let address = listener.local_addr().expect("bound address");
        let store = Arc::new(SnapshotStore::new());
        let (shutdown, receiver) = watch::channel(false);
        let state = AdminState {
            store: Arc::clone(&store),
            shutdown: receiver,
            normalization: PathNormalization::default(),
        };
        let task = tokio::spawn(serve(listener, state));
        Self {
            address,
            store,
            shutdown,
            task,
        }
    }

    /// Loads `files` from a fresh folder into the store.
    fn load(&self, files: &[(&str, String)]) -> TempDir {
        let dir = TempDir::new();
        for (name, text) in files {
            dir.write(name, text);
        }
        let mut reloader = Reloader::new(dir.path().to_path_buf(), Arc::clone(&self.store));
        reloader.reload().expect("folder is readable");
        dir
    }

    async fn send(&self, method: Method, target: &str, body: &str) -> Reply {
        let stream = TcpStream::connect(self.address)
            .await
            .expect("connect admin");
        let (mut sender, connection) = client::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/1 handshake");
        tokio::spawn(connection);

        let request = Request::builder()
            .method(method)
            .uri(target)
            .header(header::HOST, "127.0.0.1")
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("valid request");
        let response = sender.send_request(request).await.expect("response");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let text = String::from_utf8(bytes.to_vec()).expect("UTF-8 body");
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    async fn get(&self, target: &str) -> Reply {
        self.send(Method::GET, target, "").await
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn healthz_is_ok() {
    let admin = Admin::start().await;
    let reply = admin.get("/healthz").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["status"], "ok");
    assert_eq!(
        reply
            .headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
}

#[tokio::test]
async fn readyz_follows_load_and_shutdown() {
    let admin = Admin::start().await;
    assert_eq!(
        admin.get("/readyz").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let _dir = admin.load(&[("a.yaml", route("a", "a.example.com", "/a", "a1"))]);
    assert_eq!(admin.get("/readyz").await.status, StatusCode::OK);

    admin.shutdown.send(true).expect("admin listens");
    let reply = admin.get("/readyz").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["status"], "draining");
    assert_eq!(admin.get("/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn config_shows_snapshot_without_keys() {
    let admin = Admin::start().await;
    let _dir = admin.load(&[
        ("a.yaml", route("a", "a.example.com", "/a", "a1")),
        ("tls.yaml", tls_route("secure", "secure.example.com")),
    ]);
    let published = admin.store.load();

    let reply = admin.get("/config").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["version"], published.snapshot.version());
    assert_eq!(reply.body["generation"], 1);
    assert_eq!(reply.body["routes"].as_array().map(Vec::len), Some(2));
    assert!(reply.body["diagnostics"].is_array());
    let certificates = reply.body["certificates"].as_array().expect("certificates");
    assert_eq!(certificates.len(), 1, "{}", reply.text);
    assert_eq!(certificates[0]["secret"]["name"], "secure-tls");
    assert_eq!(certificates[0]["hostnames"][0], "secure.example.com");
    assert!(!reply.text.contains("PRIVATE KEY"), "{}", reply.text);
    assert!(!reply.text.contains("BEGIN"), "{}", reply.text);
}

#[tokio::test]
async fn explain_get_names_winner() {
    let admin = Admin::start().await;
    let _dir = admin.load(&[
        ("a.yaml", route("a", "a.example.com", "/a", "a1")),
        ("b.yaml", route("b", "a.example.com", "/b", "b1")),
    ]);

    let reply = admin
        .get("/explain?method=GET&host=a.example.com&path=/a/x")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["version"], admin.store.load().snapshot.version());
    assert_eq!(reply.body["winner"]["route"]["name"], "a", "{}", reply.text);
    assert!(reply.body["candidates"].is_array());
}

#[tokio::test]
async fn explain_post_reports_no_winner() {
    let admin = Admin::start().await;
    let _dir = admin.load(&[("a.yaml", route("a", "a.example.com", "/a", "a1"))]);

    let body = r#"{"method":"GET","host":"a.example.com","path":"/nothing","headers":{"x-a":"1"}}"#;
    let reply = admin.send(Method::POST, "/explain", body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(reply.body["winner"].is_null(), "{}", reply.text);
}

#[tokio::test]
async fn explain_bad_input_names_parameter() {
    let admin = Admin::start().await;
    let reply = admin
        .get("/explain?host=a.example.com&path=/&client=nope")
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["error"]["code"], "bad_request");
    assert_eq!(reply.body["error"]["parameter"], "client");

    let reply = admin.send(Method::POST, "/explain", "not json").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["error"]["parameter"], "body");
}

#[tokio::test]
async fn explain_post_body_is_limited() {
    let admin = Admin::start().await;
    let body = format!(
        r#"{{"host":"a","path":"/","query":"{}"}}"#,
        "x".repeat(MAX_EXPLAIN_BODY)
    );
    let reply = admin.send(Method::POST, "/explain", &body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["error"]["parameter"], "body");
}

#[tokio::test]
async fn unknown_path_and_method_are_json_errors() {
    let admin = Admin::start().await;
    let reply = admin.get("/metrics").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.body["error"]["code"], "not_found");

    let reply = admin.send(Method::DELETE, "/config", "").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        reply.headers.get(header::ALLOW).map(|v| v.as_bytes()),
        Some(&b"GET"[..])
    );
}
