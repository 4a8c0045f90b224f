//! Issue 6 configuration rules, through the real binary's `serve --check-config` and a
//! real start: the non-loopback rule, and errors that name the file and key for the
//! `tls`, `intercept`, `tunnel_hosts`, `proxy_auth` and `allowed_clients` keys.

mod support;

use std::path::Path;

use sigv4_proxy::tls::ca::{CaPaths, CertificateAuthority, Overwrite};
use support::*;

/// Runs `serve --check-config` on `config` (written to `dir/config.toml`) with `env`.
fn check(dir: &Path, config: &str, env: &[(&str, &str)]) -> CmdOutput {
    let path = dir.join("config.toml");
    std::fs::write(&path, config).expect("write config");
    Cmd::new(proxy_bin())
        .args(["serve", "--check-config", "--config"])
        .arg(&path)
        .envs(env.iter().copied())
        .run()
}

fn assert_config_error(out: &CmdOutput, needles: &[&str]) {
    assert_eq!(out.code(), Some(2), "{out}");
    let err = out.stderr_str();
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
}

#[test]
fn non_loopback_listen_needs_allow_non_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    for listen in ["0.0.0.0:0", "[::]:0", "192.0.2.10:8080"] {
        let out = check(
            dir.path(),
            &format!("[[listeners]]\nlisten = \"{listen}\"\nmode = \"forward\"\n"),
            &[],
        );
        assert_config_error(
            &out,
            &["config.toml: listeners[0].listen", "allow_non_loopback"],
        );
    }
    let out = check(
        dir.path(),
        "[[listeners]]\nlisten = \"0.0.0.0:0\"\nmode = \"forward\"\nallow_non_loopback = true\n\
         allowed_clients = [\"127.0.0.0/8\"]\n",
        &[],
    );
    assert_eq!(out.code(), Some(0), "{out}");
    // --listen goes through the same rule.
    let out = Cmd::new(proxy_bin())
        .args([
            "serve",
            "--check-config",
            "--forward",
            "--listen",
            "0.0.0.0:8080",
        ])
        .run();
    assert_config_error(&out, &["allow_non_loopback"]);
}

#[test]
fn a_gateway_on_all_interfaces_serves_with_its_allowed_clients() {
    // Really started on 0.0.0.0: loopback clients are in 127.0.0.0/8 and get through
    // to the forward route (403 for a host that is not on the allow-list, which shows
    // the request passed access control); a token is required on top.
    let config = "[[listeners]]\nname = \"gw\"\nlisten = \"0.0.0.0:0\"\nmode = \"forward\"\n\
                  allow_non_loopback = true\nallowed_clients = [\"127.0.0.0/8\", \"::1\"]\n\
                  proxy_auth = { token = { value = \"tok-3f\" }, user = \"gw\" }\n";
    let proxy = SigningProxy::start(config, &[]);
    let port = proxy.addr("gw").port();
    let via = |auth: &str| {
        curl(&[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--proxy",
            &format!("http://{auth}127.0.0.1:{port}"),
            "http://example.com/",
        ])
        .stdout_str()
    };
    assert_eq!(via("gw:tok-3f@"), "403");
    assert_eq!(via(""), "407");
    assert_eq!(via("other:tok-3f@"), "407");
    assert_eq!(via("gw:wrong@"), "407");
}

#[test]
fn gateway_keys_are_validated_with_the_key_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = CaPaths::in_dir(dir.path());
    CertificateAuthority::generate()
        .expect("CA")
        .write(&ca, Overwrite::Refuse)
        .expect("write CA");
    let base = "[[listeners]]\nlisten = \"127.0.0.1:0\"\n";
    let cases: &[(&str, &[&str])] = &[
        (
            "mode = \"reverse\"\ntunnel_hosts = [\"x.example\"]\n[[listeners.routes]]\nupstream = \"https://s3.amazonaws.com\"\n",
            &["listeners[0].tunnel_hosts", "forward"],
        ),
        (
            "mode = \"forward\"\nintercept = { ca_cert_file = \"missing.pem\", ca_key_file = \"k.pem\" }\n",
            &["listeners[0].intercept", "missing.pem"],
        ),
        (
            "mode = \"forward\"\nintercept = { ca_cert_file = \"ca.cert.pem\" }\n",
            &["listeners[0].intercept.ca_key_file", "missing"],
        ),
        (
            "mode = \"forward\"\ntls = { cert_file = \"nope.pem\", key_file = \"ca.key.pem\" }\n",
            &["listeners[0].tls", "nope.pem"],
        ),
        (
            "mode = \"forward\"\nallowed_clients = [\"10.0.0.1/8\"]\n",
            &["listeners[0].allowed_clients[0]", "10.0.0.1/8"],
        ),
        (
            "mode = \"forward\"\nproxy_auth = { token = { env = \"GW_TOKEN_UNSET_VAR\" } }\n",
            &["listeners[0].proxy_auth.token", "GW_TOKEN_UNSET_VAR"],
        ),
        (
            "mode = \"forward\"\nproxy_auth = { token = { env = \"A\", value = \"b\" } }\n",
            &["listeners[0].proxy_auth.token", "exactly one"],
        ),
    ];
    for (extra, needles) in cases {
        let out = check(dir.path(), &format!("{base}{extra}"), &[]);
        assert_config_error(&out, needles);
    }
    // A valid intercept listener passes, paths relative to the file.
    let out = check(
        dir.path(),
        &format!(
            "{base}mode = \"forward\"\nintercept = {{ ca_cert_file = \"ca.cert.pem\", ca_key_file = \"ca.key.pem\" }}\n\
             proxy_auth = {{ token = {{ env = \"GW_TOKEN_SET\" }} }}\n"
        ),
        &[("GW_TOKEN_SET", "secret-token-value-9")],
    );
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(!out.stdout_str().contains("secret-token-value-9"));
}
