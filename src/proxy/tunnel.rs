//! Blind `CONNECT` tunnels (`tunnel_hosts`): a TCP connection to the host (or its
//! `connect_to` override) and bytes copied both ways, nothing read, nothing signed.
//! Deliberately does not decide which hosts may be tunnelled (`connect` does).

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::state::ProxyState;
use super::ProxyError;

/// Connects to `host:port` (or its `connect_to` override) within the connect timeout.
pub(crate) async fn open(
    state: &ProxyState,
    host: &str,
    port: u16,
) -> Result<TcpStream, ProxyError> {
    let upstream = format!("{host}:{port}");
    let (to_host, to_port) = state
        .connect_to
        .lookup(host, port)
        .map_or((host.to_owned(), port), |(h, p)| (h.to_owned(), p));
    let timeout = state.upstream.connect_timeout;
    match tokio::time::timeout(timeout, TcpStream::connect((to_host.as_str(), to_port))).await {
        Err(_) => Err(ProxyError::UpstreamTimeout { upstream, timeout }),
        Ok(Err(e)) => Err(ProxyError::UpstreamConnect {
            upstream,
            source: e.into(),
        }),
        Ok(Ok(tcp)) => {
            // Best effort, as for client connections.
            let _ = tcp.set_nodelay(true);
            Ok(tcp)
        }
    }
}

/// Once the client's `CONNECT` is upgraded, copies bytes both ways until either side
/// closes, then writes a `tunnel closed` access line with the byte counts. Runs in its
/// own task, inside the `CONNECT` request's span (so the line carries its request id).
pub(crate) fn relay(on_upgrade: OnUpgrade, mut upstream: TcpStream, target: String) {
    let span = tracing::Span::current();
    let task = async move {
        let started = std::time::Instant::now();
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(%target, error = %e, "CONNECT: upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(upgraded);
        let (result, error) = match tokio::io::copy_bidirectional(&mut client, &mut upstream).await
        {
            Ok(counts) => (counts, None),
            Err(e) => ((0, 0), Some(e)),
        };
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        match error {
            None => tracing::info!(
                target: "sigv4_proxy::access",
                tunnel = %target,
                bytes_up = result.0,
                bytes_down = result.1,
                duration_ms,
                "tunnel closed"
            ),
            // copy_bidirectional loses the counts on error; say what ended it.
            Some(e) => tracing::info!(
                target: "sigv4_proxy::access",
                tunnel = %target,
                duration_ms,
                error = %e,
                "tunnel closed with an error"
            ),
        }
    };
    tokio::spawn(tracing::Instrument::instrument(task, span));
}
