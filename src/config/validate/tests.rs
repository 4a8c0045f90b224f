use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    let file = Path::new("test.toml");
    Config::from_raw(RawConfig::parse(text, file)?, file)
}

fn err(text: &str) -> String {
    parse(text)
        .expect_err("config should be rejected")
        .to_string()
}

const S3: &str = r#"
[[listeners]]
name = "s3"
listen = "8081"
[[listeners.routes]]
upstream = "https://s3.us-east-1.amazonaws.com:8443/base/"
service = "s3"
region = "us-east-1"
payload = "unsigned"
add_headers = { "X-Extra" = "1" }
remove_headers = ["user-agent"]
pass_through_headers = ["X-Amz-Security-Token"]

[[listeners]]
name = "fwd"
listen = "127.0.0.1:0"
mode = "forward"

[connect_to]
"s3.us-east-1.amazonaws.com:443" = "127.0.0.1:9443"
"*.s3.us-east-1.amazonaws.com:443" = "[::1]:9444"
"#;

#[test]
fn parses_reverse_and_forward_listeners() {
    let c = parse(S3).expect("valid");
    assert_eq!(c.listeners.len(), 2);
    let l = &c.listeners[0];
    assert_eq!(l.listen, "127.0.0.1:8081".parse().expect("addr"));
    assert_eq!(l.mode, ListenerMode::Reverse);
    let r = &l.routes[0];
    assert_eq!(r.name, "s3/0");
    assert_eq!(r.payload, PayloadMode::Unsigned);
    let RouteTarget::Reverse {
        upstream,
        path_prefix,
        host,
    } = &r.target
    else {
        panic!("reverse expected")
    };
    assert_eq!(path_prefix, "/");
    assert_eq!(host, &None);
    assert_eq!(upstream.authority(), "s3.us-east-1.amazonaws.com:8443");
    assert_eq!(upstream.base_path, "/base");
    assert!(upstream.tls);
    assert_eq!(r.add_headers[0].0.as_str(), "x-extra");
    assert_eq!(r.pass_through_headers[0].as_str(), "x-amz-security-token");

    let f = &c.listeners[1];
    assert_eq!(f.mode, ListenerMode::Forward);
    let RouteTarget::Forward {
        allowed_hosts,
        scheme,
    } = &f.routes[0].target
    else {
        panic!("forward expected")
    };
    assert_eq!(*scheme, ForwardScheme::Https);
    assert_eq!(allowed_hosts.len(), DEFAULT_ALLOWED_HOSTS.len());
    assert_eq!(
        c.connect_to.lookup("S3.us-east-1.amazonaws.com", 443),
        Some(("127.0.0.1", 9443))
    );
    assert_eq!(c.connect_to.lookup("s3.us-east-1.amazonaws.com", 80), None);
    assert_eq!(
        c.connect_to
            .lookup("bucket.s3.us-east-1.amazonaws.com", 443),
        Some(("::1", 9444))
    );
    assert_eq!(
        c.connect_to.lookup("a.b.s3.us-east-1.amazonaws.com", 443),
        Some(("::1", 9444))
    );
    assert_eq!(
        c.connect_to.lookup("sqs.us-east-1.amazonaws.com", 443),
        None
    );
    assert_eq!(c.body.memory_threshold_bytes, 4 * 1024 * 1024);
}

#[test]
fn host_patterns() {
    let p = HostPattern::new("*.amazonaws.com").expect("pattern");
    assert!(p.matches("s3.us-east-1.amazonaws.com"));
    assert!(p.matches("sqs.amazonaws.com"));
    assert!(!p.matches("amazonaws.com"));
    assert!(!p.matches("evilamazonaws.com"));
    assert!(!p.matches("s3.amazonaws.com.evil.net"));
    let exact = HostPattern::new("Example.COM").expect("pattern");
    assert!(exact.matches("example.com"));
    assert!(!exact.matches("a.example.com"));
    assert!(HostPattern::new("a*.b").is_err());
    assert!(HostPattern::new("").is_err());
}

#[test]
fn errors_name_file_key_and_problem() {
    let e = err("[[listeners]]\nlisten = \"nope\"\n[[listeners.routes]]\nupstream = \"https://x.amazonaws.com\"\nservice=\"s3\"\nregion=\"us-east-1\"\n");
    assert!(
        e.starts_with("test.toml: listeners[0].listen: \"nope\" is not an address"),
        "{e}"
    );

    let e = err("[[listeners]]\nlisten = \"1\"\n[[listeners.routes]]\nupstream = \"ftp://x\"\nservice=\"s3\"\nregion=\"us-east-1\"\n");
    assert!(
        e.starts_with(
            "test.toml: listeners[0].routes[0].upstream: \"ftp://x\" must start with https://"
        ),
        "{e}"
    );

    let e = err("[[listeners]]\nlisten = \"1\"\n");
    assert!(
        e.contains("listeners[0].routes: a reverse listener needs at least one route"),
        "{e}"
    );

    let e = err("[[listeners]]\nlisten = \"1\"\nmode = \"forward\"\n[[listeners.routes]]\nupstream = \"https://a.b\"\n");
    assert!(
        e.contains("listeners[0].routes[0].upstream: only applies to reverse listeners"),
        "{e}"
    );

    let e = err("[[listeners]]\nlisten = \"1\"\nmode = \"forward\"\n[[listeners.routes]]\nallowed_hosts = [\"*.x.com\", \"bad host\"]\n");
    assert!(
        e.contains("listeners[0].routes[0].allowed_hosts: \"bad host\" is not a host pattern"),
        "{e}"
    );

    let e = err("[[listeners]]\nlisten = \"1\"\nmode = \"forward\"\n[[listeners.routes]]\npayload = \"maybe\"\n");
    assert!(
        e.contains("listeners[0].routes[0].payload: \"maybe\" is not a payload mode"),
        "{e}"
    );

    let e = err("[[listeners]]\nlisten = \"1\"\nmode = \"forward\"\n[[listeners.routes]]\npass_through_headers = [\"user-agent\"]\n");
    assert!(
        e.contains("pass_through_headers: \"user-agent\" is always forwarded"),
        "{e}"
    );

    let e = err("[[listeners]]\nlisten = \"1\"\nmode = \"forward\"\n[[listeners.routes]]\nca_file = \"/nonexistent/ca.pem\"\n");
    assert!(
        e.contains("listeners[0].routes[0].ca_file: cannot open /nonexistent/ca.pem"),
        "{e}"
    );

    let e =
        err("[connect_to]\n\"a.b\" = \"c:1\"\n[[listeners]]\nlisten = \"1\"\nmode = \"forward\"\n");
    assert!(
        e.contains("connect_to.\"a.b\": \"a.b\" is not host:port"),
        "{e}"
    );

    let e = err("");
    assert!(
        e.contains("test.toml: listeners: no listeners configured"),
        "{e}"
    );
}

#[test]
fn unknown_keys_are_parse_errors_naming_the_key() {
    let e = err("[[listeners]]\nlisten = \"1\"\nmode = \"forward\"\nbogus = 1\n");
    assert!(e.starts_with("test.toml: "), "{e}");
    assert!(e.contains("unknown field `bogus`"), "{e}");
    assert!(e.contains("line 4"), "{e}");
}

#[test]
fn duplicate_listener_names_are_rejected() {
    let e = err("[[listeners]]\nname=\"a\"\nlisten = \"1\"\nmode = \"forward\"\n[[listeners]]\nname=\"a\"\nlisten = \"2\"\nmode = \"forward\"\n");
    assert!(
        e.contains("listeners[1].name: duplicate listener name \"a\""),
        "{e}"
    );
}
