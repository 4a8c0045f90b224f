//! # sigv4-proxy
//!
//! An AWS Signature Version 4 signing proxy and signing library.
//!
//! A client sends a plain, unsigned HTTP request; the proxy hashes the body with a
//! streaming SHA-256, signs the request with SigV4 (or SigV4a), and forwards it to the
//! AWS endpoint over TLS, streaming the response back.
//!
//! # Layout
//! - [`sigv4`]: pure signing. No I/O, no tokio, no clock: time, credentials, region and
//!   service are inputs. Canonical request, signing-key cache, header and query signing,
//!   payload modes, chunked (S3 streaming) signing, SigV4a, endpoint inference.
//! - [`credentials`]: the credential data type, providers and the refreshing cache.
//! - [`proxy`]: the hyper server, routing, body hashing/spooling, the upstream TLS client,
//!   forward mode, and the one place where errors become HTTP responses.
//! - [`config`]: the `config.toml` schema, merged with CLI flags and validated.
//! - [`cli`]: the command-line front end (`serve`, `sign`, `presign`, ...).
//! - [`secret`]: a string type that never prints its contents.
//! - [`tls`]: the local CA, on-the-fly leaf certificates and the TLS listener config.
//! - [`access`]: gateway access control (proxy token, client CIDRs, listen address rule).
#![deny(unsafe_code)] // Allowed in two modules only: `sigv4::sha256` (aws-lc FFI) and
                      // `proxy::coalesce` (io_uring buffers handed to the kernel).

pub mod access;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod proxy;
pub mod secret;
pub mod sigv4;
pub mod tls;
