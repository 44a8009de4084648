//! An HTTP body fed by a channel, for the long-lived message streams.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::sync::mpsc;

/// Frames queued per stream before a sender waits. Small, because the
/// operator always sends the latest snapshot and a slow replica should
/// not buffer stale ones.
pub(crate) const QUEUE_DEPTH: usize = 4;

/// A body that yields each queued chunk as one DATA frame and ends when
/// every sender is dropped.
#[derive(Debug)]
pub(crate) struct StreamBody {
    receiver: mpsc::Receiver<Bytes>,
}

/// Creates a body and the sender that feeds it.
pub(crate) fn channel() -> (mpsc::Sender<Bytes>, StreamBody) {
    let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
    (sender, StreamBody { receiver })
}

impl Body for StreamBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.receiver
            .poll_recv(context)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}
