//! A minimal MaxMind DB (format version 2.0) writer for country databases,
//! so tests can give the gateway a GeoIP file without shipping one.
//!
//! Layout written, as the MaxMind DB specification defines it:
//! 1. a binary search tree over IPv6 address bits with 24-bit records, in
//!    which IPv4 networks sit under `::/96`;
//! 2. a 16-byte zero data-section separator;
//! 3. a data section with one `{"country": {"iso_code": CC}}` map per
//!    country;
//! 4. the metadata marker `\xAB\xCD\xEFMaxMind.com` and the metadata map.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

/// Bytes in the zero separator between the search tree and the data.
const DATA_SECTION_SEPARATOR: usize = 16;

/// Bits per search-tree record.
const RECORD_SIZE: u16 = 24;

/// Start of the metadata section.
const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

/// A country database under construction.
#[derive(Clone, Debug)]
pub struct CountryDb {
    database_type: String,
    networks: Vec<(IpAddr, u8, String)>,
}

/// A value of the MaxMind DB data section.
#[derive(Clone, Debug, PartialEq)]
enum DataValue {
    String(String),
    Uint16(u16),
    Uint32(u32),
    Uint64(u64),
    Map(Vec<(String, DataValue)>),
    Array(Vec<DataValue>),
}

/// One side of a search-tree node.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Record {
    Empty,
    Node(usize),
    Data(usize),
}

// === impl CountryDb ===

impl CountryDb {
    /// Creates an empty database of type `GeoLite2-Country`.
    pub fn new() -> Self {
        Self {
            database_type: "GeoLite2-Country".to_owned(),
            networks: Vec::new(),
        }
    }

    /// Maps `network` (CIDR such as `127.0.0.0/8` or `2001:db8::/32`) to
    /// the ISO 3166-1 alpha-2 `iso_code`.
    ///
    /// Networks are applied in insertion order, so a later network replaces
    /// what an earlier one set for the addresses they share.
    ///
    /// # Panics
    /// Panics when `network` is not valid CIDR.
    pub fn insert(&mut self, network: &str, iso_code: &str) -> &mut Self {
        let (address, prefix) = parse_cidr(network);
        self.networks.push((address, prefix, iso_code.to_owned()));
        self
    }

    /// Encodes the database.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (data, offsets) = self.encode_data();
        let mut tree = SearchTree::default();
        for (address, prefix, iso_code) in &self.networks {
            let (bits, length) = ipv6_bits(*address, *prefix);
            tree.insert(bits, length, offsets[iso_code]);
        }

        let node_count = tree.nodes.len();
        let mut output = tree.encode();
        output.extend_from_slice(&[0; DATA_SECTION_SEPARATOR]);
        output.extend_from_slice(&data);
        output.extend_from_slice(METADATA_MARKER);
        self.metadata(node_count).encode(&mut output);
        output
    }

    /// Writes the database to `path`.
    ///
    /// # Panics
    /// Panics when the file cannot be written.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.to_bytes())
            .unwrap_or_else(|err| panic!("failed to write {}: {err}", path.display()));
    }

    /// Encodes one record per country and returns the data section with
    /// each country's offset in it.
    fn encode_data(&self) -> (Vec<u8>, BTreeMap<String, usize>) {
        let mut data = Vec::new();
        let mut offsets = BTreeMap::new();
        for (_, _, iso_code) in &self.networks {
            if offsets.contains_key(iso_code) {
                continue;
            }
            offsets.insert(iso_code.clone(), data.len());
            let country = DataValue::Map(vec![(
                "iso_code".into(),
                DataValue::String(iso_code.clone()),
            )]);
            DataValue::Map(vec![("country".into(), country)]).encode(&mut data);
        }
        (data, offsets)
    }

    fn metadata(&self, node_count: usize) -> DataValue {
        let build_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let node_count = u32::try_from(node_count).expect("search tree fits 24-bit records");
        let description = DataValue::Map(vec![(
            "en".into(),
            DataValue::String("Portcullis test country database".into()),
        )]);
        DataValue::Map(vec![
            ("binary_format_major_version".into(), DataValue::Uint16(2)),
            ("binary_format_minor_version".into(), DataValue::Uint16(0)),
            ("build_epoch".into(), DataValue::Uint64(build_epoch)),
            (
                "database_type".into(),
                DataValue::String(self.database_type.clone()),
            ),
            ("description".into(), description),
            ("ip_version".into(), DataValue::Uint16(6)),
            (
                "languages".into(),
                DataValue::Array(vec![DataValue::String("en".into())]),
            ),
            ("node_count".into(), DataValue::Uint32(node_count)),
            ("record_size".into(), DataValue::Uint16(RECORD_SIZE)),
        ])
    }
}

