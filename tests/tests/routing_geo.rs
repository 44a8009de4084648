//! Country matching through the real binary: from a trusted country
//! header, from a MaxMind database generated at test time, and with the
//! header ignored when the peer is not a trusted proxy.

use bytes::Bytes;
use http::Method;
use portcullis_e2e::client::{Response, request, send_ok};
use portcullis_e2e::mmdb::CountryDb;
use portcullis_e2e::{Backend, ConfigDir, Gateway};

const ROUTES: &str = r#"
apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {name: geo, namespace: default}
spec:
  hostnames: [geo.example.com]
  rules:
    - name: dach
      matches: [{geo: {countries: [DE, AT, CH]}}]
      backends: [{endpoint: "$DACH"}]
    - name: world
      backends: [{endpoint: "$WORLD"}]
"#;

struct Fixture {
    dir: ConfigDir,
    dach: Backend,
    world: Backend,
}

impl Fixture {
    async fn new() -> Self {
        let dach = Backend::echo("dach").await;
        let world = Backend::echo("world").await;
        let dir = ConfigDir::new();
        let routes = ROUTES
            .replace("$DACH", &dach.endpoint())
            .replace("$WORLD", &world.endpoint());
        dir.write("routes.yaml", routes);
        Self { dir, dach, world }
    }

    /// Writes a database that maps 127.0.0.0/8 to `country` and returns
    /// its path as a flag value. The file sits beside the manifests and
    /// ends in `.mmdb`, so the manifest loader does not read it.
    fn write_db(&self, country: &str) -> String {
        let mut db = CountryDb::new();
        db.insert("127.0.0.0/8", country);
        let path = self.dir.write("countries.mmdb", db.to_bytes());
        path.display().to_string()
    }

    async fn start(&self, args: &[&str]) -> Gateway {
        Gateway::builder()
            .config_dir(self.dir.path())
            .args(args)
            .start()
            .await
    }
}

async fn get_from(gateway: &Gateway, country: Option<&str>) -> Response {
    let mut request = request(Method::GET, "geo.example.com", "/", Bytes::new());
    if let Some(country) = country {
        let value = http::HeaderValue::from_str(country).expect("valid header value");
        request.headers_mut().insert("cf-ipcountry", value);
    }
    send_ok(gateway.http_addr(), request).await
}

const TRUSTED_HEADER: [&str; 4] = [
    "--country-header",
    "cf-ipcountry",
    "--trusted-proxy",
    "127.0.0.1/32",
];

#[tokio::test]
async fn trusted_country_header_selects_rule() {
    let fixture = Fixture::new().await;
    let gateway = fixture.start(&TRUSTED_HEADER).await;

    let german = get_from(&gateway, Some("DE")).await;
    let swiss = get_from(&gateway, Some("CH")).await;

    assert_eq!(german.backend(), Some("dach"), "{}", german.text());
    assert_eq!(swiss.backend(), Some("dach"), "{}", swiss.text());
}

#[tokio::test]
async fn other_or_missing_country_falls_through() {
    let fixture = Fixture::new().await;
    let gateway = fixture.start(&TRUSTED_HEADER).await;

    for country in [Some("FR"), Some("XX"), None] {
        let response = get_from(&gateway, country).await;
        assert_eq!(
            response.backend(),
            Some("world"),
            "{country:?}: {}",
            response.text()
        );
    }
    assert_eq!(fixture.dach.hits(), 0);
}

#[tokio::test]
async fn country_header_from_untrusted_peer_is_ignored() {
    let fixture = Fixture::new().await;
    let args = [
        "--country-header",
        "cf-ipcountry",
        "--trusted-proxy",
        "10.0.0.0/8",
    ];
    let gateway = fixture.start(&args).await;

    let response = get_from(&gateway, Some("DE")).await;

    assert_eq!(response.backend(), Some("world"), "{}", response.text());
    assert_eq!(fixture.dach.hits(), 0);
}

#[tokio::test]
async fn geoip_database_selects_rule() {
    let fixture = Fixture::new().await;
    let db = fixture.write_db("DE");
    let gateway = fixture.start(&["--geoip-db", &db]).await;

    let response = get_from(&gateway, None).await;

    assert_eq!(response.backend(), Some("dach"), "{}", response.text());
}

#[tokio::test]
async fn geoip_database_other_country_falls_through() {
    let fixture = Fixture::new().await;
    let db = fixture.write_db("US");
    let gateway = fixture.start(&["--geoip-db", &db]).await;

    let response = get_from(&gateway, None).await;

    assert_eq!(response.backend(), Some("world"), "{}", response.text());
    assert_eq!(fixture.dach.hits(), 0);
}

#[tokio::test]
async fn untrusted_header_does_not_override_database() {
    let fixture = Fixture::new().await;
    let db = fixture.write_db("US");
    let args = ["--geoip-db", &db, "--country-header", "cf-ipcountry"];
    let gateway = fixture.start(&args).await;

    let response = get_from(&gateway, Some("DE")).await;

    assert_eq!(response.backend(), Some("world"), "{}", response.text());
    assert_eq!(fixture.world.hits(), 1);
}
