// Reason: in tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use super::*;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, RootCertStore};

const DAY: Duration = Duration::from_secs(24 * 3600);

fn issuer(capacity: usize) -> Arc<LeafIssuer> {
    let ca = CertificateAuthority::generate().unwrap();
    Arc::new(LeafIssuer::with_capacity(
        ca,
        NonZeroUsize::new(capacity).unwrap(),
    ))
}

fn host(s: &str) -> TlsHost {
    TlsHost::parse(s).unwrap()
}

/// Verifies `leaf` for `name` at `at` the way a client trusting only `ca` would.
fn verify(
    ca: &CertificateAuthority,
    leaf: &CertificateDer<'_>,
    name: &str,
    at: SystemTime,
) -> Result<(), rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der().clone()).unwrap();
    let verifier =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), super::super::provider())
            .build()
            .unwrap();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    verifier
        .verify_server_cert(
            leaf,
            &[],
            &name,
            &[],
            UnixTime::since_unix_epoch(at.duration_since(SystemTime::UNIX_EPOCH).unwrap()),
        )
        .map(|_| ())
}

fn leaf_der(key: &CertifiedKey) -> &CertificateDer<'static> {
    assert_eq!(key.cert.len(), 1, "the chain is the leaf alone");
    &key.cert[0]
}

#[test]
fn host_parsing_normalises_and_rejects() {
    assert_eq!(
        host("S3.Amazonaws.COM."),
        TlsHost::Dns("s3.amazonaws.com".into())
    );
    assert_eq!(host("127.0.0.1"), TlsHost::Ip("127.0.0.1".parse().unwrap()));
    assert_eq!(host("[::1]"), TlsHost::Ip("::1".parse().unwrap()));
    assert_eq!(
        host("::ffff:10.0.0.1"),
        TlsHost::Ip("10.0.0.1".parse().unwrap())
    );
    assert_eq!(host("localhost").to_string(), "localhost");
    for (bad, problem) in [
        ("", "empty"),
        ("s3.amazonaws.com:443", "port"),
        ("*.amazonaws.com", "wildcard"),
        ("bad_host!.com", "not a valid DNS name"),
        ("a..b", "not a valid DNS name"),
    ] {
        let err = TlsHost::parse(bad).unwrap_err().to_string();
        assert!(
            err.contains(problem) && err.contains(&format!("{bad:?}")),
            "{bad}: {err}"
        );
    }
}

#[test]
fn leaf_verifies_for_its_host_only() {
    let issuer = issuer(8);
    let now = SystemTime::now();
    let key = issuer
        .certified_key_at(&host("bucket.s3.us-east-1.amazonaws.com"), now)
        .unwrap();
    let leaf = leaf_der(&key);
    verify(issuer.ca(), leaf, "bucket.s3.us-east-1.amazonaws.com", now).unwrap();
    let wrong = verify(issuer.ca(), leaf, "s3.us-east-1.amazonaws.com", now).unwrap_err();
    assert!(
        matches!(
            wrong,
            rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })
        ),
        "{wrong:?}"
    );
    // A different CA's root does not vouch for it.
    let other = CertificateAuthority::generate().unwrap();
    let err = verify(&other, leaf, "bucket.s3.us-east-1.amazonaws.com", now).unwrap_err();
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
}

#[test]
fn leaf_for_an_ip_address_carries_an_ip_san() {
    let issuer = issuer(8);
    let now = SystemTime::now();
    for ip in ["127.0.0.1", "::1"] {
        let key = issuer.certified_key_at(&host(ip), now).unwrap();
        verify(issuer.ca(), leaf_der(&key), ip, now).unwrap();
    }
}

#[test]
fn leaf_validity_is_seven_days_backdated_an_hour() {
    let issuer = issuer(8);
    let t0 = SystemTime::now();
    let key = issuer
        .certified_key_at(&host("sts.amazonaws.com"), t0)
        .unwrap();
    let leaf = leaf_der(&key);
    let ok = |at| verify(issuer.ca(), leaf, "sts.amazonaws.com", at);
    ok(t0 - LEAF_BACKDATE + Duration::from_secs(5)).unwrap();
    ok(t0 + LEAF_VALIDITY - Duration::from_secs(5)).unwrap();
    assert!(matches!(
        ok(t0 + LEAF_VALIDITY + Duration::from_secs(5)),
        Err(rustls::Error::InvalidCertificate(
            CertificateError::ExpiredContext { .. }
        ))
    ));
    assert!(matches!(
        ok(t0 - LEAF_BACKDATE - Duration::from_secs(5)),
        Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYetContext { .. }
        ))
    ));
}

