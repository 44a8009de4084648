//! The content hash behind a snapshot's version: the IR streamed into
//! SHA-256 in a compact binary encoding.
//!
//! Writing this encoding costs a fraction of writing JSON, which escapes
//! every string character by character. For values of one type it is as
//! unambiguous. Every value starts with a type tag and strings carry their
//! length. Sequences, maps and structs end with an end tag. A struct field
//! left out by `skip_serializing_if` writes a skip tag in its place, so
//! later fields cannot shift, and field names are not written, since a
//! field's position already identifies it. Equal IR gives equal
//! bytes, and different IR gives different bytes.

use std::fmt;

use serde::Serialize;
use serde::ser::{self, SerializeMap, SerializeSeq, SerializeStruct};
use sha2::{Digest, Sha256};

/// Bytes gathered before each SHA-256 update, so the hash receives large
/// writes instead of one call per value.
const BUFFER_LEN: usize = 64 * 1024;

const TAG_BOOL: u8 = 1;
const TAG_INT: u8 = 2;
const TAG_UINT: u8 = 3;
const TAG_FLOAT: u8 = 4;
const TAG_CHAR: u8 = 5;
const TAG_STR: u8 = 6;
const TAG_BYTES: u8 = 7;
const TAG_NONE: u8 = 8;
const TAG_SOME: u8 = 9;
const TAG_UNIT: u8 = 10;
const TAG_VARIANT: u8 = 11;
const TAG_SEQ: u8 = 12;
const TAG_MAP: u8 = 13;
const TAG_STRUCT: u8 = 14;
const TAG_END: u8 = 15;
const TAG_SKIP: u8 = 16;

/// Returns the SHA-256 of `value` in the encoding described above.
///
/// # Errors
/// Returns the message of a `Serialize` implementation that fails; the
/// IR types never do.
pub(crate) fn sha256_of<T: Serialize>(value: &T) -> Result<[u8; 32], EncodeError> {
    let mut encoder = Encoder {
        hasher: Sha256::new(),
        buffer: Vec::with_capacity(BUFFER_LEN),
    };
    value.serialize(&mut encoder)?;
    encoder.hasher.update(&encoder.buffer);
    Ok(encoder.hasher.finalize().into())
}

/// A failure reported by a `Serialize` implementation.
#[derive(Debug)]
pub(crate) struct EncodeError(String);

/// Writes the encoding into a buffer that it hashes whenever it fills up.
struct Encoder {
    hasher: Sha256,
    buffer: Vec<u8>,
}

// === impl EncodeError ===

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "encoding the snapshot for its version failed: {}",
            self.0
        )
    }
}

impl std::error::Error for EncodeError {}

impl ser::Error for EncodeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self(message.to_string())
    }
}

// === impl Encoder ===

impl Encoder {
    /// Makes room for `len` more bytes, hashing the buffer when it is
    /// full. Returns false when `len` exceeds the buffer, which then stays
    /// empty for the caller to hash the bytes directly.
    #[inline]
    fn reserve(&mut self, len: usize) -> bool {
        if self.buffer.len() + len > BUFFER_LEN {
            self.hasher.update(&self.buffer);
            self.buffer.clear();
        }
        len <= BUFFER_LEN
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        if self.reserve(bytes.len()) {
            self.buffer.extend_from_slice(bytes);
        } else {
            self.hasher.update(bytes);
        }
    }

    #[inline]
    fn tagged<const N: usize>(&mut self, tag: u8, bytes: [u8; N]) {
        self.reserve(N + 1);
        self.buffer.push(tag);
        self.buffer.extend_from_slice(&bytes);
    }

    #[inline]
    fn text(&mut self, tag: u8, bytes: &[u8]) {
        self.tagged(tag, (bytes.len() as u64).to_le_bytes());
        self.write(bytes);
    }

    #[inline]
    fn variant(&mut self, index: u32) {
        self.tagged(TAG_VARIANT, index.to_le_bytes());
    }
}

