//! A gRPC-style backend: it reads one length-prefixed message and responds
//! with one message followed by the `grpc-status` and `grpc-message`
//! trailers, the way a unary gRPC call ends.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};

use crate::backend::{Backend, BoxBody};
use crate::proto::body::FramesBody;

/// Content type of gRPC requests and responses.
pub const CONTENT_TYPE: &str = "application/grpc";

/// `grpc-message` trailer the backend sends.
pub const STATUS_MESSAGE: &str = "echoed";

/// Prefix the backend puts before the message it echoes.
pub const REPLY_PREFIX: &[u8] = b"echo:";

/// Frames `message` as one uncompressed gRPC message: a zero flag byte, a
/// big-endian length and the bytes.
pub fn frame(message: &[u8]) -> Bytes {
    let length = u32::try_from(message.len()).expect("test messages are under 4 GiB");
    let mut framed = BytesMut::with_capacity(5 + message.len());
    framed.put_u8(0);
    framed.put_u32(length);
    framed.put_slice(message);
    framed.freeze()
}

/// Returns the message of one framed gRPC message, or `None` when the
/// bytes are not exactly one uncompressed message.
pub fn unframe(framed: &[u8]) -> Option<&[u8]> {
    let (&flag, rest) = framed.split_first()?;
    let (length, message) = rest.split_at_checked(4)?;
    let length = u32::from_be_bytes(length.try_into().ok()?);
    (flag == 0 && usize::try_from(length).ok()? == message.len()).then_some(message)
}

/// Starts the gRPC-style backend. A request whose body is one framed
/// message gets `echo:` and the message back, then trailers. Any other
/// request gets a `grpc-status: 3` (invalid argument) trailer. Header
/// `x-backend-version` of the response names the HTTP version the backend
/// received.
pub async fn backend() -> Backend {
    Backend::start(respond).await
}

async fn respond(request: Request<Incoming>) -> Response<BoxBody> {
    let version = format!("{:?}", request.version());
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let (frames, status) = match unframe(&body) {
        Some(message) => {
            let reply = [REPLY_PREFIX, message].concat();
            (vec![Frame::data(frame(&reply))], "0")
        }
        None => (Vec::new(), "3"),
    };

    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static(status));
    trailers.insert("grpc-message", HeaderValue::from_static(STATUS_MESSAGE));
    let frames = frames.into_iter().chain([Frame::trailers(trailers)]);

    Response::builder()
        .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
        .header("x-backend-version", version)
        .body(FramesBody::new(frames).boxed())
        .expect("static response parts are valid")
}