impl Default for CountryDb {
    fn default() -> Self {
        Self::new()
    }
}

// === impl SearchTree ===

/// The binary trie of networks. Node 0 is the root.
#[derive(Debug)]
struct SearchTree {
    nodes: Vec<[Record; 2]>,
}

impl Default for SearchTree {
    fn default() -> Self {
        Self {
            nodes: vec![[Record::Empty; 2]],
        }
    }
}

impl SearchTree {
    /// Points the first `length` bits of `bits` at the data at `offset`.
    fn insert(&mut self, bits: u128, length: u8, offset: usize) {
        assert!(length > 0, "a zero-length network would replace the root");
        let mut node = 0;
        for depth in 0..length {
            let side = usize::from((bits >> (127 - depth)) & 1 == 1);
            if depth + 1 == length {
                self.nodes[node][side] = Record::Data(offset);
                return;
            }
            node = match self.nodes[node][side] {
                Record::Node(next) => next,
                // A wider network already covers these addresses: split it
                // so both halves keep its data and descend into one of them.
                inherited => self.push_node([inherited, inherited], node, side),
            };
        }
    }

    fn push_node(&mut self, records: [Record; 2], parent: usize, side: usize) -> usize {
        self.nodes.push(records);
        let index = self.nodes.len() - 1;
        self.nodes[parent][side] = Record::Node(index);
        index
    }

    /// Encodes every node as two 24-bit big-endian records.
    fn encode(&self) -> Vec<u8> {
        let node_count = self.nodes.len();
        let mut output = Vec::with_capacity(node_count * 6);
        for node in &self.nodes {
            for record in node {
                let value = match *record {
                    Record::Empty => node_count,
                    Record::Node(index) => index,
                    Record::Data(offset) => node_count + DATA_SECTION_SEPARATOR + offset,
                };
                assert!(
                    value < 1 << RECORD_SIZE,
                    "record {value} does not fit 24 bits"
                );
                output.extend_from_slice(&(value as u32).to_be_bytes()[1..]);
            }
        }
        output
    }
}

// === impl DataValue ===

impl DataValue {
    fn encode(&self, output: &mut Vec<u8>) {
        match self {
            Self::String(text) => {
                write_control(output, 2, text.len());
                output.extend_from_slice(text.as_bytes());
            }
            Self::Uint16(value) => write_unsigned(output, 5, u64::from(*value)),
            Self::Uint32(value) => write_unsigned(output, 6, u64::from(*value)),
            Self::Uint64(value) => write_unsigned(output, 9, *value),
            Self::Map(entries) => {
                write_control(output, 7, entries.len());
                for (key, value) in entries {
                    Self::String(key.clone()).encode(output);
                    value.encode(output);
                }
            }
            Self::Array(items) => {
                write_control(output, 11, items.len());
                for item in items {
                    item.encode(output);
                }
            }
        }
    }
}

/// Writes an unsigned integer in as few big-endian bytes as it needs.
fn write_unsigned(output: &mut Vec<u8>, type_number: u8, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|byte| **byte == 0).count();
    write_control(output, type_number, bytes.len() - skip);
    output.extend_from_slice(&bytes[skip..]);
}

