//! A connection whose client stops reading is closed after a while.
//!
//! hyper bounds how long a request head may take (`header_read_timeout`), but not how
//! long writing an answer may wait: a client that asks for a large answer (a gateway
//! download, many pipelined requests) and then reads nothing keeps its connection,
//! its slot under `--max-connections` and the buffered answer for ever. [`StallLimit`]
//! wraps the socket and fails a write that has made no progress for the limit; hyper
//! then drops the connection. Each write that goes through stops the clock, so a slow
//! reader is cut only when less than about a third of the socket's send buffer frees
//! up within the limit (the kernel wakes a waiting writer once that much is free).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::telemetry::labels::ConnectionOutcome;

/// A stream whose writes fail once they have waited `limit` without progress.
pub(super) struct StallLimit<S> {
    inner: S,
    limit: Duration,
    /// Armed when a write is first refused for want of room; cleared by progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> StallLimit<S> {
    pub(super) fn new(inner: S, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            stalled: None,
        }
    }

    /// Passes on a finished write (clearing the clock), or keeps waiting for one
    /// until the limit, then fails it.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let clock = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match clock.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                metrics::counter!("udam_connections_total", "outcome" => ConnectionOutcome::Stalled.as_str())
                    .increment(1);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the answer made no progress for --write-stall-timeout",
                )))
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallLimit<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallLimit<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_write_nobody_reads_fails_after_the_limit() {
        // A pipe whose other end never reads: 64 bytes of room, then writes wait.
        let (writer, _reader) = tokio::io::duplex(64);
        let mut stream = StallLimit::new(writer, Duration::from_secs(30));
        stream.write_all(&[0; 64]).await.expect("fits");
        let err = stream.write_all(&[0; 64]).await.expect_err("stalls");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_that_keeps_reading_is_never_cut() {
        use tokio::io::AsyncReadExt;
        let (writer, mut reader) = tokio::io::duplex(64);
        let mut stream = StallLimit::new(writer, Duration::from_secs(30));
        let reading = tokio::spawn(async move {
            let mut buf = [0; 16];
            let mut total = 0;
            while total < 1024 {
                // 20 s per 16 bytes: slower than the limit for the whole, never per write.
                tokio::time::sleep(Duration::from_secs(20)).await;
                total += reader.read(&mut buf).await.expect("read");
            }
        });
        stream
            .write_all(&[0; 1024])
            .await
            .expect("every write progresses in time");
        reading.await.unwrap();
    }
}
