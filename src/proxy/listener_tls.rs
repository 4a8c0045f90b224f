//! TLS listeners (`tls = { cert_file, key_file }`): the handshake for one accepted
//! connection, then the same per-connection service as a plain listener (ALPN picks
//! HTTP/2 or HTTP/1.1). Deliberately does not load certificates (`tls::server_config`).

use std::net::SocketAddr;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::server::ConnService;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Does the TLS handshake on `stream` and serves the connection until it ends.
pub(crate) async fn serve(
    acceptor: TlsAcceptor,
    stream: super::busy_poll::BusyPoll<TcpStream>,
    peer: SocketAddr,
    builder: auto::Builder<TokioExecutor>,
    watcher: Watcher,
    service: ConnService,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let state = service.state().clone();
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        super::server::connection_error(&state, peer, &*e);
    }
}
