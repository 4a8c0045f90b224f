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
/// closes. Runs in its own task.
pub(crate) fn relay(on_upgrade: OnUpgrade, mut upstream: TcpStream, target: String) {
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(%target, error = %e, "CONNECT: upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(upgraded);
        match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            Ok((up, down)) => {
                tracing::debug!(%target, bytes_up = up, bytes_down = down, "blind tunnel closed")
            }
            Err(e) => tracing::debug!(%target, error = %e, "blind tunnel ended with an error"),
        }
    });
}