/// Writes the control byte: three type bits and five size bits, then the
/// extended type byte (types above 7) and the extra size bytes.
fn write_control(output: &mut Vec<u8>, type_number: u8, size: usize) {
    let type_bits = if type_number > 7 { 0 } else { type_number << 5 };
    let (size_bits, extra): (u8, Vec<u8>) = match size {
        0..29 => (size as u8, Vec::new()),
        29..285 => (29, vec![(size - 29) as u8]),
        285..65_821 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    output.push(type_bits | size_bits);
    if type_number > 7 {
        output.push(type_number - 7);
    }
    output.extend_from_slice(&extra);
}

/// Returns the address as 128 bits and the prefix length in the IPv6 tree,
/// where IPv4 addresses follow 96 zero bits.
fn ipv6_bits(address: IpAddr, prefix: u8) -> (u128, u8) {
    match address {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), prefix + 96),
        IpAddr::V6(v6) => (u128::from(v6), prefix),
    }
}

fn parse_cidr(network: &str) -> (IpAddr, u8) {
    let parsed = network.split_once('/').and_then(|(address, prefix)| {
        let address: IpAddr = address.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        (prefix > 0 && prefix <= max).then_some((address, prefix))
    });
    parsed
        .unwrap_or_else(|| panic!("invalid network {network:?}: expected CIDR such as 10.0.0.0/8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use maxminddb::{Reader, geoip2};

    fn country_of(reader: &Reader<Vec<u8>>, address: &str) -> Option<String> {
        let address: IpAddr = address.parse().expect("test address is valid");
        let found = reader
            .lookup::<geoip2::Country<'_>>(address)
            .expect("lookup succeeds");
        found?.country?.iso_code.map(str::to_owned)
    }

    #[test]
    fn reader_finds_ipv4_and_ipv6_networks() {
        let mut db = CountryDb::new();
        db.insert("127.0.0.0/8", "DE").insert("10.1.0.0/16", "JP");
        db.insert("2001:db8::/32", "FR");
        let reader = Reader::from_source(db.to_bytes()).expect("reader accepts the file");

        assert_eq!(country_of(&reader, "127.0.0.1").as_deref(), Some("DE"));
        assert_eq!(
            country_of(&reader, "127.255.255.254").as_deref(),
            Some("DE")
        );
        assert_eq!(country_of(&reader, "10.1.2.3").as_deref(), Some("JP"));
        assert_eq!(country_of(&reader, "2001:db8::1").as_deref(), Some("FR"));
        assert_eq!(country_of(&reader, "10.2.0.1"), None);
        assert_eq!(country_of(&reader, "128.0.0.1"), None);
    }

    #[test]
    fn narrower_network_overrides_wider() {
        let mut db = CountryDb::new();
        db.insert("10.0.0.0/8", "US").insert("10.9.0.0/16", "CA");
        let reader = Reader::from_source(db.to_bytes()).expect("reader accepts the file");

        assert_eq!(country_of(&reader, "10.9.1.1").as_deref(), Some("CA"));
        assert_eq!(country_of(&reader, "10.8.1.1").as_deref(), Some("US"));
        assert_eq!(country_of(&reader, "10.255.0.1").as_deref(), Some("US"));
    }

    #[test]
    fn metadata_describes_country_database() {
        let mut db = CountryDb::new();
        db.insert("192.0.2.0/24", "NL");
        let reader = Reader::from_source(db.to_bytes()).expect("reader accepts the file");

        assert_eq!(reader.metadata.database_type, "GeoLite2-Country");
        assert_eq!(reader.metadata.record_size, 24);
        assert_eq!(reader.metadata.ip_version, 6);
        assert_eq!(reader.metadata.binary_format_major_version, 2);
        assert_eq!(reader.metadata.languages, vec!["en".to_owned()]);
    }

    #[test]
    fn long_strings_use_extended_sizes() {
        for length in [28, 29, 284, 285, 70_000] {
            let mut encoded = Vec::new();
            DataValue::String("x".repeat(length)).encode(&mut encoded);
            let header = encoded.len() - length;
            let expected = match length {
                0..29 => 1,
                29..285 => 2,
                285..65_821 => 3,
                _ => 4,
            };
            assert_eq!(header, expected, "string of {length} bytes");
        }
    }
}