type Result<T = (), E = EncodeError> = std::result::Result<T, E>;

impl ser::Serializer for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> Result {
        self.tagged(TAG_BOOL, [u8::from(v)]);
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result {
        self.tagged(TAG_INT, v.to_le_bytes());
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result {
        self.tagged(TAG_UINT, v.to_le_bytes());
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result {
        self.serialize_f64(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result {
        self.tagged(TAG_FLOAT, v.to_bits().to_le_bytes());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result {
        self.tagged(TAG_CHAR, u32::from(v).to_le_bytes());
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result {
        self.text(TAG_STR, v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result {
        self.text(TAG_BYTES, v);
        Ok(())
    }

    fn serialize_none(self) -> Result {
        self.write(&[TAG_NONE]);
        Ok(())
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result {
        self.write(&[TAG_SOME]);
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result {
        self.write(&[TAG_UNIT]);
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
    ) -> Result {
        self.variant(index);
        Ok(())
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result {
        self.variant(index);
        value.serialize(self)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self> {
        self.write(&[TAG_SEQ]);
        Ok(self)
    }

    fn serialize_tuple(self, len: usize) -> Result<Self> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Self> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        len: usize,
    ) -> Result<Self> {
        self.variant(index);
        self.serialize_seq(Some(len))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self> {
        self.write(&[TAG_MAP]);
        Ok(self)
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self> {
        self.write(&[TAG_STRUCT]);
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        len: usize,
    ) -> Result<Self> {
        self.variant(index);
        self.serialize_struct(_name, len)
    }
}

impl SerializeSeq for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result {
        self.write(&[TAG_END]);
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result {
        SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result {
        SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result {
        SerializeSeq::end(self)
    }
}

impl SerializeMap for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result {
        key.serialize(&mut **self)
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result {
        self.write(&[TAG_END]);
        Ok(())
    }
}

impl SerializeStruct for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, _key: &'static str, value: &T) -> Result {
        value.serialize(&mut **self)
    }

    fn skip_field(&mut self, _key: &'static str) -> Result {
        self.write(&[TAG_SKIP]);
        Ok(())
    }

    fn end(self) -> Result {
        self.write(&[TAG_END]);
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result {
        SerializeStruct::serialize_field(self, key, value)
    }

    fn skip_field(&mut self, key: &'static str) -> Result {
        SerializeStruct::skip_field(self, key)
    }

    fn end(self) -> Result {
        SerializeStruct::end(self)
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::sha256_of;

    #[derive(Serialize)]
    struct Optional {
        #[serde(skip_serializing_if = "Option::is_none")]
        first: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        second: Option<String>,
    }

    #[test]
    fn skipped_fields_do_not_collide() {
        let first = Optional {
            first: Some("x".to_owned()),
            second: None,
        };
        let second = Optional {
            first: None,
            second: Some("x".to_owned()),
        };
        assert_ne!(
            sha256_of(&first).expect("encodes"),
            sha256_of(&second).expect("encodes")
        );
    }

    #[test]
    fn nested_sequences_do_not_collide() {
        let left: Vec<Vec<&str>> = vec![vec!["a"], vec![]];
        let right: Vec<Vec<&str>> = vec![vec![], vec!["a"]];
        let joined: Vec<Vec<&str>> = vec![vec!["a", ""]];
        let left = sha256_of(&left).expect("encodes");
        assert_ne!(left, sha256_of(&right).expect("encodes"));
        assert_ne!(left, sha256_of(&joined).expect("encodes"));
    }

    #[test]
    fn long_strings_hash_like_short_ones() {
        let long = "x".repeat(200_000);
        let first = sha256_of(&vec![long.as_str(), "a"]).expect("encodes");
        let second = sha256_of(&vec![long.as_str(), "a"]).expect("encodes");
        let other = sha256_of(&vec![long.as_str(), "b"]).expect("encodes");
        assert_eq!(first, second);
        assert_ne!(first, other);
    }
}
