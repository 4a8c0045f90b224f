//! The bytes of an HTTP/1.1 exchange's heads: the request head written upstream, and
//! the response head parsed into a [`Head`] with its body's framing (RFC 9112 §6.3).

use std::mem::MaybeUninit;

use bytes::{Buf, BytesMut};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};

use super::{Error, RequestHead};
use crate::sigv4::SigningOutput;

/// Most header fields accepted in a response head (hyper's default too).
pub(crate) const MAX_HEADERS: usize = 100;
/// Largest response head accepted, in bytes.
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Appends `method target HTTP/1.1`, the header fields (the request's, then the
/// signature's) and the blank line to `out`.
///
/// The target is an `http::uri::PathAndQuery` and the request's fields are `http`
/// types, none of which can hold CR or LF; the signature's values were checked by
/// [`SigningOutput::check_header_values`]. So the head cannot be split.
pub(crate) fn write_request(out: &mut Vec<u8>, req: &RequestHead<'_>) {
    let signed = req.signed;
    let fields: usize = req
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .chain(
            signed
                .into_iter()
                .flat_map(|s| s.headers().map(|(n, v)| n.len() + v.len() + 4)),
        )
        .sum();
    out.reserve(req.method.as_str().len() + req.target.len() + fields + 13);
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut field = |name: &[u8], value: &[u8]| {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    for (name, value) in req.headers {
        if !signed.is_some_and(|s| s.replaces_header(name.as_str())) {
            field(name.as_str().as_bytes(), value.as_bytes());
        }
    }
    for (name, value) in signed.into_iter().flat_map(SigningOutput::headers) {
        field(name.as_bytes(), value.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// How a response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Exactly this many bytes (0: no body, e.g. a HEAD response or a 204).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the upstream closes the connection.
    UntilClose,
}

/// A parsed final (non-1xx) response head.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) framing: Framing,
    /// The connection can carry another request once the body has been read.
    pub(crate) keep_alive: bool,
}

/// What the bytes read so far hold.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// Not a whole head yet; nothing was taken.
    Partial,
    /// An interim (1xx) response, taken off the buffer: look for the next head.
    Interim,
    /// A final response head, taken off the buffer.
    Final(Head),
}

/// Parses the response head at the start of `buf`, for a request with `method`, and
/// takes it off `buf` once complete. Header values share the buffer's memory (no copy
/// per value).
pub(crate) fn parse_response(buf: &mut BytesMut, method: &Method) -> Result<Parsed, Error> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, &mut slots)
    {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err(Error::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(Error::TooManyHeaders),
        Err(e) => return Err(Error::InvalidHead(e.to_string())),
    };
    if len > MAX_HEAD_BYTES {
        return Err(Error::HeadTooLarge);
    }
    // invariant: httparse sets both on Complete; 0 is never a valid code.
    let code = resp.code.unwrap_or(0);
    let status = StatusCode::from_u16(code)
        .map_err(|_| Error::InvalidHead(format!("status code {code}")))?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(Error::Upgrade);
    }
    if status.is_informational() {
        buf.advance(len);
        return Ok(Parsed::Interim);
    }
    let version = if resp.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    // Where each field lies in the head, so the values can be slices of it once the
    // head is split off the buffer (the parser borrows it until then).
    let base = buf.as_ptr() as usize;
    let at = |part: &[u8]| {
        let start = part.as_ptr() as usize - base;
        start..start + part.len()
    };
    // (A Vec: one allocation, where a stack array of MAX_HEADERS cleared 3 KiB per
    // response, and copying the values took one allocation each.)
    let fields: Vec<_> = resp
        .headers
        .iter()
        .map(|h| (at(h.name.as_bytes()), at(h.value)))
        .collect();
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(fields.len());
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut close = version == Version::HTTP_10;
    for (name_at, value_at) in fields {
        let raw_name = head.get(name_at).unwrap_or_default();
        let raw_value = head.get(value_at.clone()).unwrap_or_default();
        let name = HeaderName::from_bytes(raw_name).map_err(|_| {
            Error::InvalidHead(format!(
                "header name {:?}",
                String::from_utf8_lossy(raw_name)
            ))
        })?;
        let value = HeaderValue::from_maybe_shared(head.slice(value_at))
            .map_err(|_| Error::InvalidHead(format!("value of {name}")))?;
        if name == header::CONTENT_LENGTH {
            let n = content_length(raw_value)
                .ok_or_else(|| Error::InvalidHead("Content-Length is not a number".into()))?;
            if length.is_some_and(|l| l != n) {
                return Err(Error::InvalidHead(
                    "conflicting Content-Length values".into(),
                ));
            }
            length = Some(n);
        } else if name == header::TRANSFER_ENCODING {
            transfer_encoding = true;
            // Only the final coding decides the framing (RFC 9112 §6.3).
            chunked = last_token(raw_value).eq_ignore_ascii_case(b"chunked");
        } else if name == header::CONNECTION {
            for token in raw_value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == Version::HTTP_10 {
                    close = false;
                }
            }
        }
        headers.append(name, value);
    }
    let no_body = method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = if no_body {
        Framing::Length(0)
    } else if transfer_encoding {
        // A message with both is a smuggling risk: Transfer-Encoding wins and the
        // connection is not reused.
        if length.is_some() {
            close = true;
        }
        if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else {
        match length {
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        }
    };
    let keep_alive = !close && framing != Framing::UntilClose;
    Ok(Parsed::Final(Head {
        status,
        version,
        headers,
        framing,
        keep_alive,
    }))
}

