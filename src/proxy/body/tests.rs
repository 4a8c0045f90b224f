use std::convert::Infallible;

use futures_util::stream;
use http_body_util::{BodyExt, StreamBody};

use super::*;
use crate::sigv4::EMPTY_PAYLOAD_SHA256;

fn limits(threshold: u64, max: u64) -> BodyLimits {
    let raw = crate::config::RawConfig::parse(
        &format!("[body]\nmemory_threshold_bytes = {threshold}\nmax_bytes = {max}\n[[listeners]]\nlisten = \"1\"\nmode = \"forward\"\n"),
        std::path::Path::new("t.toml"),
    )
    .expect("parse");
    crate::config::Config::from_raw(raw, std::path::Path::new("t.toml"))
        .expect("valid")
        .body
}

fn chunks(
    parts: Vec<&'static [u8]>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Unpin> {
    StreamBody::new(stream::iter(
        parts
            .into_iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p)))),
    ))
}

fn sha256_hex(data: &[u8]) -> String {
    let mut h = PayloadHasher::new();
    h.update(data);
    h.finish()
}

async fn read_all(mut b: RequestBody) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(f) = b.frame().await {
        out.extend_from_slice(&f.expect("frame").into_data().expect("data"));
    }
    out
}

#[tokio::test]
async fn small_body_stays_in_memory() {
    let h = hash_and_buffer(
        chunks(vec![b"hello ", b"world"]),
        None,
        &limits(16, 100),
        &Default::default(),
    )
    .await
    .expect("ok");
    assert!(matches!(h.body, RequestBody::Memory(_)));
    assert_eq!(h.len, 11);
    assert_eq!(h.sha256, sha256_hex(b"hello world"));
    assert_eq!(h.body.size_hint().exact(), Some(11));
    assert_eq!(read_all(h.body).await, b"hello world");
}

#[tokio::test]
async fn one_frame_body_is_kept_as_delivered() {
    static DATA: &[u8] = b"a body that came in one frame";
    let h = hash_and_buffer(
        chunks(vec![DATA]),
        None,
        &limits(64, 100),
        &Default::default(),
    )
    .await
    .expect("ok");
    let RequestBody::Memory(Some(kept)) = &h.body else {
        panic!("expected a memory body, got {:?}", h.body);
    };
    assert_eq!(
        kept.as_ptr(),
        DATA.as_ptr(),
        "the frame's bytes, not a copy"
    );
    assert_eq!(h.sha256, sha256_hex(DATA));
    assert_eq!(read_all(h.body).await, DATA);
}

#[tokio::test]
async fn body_over_threshold_is_spooled_and_read_back() {
    let parts: Vec<&'static [u8]> = vec![b"0123456789", b"abcdefghij", b"ABCDEFGHIJ"];
    let h = hash_and_buffer(chunks(parts), None, &limits(15, 100), &Default::default())
        .await
        .expect("ok");
    assert!(matches!(h.body, RequestBody::Spooled(_)), "{:?}", h.body);
    assert_eq!(h.len, 30);
    assert_eq!(h.body.size_hint().exact(), Some(30));
    let expected = b"0123456789abcdefghijABCDEFGHIJ";
    assert_eq!(h.sha256, sha256_hex(expected));
    assert_eq!(read_all(h.body).await, expected);
}

#[tokio::test]
async fn declared_length_over_threshold_spools_from_the_start() {
    let h = hash_and_buffer(
        chunks(vec![b"abcdef"]),
        Some(6),
        &limits(5, 100),
        &Default::default(),
    )
    .await
    .expect("ok");
    assert!(matches!(h.body, RequestBody::Spooled(_)));
    assert_eq!(read_all(h.body).await, b"abcdef");
}

#[tokio::test]
async fn over_max_is_too_large() {
    let e = hash_and_buffer(
        chunks(vec![b"0123456789", b"0"]),
        None,
        &limits(4, 10),
        &Default::default(),
    )
    .await
    .expect_err("too large");
    assert!(matches!(e, ProxyError::BodyTooLarge { limit: 10 }), "{e:?}");
}

#[tokio::test]
async fn empty_body() {
    let h = hash_and_buffer(chunks(vec![]), None, &limits(4, 10), &Default::default())
        .await
        .expect("ok");
    assert!(matches!(h.body, RequestBody::Empty));
    assert_eq!(h.sha256, EMPTY_PAYLOAD_SHA256);
}
