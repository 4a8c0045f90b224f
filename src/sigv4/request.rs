//! [`SignableRequest`]: the parts of a request that the signature covers.

use super::PayloadHash;

/// A request to sign, borrowed from the caller.
///
/// `path` and `query` are as they appear on the wire (percent-encoded by the client);
/// the signer canonicalises them according to the settings and never changes what is
/// sent. `headers` must include `host` (for HTTP/2, the `:authority`).
#[derive(Debug, Clone)]
pub struct SignableRequest<'a> {
    /// The HTTP method (`GET`, `PUT`, ...).
    pub method: &'a str,
    /// The path as sent, starting with `/`.
    pub path: &'a str,
    /// The query string as sent, without the `?`; `None` when there is none.
    pub query: Option<&'a str>,
    /// The request headers in order (names in any case; repeats allowed).
    pub headers: Vec<(&'a str, &'a str)>,
    /// The payload, or how its hash is given.
    pub payload: PayloadHash<'a>,
}

impl<'a> SignableRequest<'a> {
    /// A request from its parts. `path_and_query` is split at the first `?`.
    pub fn new(
        method: &'a str,
        path_and_query: &'a str,
        headers: Vec<(&'a str, &'a str)>,
        payload: PayloadHash<'a>,
    ) -> Self {
        // A byte search rather than `split_once('?')`: the char searcher's set-up
        // was a visible share of signing a small request.
        let (path, query) = match path_and_query.bytes().position(|b| b == b'?') {
            // `?` is ASCII, so both sides of it are char boundaries.
            Some(i) => (
                path_and_query.get(..i).unwrap_or_default(),
                path_and_query.get(i + 1..),
            ),
            None => (path_and_query, None),
        };
        Self {
            method,
            path,
            query,
            headers,
            payload,
        }
    }
}
