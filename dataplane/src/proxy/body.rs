//! Body types: one boxed body for both directions, a body that replays
//! bytes read ahead of forwarding, and a body that keeps the snapshot alive.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;

/// A response body that keeps its snapshot alive. The proxy serves this
/// type directly instead of boxing it again, which saves one allocation
/// and one dynamic call per frame.
pub type GuardedBody = Guarded<ProxyBody, crate::state::Published>;

/// Errors carried by proxied bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every request and response the proxy sends.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// Creates a body with `bytes` as its only frame.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Creates a body with no frames.
pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// Boxes a body received by hyper.
pub fn incoming(body: Incoming) -> ProxyBody {
    body.map_err(BoxError::from).boxed_unsync()
}

/// A request body whose start was read before forwarding: replays the
/// buffered data and trailers, then streams the rest.
#[derive(Debug)]
pub struct Replay {
    buffered: VecDeque<Bytes>,
    trailers: Option<HeaderMap>,
    rest: Option<Incoming>,
}

// === impl Replay ===

impl Replay {
    /// `rest` is `None` when the whole body was read.
    pub fn new(buffered: Vec<Bytes>, trailers: Option<HeaderMap>, rest: Option<Incoming>) -> Self {
        Self {
            buffered: buffered.into(),
            trailers,
            rest,
        }
    }
}

impl Body for Replay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(data) = self.buffered.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(trailers) = self.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        match self.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx).map_err(BoxError::from),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.buffered.is_empty()
            && self.trailers.is_none()
            && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let buffered: u64 = self.buffered.iter().map(|data| data.len() as u64).sum();
        let rest = match &self.rest {
            Some(rest) => rest.size_hint(),
            None => SizeHint::with_exact(0),
        };
        // Upper first: `set_lower` panics when the new lower bound is
        // above the current upper bound.
        let mut hint = SizeHint::new();
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(buffered));
        }
        hint.set_lower(rest.lower().saturating_add(buffered));
        hint
    }
}

/// A body wrapper that keeps `guard` alive until the body is dropped, so
/// a snapshot outlives the response that streams from it.
pub struct Guarded<B, G> {
    inner: B,
    _guard: Arc<G>,
}

// === impl Guarded ===

impl<B, G> Guarded<B, G> {
    /// Holds `guard` for the life of `inner`.
    pub fn new(inner: B, guard: Arc<G>) -> Self {
        Self {
            inner,
            _guard: guard,
        }
    }
}

impl<B: Body + Unpin, G> Body for Guarded<B, G> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replay_without_rest_yields_buffered_then_trailers() {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let body = Replay::new(
            vec![Bytes::from_static(b"ab"), Bytes::from_static(b"cd")],
            Some(trailers),
            None,
        );
        assert_eq!(body.size_hint().exact(), Some(4));
        let collected = body.collect().await.unwrap();
        let trailers = collected.trailers().cloned().unwrap();
        assert_eq!(trailers["grpc-status"], "0");
        assert_eq!(collected.to_bytes(), Bytes::from_static(b"abcd"));
    }

    #[tokio::test]
    async fn guarded_body_passes_frames_through() {
        let guard = Arc::new(7_u8);
        let body = Guarded::new(full("hello"), guard.clone());
        assert_eq!(Arc::strong_count(&guard), 2);
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes, Bytes::from_static(b"hello"));
        assert_eq!(Arc::strong_count(&guard), 1);
    }
}
