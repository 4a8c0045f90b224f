//! Shared end-to-end test harness: real verifying servers and real clients on loopback.
//!
//! Use it from a test file with `mod support;` and `use support::*;`. It provides:
//! - [`Moto`] (`moto.rs`): moto's server, optionally with SigV4 enforcement (an allow-all
//!   IAM user and its key) and/or TLS with a certificate from a [`TestCa`].
//! - [`S3sFs`] (`s3s.rs`): s3s-fs, which also verifies payload hashes and presigned URLs.
//! - [`TestCa`] (`ca.rs`): a throwaway CA issuing server certificates as PEM files.
//! - [`aws`], [`curl`], [`python`] and the [`Cmd`] builder (`cmd.rs`): client programs
//!   with an isolated environment (no inherited `AWS_*`, proxy or CA variables, empty
//!   `HOME`, region `us-east-1`, no retries) and a time limit.
//! - [`SigningProxy`] (`proxy.rs`): the `sigv4-proxy` binary from a config text or flags,
//!   with its listeners' ephemeral addresses; [`data_file`] makes test payloads.
//! - [`boto3_unsigned`] (`cmd.rs`): boto3 clients with `signature_version=UNSIGNED`.
//! - [`RecordingRelay`] (`relay.rs`): a TCP relay that records the upstream's answers
//!   (e.g. the temporary credentials STS handed the proxy), with [`xml_texts`].
//! - [`write_test_file`], [`assert_same_file`] (`data.rs`): large deterministic payloads.
//! - [`scripted_upstream`], [`recording_upstream`], [`raw_exchange`], [`admin_addr`],
//!   [`metric`] (`ops.rs`): faulty and recording upstreams, raw client bytes and
//!   `/metrics` for the operations and error tests.
//! - [`credentials_fakes`]: in-process (tokio) fakes of IMDSv2, the container
//!   credentials endpoint and the SSO portal, for the credentials tests.
//! - [`ChildGuard`], [`spawn_on_free_port`], [`free_port`], [`proxy_bin`] (`process.rs`)
//!   and [`isolated_command`] (`cmd.rs`): spawn any process (e.g. the `sigv4-proxy`
//!   binary) with a clean environment and wait until it is ready.
//!
//! Everything started is killed on drop, also when the test panics (the server's log tail
//! is printed then and its log directory kept); a watchdog ends servers whose test process
//! was killed outright. The API is synchronous: call it from plain `#[test]` functions, or
//! from `tokio::task::spawn_blocking` in async tests.
//!
//! Starting the proxy binary (its `serve` flags and log lines belong to the proxy work;
//! adapt them). Prefer a readiness line the proxy prints after binding over [`Ready::Port`]:
//! if another process took the port meanwhile, a bare port check would talk to it.
//! ```ignore
//! let moto = Moto::enforcing();
//! let (_proxy, port) = spawn_on_free_port("sigv4-proxy", Ready::OutputThenPort("listening".into()), |port| {
//!     let mut cmd = isolated_command(proxy_bin());
//!     cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--upstream", moto.endpoint()])
//!         .env("AWS_ACCESS_KEY_ID", moto.access_key_id())
//!         .env("AWS_SECRET_ACCESS_KEY", moto.secret_access_key());
//!     cmd
//! });
//! let proxy = format!("http://127.0.0.1:{port}");
//! aws(&["--no-sign-request", "s3", "mb", "s3://b"], Some(&proxy), &[]).assert_success();
//! moto.aws(&["s3api", "head-bucket", "--bucket", "b"]).assert_success();
//! ```
//! Or let the proxy bind `127.0.0.1:0` and read the address it prints:
//! `ChildGuard::spawn` + `wait_for_output("listening", READY_TIMEOUT)` + [`find_socket_addr`].
//!
//! Each test binary compiles this module separately and uses only part of it, hence the
//! `dead_code`/`unused_imports` allowances below.

// Reason: every tests/*.rs includes this module but uses a different subset of it.
#![allow(dead_code, unused_imports)]

mod ca;
mod cmd;
pub(crate) mod credentials_fakes;
mod data;
mod moto;
mod ops;
mod process;
mod proxy;
mod relay;
mod s3s;

pub(crate) use ca::TestCa;
pub(crate) use cmd::{
    aws, aws_cmd, boto3_unsigned, curl, curl_cmd, isolated_command, python, python_cmd, Cmd,
    CmdOutput, BOTO3_UNSIGNED_PRELUDE, CMD_TIMEOUT, REGION,
};
pub(crate) use data::{assert_same_file, write_test_file};
pub(crate) use moto::{
    Moto, MotoOptions, TemporaryCredentials, DEFAULT_TLS_HOSTNAMES, MOTO_ACCOUNT_ID,
};
pub(crate) use ops::{
    admin_addr, get, metric, raw_exchange, read_request, recording_upstream, s3_listener,
    scripted_upstream, status_of,
};
pub(crate) use process::{
    find_socket_addr, free_port, proxy_bin, spawn_on_free_port, tail, ChildGuard, Ready,
    READY_TIMEOUT,
};
pub(crate) use proxy::{data_file, SigningProxy};
pub(crate) use relay::{xml_texts, RecordingRelay};
pub(crate) use s3s::S3sFs;
