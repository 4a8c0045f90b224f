//! [`UpstreamBody`]: a response body read off its connection as the client takes it,
//! decoding Content-Length, chunked or read-until-close framing, and handing the
//! connection back once a kept-alive body has ended cleanly.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

use super::head::{Framing, MAX_HEAD_BYTES};
use super::{Error, H1Conn, ReturnConn};

/// Longest chunk-size line accepted (with extensions), in bytes.
const MAX_CHUNK_LINE: usize = 4096;

/// A response body streamed from an upstream HTTP/1.1 connection.
pub(crate) struct UpstreamBody {
    /// A body read whole with its head, not yet taken.
    full: Option<Bytes>,
    /// None once the body has ended (the connection was handed back or closed).
    conn: Option<Box<H1Conn>>,
    state: State,
    keep_alive: bool,
    /// Where a connection that can carry another request goes when the body ends.
    ret: Option<ReturnConn>,
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Bytes still to come.
    Length(u64),
    /// Expecting a chunk-size line.
    ChunkSize,
    /// Bytes of the current chunk still to come.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// The trailer section after the last chunk.
    Trailers,
    UntilClose,
    Done,
}

impl UpstreamBody {
    /// A body framed by `framing` whose first bytes are already in `conn`'s buffer.
    pub(super) fn new(
        conn: Box<H1Conn>,
        framing: Framing,
        keep_alive: bool,
        ret: ReturnConn,
    ) -> Self {
        let state = match framing {
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::UntilClose => State::UntilClose,
        };
        Self {
            full: None,
            conn: Some(conn),
            state,
            keep_alive,
            ret: Some(ret),
        }
    }

    /// A body that was read whole with its head: one data frame (none if empty).
    pub(super) fn complete(data: Bytes) -> Self {
        Self {
            full: Some(data).filter(|d| !d.is_empty()),
            conn: None,
            state: State::Done,
            keep_alive: false,
            ret: None,
        }
    }

    /// The body has ended: hand the connection back if it can carry another request.
    fn finish(&mut self) {
        self.state = State::Done;
        let Some(conn) = self.conn.take() else { return };
        if self.keep_alive && conn.read.is_empty() {
            if let Some(ret) = self.ret.take() {
                ret(conn);
            }
        }
    }

    /// Reads more bytes into the connection's buffer; `Ok(false)` at end of stream.
    fn fill(conn: &mut H1Conn, cx: &mut Context<'_>) -> Poll<Result<bool, Error>> {
        let n = ready!(conn.poll_read_more(cx)).map_err(Error::Read)?;
        Poll::Ready(Ok(n > 0))
    }

    /// Up to `n` bytes of body: what is buffered, or one read's worth;
    /// [`Error::Truncated`] if the connection ends first.
    fn take_up_to(conn: &mut H1Conn, cx: &mut Context<'_>, n: u64) -> Poll<Result<Bytes, Error>> {
        if conn.read.is_empty() && !ready!(Self::fill(conn, cx))? {
            return Poll::Ready(Err(Error::Truncated(n)));
        }
        let take = usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(conn.read.len());
        Poll::Ready(Ok(conn.read.split_to(take).freeze()))
    }

