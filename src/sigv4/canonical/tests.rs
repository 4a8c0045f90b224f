use super::*;

fn uri(path: &str, enc: UriEncoding, norm: PathNormalization) -> String {
    let mut s = String::new();
    canonical_uri_into(&mut s, path, enc, norm);
    s
}

fn s3(path: &str) -> String {
    uri(path, UriEncoding::Single, PathNormalization::Disabled)
}

fn double(path: &str) -> String {
    uri(path, UriEncoding::Double, PathNormalization::Enabled)
}

fn query(q: &str) -> String {
    let mut s = String::new();
    canonical_query_into(&mut s, Some(q), &[], false);
    s
}

#[test]
fn s3_single_encoding_rules() {
    assert_eq!(s3("/a%20b"), "/a%20b");
    assert_eq!(s3("/a+b"), "/a%2Bb");
    assert_eq!(s3("/a%2Fb"), "/a/b");
    assert_eq!(s3("/a b"), "/a%20b");
    assert_eq!(s3("/a%2fb"), "/a/b");
    assert_eq!(
        s3("/bucket/my-object//example//photo.user"),
        "/bucket/my-object//example//photo.user"
    );
    assert_eq!(s3("/a/./b/../c"), "/a/./b/../c");
    assert_eq!(s3("/%E1%88%B4"), "/%E1%88%B4");
    assert_eq!(s3("/ሴ"), "/%E1%88%B4");
    assert_eq!(s3(""), "/");
    assert_eq!(s3("/"), "/");
    assert_eq!(s3("/key="), "/key%3D");
}

#[test]
fn double_encoding_rules() {
    assert_eq!(double("/a%20b"), "/a%2520b");
    assert_eq!(double("/a b"), "/a%20b");
    assert_eq!(double("/example/$delete"), "/example/%24delete");
    assert_eq!(double(""), "/");
    assert_eq!(double("/-._~AZaz09"), "/-._~AZaz09");
}

#[test]
fn normalisation() {
    assert_eq!(normalize_path("/example1/example2/../.."), "/");
    assert_eq!(normalize_path("/example/.."), "/");
    assert_eq!(normalize_path("/./"), "/");
    assert_eq!(normalize_path("/./example"), "/example");
    assert_eq!(normalize_path("//example//"), "/example/");
    assert_eq!(normalize_path("/a/b/."), "/a/b/");
    assert_eq!(normalize_path("/a/../../b"), "/b");
    assert_eq!(normalize_path("/.hidden"), "/.hidden");
    assert!(matches!(normalize_path("/a/b"), Cow::Borrowed(_)));
}

#[test]
fn query_rules() {
    assert_eq!(query("b=2&a=1"), "a=1&b=2");
    assert_eq!(
        query("Param1=value2&Param1=Value1"),
        "Param1=Value1&Param1=value2"
    );
    assert_eq!(query("a+b=c d"), "a%2Bb=c%20d");
    assert_eq!(query("a%2bb=%7e"), "a%2Bb=~");
    assert_eq!(query("flag&x="), "flag=&x=");
    assert_eq!(query("&&a=1&"), "a=1");
    assert_eq!(query("a=b=c"), "a=b%3Dc");
    // Sorting is by the encoded key: '%' (0x25) sorts before letters.
    assert_eq!(query("z=1&%20=2"), "%20=2&z=1");
}

#[test]
fn query_drops_signer_params_when_asked() {
    let mut s = String::new();
    canonical_query_into(
        &mut s,
        Some("X-Amz-Signature=abc&a=1&x-amz-date=2"),
        &[("X-Amz-Date", "20150830T123600Z")],
        true,
    );
    assert_eq!(s, "X-Amz-Date=20150830T123600Z&a=1");
}

