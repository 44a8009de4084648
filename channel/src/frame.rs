//! Length-prefixed JSON framing over an HTTP/2 body.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of
//! JSON. HTTP/2 DATA frames do not align with messages, so the reader
//! buffers until a whole message is present.

use bytes::{Buf, Bytes, BytesMut};
use http_body::Body;
use http_body_util::BodyExt;
use serde::{Serialize, de::DeserializeOwned};

/// Maximum size of one message's JSON, in bytes (64 MiB). A larger
/// message is rejected by the sender and by the reader.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

const LENGTH_BYTES: usize = 4;

/// A failure to encode or decode one framed message.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The message is larger than [`MAX_MESSAGE_BYTES`].
    #[error(
        "message of {length} bytes exceeds the channel limit of {max} bytes; \
         split the configuration or raise the limit"
    )]
    TooLarge {
        /// Size of the message's JSON.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// The stream ended in the middle of a message.
    #[error("stream ended inside a message ({buffered} of {expected} bytes received)")]
    Truncated {
        /// Bytes of the message received before the end.
        buffered: usize,
        /// Bytes the length prefix announced, prefix included.
        expected: usize,
    },
    /// The message is not valid JSON for the expected type.
    #[error("invalid message JSON")]
    Json(#[source] serde_json::Error),
    /// The underlying HTTP/2 stream failed.
    #[error("reading the stream failed")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Encodes `message` as one frame.
///
/// # Errors
/// Returns [`FrameError::TooLarge`] when the JSON exceeds
/// [`MAX_MESSAGE_BYTES`].
pub fn encode<T: Serialize>(message: &T) -> Result<Bytes, FrameError> {
    let mut buffer = vec![0; LENGTH_BYTES];
    serde_json::to_writer(&mut buffer, message).map_err(FrameError::Json)?;
    let length = buffer.len() - LENGTH_BYTES;
    if length > MAX_MESSAGE_BYTES {
        return Err(FrameError::TooLarge {
            length,
            max: MAX_MESSAGE_BYTES,
        });
    }
    let prefix = u32::try_from(length).expect("the limit fits in a u32");
    buffer[..LENGTH_BYTES].copy_from_slice(&prefix.to_be_bytes());
    Ok(Bytes::from(buffer))
}

/// Reads framed messages from an HTTP body.
#[derive(Debug)]
pub struct FrameReader<B> {
    body: B,
    buffer: BytesMut,
}

// === impl FrameReader ===

impl<B> FrameReader<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Wraps `body`.
    pub fn new(body: B) -> Self {
        Self {
            body,
            buffer: BytesMut::new(),
        }
    }

    /// Reads the next message, or `None` when the stream ended cleanly
    /// between two messages.
    ///
    /// # Errors
    /// Returns an error when the stream fails, ends inside a message,
    /// announces a message over [`MAX_MESSAGE_BYTES`] or carries invalid
    /// JSON.
    pub async fn next<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        loop {
            if let Some(json) = self.split_message()? {
                let message = serde_json::from_slice(&json).map_err(FrameError::Json)?;
                return Ok(Some(message));
            }
            if !self.fill().await? {
                return self.end_of_stream();
            }
        }
    }

    /// Splits one whole message off the buffer, if one is there.
    fn split_message(&mut self) -> Result<Option<Bytes>, FrameError> {
        let Some(length) = self.announced_length()? else {
            return Ok(None);
        };
        if self.buffer.len() < LENGTH_BYTES + length {
            return Ok(None);
        }
        self.buffer.advance(LENGTH_BYTES);
        Ok(Some(self.buffer.split_to(length).freeze()))
    }

    /// Length from the prefix, checked against the limit before any of
    /// the message is buffered.
    fn announced_length(&self) -> Result<Option<usize>, FrameError> {
        let Some(prefix) = self.buffer.get(..LENGTH_BYTES) else {
            return Ok(None);
        };
        let prefix: [u8; LENGTH_BYTES] = prefix.try_into().expect("slice of LENGTH_BYTES");
        let length = u32::from_be_bytes(prefix) as usize;
        if length > MAX_MESSAGE_BYTES {
            return Err(FrameError::TooLarge {
                length,
                max: MAX_MESSAGE_BYTES,
            });
        }
        Ok(Some(length))
    }

    /// Appends the next DATA frame to the buffer; `false` at end of stream.
    async fn fill(&mut self) -> Result<bool, FrameError> {
        loop {
            let Some(frame) = self.body.frame().await else {
                return Ok(false);
            };
            let frame = frame.map_err(|error| FrameError::Body(error.into()))?;
            // Trailers carry nothing on this protocol and are skipped.
            if let Ok(data) = frame.into_data() {
                self.buffer.extend_from_slice(&data);
                return Ok(true);
            }
        }
    }

    fn end_of_stream<T>(&self) -> Result<Option<T>, FrameError> {
        if self.buffer.is_empty() {
            return Ok(None);
        }
        let expected = match self.announced_length() {
            Ok(Some(length)) => LENGTH_BYTES + length,
            _ => LENGTH_BYTES,
        };
        Err(FrameError::Truncated {
            buffered: self.buffer.len(),
            expected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body;

    async fn read_all(chunks: Vec<Vec<u8>>) -> (Vec<serde_json::Value>, Option<FrameError>) {
        let (sender, body) = body::channel();
        tokio::spawn(async move {
            for chunk in chunks {
                let _ = sender.send(Bytes::from(chunk)).await;
            }
        });
        let mut reader = FrameReader::new(body);
        let mut messages = Vec::new();
        loop {
            match reader.next::<serde_json::Value>().await {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => return (messages, None),
                Err(error) => return (messages, Some(error)),
            }
        }
    }

    fn framed(json: &str) -> Vec<u8> {
        encode(&serde_json::from_str::<serde_json::Value>(json).expect("valid JSON"))
            .expect("fits")
            .to_vec()
    }

    #[tokio::test]
    async fn messages_split_across_chunks_are_reassembled() {
        let mut stream = framed(r#"{"a":1}"#);
        stream.extend(framed(r#"{"b":[1,2,3]}"#));
        let chunks = stream.chunks(3).map(<[u8]>::to_vec).collect();
        let (messages, error) = read_all(chunks).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(
            messages,
            [serde_json::json!({"a":1}), serde_json::json!({"b":[1,2,3]})]
        );
    }

    #[tokio::test]
    async fn oversized_length_prefix_is_rejected_before_buffering() {
        let length = u32::try_from(MAX_MESSAGE_BYTES + 1).expect("fits");
        let (messages, error) = read_all(vec![length.to_be_bytes().to_vec()]).await;
        assert!(messages.is_empty());
        let error = error.expect("error");
        assert!(matches!(error, FrameError::TooLarge { .. }), "{error:?}");
        assert!(error.to_string().contains("exceeds the channel limit"));
    }

    #[tokio::test]
    async fn stream_ending_inside_a_message_is_truncated() {
        let stream = framed(r#"{"a":"long enough"}"#);
        let cut = stream[..stream.len() - 3].to_vec();
        let (_, error) = read_all(vec![cut]).await;
        assert!(
            matches!(error, Some(FrameError::Truncated { .. })),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn invalid_json_is_rejected() {
        let mut stream = 3u32.to_be_bytes().to_vec();
        stream.extend_from_slice(b"{x}");
        let (_, error) = read_all(vec![stream]).await;
        assert!(matches!(error, Some(FrameError::Json(_))), "{error:?}");
    }

    #[test]
    fn oversized_message_is_not_encoded() {
        let huge = "x".repeat(MAX_MESSAGE_BYTES);
        let error = encode(&huge).expect_err("too large");
        assert!(matches!(error, FrameError::TooLarge { .. }), "{error:?}");
    }

    #[test]
    fn encoded_messages_round_trip_through_the_enums() {
        let ir = portcullis_compiler::ir::SnapshotIr::default();
        let frame = encode(&crate::message::ServerMessageRef::Snapshot {
            version: "v1",
            ir: &ir,
        })
        .expect("fits");
        let decoded: crate::ServerMessage = serde_json::from_slice(&frame[4..]).expect("decodes");
        let crate::ServerMessage::Snapshot { version, ir: back } = decoded;
        assert_eq!(version, "v1");
        assert_eq!(back, ir);
        let text = std::str::from_utf8(&frame[4..]).expect("UTF-8");
        assert!(
            text.starts_with(r#"{"type":"snapshot","version":"v1""#),
            "{text}"
        );
    }
}
