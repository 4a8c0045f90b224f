//! One request, end to end: route → headers → body (hash, buffer or spool, or stream
//! through) → credentials → sign → upstream → response streamed back. Any failure is
//! a [`ProxyError`], answered by [`super::respond::error_response`]; nothing is sent
//! upstream before signing succeeded.

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use tracing::Instrument;

use super::access_log::{AccessLog, LogPath};
use super::affinity::{self, Pinned};
use super::body::{hash_and_buffer, Progress, RequestBody, ResponseBody, TrackedBody, Upstream};
use super::conn_state::ConnState;
use super::diagnose::{self, Signed};
use super::error::{chain, BoxError};
use super::headers;
use super::request_id::{self, RequestId};
use super::respond::error_response;
use super::route::{self, Target};
use super::sign::{sign_request, with_signature, SignWith};
use super::state::{ListenerState, ProxyState, RouteState};
use super::timers::TimerSlot;
use super::ProxyError;
use crate::config::PayloadMode;
use crate::sigv4::{PayloadHash, SigningOutput, EMPTY_PAYLOAD_SHA256, X_AMZ_CONTENT_SHA256};

/// Proxies `req`, received on `listener`, and returns the response for the client
/// (the upstream's, or an error). Writes one access-log line when the response ends.
///
/// `conn` is what the client connection keeps across requests: its upstream connection
/// (see [`super::affinity`]) and timers (see [`super::timers`]).
pub(crate) async fn handle(
    state: &ProxyState,
    listener: &ListenerState,
    conn: &ConnState,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let id = RequestId::next();
    let span = tracing::info_span!("request", id = id.as_str());
    let path = match req.uri().path_and_query() {
        Some(pq) => LogPath::Request(pq.clone()),
        None => LogPath::Text(req.uri().path().to_owned()),
    };
    let mut log = AccessLog::new(listener.name.clone(), req.method().clone(), path, id);
    log.metrics = Some(state.metrics.clone());
    let timeout = state.ops.request_timeout;
    // Boxed once here: the timeout and the span wrap it by value, and moving a
    // request's whole state machine through each wrapper copied kilobytes per request.
    let work = Box::pin(proxy(state, listener, conn, req, &mut log));
    let deadline = conn
        .timers
        .request
        .sleep_until(tokio::time::Instant::now() + timeout);
    let result = async {
        tokio::select! {
            biased;
            r = work => r,
            () = deadline => Err(ProxyError::RequestTimeout { timeout }),
        }
    }
    .instrument(span)
    .await;
    let mut resp = match result {
        Ok(resp) => resp,
        Err(err) => {
            if let ProxyError::Sign(e) = &err {
                state.metrics.sign_failure(e);
            }
            log.error = Some(chain(&err));
            error_response(&err)
        }
    };
    resp.headers_mut()
        .insert(request_id::HEADER, id.header_value());
    log.status = resp.status().as_u16();
    resp.map(|b| b.with_log(log))
}

