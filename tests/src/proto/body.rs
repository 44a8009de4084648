//! Response bodies for test backends that need more than a buffered body:
//! data frames followed by trailers.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};

use crate::backend::{BoxBody, BoxError};

/// A body that sends the given frames (data and trailers) in order.
#[derive(Debug, Default)]
pub struct FramesBody {
    frames: VecDeque<Frame<Bytes>>,
}

impl FramesBody {
    /// Creates a body from frames, sent in order.
    pub fn new(frames: impl IntoIterator<Item = Frame<Bytes>>) -> Self {
        Self {
            frames: frames.into_iter().collect(),
        }
    }

    /// Boxes the body for a backend response.
    pub fn boxed(self) -> BoxBody {
        BodyExt::boxed(self)
    }
}

impl Body for FramesBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Poll::Ready(self.frames.pop_front().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
    }
}
