//! Wire behaviour partners rely on: messages survive encode/decode, and
//! "unset" stays distinguishable from zero where the API gives unset a
//! meaning (broker default, "to the end", "no change").

use std::collections::HashMap;

use prost::Message;
use shardgate_proto::v1::{
    ByteRange, EndToEndParams, EndToEndScheme, GetRequest, KeyMode, Price, PutHeader, PutRequest,
    RedundancyPolicy, Visibility, put_request,
};

fn full_header() -> PutHeader {
    PutHeader {
        name: "reports/2026/q3.pdf".to_owned(),
        content_type: "application/pdf".to_owned(),
        key_mode: KeyMode::EndToEnd as i32,
        chunk_size_bytes: Some(256 * 1024),
        redundancy: Some(RedundancyPolicy {
            k: 4,
            m: 2,
            allow_reduced_redundancy: true,
        }),
        price: Some(Price {
            flat_msat: 1_000,
            per_mib_msat: 250,
        }),
        visibility: Visibility::Public as i32,
        declared_size_bytes: Some(10 * 1024 * 1024),
        metadata: HashMap::from([
            ("author".to_owned(), "Ada".to_owned()),
            ("lang".to_owned(), "en".to_owned()),
        ]),
        end_to_end: Some(EndToEndParams {
            scheme: EndToEndScheme::Aes256GcmHkdfSha256V1 as i32,
        }),
    }
}

#[test]
fn put_header_round_trips() {
    let sent = PutRequest {
        frame: Some(put_request::Frame::Header(full_header())),
    };
    let bytes = sent.encode_to_vec();
    let received = PutRequest::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(received, sent);

    let Some(put_request::Frame::Header(header)) = received.frame else {
        panic!("first frame is not a header");
    };
    assert_eq!(header.key_mode(), KeyMode::EndToEnd);
    assert_eq!(header.visibility(), Visibility::Public);
    assert_eq!(header.metadata["author"], "Ada");
}

#[test]
fn data_frame_keeps_its_bytes() {
    let payload: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let sent = PutRequest {
        frame: Some(put_request::Frame::Data(payload.clone().into())),
    };
    let received = PutRequest::decode(sent.encode_to_vec().as_slice()).expect("decodes");
    assert_eq!(
        received.frame,
        Some(put_request::Frame::Data(payload.into()))
    );
}

#[test]
fn explicit_zero_is_not_the_same_as_unset() {
    // chunk_size_bytes = 0 is an error the broker must see, not "use the
    // default"; declared_size_bytes = 0 is a real (empty) declared size.
    let mut header = full_header();
    header.chunk_size_bytes = Some(0);
    header.declared_size_bytes = Some(0);
    let decoded = PutHeader::decode(header.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded.chunk_size_bytes, Some(0));
    assert_eq!(decoded.declared_size_bytes, Some(0));

    header.chunk_size_bytes = None;
    header.declared_size_bytes = None;
    let decoded = PutHeader::decode(header.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded.chunk_size_bytes, None);
    assert_eq!(decoded.declared_size_bytes, None);

    // A range without length means "to the end", distinct from length 0.
    let to_end = GetRequest {
        blob_id: "ab".repeat(32),
        range: Some(ByteRange {
            offset: 5,
            length: None,
        }),
        hold_invoice: false,
        uses: 0,
    };
    let decoded = GetRequest::decode(to_end.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded.range.and_then(|r| r.length), None);
}

#[test]
fn unknown_enum_values_from_a_newer_broker_are_kept_not_rejected() {
    // A client built from this file must still decode a message that uses an
    // enum value added later; the accessor falls back to the default.
    let mut header = full_header();
    header.key_mode = 99;
    let decoded = PutHeader::decode(header.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded.key_mode, 99);
    assert_eq!(decoded.key_mode(), KeyMode::Unspecified);
}
