//! Raw request bytes over TCP, for spellings that HTTP clients normalize or
//! refuse to send (dot segments, encoded slashes, malformed heads).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Maximum time a raw exchange waits for a complete response.
pub const RESPONSE_DEADLINE: Duration = Duration::from_secs(10);

/// An HTTP/1.1 response parsed from raw bytes.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Header fields in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body, with chunked framing removed.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// Returns the first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    /// Parses the body as JSON.
    ///
    /// # Errors
    /// Returns the parse error with the body text.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "response body is not JSON: {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Builds a `GET` request for `target` (sent as written) with `Connection:
/// close`, so the gateway closes the connection after its response.
pub fn get(host: &str, target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes()
}

/// Sends `bytes` to `addr` and reads one response, waiting at most
/// [`RESPONSE_DEADLINE`].
///
/// # Errors
/// Returns connect and I/O errors, a connection closed before a complete
/// response, or the deadline passing.
pub async fn exchange(addr: SocketAddr, bytes: &[u8]) -> anyhow::Result<RawResponse> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect to {addr} failed"))?;
    // A server may respond and close before it reads everything (an
    // oversized head, say), so a failed write still leaves a response to
    // read.
    let written = stream.write_all(bytes).await;
    match read_response(&mut stream).await {
        Ok(response) => Ok(response),
        Err(error) => match written {
            Ok(()) => Err(error),
            Err(write_error) => Err(error.context(format!("write request failed: {write_error}"))),
        },
    }
}

/// Reads one response from `stream`, waiting at most [`RESPONSE_DEADLINE`].
///
/// # Errors
/// Returns I/O errors, a connection closed before a complete response, or
/// the deadline passing.
pub async fn read_response(stream: &mut TcpStream) -> anyhow::Result<RawResponse> {
    let deadline = Instant::now() + RESPONSE_DEADLINE;
    let mut received = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        if let Some(response) = parse(&received)? {
            return Ok(response);
        }
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buffer))
            .await
            .context("no complete response before the deadline")?;
        match read {
            Ok(0) => return parse_at_close(&received),
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            // A server that closes with request bytes unread makes the
            // kernel reset the connection; what arrived before still counts.
            Err(_) if !received.is_empty() => return parse_at_close(&received),
            Err(error) => return Err(error).context("read response failed"),
        }
    }
}

/// Waits until the peer closes `stream`, discarding anything it sends, and
/// returns how long that took. Fails when `limit` passes first.
///
/// # Errors
/// Returns the limit passing while the connection is still open.
pub async fn wait_closed(stream: &mut TcpStream, limit: Duration) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        let read = tokio::time::timeout_at(start + limit, stream.read(&mut buffer))
            .await
            .with_context(|| format!("connection still open after {limit:?}"))?;
        match read {
            Ok(0) | Err(_) => return Ok(start.elapsed()),
            Ok(_) => {}
        }
    }
}

fn parse_at_close(received: &[u8]) -> anyhow::Result<RawResponse> {
    let Some((status, headers, body_start)) = parse_head(received)? else {
        bail!(
            "connection closed before a complete response head: {:?}",
            String::from_utf8_lossy(received)
        );
    };
    // A response without a length runs until the connection closes.
    Ok(RawResponse {
        status,
        headers,
        body: received[body_start..].to_vec(),
    })
}

/// Returns the response once `received` contains all of it.
fn parse(received: &[u8]) -> anyhow::Result<Option<RawResponse>> {
    let Some((status, headers, body_start)) = parse_head(received)? else {
        return Ok(None);
    };
    let rest = &received[body_start..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.clone())
    };
    let body = if find("transfer-encoding").is_some_and(|value| value.contains("chunked")) {
        dechunk(rest)?
    } else if let Some(length) = find("content-length") {
        let length: usize = length.trim().parse().context("invalid content-length")?;
        (rest.len() >= length).then(|| rest[..length].to_vec())
    } else if (100..200).contains(&status) || status == 204 || status == 304 {
        Some(Vec::new())
    } else {
        None
    };
    Ok(body.map(|body| RawResponse {
        status,
        headers,
        body,
    }))
}

type Head = (u16, Vec<(String, String)>, usize);

fn parse_head(received: &[u8]) -> anyhow::Result<Option<Head>> {
    let Some(end) = received.windows(4).position(|window| window == b"\r\n\r\n") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&received[..end]).context("response head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("invalid status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok(Some((status, headers, end + 4)))
}

/// Removes chunked framing; `None` while the last chunk has not arrived.
fn dechunk(mut rest: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = rest.windows(2).position(|window| window == b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&rest[..line_end]).context("invalid chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).context("invalid chunk size")?;
        let data_start = line_end + 2;
        if size == 0 {
            return Ok(Some(body));
        }
        if rest.len() < data_start + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&rest[data_start..data_start + size]);
        rest = &rest[data_start + size + 2..];
    }
}
