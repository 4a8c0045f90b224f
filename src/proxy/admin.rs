//! The admin listener (off unless `admin_listen` is set): `/healthz` (the process
//! answers), `/readyz` (the proxy listeners accept connections and every route's
//! credentials can be had now) and `/metrics` (Prometheus text format, see
//! [`super::metrics`]). It serves nothing else and signs nothing; keep it on loopback
//! or a private network.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::state::ProxyState;
use super::ProxyError;

/// How long `/readyz` waits for one route's credentials.
const READY_CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds the admin listener.
pub async fn bind_admin(addr: SocketAddr) -> Result<TcpListener, ProxyError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| ProxyError::Setup {
            what: format!("admin listener: cannot listen on {addr}"),
            source: e.into(),
        })
}

/// Serves the admin endpoints on `listener` until `shutdown` completes.
pub async fn serve_admin(
    listener: TcpListener,
    state: Arc<ProxyState>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(answer(&state, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(state: &ProxyState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
    }
    match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => {
            let (ready, report) = readiness(state).await;
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            text(status, report)
        }
        "/metrics" => {
            let mut r = text(StatusCode::OK, state.metrics.render());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found (try /healthz, /readyz, /metrics)\n".into(),
        ),
    }
}

/// Whether the proxy is ready, and a line per check.
async fn readiness(state: &ProxyState) -> (bool, String) {
    let mut ready = state.serving.load(Ordering::Relaxed);
    let mut report = format!(
        "listeners: {}\n",
        if ready { "serving" } else { "not serving" }
    );
    for l in &state.listeners {
        for r in &l.routes {
            let got = tokio::time::timeout(READY_CREDENTIALS_TIMEOUT, r.credentials.get()).await;
            let line = match got {
                Ok(Ok(_)) => "ok".to_owned(),
                Ok(Err(e)) => {
                    ready = false;
                    format!("unavailable: {}", super::error::chain(&e))
                }
                Err(_) => {
                    ready = false;
                    format!("unavailable: no answer within {READY_CREDENTIALS_TIMEOUT:?}")
                }
            };
            report.push_str(&format!("route {}: credentials {line}\n", r.config.name));
        }
    }
    (ready, report)
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