    /// The next frame. On an error the caller ([`Body::poll_frame`]) closes the
    /// connection and ends the body.
    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if let Some(data) = self.full.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match self.state {
                State::Done => return Poll::Ready(None),
                State::Length(0) => {
                    self.finish();
                    return Poll::Ready(None);
                }
                State::Length(n) => {
                    let data = ready!(Self::take_up_to(conn, cx, n))?;
                    let left = n - data.len() as u64;
                    self.state = State::Length(left);
                    if left == 0 {
                        self.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                State::UntilClose => {
                    if conn.read.is_empty() && !ready!(Self::fill(conn, cx))? {
                        self.state = State::Done;
                        self.conn = None;
                        return Poll::Ready(None);
                    }
                    let data = conn.read.split().freeze();
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                State::ChunkData(n) => {
                    let data = ready!(Self::take_up_to(conn, cx, n))?;
                    let left = n - data.len() as u64;
                    self.state = if left == 0 {
                        State::ChunkEnd
                    } else {
                        State::ChunkData(left)
                    };
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                State::ChunkSize | State::ChunkEnd | State::Trailers => {
                    match self.step_chunked(cx) {
                        Poll::Ready(Ok(Some(frame))) => return Poll::Ready(Some(Ok(frame))),
                        Poll::Ready(Ok(None)) => continue,
                        Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
        }
    }

    /// Advances over one line of chunked framing; a trailers frame at the end.
    fn step_chunked(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Frame<Bytes>>, Error>> {
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(Ok(None));
        };
        let line = match self.state {
            State::Trailers => ready!(poll_trailers(conn, cx))?,
            _ => ready!(poll_line(conn, cx, MAX_CHUNK_LINE))?,
        };
        match self.state {
            State::ChunkEnd => {
                if !line.is_empty() {
                    return Poll::Ready(Err(Error::Chunked("no CRLF after chunk data")));
                }
                self.state = State::ChunkSize;
            }
            State::ChunkSize => {
                let size = chunk_size(&line)?;
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::ChunkData(size)
                };
            }
            State::Trailers => {
                let trailers = parse_trailers(&line)?;
                self.finish();
                if let Some(t) = trailers {
                    return Poll::Ready(Ok(Some(Frame::trailers(t))));
                }
            }
            _ => {}
        }
        Poll::Ready(Ok(None))
    }
}

/// The next CRLF-terminated line from `conn` (without the CRLF).
fn poll_line(conn: &mut H1Conn, cx: &mut Context<'_>, max: usize) -> Poll<Result<BytesMut, Error>> {
    loop {
        if let Some(end) = conn.read.windows(2).position(|w| w == b"\r\n") {
            let line = conn.read.split_to(end);
            conn.read.advance(2);
            return Poll::Ready(Ok(line));
        }
        if conn.read.len() > max {
            return Poll::Ready(Err(Error::Chunked("chunk-size line too long")));
        }
        if !ready!(UpstreamBody::fill(conn, cx))? {
            return Poll::Ready(Err(Error::Chunked("connection closed inside the framing")));
        }
    }
}

/// The trailer section: every line up to and including the empty one.
fn poll_trailers(conn: &mut H1Conn, cx: &mut Context<'_>) -> Poll<Result<BytesMut, Error>> {
    loop {
        if conn.read.starts_with(b"\r\n") {
            conn.read.advance(2);
            return Poll::Ready(Ok(BytesMut::new()));
        }
        if let Some(end) = conn.read.windows(4).position(|w| w == b"\r\n\r\n") {
            let section = conn.read.split_to(end + 4);
            return Poll::Ready(Ok(section));
        }
        if conn.read.len() > MAX_HEAD_BYTES {
            return Poll::Ready(Err(Error::Chunked("trailer section too large")));
        }
        if !ready!(UpstreamBody::fill(conn, cx))? {
            return Poll::Ready(Err(Error::Chunked("connection closed inside the trailers")));
        }
    }
}

/// A chunk-size line's size: hex digits, then optional `;extensions`.
fn chunk_size(line: &[u8]) -> Result<u64, Error> {
    let digits = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if digits.is_empty() || digits.len() > 15 {
        return Err(Error::Chunked("invalid chunk size"));
    }
    let mut size = 0u64;
    for &d in digits {
        let v = (d as char)
            .to_digit(16)
            .ok_or(Error::Chunked("invalid chunk size"))?;
        size = size * 16 + u64::from(v);
    }
    Ok(size)
}

/// Trailer fields (None when there are none).
fn parse_trailers(section: &[u8]) -> Result<Option<HeaderMap>, Error> {
    if section.is_empty() {
        return Ok(None);
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let parsed = match httparse::parse_headers(section, &mut headers) {
        Ok(httparse::Status::Complete((_, h))) => h,
        _ => return Err(Error::Chunked("invalid trailer section")),
    };
    let mut map = HeaderMap::with_capacity(parsed.len());
    for h in parsed {
        let name = http::HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| Error::Chunked("invalid trailer name"))?;
        let value = http::HeaderValue::from_bytes(h.value)
            .map_err(|_| Error::Chunked("invalid trailer value"))?;
        map.append(name, value);
    }
    Ok(Some(map))
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        let out = this.poll_inner(cx);
        if let Poll::Ready(Some(Err(_))) = &out {
            // The connection is in an unknown state: closed, never reused.
            this.state = State::Done;
            this.conn = None;
        }
        out
    }

    fn is_end_stream(&self) -> bool {
        self.full.is_none() && (self.state == State::Done || self.conn.is_none())
    }

    fn size_hint(&self) -> SizeHint {
        if let Some(d) = &self.full {
            return SizeHint::with_exact(d.len() as u64);
        }
        match self.state {
            State::Length(n) => SizeHint::with_exact(n),
            State::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::{Arc, Mutex};
    use tokio::io::AsyncWriteExt;

    /// A body over an in-memory connection whose peer writes `wire` in `pieces`-byte
    /// writes, then closes; (data, trailers, error, connection handed back).
    async fn read(
        framing: Framing,
        wire: &[u8],
        pieces: usize,
    ) -> (Vec<u8>, Option<HeaderMap>, Option<String>, bool) {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let wire = wire.to_vec();
        tokio::spawn(async move {
            for piece in wire.chunks(pieces) {
                theirs.write_all(piece).await.unwrap();
            }
        });
        let back = Arc::new(Mutex::new(false));
        let flag = back.clone();
        let ret: ReturnConn = Box::new(move |_| *flag.lock().unwrap() = true);
        let mut body = UpstreamBody::new(Box::new(H1Conn::new(Box::new(ours))), framing, true, ret);
        let (mut data, mut trailers) = (Vec::new(), None);
        let mut error = None;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => match f.into_data() {
                    Ok(d) => data.extend_from_slice(&d),
                    Err(f) => trailers = f.into_trailers().ok(),
                },
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        let back = *back.lock().unwrap();
        (data, trailers, error, back)
    }

    #[tokio::test]
    async fn content_length_bodies_end_at_their_length() {
        for pieces in [1, 3, 1000] {
            let (data, _, err, back) = read(Framing::Length(5), b"hello", pieces).await;
            assert_eq!((data.as_slice(), err, back), (&b"hello"[..], None, true));
        }
        let (data, _, err, back) = read(Framing::Length(8), b"hello", 2).await;
        assert_eq!(data, b"hello");
        assert!(err.unwrap().contains("3 bytes"), "truncation named");
        assert!(!back, "a broken connection is not reused");
    }

    #[tokio::test]
    async fn chunked_bodies_decode_with_extensions_and_trailers() {
        let wire = b"5;name=v\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc\r\n\r\n";
        for pieces in [1, 2, 7, 1000] {
            let (data, trailers, err, back) = read(Framing::Chunked, wire, pieces).await;
            assert_eq!(data, b"hello world", "pieces {pieces}");
            assert_eq!(err, None);
            assert_eq!(trailers.unwrap()["x-checksum"], "abc");
            assert!(back);
        }
        let (data, trailers, err, back) =
            read(Framing::Chunked, b"A\r\n0123456789\r\n0\r\n\r\n", 4).await;
        assert_eq!(
            (data.as_slice(), trailers, err, back),
            (&b"0123456789"[..], None, None, true)
        );
    }

    #[tokio::test]
    async fn bad_chunked_framing_is_an_error() {
        for (wire, want) in [
            (&b"zz\r\nhello\r\n0\r\n\r\n"[..], "invalid chunk size"),
            (b"5\r\nhelloXX0\r\n\r\n", "no CRLF"),
            (b"5\r\nhel", "2 bytes"),
            (b"5\r\nhello\r\n", "closed inside"),
            (b"10000000000000000\r\n", "invalid chunk size"),
        ] {
            let (_, _, err, back) = read(Framing::Chunked, wire, 3).await;
            let err = err.unwrap_or_default();
            assert!(err.contains(want), "{wire:?}: {err}");
            assert!(!back);
        }
    }

    #[tokio::test]
    async fn until_close_bodies_end_at_eof_and_close_the_connection() {
        let (data, _, err, back) = read(Framing::UntilClose, b"all of it", 4).await;
        assert_eq!(
            (data.as_slice(), err, back),
            (&b"all of it"[..], None, false)
        );
    }

    #[tokio::test]
    async fn a_complete_body_is_one_frame() {
        let mut body = UpstreamBody::complete(Bytes::from_static(b"ok\n"));
        assert_eq!(body.size_hint().exact(), Some(3));
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "ok\n");
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none());
        assert!(UpstreamBody::complete(Bytes::new()).is_end_stream());
    }
}
