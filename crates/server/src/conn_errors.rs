//! The error answers hyper writes on its own, before any handler runs (414 for a
//! request URI over its 64 KiB limit, 431 for headers too large, 400 for a
//! request it cannot parse), come with no body at all. A connection's writes pass
//! through [`ErrorBodies`], which replaces such a bodiless error response with the
//! same status and Neutron's error body, so every error a client sees is a
//! NeutronError (issue 19). Everything else is written through untouched.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Neutron's error type for an HTTP status the framework answers by itself.
pub(crate) fn neutron_kind(code: u16) -> &'static str {
    match code {
        400 | 422 => "HTTPBadRequest",
        404 => "HTTPNotFound",
        405 => "HTTPMethodNotAllowed",
        413 => "HTTPRequestEntityTooLarge",
        414 => "HTTPRequestURITooLong",
        415 => "HTTPUnsupportedMediaType",
        431 => "HTTPRequestHeaderFieldsTooLarge",
        _ => "HTTPError",
    }
}

/// A connection whose bodiless error responses are given Neutron's error body.
pub(crate) struct ErrorBodies<S> {
    inner: S,
    /// A replacement response not yet written out.
    pending: Vec<u8>,
}

impl<S> ErrorBodies<S> {
    pub(crate) fn new(inner: S) -> Self {
        ErrorBodies {
            inner,
            pending: Vec::new(),
        }
    }
}

/// The replacement for `head` when it is a whole 4xx/5xx response with
/// `content-length: 0` (only hyper's own are: every handler's error has a body).
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    // One whole response head and nothing after it (not a response with its
    // body, nor two responses written together).
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    if head.len() > 1024 || end + 4 != head.len() {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let status_line = text.lines().next()?;
    let rest = status_line.strip_prefix("HTTP/1.1 ")?;
    let code: u16 = rest.get(..3)?.parse().ok()?;
    if !(400..600).contains(&code)
        || !text
            .to_ascii_lowercase()
            .contains("\r\ncontent-length: 0\r\n")
    {
        return None;
    }
    let reason = rest.get(4..).unwrap_or("Error").trim();
    let body = serde_json::json!({"NeutronError": {
        "type": neutron_kind(code), "message": reason, "detail": ""}})
    .to_string();
    Some(
        format!(
            "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<S: AsyncWrite + Unpin> ErrorBodies<S> {
    /// Writes out what is pending.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ErrorBodies<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ErrorBodies<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if let Some(r) = replacement(buf) {
            // Taken whole; written out by the flush that follows.
            self.pending = r;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total <= 1024 {
            let whole: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            if let Some(r) = replacement(&whole) {
                self.pending = r;
                return Poll::Ready(Ok(total));
            }
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodiless_errors_are_replaced() {
        let hyper_414 =
            b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let r = String::from_utf8(replacement(hyper_414).unwrap_or_default()).unwrap_or_default();
        assert!(r.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{r}");
        let body = r.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(v["NeutronError"]["type"], "HTTPRequestURITooLong");
        assert!(r.contains(&format!("content-length: {}\r\n", body.len())));
        for untouched in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            // A response with its body, then hyper's own: written together.
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 90\r\n\r\n",
            b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n",
            b"{\"networks\": []}",
        ] {
            assert!(replacement(untouched).is_none());
        }
    }
}
