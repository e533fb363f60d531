//! Unit tests of the HTTP/1 framing helpers.

use super::*;

async fn head_of(text: &str) -> Head {
    let mut reader = text.as_bytes();
    read_head(&mut reader).await.unwrap().unwrap()
}

#[tokio::test]
async fn heads_parse_and_reserialise() {
    let head = head_of("HTTP/1.0 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\nhello").await;
    assert_eq!(head.status(), Some(200));
    assert_eq!(head.header("x-a"), Some("b"));
    assert!(head.wants_close(), "HTTP/1.0 without keep-alive closes");
    assert_eq!(head.response_framing("GET").unwrap(), Framing::Length(5));
    assert_eq!(head.response_framing("HEAD").unwrap(), Framing::Empty);
    assert_eq!(
        head.to_bytes(),
        b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\n"
    );

    let request =
        head_of("PUT /b/k HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await;
    assert_eq!(request.method(), "PUT");
    assert!(request.expects_continue());
    assert!(!request.wants_close());
    assert_eq!(request.request_framing().unwrap(), Framing::Chunked);
}

#[tokio::test]
async fn clean_eof_is_none_and_oversized_heads_fail() {
    let mut empty: &[u8] = b"";
    assert!(read_head(&mut empty).await.unwrap().is_none());
    let huge = format!(
        "GET / HTTP/1.1\r\nX: {}\r\n\r\n",
        "a".repeat(MAX_HEAD_BYTES as usize)
    );
    let mut reader = huge.as_bytes();
    assert!(read_head(&mut reader).await.is_err());
    let mut cut: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n";
    assert!(read_head(&mut cut).await.is_err());
}

#[tokio::test]
async fn chunked_bodies_keep_framing_and_expose_only_payload() {
    let wire = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\nNEXT";
    let mut reader = &wire[..];
    let mut out = Vec::new();
    let mut seen = Vec::new();
    relay_body(&mut reader, &mut out, Framing::Chunked, |data| {
        seen.extend_from_slice(data);
        data.make_ascii_uppercase();
    })
    .await
    .unwrap();
    assert_eq!(seen, b"hello world");
    assert_eq!(
        out,
        b"5;ext=1\r\nHELLO\r\n6\r\n WORLD\r\n0\r\nTrailer: t\r\n\r\n"
    );
    assert_eq!(reader, b"NEXT", "the next message is left unread");
}

#[tokio::test]
async fn short_bodies_are_errors_and_until_close_reads_to_eof() {
    let mut short: &[u8] = b"abc";
    let err = read_body(&mut short, Framing::Length(5), 100)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    let mut rest: &[u8] = b"all of it";
    assert_eq!(
        read_body(&mut rest, Framing::UntilClose, 100)
            .await
            .unwrap(),
        b"all of it"
    );
    let mut big: &[u8] = b"0123456789";
    assert!(read_body(&mut big, Framing::Length(10), 4).await.is_err());
}
