//! Certificates generated at test time: a CA, leaf certificates it signs
//! and `kubernetes.io/tls` Secret manifests that carry them.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::CertificateDer;

/// A certificate authority that signs leaf certificates.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
}

/// A leaf certificate and its private key, in PEM.
#[derive(Clone, Debug)]
pub struct LeafCert {
    /// The leaf certificate followed by the CA certificate.
    pub chain_pem: String,
    /// The PKCS#8 private key.
    pub key_pem: String,
    /// DNS names in the subject alternative name extension.
    pub dns_names: Vec<String>,
}

// === impl TestCa ===

impl TestCa {
    /// Generates a new CA with an ECDSA P-256 key.
    ///
    /// # Panics
    /// Panics when key generation or signing fails.
    pub fn new() -> Self {
        let mut params =
            CertificateParams::new(Vec::<String>::new()).expect("empty SAN list is valid");
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "Portcullis test CA");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];

        let key = KeyPair::generate().expect("failed to generate the CA key");
        let cert = params
            .self_signed(&key)
            .expect("failed to self-sign the CA");
        Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Returns the CA certificate in PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Returns the CA certificate in DER, for a client's root store.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// Builds a rustls root store that trusts only this CA.
    ///
    /// # Panics
    /// Panics when rustls rejects the certificate.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.cert_der())
            .expect("rustls rejected the test CA");
        roots
    }

    /// Issues a server certificate for `dns_names` (wildcards such as
    /// `*.example.com` allowed).
    ///
    /// # Panics
    /// Panics when a name is invalid or signing fails.
    pub fn issue(&self, dns_names: &[&str]) -> LeafCert {
        let names: Vec<String> = dns_names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone())
            .unwrap_or_else(|err| panic!("invalid DNS names {names:?}: {err}"));
        let mut subject = DistinguishedName::new();
        subject.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.distinguished_name = subject;
        params.use_authority_key_identifier_extension = true;

        let key = KeyPair::generate().expect("failed to generate a leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("failed to sign a leaf");
        LeafCert {
            chain_pem: format!("{}{}", cert.pem(), self.cert_pem),
            key_pem: key.serialize_pem(),
            dns_names: names,
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The issuer contains the private key, which stays out of test output.
        formatter.debug_struct("TestCa").finish_non_exhaustive()
    }
}

// === impl LeafCert ===

impl LeafCert {
    /// Renders a `kubernetes.io/tls` Secret manifest named `namespace/name` with
    /// this certificate chain and key, base64-encoded as Kubernetes stores
    /// them.
    pub fn secret_yaml(&self, namespace: &str, name: &str) -> String {
        tls_secret_yaml(namespace, name, &self.chain_pem, &self.key_pem)
    }
}

/// Renders a `kubernetes.io/tls` Secret manifest with `tls.crt` and `tls.key`.
pub fn tls_secret_yaml(namespace: &str, name: &str, cert_pem: &str, key_pem: &str) -> String {
    format!(
        "apiVersion: v1\n\
         kind: Secret\n\
         metadata:\n  name: {name}\n  namespace: {namespace}\n\
         type: kubernetes.io/tls\n\
         data:\n  tls.crt: {}\n  tls.key: {}\n",
        base64_encode(cert_pem.as_bytes()),
        base64_encode(key_pem.as_bytes()),
    )
}

/// Encodes `input` as standard base64 with padding (RFC 4648 section 4).
pub fn base64_encode(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut output = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let group = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
        for index in 0..4 {
            if index <= chunk.len() {
                let sextet = (group >> (18 - 6 * index)) & 0x3f;
                output.push(char::from(ALPHABET[sextet as usize]));
            } else {
                output.push('=');
            }
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in vectors {
            assert_eq!(base64_encode(input.as_bytes()), expected, "input {input:?}");
        }
    }

    #[test]
    fn leaf_chain_contains_leaf_then_ca() {
        let ca = TestCa::new();
        let leaf = ca.issue(&["a.example.com", "*.b.example.com"]);
        assert_eq!(leaf.chain_pem.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(leaf.chain_pem.ends_with(ca.cert_pem()));
        assert!(leaf.key_pem.contains("BEGIN PRIVATE KEY"));
    }

    #[test]
    fn secret_yaml_is_a_tls_secret() {
        let yaml = tls_secret_yaml("default", "site", "CERT", "KEY");
        assert!(yaml.contains("type: kubernetes.io/tls"));
        assert!(yaml.contains("tls.crt: Q0VSVA=="));
        assert!(yaml.contains("tls.key: S0VZ"));
    }
}
