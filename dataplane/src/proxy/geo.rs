//! Client country: from a trusted edge's header, or from a MaxMind-format
//! database.

use std::net::IpAddr;
use std::path::Path;

use http::{HeaderMap, HeaderName};
use serde::Deserialize;

/// An ISO 3166-1 alpha-2 code, uppercase. Lives on the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountryCode([u8; 2]);

// === impl CountryCode ===

impl CountryCode {
    /// Parses two ASCII letters in any case.
    pub fn parse(text: &[u8]) -> Option<Self> {
        match text {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => None,
        }
    }

    /// Returns the code as text.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// Reads the country from `name`, trimmed; `None` when missing or not two
/// letters.
pub fn from_header(headers: &HeaderMap, name: &HeaderName) -> Option<CountryCode> {
    let value = headers.get(name)?;
    CountryCode::parse(value.as_bytes().trim_ascii())
}

/// Failure to open the GeoIP database.
#[derive(Debug, thiserror::Error)]
#[error("failed to open the GeoIP database {path}; check --geoip-db")]
pub struct GeoDbError {
    path: String,
    #[source]
    source: maxminddb::MaxMindDbError,
}

/// A country database, read into memory once at start.
pub struct GeoDb {
    reader: maxminddb::Reader<Vec<u8>>,
}

#[derive(Deserialize)]
struct CountryRecord<'a> {
    #[serde(borrow)]
    country: Option<IsoCode<'a>>,
    #[serde(borrow)]
    registered_country: Option<IsoCode<'a>>,
}

#[derive(Deserialize)]
struct IsoCode<'a> {
    iso_code: Option<&'a str>,
}

// === impl GeoDb ===

impl GeoDb {
    /// Reads the database at `path`.
    ///
    /// # Errors
    /// Returns [`GeoDbError`] when the file cannot be read or is not a
    /// MaxMind DB.
    pub fn open(path: &Path) -> Result<Self, GeoDbError> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(|source| GeoDbError {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self { reader })
    }

    /// Looks up the country of `addr`: the country record, else the
    /// registered country. `None` when the address is not in the database.
    pub fn country(&self, addr: IpAddr) -> Option<CountryCode> {
        let record: CountryRecord<'_> = match self.reader.lookup(addr) {
            Ok(record) => record?,
            Err(error) => {
                tracing::debug!(%addr, %error, "GeoIP lookup failed");
                return None;
            }
        };
        let code = record
            .country
            .and_then(|country| country.iso_code)
            .or_else(|| {
                record
                    .registered_country
                    .and_then(|country| country.iso_code)
            })?;
        CountryCode::parse(code.as_bytes())
    }
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb")
            .field("database_type", &self.reader.metadata.database_type)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn country_codes_are_uppercased() {
        assert_eq!(CountryCode::parse(b"de").unwrap().as_str(), "DE");
        assert_eq!(CountryCode::parse(b"Fr").unwrap().as_str(), "FR");
    }

    #[test]
    fn invalid_country_codes_are_ignored() {
        for bad in [&b""[..], b"D", b"DEU", b"D1", b"\xc3\xa9"] {
            assert!(CountryCode::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn header_value_is_trimmed() {
        let name = HeaderName::from_static("cf-ipcountry");
        let mut headers = HeaderMap::new();
        headers.insert(name.clone(), HeaderValue::from_static(" ch "));
        assert_eq!(from_header(&headers, &name).unwrap().as_str(), "CH");
    }

    #[test]
    fn missing_database_is_an_error() {
        let error = GeoDb::open(Path::new("/nonexistent/geo.mmdb")).unwrap_err();
        assert!(error.to_string().contains("--geoip-db"));
    }
}