#[test]
fn headers_fold_sort_and_join() {
    let mut entries = vec![
        ("My-Header1", "  value4  "),
        ("host", "h"),
        ("my-header1", "a   b \t c"),
        ("My-Header2", "\"a   b   c\""),
        ("ZOO", "value1\n  value2"),
    ];
    sort_headers(&mut entries);
    let mut block = String::new();
    canonical_headers_into(&mut block, &entries);
    assert_eq!(
        block,
        "host:h\nmy-header1:value4,a b c\nmy-header2:\"a b c\"\nzoo:value1 value2\n"
    );
    let mut signed = String::new();
    signed_headers_into(&mut signed, &entries);
    assert_eq!(signed, "host;my-header1;my-header2;zoo");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Percent-decodes `s` (only valid `%XX` escapes).
    fn decode(s: &str) -> Vec<u8> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                let hexval = |c: u8| (c as char).to_digit(16);
                if let (Some(h), Some(l)) = (hexval(b[i + 1]), hexval(b[i + 2])) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        out
    }

    /// Every byte is unreserved, `/` (when allowed) or part of an upper-case `%XX`.
    fn well_encoded(s: &str, slash_ok: bool) -> bool {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                c if crate::sigv4::encode::is_unreserved(c) => i += 1,
                b'/' if slash_ok => i += 1,
                b'%' if b.len() >= i + 3
                    && b[i + 1..i + 3]
                        .iter()
                        .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c)) =>
                {
                    i += 3
                }
                _ => return false,
            }
        }
        true
    }

    /// Paths mixing the characters that matter: separators, dots, escapes, spaces,
    /// plus signs, non-ASCII.
    fn path() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("/".to_string()),
                Just(".".to_string()),
                Just("..".to_string()),
                Just("%20".to_string()),
                Just("%2F".to_string()),
                Just("%2f".to_string()),
                Just("%".to_string()),
                Just("+".to_string()),
                Just(" ".to_string()),
                Just("ሴ".to_string()),
                "[a-zA-Z0-9._~!$&'()*,;=:@-]{1,4}",
            ],
            0..12,
        )
        .prop_map(|parts| format!("/{}", parts.concat()))
    }

    fn query() -> impl Strategy<Value = Vec<(String, String)>> {
        let part = "([a-zA-Z0-9._~ +=&/?-]|%2[0-9A-F]|ሴ){0,6}";
        proptest::collection::vec((part, part), 0..6)
    }

    fn raw_query(pairs: &[(String, String)]) -> String {
        // Encode '&' and '=' inside keys/values so the split is unambiguous.
        let enc = |s: &str| {
            s.replace('%', "%25")
                .replace('&', "%26")
                .replace('=', "%3D")
        };
        pairs
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    proptest! {
        #[test]
        fn double_encoding_is_well_formed_and_lossless(p in path()) {
            let out = uri(&p, UriEncoding::Double, PathNormalization::Disabled);
            prop_assert!(well_encoded(&out, true), "{out}");
            prop_assert_eq!(decode(&out), p.as_bytes().to_vec());
        }

        #[test]
        fn single_encoding_is_well_formed_and_idempotent(p in path()) {
            let once = s3(&p);
            prop_assert!(well_encoded(&once, true), "{once}");
            prop_assert_eq!(s3(&once), once.clone());
            // The key is kept: the decoded output is the decoded input (`%2F` is `/`).
            prop_assert_eq!(decode(&once), decode(&p));
        }

        #[test]
        fn normalisation_removes_dots_and_empty_segments(p in path()) {
            let n = normalize_path(&p).into_owned();
            prop_assert!(n.starts_with('/'));
            prop_assert!(!n.contains("//"), "{n}");
            prop_assert!(n.split('/').all(|s| s != "." && s != ".."), "{n}");
            prop_assert_eq!(normalize_path(&n).into_owned(), n.clone());
        }

        #[test]
        fn query_is_sorted_well_formed_and_order_independent(pairs in query(), seed in any::<u64>()) {
            let q = raw_query(&pairs);
            let canon = super::query(&q);
            let params: Vec<(&str, &str)> = canon
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| p.split_once('=').unwrap())
                .collect();
            for (k, v) in &params {
                prop_assert!(well_encoded(k, false) && well_encoded(v, false), "{canon}");
            }
            prop_assert!(params.windows(2).all(|w| w[0] <= w[1]), "{canon}");
            // Re-canonicalising is a no-op, and input order does not matter.
            prop_assert_eq!(super::query(&canon), canon.clone());
            let mut shuffled = pairs.clone();
            let len = shuffled.len().max(1);
            shuffled.rotate_left((seed as usize) % len);
            shuffled.reverse();
            prop_assert_eq!(super::query(&raw_query(&shuffled)), canon);
        }

        #[test]
        fn header_values_are_trimmed_and_folded(v in "[ \ta-z\"\n\r]{0,24}") {
            let entries = [("x-h", v.as_str())];
            let mut block = String::new();
            canonical_headers_into(&mut block, &entries);
            let value = block.strip_prefix("x-h:").unwrap().strip_suffix('\n').unwrap();
            prop_assert_eq!(value.trim(), value);
            prop_assert!(!value.contains("  ") && !value.contains(['\t', '\n', '\r']), "{value:?}");
            let words: Vec<&str> = v.split_ascii_whitespace().collect();
            prop_assert_eq!(value, words.join(" "));
        }
    }
}
