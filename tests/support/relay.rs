//! [`RecordingRelay`]: a plain TCP relay on `127.0.0.1:0` in front of one upstream that
//! keeps a copy of everything the upstream sent back. A test puts it between the proxy
//! and moto's STS to learn the temporary credentials the proxy was handed (and so check
//! that they never show up in its logs) without changing a byte of the exchange.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// A running relay; its threads end with the connections and the process.
#[derive(Debug)]
pub(crate) struct RecordingRelay {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<u8>>>,
}

impl RecordingRelay {
    /// Listens on an ephemeral loopback port and relays every connection to `upstream`.
    pub(crate) fn start(upstream: SocketAddr) -> RecordingRelay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&received);
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let record = Arc::clone(&record);
                thread::spawn(move || relay(client, server, record));
            }
        });
        RecordingRelay { addr, received }
    }

    /// `http://ADDR`, for an endpoint override.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything the upstream answered so far, over all connections (lossy UTF-8).
    pub(crate) fn responses(&self) -> String {
        let bytes = self.received.lock().expect("relay record").clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Copies client → server on one thread and server → client (recorded) on this one.
fn relay(client: TcpStream, server: TcpStream, record: Arc<Mutex<Vec<u8>>>) {
    let (Ok(mut client_read), Ok(mut server_write)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    let upload = thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut server_write);
        let _ = server_write.shutdown(Shutdown::Write);
    });
    let (mut server_read, mut client_write) = (server, client);
    let mut buf = [0u8; 16 * 1024];
    loop {
        match server_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                record
                    .lock()
                    .expect("relay record")
                    .extend_from_slice(&buf[..n]);
                if client_write.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = client_write.shutdown(Shutdown::Write);
    let _ = upload.join();
}

/// The text of every `<tag>...</tag>` element in `xml`, in order.
pub(crate) fn xml_texts<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(len) = rest.find(&close) else { break };
        found.push(&rest[..len]);
        rest = &rest[len..];
    }
    found
}
