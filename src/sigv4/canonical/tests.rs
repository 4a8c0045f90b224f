use super::*;

/// The buffer as text (everything the canonical helpers write is UTF-8).
fn text(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap()
}

fn uri(path: &str, enc: UriEncoding, norm: PathNormalization) -> String {
    let mut s = Vec::new();
    canonical_uri_into(&mut s, path, enc, norm);
    text(s)
}

fn s3(path: &str) -> String {
    uri(path, UriEncoding::Single, PathNormalization::Disabled)
}

fn double(path: &str) -> String {
    uri(path, UriEncoding::Double, PathNormalization::Enabled)
}

fn query(q: &str) -> String {
    let mut s = Vec::new();
    canonical_query_into(&mut s, Some(q), &[], false);
    text(s)
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
    let mut s = Vec::new();
    canonical_query_into(
        &mut s,
        Some("X-Amz-Signature=abc&a=1&x-amz-date=2"),
        &[("X-Amz-Date", "20150830T123600Z")],
        true,
    );
    assert_eq!(text(s), "X-Amz-Date=20150830T123600Z&a=1");
}

#[test]
fn query_fast_path_takes_sdk_queries() {
    for (q, canon) in [
        (
            "Action=ListQueues&Version=2012-11-05",
            "Action=ListQueues&Version=2012-11-05",
        ),
        ("b=2&a=1&a=0", "a=0&a=1&b=2"),
        ("prefix=a%2Fb&list-type=2&k", "k=&list-type=2&prefix=a%2Fb"),
    ] {
        let mut out = Vec::new();
        assert!(query_fast_path(&mut out, q, &[], false), "{q}");
        assert_eq!(text(out), canon);
    }
    for slow in ["a=%2f", "a=%41", "a=b=c", "a b", "a=+"] {
        assert!(
            !query_fast_path(&mut Vec::new(), slow, &[], false),
            "{slow}"
        );
    }
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
    assert!(!sort_headers(&mut entries), "mixed-case names");
    let mut block = Vec::new();
    canonical_headers_into(&mut block, &entries, false);
    assert_eq!(
        text(block),
        "host:h\nmy-header1:value4,a b c\nmy-header2:\"a b c\"\nzoo:value1 value2\n"
    );
    let mut signed = Vec::new();
    signed_headers_into(&mut signed, &entries, false);
    assert_eq!(text(signed), "host;my-header1;my-header2;zoo");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Pieces of raw queries: canonical and non-canonical escapes, separators, signer
    /// parameter names in both cases, and characters that need encoding.
    const QUERY_FRAGMENTS: [&str; 20] = [
        "a",
        "b",
        "B",
        "1",
        "~",
        ".",
        "=",
        "=",
        "&",
        "&",
        "%20",
        "%2F",
        "%2f",
        "%41",
        "%",
        "+",
        " ",
        "X-Amz-Date",
        "x-amz-signature",
        "%E1%88%B4",
    ];

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

        /// The one-pass query fast path gives exactly what the general
        /// decode-and-re-encode path gives, whenever it takes the query.
        #[test]
        fn query_fast_path_matches_general_path(
            parts in proptest::collection::vec(proptest::sample::select(&QUERY_FRAGMENTS[..]), 0..12),
            drop in any::<bool>(),
            with_extra in any::<bool>(),
        ) {
            let q = parts.concat();
            let extra: &[(&str, &str)] = if with_extra { &[("X-Amz-Date", "20150830T123600Z")] } else { &[] };
            let mut fast = Vec::new();
            if query_fast_path(&mut fast, &q, extra, drop) {
                let mut general = Vec::new();
                canonical_query_general(&mut general, &q, extra, drop);
                prop_assert_eq!(text(fast), text(general), "query {:?}", q);
            } else {
                prop_assert!(fast.is_empty(), "a refused query must write nothing");
            }
        }

        /// A path the URI fast path copies is what the general path makes of it, in
        /// every encoding and normalisation mode.
        #[test]
        fn plain_paths_are_canonical_in_every_mode(p in "/[a-zA-Z0-9._~/-]{0,20}") {
            if is_plain_path(&p) {
                for enc in [UriEncoding::Double, UriEncoding::Single] {
                    for norm in [PathNormalization::Enabled, PathNormalization::Disabled] {
                        let mut general = Vec::new();
                        canonical_uri_general(&mut general, &p, enc, norm);
                        prop_assert_eq!(text(general), p.clone());
                    }
                }
            }
        }

        /// The word-at-a-time upper-case test agrees with the byte-by-byte one.
        #[test]
        fn upper_case_test_matches_bytewise(n in "[ -~\u{80}-\u{7ff}]{0,24}") {
            prop_assert_eq!(has_upper(&n), n.bytes().any(|b| b.is_ascii_uppercase()));
        }

        /// The word-at-a-time whitespace test agrees with the byte-by-byte one.
        #[test]
        fn space_or_control_test_matches_bytewise(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(has_space_or_control(&b), b.iter().any(|&c| c <= b' '));
        }

        /// The lower-case insertion sort orders like the general case-folding stable
        /// sort, repeats included.
        #[test]
        fn lower_case_sort_matches_general(names in proptest::collection::vec("[a-c-]{0,3}", 0..10)) {
            let mut entries: Vec<(&str, &str)> = names.iter().enumerate()
                .map(|(i, n)| (n.as_str(), ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"][i])).collect();
            let mut expected = entries.clone();
            expected.sort_by(|a, b| cmp_lower(a.0, b.0));
            prop_assert!(sort_headers(&mut entries));
            prop_assert_eq!(entries, expected);
        }

        #[test]
        fn header_values_are_trimmed_and_folded(v in "[ \ta-z\"\n\r]{0,24}") {
            let entries = [("x-h", v.as_str())];
            let mut block = Vec::new();
            canonical_headers_into(&mut block, &entries, true);
            let block = text(block);
            let value = block.strip_prefix("x-h:").unwrap().strip_suffix('\n').unwrap();
            prop_assert_eq!(value.trim(), value);
            prop_assert!(!value.contains("  ") && !value.contains(['\t', '\n', '\r']), "{value:?}");
            let words: Vec<&str> = v.split_ascii_whitespace().collect();
            prop_assert_eq!(value, words.join(" "));
        }
    }
}
