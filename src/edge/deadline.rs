//! A deadline for request bodies: a slow client cannot hold a request open by trickling its
//! body. Only reading the body is timed; the handler's own work is not.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;

/// actix's boxed payload stream (not re-exported by actix-web).
type BoxedBody = Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>;

/// A request body that must finish arriving by a deadline (slow clients): past it, reading
/// fails with a timed-out I/O error, which the extractors answer as `408`. Only reading the
/// body is timed; the handler's own work (an order waiting for its commit) is not.
pub struct BodyDeadline {
    inner: Payload,
    deadline: tokio::time::Instant,
    /// Armed on the first read.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl BodyDeadline {
    /// `inner`, cut off at `deadline`, as a payload again.
    pub fn wrap(inner: Payload, deadline: tokio::time::Instant) -> Payload {
        Payload::from(Box::pin(BodyDeadline {
            inner,
            deadline,
            sleep: None,
        }) as BoxedBody)
    }
}

impl Stream for BodyDeadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Poll::Ready(chunk) = Pin::new(&mut this.inner).poll_next(cx) {
            return Poll::Ready(chunk);
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            metrics::counter!("requests_rejected_total", "reason" => "timeout").increment(1);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )))));
        }
        Poll::Pending
    }
}