/// A Content-Length value: digits, or a list of equal numbers (`5, 5`).
fn content_length(value: &[u8]) -> Option<u64> {
    let mut out = None;
    for part in value.split(|&b| b == b',') {
        let part = part.trim_ascii();
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n: u64 = std::str::from_utf8(part).ok()?.parse().ok()?;
        if out.is_some_and(|o| o != n) {
            return None;
        }
        out = Some(n);
    }
    out
}

/// The last comma-separated token of a header value, trimmed.
fn last_token(value: &[u8]) -> &[u8] {
    value
        .rsplit(|&b| b == b',')
        .next()
        .unwrap_or_default()
        .trim_ascii()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    fn parse(text: &str, method: &Method) -> Result<Parsed, Error> {
        parse_response(&mut BytesMut::from(text.as_bytes()), method)
    }

    fn head(text: &str) -> Head {
        let mut buf = BytesMut::from(format!("{text}next").as_bytes());
        match parse_response(&mut buf, &Method::GET).unwrap() {
            Parsed::Final(h) => {
                assert_eq!(&buf[..], b"next", "the head, and only it, was taken");
                h
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn writes_the_request_head_with_the_signature_replacing_client_values() {
        use crate::credentials::Credentials;
        use crate::sigv4::{sign, PayloadHash, SignableRequest, SigningParams, SigningSettings};
        use std::time::{Duration, UNIX_EPOCH};

        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("s3.local"));
        headers.insert(
            "x-amz-date",
            HeaderValue::from_static("19990101T000000Z-stale"),
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic stale"),
        );
        headers.insert("x-custom", HeaderValue::from_static("kept"));
        let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let settings = SigningSettings::default();
        let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let params = SigningParams::new(&creds, "us-east-1", "s3", time, &settings);
        let pairs = vec![("host", "s3.local"), ("x-custom", "kept")];
        let request = SignableRequest::new("PUT", "/b/k", pairs, PayloadHash::Bytes(b""));
        let signed = sign(&request, &params).unwrap();

        let mut out = Vec::new();
        let head = RequestHead {
            method: &Method::PUT,
            target: "/b/k?x=1",
            headers: &headers,
            signed: Some(&signed),
        };
        write_request(&mut out, &head);
        let mut want =
            String::from("PUT /b/k?x=1 HTTP/1.1\r\nhost: s3.local\r\nx-custom: kept\r\n");
        for (n, v) in signed.headers() {
            want.push_str(&format!("{n}: {v}\r\n"));
        }
        want.push_str("\r\n");
        assert_eq!(String::from_utf8(out).unwrap(), want);
        assert!(want.contains("x-amz-date: 20150830T123600Z\r\n"), "{want}");
        assert!(want.contains(&format!("authorization: {}\r\n", signed.authorization())));
        assert!(!want.contains("stale"), "client values replaced: {want}");

        // Without a signature the request's own fields go out as they are.
        let mut out = Vec::new();
        let head = RequestHead {
            signed: None,
            ..head
        };
        write_request(&mut out, &head);
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("authorization: Basic stale\r\n"));
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(12), true));
        assert_eq!(h.headers["content-length"], "12");

        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, true));

        // Transfer-Encoding wins over Content-Length, and the connection is not kept.
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, false));

        // A final coding other than chunked: the body runs to the close.
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));

        let h = head("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));

        for status in ["204 No Content", "304 Not Modified"] {
            let h = head(&format!("HTTP/1.1 {status}\r\nContent-Length: 7\r\n\r\n"));
            assert_eq!((h.framing, h.keep_alive), (Framing::Length(0), true));
        }
        match parse(
            "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n",
            &Method::HEAD,
        )
        .unwrap()
        {
            Parsed::Final(h) => assert_eq!(h.framing, Framing::Length(0)),
            other => panic!("{other:?}"),
        }

        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(5));
    }

    #[test]
    fn connection_reuse_follows_version_and_connection_header() {
        let h =
            head("HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.keep_alive);
        assert_eq!(h.version, Version::HTTP_10);
        let h = head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n");
        assert!(h.keep_alive);
    }

    #[test]
    fn interim_responses_are_skipped_and_upgrades_refused() {
        let mut buf = BytesMut::from(&b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"[..]);
        match parse_response(&mut buf, &Method::PUT).unwrap() {
            Parsed::Interim => assert_eq!(&buf[..], b"HTTP/1.1 200 OK\r\n"),
            other => panic!("{other:?}"),
        }
        let err = parse("HTTP/1.1 101 Switching Protocols\r\n\r\n", &Method::GET).unwrap_err();
        assert!(matches!(err, Error::Upgrade), "{err}");
    }

    #[test]
    fn bad_heads_are_errors_that_say_why() {
        assert!(matches!(
            parse("HTTP/1.1 200 OK\r\nContent-Le", &Method::GET).unwrap(),
            Parsed::Partial
        ));
        let cases = [
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
                "not a number",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                "not a number",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                "conflicting",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
                "not a number",
            ),
            ("HTTX/1.1 200 OK\r\n\r\n", "invalid"),
        ];
        for (text, want) in cases {
            let err = parse(text, &Method::GET).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: v\r\n")).collect();
        let err = parse(&format!("HTTP/1.1 200 OK\r\n{many}\r\n"), &Method::GET).unwrap_err();
        assert!(matches!(err, Error::TooManyHeaders), "{err}");
        let big = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD_BYTES));
        let err = parse(&big, &Method::GET).unwrap_err();
        assert!(matches!(err, Error::HeadTooLarge), "{err}");
    }
}
