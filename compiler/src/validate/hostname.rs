//! Hostname syntax of the CRD schema, checked without a regex because
//! every Route hostname passes through it on each compile.

/// Maximum length of a hostname, the DNS limit.
pub(crate) const MAX_HOSTNAME_LEN: usize = 253;

/// Returns whether `hostname` is a DNS name, optionally starting with
/// `*.`: at most 253 bytes of dot-separated labels, each 1 to 63 ASCII
/// letters, digits and hyphens that starts and ends with a letter or digit.
pub(crate) fn is_valid_hostname(hostname: &str) -> bool {
    if hostname.len() > MAX_HOSTNAME_LEN {
        return false;
    }
    let name = hostname.strip_prefix("*.").unwrap_or(hostname);
    name.split('.').all(is_valid_label)
}

fn is_valid_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    bytes.len() <= 63
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::is_valid_hostname;

    /// The hostname pattern of the CRD schema.
    const SCHEMA_PATTERN: &str = r"^(\*\.)?[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$";

    #[test]
    fn hostname_check_agrees_with_schema_pattern() {
        let schema = regex::Regex::new(SCHEMA_PATTERN).expect("schema pattern compiles");
        let long_label = "a".repeat(63);
        let too_long_label = "a".repeat(64);
        let mut cases: Vec<String> = [
            "a",
            "a.b",
            "*.a.b",
            "*.",
            "*",
            "*.*.a",
            "a..b",
            ".a",
            "a.",
            "-a",
            "a-",
            "a-b",
            "A9.example.COM",
            "a_b",
            "a b",
            "é.example.com",
            "*.a",
            "**.a",
            "a.*.b",
            "",
            "1",
            "a\n",
            "\na",
        ]
        .iter()
        .map(|case| case.to_string())
        .collect();
        cases.push(long_label.clone());
        cases.push(too_long_label);
        cases.push(format!("*.{long_label}.com"));
        let mut rng = fastrand::Rng::with_seed(11);
        let alphabet = ['a', 'Z', '0', '-', '.', '*', '_'];
        for _ in 0..20_000 {
            let length = rng.usize(0..8);
            cases.push(
                (0..length)
                    .map(|_| alphabet[rng.usize(..alphabet.len())])
                    .collect(),
            );
        }
        for case in &cases {
            assert_eq!(
                is_valid_hostname(case),
                schema.is_match(case),
                "hostname {case:?}"
            );
        }
    }

    #[test]
    fn hostname_check_rejects_names_over_253_bytes() {
        let label = "a".repeat(50);
        let name = [label.as_str(); 5].join(".");
        assert_eq!(name.len(), 254);
        assert!(!is_valid_hostname(&name));
        assert!(is_valid_hostname(&name[2..]));
    }
}