async fn proxy(
    state: &ProxyState,
    listener: &ListenerState,
    conn: &ConnState,
    req: Request<Incoming>,
    log: &mut AccessLog,
) -> Result<Response<ResponseBody>, ProxyError> {
    let (parts, body) = req.into_parts();
    if parts.method == Method::CONNECT {
        // `connect` answers CONNECT before this; one inside a tunnel is not ours to open.
        return Err(ProxyError::BadRequest(
            "CONNECT is not supported here; send http:// URLs through the proxy (HTTP_PROXY)"
                .into(),
        ));
    }
    let target = route::resolve(listener, &parts)?;
    let route = target.route;
    log.route = Some(route.name.clone());
    log.route_slot = Some(route.metrics);
    log.upstream = Some(target.host_port());

    let declared = declared_length(&parts.headers)?;
    // Whether upstream gets a Content-Length even for an empty body: when the client
    // framed one (S3 answers a PUT without it with 411), or the method carries one (an
    // HTTP/2 client may send an empty PUT with neither header).
    let client_sent_body = declared.is_some()
        || parts.headers.contains_key(header::TRANSFER_ENCODING)
        || matches!(parts.method, Method::PUT | Method::POST | Method::PATCH);
    if let Some(n) = declared {
        if n > state.body.max_bytes {
            return Err(ProxyError::BodyTooLarge {
                limit: state.body.max_bytes,
            });
        }
    }

    // Fail fast (503) before reading a possibly huge body when there are no credentials.
    let early = credentials(state, route).await?;

    let framing = client_body_framing(&parts.headers)?;
    let mut headers = parts.headers;
    headers::prepare_request(&mut headers, &route.config);
    headers.insert(header::HOST, target.host_header()?);

    // The body: stream it through (UNSIGNED-PAYLOAD with a known length), or read it
    // all while hashing. A chunked upload on an UNSIGNED-PAYLOAD route has no length to
    // send upstream, so it is buffered/spooled like a signed one, and since its hash is
    // then known anyway it is signed with it.
    //
    // An aws-chunked body with an unsigned trailer (what SDKs send with flexible
    // checksums over HTTPS) is forwarded as it is, framing and trailer included, and
    // signed as STREAMING-UNSIGNED-PAYLOAD-TRAILER.
    let unsigned =
        route.config.payload == PayloadMode::Unsigned || framing == Framing::UnsignedTrailer;
    let (body, len, sha256) = match (unsigned, declared) {
        (_, Some(0)) => (RequestBody::Empty, 0, None),
        // No body at all (a GET without framing headers): nothing to read or hash.
        (_, None) if http_body::Body::is_end_stream(&body) => (RequestBody::Empty, 0, None),
        (true, Some(n)) => (RequestBody::Streaming { body, remaining: n }, n, None),
        _ => {
            let h = read_body(state, conn, body, declared).await?;
            (h.body, h.len, Some(h.sha256))
        }
    };
    log.bytes_in = len;
    if len > 0 || client_sent_body {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    let payload = match (&sha256, framing, route.config.payload, len) {
        (_, Framing::UnsignedTrailer, _, _) => PayloadHash::StreamingUnsignedWithTrailer,
        (Some(h), _, _, _) => PayloadHash::Precomputed(h),
        (None, _, PayloadMode::Unsigned, n) if n > 0 => PayloadHash::Unsigned,
        (None, _, _, _) => PayloadHash::Precomputed(EMPTY_PAYLOAD_SHA256),
    };

    // Again after a body was read, if a long upload outlived the first ones. A short
    // read leaves them usable: asking again would only take the cache's lock twice.
    let credentials = match body {
        RequestBody::Empty | RequestBody::Streaming { .. } => early,
        _ if route.credentials.is_usable(&early) => early,
        _ => credentials(state, route).await?,
    };
    let settings = route.signing_settings(&target.service);
    let output = sign_request(
        &parts.method,
        target.path_and_query.as_str(),
        &headers,
        payload,
        &SignWith {
            credentials: &credentials,
            service: &target.service,
            region: &target.region,
            settings: &settings,
            key_cache: &route.key_cache,
        },
    )?;
    let signed = Signed::new(output, credentials.clone());

    let mut upstream_req = Request::new(body);
    // HTTP/1.x clients keep an upstream connection pinned to their own (or use the
    // upstream's shared HTTP/2 one); HTTP/2 clients share the pooled client.
    let pin = (parts.version <= http::Version::HTTP_11).then_some(&conn.pinned);
    *upstream_req.method_mut() = parts.method;
    *upstream_req.uri_mut() = target.uri()?;
    *upstream_req.headers_mut() = headers;
    // The upstream then wakes once for several of this worker's requests.
    end_of_turn(pin.is_some(), conn).await;
    let resp = send(
        state,
        &target,
        pin,
        &conn.timers.response,
        upstream_req,
        signed.output(),
    )
    .await?;
    // And on the way back: a client multiplexing connections on one thread (wrk, a
    // pooled SDK) wakes once for several answers.
    end_of_turn(pin.is_some(), conn).await;
    log.upstream_status = Some(resp.status().as_u16());
    if matches!(
        resp.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    ) {
        // Passed through as it is (the client sees AWS's answer), but the operator
        // should hear of it: the usual cause is this route's credentials (an expired or
        // revoked session token, a wrong key) or their permissions.
        tracing::warn!(
            route = %route.config.name,
            upstream = %target.host_port(),
            upstream_status = resp.status().as_u16(),
            access_key_id = %credentials.masked_access_key_id(),
            "upstream refused the signed request: check the route's credentials (expired or revoked session token, wrong key) and permissions"
        );
    }
    let (mut parts, mut body) = resp.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    let body = if diagnose::is_candidate(parts.status) {
        let (prefix, ended) =
            Box::pin(diagnose::peek(&mut body))
                .await
                .map_err(|e| ProxyError::Upstream {
                    upstream: target.host_port().to_string(),
                    source: e,
                })?;
        if let Some(code) = diagnose::signature_error(&parts.headers, &prefix) {
            diagnose::log_failure(code, &route.config.name, &signed);
        }
        ResponseBody::upstream_prefixed(prefix, body, ended)
    } else {
        ResponseBody::upstream(body)
    };
    Ok(Response::from_parts(parts, body))
}

/// Yields once when this HTTP/1 request's worker serves other connections, so that
/// their ready work runs first and the socket writes of the turn go out together.
///
/// Used before the upstream send and before the answer goes back to the client. A
/// bare forwarder on hyper's client gets the first from its separate connection tasks.
/// Paired A/B runs at 64 connections (docs/benchmarks.md, sessions 10 and 11): before
/// the send, ahead in req/s in 28 of 38 rounds (median about +5 %), system CPU per
/// request lower in 30 of 38; before the answer, ahead in 11 of 16 GET rounds (median
/// about +5 %), with 18 % fewer wake-ups of the client per request. A worker serving
/// one connection has nothing to wait for, and an HTTP/2 client (`pinned` false)
/// multiplexes on one connection anyway: neither waits.
async fn end_of_turn(pinned: bool, conn: &ConnState) {
    if pinned && conn.worker_is_shared() {
        tokio::task::yield_now().await;
    }
}

/// Reads and hashes the client's body ([`hash_and_buffer`]).
///
/// On a worker's own runtime ([`super::workers`]) the body is read right here, in the
/// connection's task: a self-wake-up there is a local queue push, and a task of its own
/// only added a spawn, a join and copies of its state. Paired A/B, 4 KiB POST at 64
/// connections (docs/benchmarks.md, "Session 14"), together with keeping a one-frame
/// body uncopied and one credentials lookup per request: ahead in req/s in 17 of 24
/// rounds over three runs (medians +5 to +8 %), user CPU per request lower in 19.
///
/// On the work-stealing fallback runtime it is read in a task of its own. Awaited in
/// the connection's task there, every body chunk hyper delivered woke the very task
/// being polled; tokio treats such a wake-up as a yield: it puts the task at the back
/// of the queue and wakes a parked worker thread to steal it (`perf stat`: two `futex`
/// calls per 4 KiB POST at one connection, none in a task of its own). That task is
/// aborted if the request is dropped (client gone, timeout), which drops the body and
/// removes any spool file; read inline, the body goes with the request's future.
async fn read_body(
    state: &ProxyState,
    conn: &ConnState,
    body: Incoming,
    declared: Option<u64>,
) -> Result<super::body::Hashed, ProxyError> {
    if conn.on_worker_runtime() {
        return hash_and_buffer(body, declared, &state.body, state.metrics.spool()).await;
    }
    let limits = std::sync::Arc::clone(&state.body);
    let stats = state.metrics.spool().clone();
    let task = tokio::spawn(async move { hash_and_buffer(body, declared, &limits, &stats).await });
    let _abort = AbortOnDrop(task.abort_handle());
    match task.await {
        Ok(result) => result,
        Err(e) => Err(ProxyError::Internal(format!(
            "reading the request body failed: {e}"
        ))),
    }
}

/// Aborts a task when dropped (a no-op once it has finished).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The route's current credentials, or 503.
async fn credentials(
    state: &ProxyState,
    route: &RouteState,
) -> Result<std::sync::Arc<crate::credentials::Credentials>, ProxyError> {
    match route.credentials.get().await {
        Ok(c) => {
            // The address identifies the set: a refresh yields a new Arc.
            let id = std::sync::Arc::as_ptr(&c) as usize;
            state.metrics.credentials_ok(route.metrics, id);
            Ok(c)
        }
        Err(source) => {
            state.metrics.credentials_failed(route.metrics);
            Err(ProxyError::Credentials {
                route: route.config.name.clone(),
                source,
            })
        }
    }
}

/// Sends the request with the headers of its signature, `signed`, mapping failures
/// to 502/504.
async fn send(
    state: &ProxyState,
    target: &Target<'_>,
    pinned: Option<&Pinned>,
    timer: &TimerSlot,
    req: Request<RequestBody>,
    signed: &SigningOutput,
) -> Result<Response<Upstream>, ProxyError> {
    let timeout = state.upstream.response_timeout;
    // Only errors name the upstream: format it then, not for every request.
    let upstream = || target.host_port().to_string();
    // The timeout runs from the last request-body frame sent, so an upload that keeps
    // moving is never cut off; an upstream silent for `timeout` after it is. An empty
    // body sends no frame: its silence counts from now (no tracker to allocate).
    let started = std::time::Instant::now();
    let progress = (!matches!(req.body(), RequestBody::Empty)).then(Progress::new);
    let req = req.map(|b| TrackedBody::new(b, progress.clone()));
    let last_sent = || progress.as_ref().map_or(started, |p| p.last());
    let fut = async {
        match pinned {
            Some(p) => affinity::send(p, &target.route.h1, target.pool_key(), req, signed)
                .await
                .map_err(|e| match e {
                    affinity::SendError::Connect(e) => SendFailure::Connect(e),
                    affinity::SendError::Send(e) => SendFailure::Other(e),
                }),
            None => match target
                .route
                .client
                .request(with_signature(req, signed).map_err(SendFailure::Other)?)
                .await
            {
                Ok(resp) => Ok(resp.map(Upstream::Hyper)),
                Err(e) if e.is_connect() => Err(SendFailure::Connect(e.into())),
                Err(e) => Err(SendFailure::Other(e.into())),
            },
        }
    };
    tokio::pin!(fut);
    let deadline = || tokio::time::Instant::from_std(last_sent() + timeout);
    let mut silence = timer.sleep_until(deadline());
    let result = loop {
        tokio::select! {
            r = &mut fut => break r,
            () = &mut silence => {
                if last_sent() + timeout <= std::time::Instant::now() {
                    return Err(ProxyError::UpstreamTimeout {
                        upstream: upstream(),
                        timeout,
                    });
                }
                // The upload moved meanwhile: wait from its last frame again.
                silence.reset(deadline());
            }
        }
    };
    state
        .metrics
        .upstream_latency(target.route.metrics, started.elapsed());
    match result {
        Ok(resp) => Ok(resp),
        Err(SendFailure::Connect(e)) if is_timeout(&*e) => Err(ProxyError::UpstreamTimeout {
            upstream: upstream(),
            timeout: state.upstream.connect_timeout,
        }),
        Err(SendFailure::Connect(e)) => Err(ProxyError::UpstreamConnect {
            upstream: upstream(),
            source: e,
        }),
        Err(SendFailure::Other(e)) => Err(ProxyError::Upstream {
            upstream: upstream(),
            source: e,
        }),
    }
}

/// Why sending upstream failed, from either client path.
enum SendFailure {
    /// No connection could be made.
    Connect(BoxError),
    /// The exchange failed on a connection.
    Other(BoxError),
}

/// True when an I/O error somewhere in the chain is a timeout (the connect timeout).
fn is_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

/// How the client framed its body, from its `x-amz-content-sha256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// A plain body (any hash the client claimed is replaced by the proxy's).
    Plain,
    /// `aws-chunked` with an unsigned trailer: forwarded verbatim.
    UnsignedTrailer,
}

/// Refuses bodies whose chunks the client signed itself: their chunk signatures chain
/// to the client's own seed signature and cannot be kept under the proxy's.
fn client_body_framing(headers: &http::HeaderMap) -> Result<Framing, ProxyError> {
    match headers.get(X_AMZ_CONTENT_SHA256).map(|v| v.as_bytes()) {
        Some(b"STREAMING-UNSIGNED-PAYLOAD-TRAILER") => Ok(Framing::UnsignedTrailer),
        Some(v) if v.starts_with(b"STREAMING-") => Err(ProxyError::BadRequest(format!(
            "the client signed its body in chunks (x-amz-content-sha256: {}); send unsigned requests (e.g. aws --no-sign-request) and let the proxy sign",
            String::from_utf8_lossy(v)
        ))),
        _ => Ok(Framing::Plain),
    }
}

/// The client's `Content-Length`, if any.
fn declared_length(headers: &http::HeaderMap) -> Result<Option<u64>, ProxyError> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| ProxyError::BadRequest("Content-Length is not a number".into())),
    }
}