#[test]
fn cache_returns_the_same_leaf_per_host() {
    let issuer = issuer(8);
    let now = SystemTime::now();
    let a1 = issuer
        .certified_key_at(&host("a.example.com"), now)
        .unwrap();
    let a2 = issuer
        .certified_key_at(&host("A.example.com."), now + DAY)
        .unwrap();
    let b = issuer
        .certified_key_at(&host("b.example.com"), now)
        .unwrap();
    assert!(Arc::ptr_eq(&a1, &a2));
    assert!(!Arc::ptr_eq(&a1, &b));
    assert_ne!(leaf_der(&a1), leaf_der(&b));
    assert_eq!(issuer.cached_hosts(), 2);
}

#[test]
fn cached_leaf_is_reissued_after_half_its_validity() {
    let issuer = issuer(8);
    let t0 = SystemTime::now();
    let h = host("dynamodb.us-east-1.amazonaws.com");
    let first = issuer.certified_key_at(&h, t0).unwrap();
    let later = t0 + LEAF_VALIDITY / 2 + Duration::from_secs(1);
    let second = issuer.certified_key_at(&h, later).unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
    // The new leaf is good well past the first one's expiry.
    verify(
        issuer.ca(),
        leaf_der(&second),
        "dynamodb.us-east-1.amazonaws.com",
        t0 + LEAF_VALIDITY + DAY,
    )
    .unwrap();
    assert_eq!(issuer.cached_hosts(), 1);
    assert!(Arc::ptr_eq(
        &second,
        &issuer.certified_key_at(&h, later).unwrap()
    ));
}

#[test]
fn cache_is_bounded_and_evicts_the_oldest_host() {
    let issuer = issuer(2);
    let now = SystemTime::now();
    let a = issuer.certified_key_at(&host("a.example"), now).unwrap();
    let b = issuer.certified_key_at(&host("b.example"), now).unwrap();
    issuer.certified_key_at(&host("c.example"), now).unwrap();
    assert_eq!(issuer.cached_hosts(), 2);
    // b is still cached; a was evicted and comes back as a new leaf.
    assert!(Arc::ptr_eq(
        &b,
        &issuer.certified_key_at(&host("b.example"), now).unwrap()
    ));
    let a_again = issuer.certified_key_at(&host("a.example"), now).unwrap();
    assert!(!Arc::ptr_eq(&a, &a_again));
    assert_eq!(issuer.cached_hosts(), 2);
}

#[test]
fn leaves_from_a_loaded_ca_chain_to_the_certificate_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let paths = crate::tls::ca::CaPaths::in_dir(dir.path());
    CertificateAuthority::generate()
        .unwrap()
        .write(&paths, crate::tls::ca::Overwrite::Refuse)
        .unwrap();
    let loaded = Arc::new(LeafIssuer::new(CertificateAuthority::load(&paths).unwrap()));
    let now = SystemTime::now();
    let key = loaded
        .certified_key_at(&host("s3.amazonaws.com"), now)
        .unwrap();
    // Trust the file on disk, not the in-memory object.
    let on_disk = CertificateAuthority::load(&paths).unwrap();
    verify(&on_disk, leaf_der(&key), "s3.amazonaws.com", now).unwrap();
}

#[test]
fn resolver_picks_the_connect_host_and_rejects_a_different_sni() {
    let issuer = issuer(8);
    let resolver = |connect: Option<&str>| LeafResolver {
        issuer: issuer.clone(),
        connect_host: connect.map(host),
    };
    let tunnel = resolver(Some("s3.amazonaws.com"));
    assert_eq!(tunnel.host_for(None), Ok(host("s3.amazonaws.com")));
    assert_eq!(
        tunnel.host_for(Some("S3.amazonaws.com")),
        Ok(host("s3.amazonaws.com"))
    );
    assert_eq!(
        tunnel.host_for(Some("evil.example")),
        Err("SNI differs from CONNECT host")
    );
    assert_eq!(tunnel.host_for(Some("bad_name!")), Err("invalid SNI"));
    let listener = resolver(None);
    assert_eq!(
        listener.host_for(Some("sts.amazonaws.com")),
        Ok(host("sts.amazonaws.com"))
    );
    assert_eq!(listener.host_for(None), Err("no SNI and no CONNECT host"));
}

#[test]
fn server_config_offers_h2_and_http11() {
    let issuer = issuer(8);
    let config = issuer
        .server_config(Some(host("s3.amazonaws.com")))
        .unwrap();
    assert_eq!(
        config.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
    let debug = format!("{issuer:?}");
    assert!(
        debug.contains("redacted") && !debug.contains("PRIVATE"),
        "{debug}"
    );
}

#[test]
fn connect_authority_splits_host_and_port() {
    let parse = |s: &str| TlsHost::from_connect_authority(&s.parse().unwrap());
    assert_eq!(
        parse("S3.amazonaws.com:443").unwrap(),
        (host("s3.amazonaws.com"), 443)
    );
    assert_eq!(parse("[::1]:8443").unwrap(), (host("::1"), 8443));
    let err = parse("s3.amazonaws.com").unwrap_err().to_string();
    assert!(err.contains("needs a port"), "{err}");
}
