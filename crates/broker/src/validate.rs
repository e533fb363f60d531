//! Request bounds (see `Limits` in storage.proto): every check names the
//! field and the bound, and nothing is written before they pass.

use std::collections::BTreeMap;

use shardgate_core::manifest::MAX_MANIFEST_CHUNKS;
use shardgate_core::{
    ContentId, ErasureParams, KeyMode, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, StreamLayout,
};
use shardgate_index::{Price, Visibility};
use shardgate_proto::v1 as pb;

use crate::config::BrokerConfig;
use crate::error::BrokerError;

/// Longest name / name prefix, bytes.
pub(crate) const MAX_NAME_BYTES: usize = 1024;
/// Longest content type, bytes.
pub(crate) const MAX_CONTENT_TYPE_BYTES: usize = 255;
/// Most metadata entries.
pub(crate) const MAX_METADATA_ENTRIES: usize = 32;
/// Longest metadata key, bytes.
pub(crate) const MAX_METADATA_KEY_BYTES: usize = 64;
/// Longest metadata value, bytes.
pub(crate) const MAX_METADATA_VALUE_BYTES: usize = 1024;
/// Most bytes of all keys plus values.
pub(crate) const MAX_METADATA_TOTAL_BYTES: usize = 8192;
/// Content type stored when an upload gives none.
pub(crate) const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// A validated upload header.
#[derive(Debug, Clone)]
pub(crate) struct UploadPlan {
    pub name: String,
    pub content_type: String,
    pub key_mode: KeyMode,
    /// Plaintext chunk size.
    pub chunk_size: usize,
    pub params: ErasureParams,
    pub allow_reduced: bool,
    pub price: Price,
    pub visibility: Visibility,
    pub declared_size: Option<u64>,
    pub metadata: BTreeMap<String, String>,
}

impl UploadPlan {
    /// How the upload stream is cut into chunks (a full piece is
    /// `layout().stride()` bytes: the chunk size, plus the tag in
    /// END_TO_END mode).
    pub(crate) fn layout(&self) -> StreamLayout {
        StreamLayout::new(self.key_mode, self.chunk_size)
    }

    /// Largest stream this upload may send: the broker's blob bound and
    /// the manifest's chunk-count bound, whichever is lower.
    pub(crate) fn max_stream_bytes(&self, config: &BrokerConfig) -> u64 {
        let by_chunks = self.layout().stride() * u64::from(MAX_MANIFEST_CHUNKS);
        config.limits.max_blob_bytes.min(by_chunks)
    }
}

/// Checks a Put header against the broker's bounds.
pub(crate) fn upload_plan(
    header: pb::PutHeader,
    config: &BrokerConfig,
) -> Result<UploadPlan, BrokerError> {
    check_name(&header.name, "header.name")?;
    let content_type = check_content_type(&header.content_type)?;
    let key_mode = match pb::KeyMode::try_from(header.key_mode) {
        Ok(pb::KeyMode::Unspecified | pb::KeyMode::Managed) => KeyMode::Managed,
        Ok(pb::KeyMode::EndToEnd) => KeyMode::EndToEnd,
        Err(_) => return Err(BrokerError::invalid("header.key_mode", "unknown value")),
    };
    match (key_mode, &header.end_to_end) {
        (KeyMode::EndToEnd, None) => {
            return Err(BrokerError::invalid(
                "header.end_to_end",
                "required with KEY_MODE_END_TO_END",
            ));
        }
        (KeyMode::EndToEnd, Some(params))
            if params.scheme != pb::EndToEndScheme::Aes256GcmHkdfSha256V1 as i32 =>
        {
            return Err(BrokerError::invalid(
                "header.end_to_end.scheme",
                "must be END_TO_END_SCHEME_AES_256_GCM_HKDF_SHA256_V1",
            ));
        }
        (KeyMode::Managed, Some(_)) => {
            return Err(BrokerError::invalid(
                "header.end_to_end",
                "must be unset unless key_mode is KEY_MODE_END_TO_END",
            ));
        }
        _ => {}
    }
    let chunk_size = header.chunk_size_bytes.unwrap_or(config.default_chunk_size) as usize;
    if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        return Err(BrokerError::invalid(
            "header.chunk_size_bytes",
            format!("{chunk_size} is outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}"),
        ));
    }
    let red = header.redundancy.unwrap_or_default();
    let bounds = &config.redundancy;
    let k = if red.k == 0 { bounds.default_k } else { red.k };
    let m = if red.m == 0 { bounds.default_m } else { red.m };
    if k > bounds.max_k {
        return Err(BrokerError::invalid(
            "header.redundancy.k",
            format!("{k} is above the maximum {}", bounds.max_k),
        ));
    }
    if m > bounds.max_m {
        return Err(BrokerError::invalid(
            "header.redundancy.m",
            format!("{m} is above the maximum {}", bounds.max_m),
        ));
    }
    let params = ErasureParams::new(k as usize, m as usize)
        .map_err(|e| BrokerError::invalid("header.redundancy", e.to_string()))?;
    let price = match header.price {
        Some(p) => check_price(&p, config, "header.price")?,
        None => Price {
            flat_msat: config.limits.default_flat_msat,
            per_mib_msat: config.limits.default_per_mib_msat,
        },
    };
    let visibility = match visibility(header.visibility, "header.visibility")? {
        Some(v) => v,
        None => Visibility::Private,
    };
    let metadata: BTreeMap<String, String> = header.metadata.into_iter().collect();
    check_metadata(&metadata)?;
    let plan = UploadPlan {
        name: header.name,
        content_type,
        key_mode,
        chunk_size,
        params,
        allow_reduced: red.allow_reduced_redundancy,
        price,
        visibility,
        declared_size: header.declared_size_bytes,
        metadata,
    };
    if let Some(size) = plan.declared_size {
        check_stream_size(&plan, config, size, "header.declared_size_bytes")?;
    }
    Ok(plan)
}

/// Refuses a stream longer than the blob bounds allow.
pub(crate) fn check_stream_size(
    plan: &UploadPlan,
    config: &BrokerConfig,
    size: u64,
    field: &'static str,
) -> Result<(), BrokerError> {
    let max = plan.max_stream_bytes(config);
    if size > max {
        return Err(BrokerError::invalid(
            field,
            format!(
                "{size} bytes exceed the largest blob this broker accepts ({max} bytes: Limits.max_blob_bytes, at most 1,048,576 chunks)"
            ),
        ));
    }
    Ok(())
}

/// Names: 1..=1024 bytes, no control characters.
pub(crate) fn check_name(name: &str, field: &'static str) -> Result<(), BrokerError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(BrokerError::invalid(
            field,
            format!("must be 1..={MAX_NAME_BYTES} bytes, got {}", name.len()),
        ));
    }
    if name.chars().any(|c| c.is_ascii_control()) {
        return Err(BrokerError::invalid(
            field,
            "must not contain control characters (U+0000..U+001F, U+007F)",
        ));
    }
    Ok(())
}

fn check_content_type(ct: &str) -> Result<String, BrokerError> {
    if ct.is_empty() {
        return Ok(DEFAULT_CONTENT_TYPE.to_owned());
    }
    if ct.len() > MAX_CONTENT_TYPE_BYTES || !ct.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(BrokerError::invalid(
            "header.content_type",
            format!("must be at most {MAX_CONTENT_TYPE_BYTES} bytes of printable ASCII"),
        ));
    }
    Ok(ct.to_owned())
}

fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), BrokerError> {
    const FIELD: &str = "header.metadata";
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(BrokerError::invalid(
            FIELD,
            format!("{} entries, at most {MAX_METADATA_ENTRIES}", metadata.len()),
        ));
    }
    let mut total = 0;
    for (key, value) in metadata {
        let key_ok = !key.is_empty()
            && key.len() <= MAX_METADATA_KEY_BYTES
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if !key_ok {
            return Err(BrokerError::invalid(
                FIELD,
                format!("key {key:?} must be 1..={MAX_METADATA_KEY_BYTES} bytes of [a-z0-9._-]"),
            ));
        }
        if value.len() > MAX_METADATA_VALUE_BYTES {
            return Err(BrokerError::invalid(
                FIELD,
                format!("value of {key:?} is longer than {MAX_METADATA_VALUE_BYTES} bytes"),
            ));
        }
        total += key.len() + value.len();
    }
    if total > MAX_METADATA_TOTAL_BYTES {
        return Err(BrokerError::invalid(
            FIELD,
            format!("keys plus values are {total} bytes, at most {MAX_METADATA_TOTAL_BYTES}"),
        ));
    }
    Ok(())
}

/// A price within the broker's bounds.
pub(crate) fn check_price(
    p: &pb::Price,
    config: &BrokerConfig,
    field: &'static str,
) -> Result<Price, BrokerError> {
    let l = &config.limits;
    if p.flat_msat > l.max_flat_msat {
        return Err(BrokerError::invalid(
            field,
            format!(
                "flat_msat {} is above Limits.max_flat_msat {}",
                p.flat_msat, l.max_flat_msat
            ),
        ));
    }
    if p.per_mib_msat > l.max_per_mib_msat {
        return Err(BrokerError::invalid(
            field,
            format!(
                "per_mib_msat {} is above Limits.max_per_mib_msat {}",
                p.per_mib_msat, l.max_per_mib_msat
            ),
        ));
    }
    Ok(Price {
        flat_msat: p.flat_msat,
        per_mib_msat: p.per_mib_msat,
    })
}

/// `None` for VISIBILITY_UNSPECIFIED.
pub(crate) fn visibility(v: i32, field: &'static str) -> Result<Option<Visibility>, BrokerError> {
    match pb::Visibility::try_from(v) {
        Ok(pb::Visibility::Unspecified) => Ok(None),
        Ok(pb::Visibility::Private) => Ok(Some(Visibility::Private)),
        Ok(pb::Visibility::Public) => Ok(Some(Visibility::Public)),
        Err(_) => Err(BrokerError::invalid(field, "unknown value")),
    }
}

/// Ids on the wire: exactly 64 lowercase hex characters.
pub(crate) fn parse_id(s: &str, field: &'static str) -> Result<ContentId, BrokerError> {
    let ok = s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !ok {
        return Err(BrokerError::invalid(
            field,
            "must be exactly 64 lowercase hex characters",
        ));
    }
    s.parse()
        .map_err(|_| BrokerError::invalid(field, "must be exactly 64 lowercase hex characters"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> pb::PutHeader {
        pb::PutHeader {
            name: "a.txt".into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_fill_unset_fields() {
        let plan = upload_plan(header(), &BrokerConfig::default()).expect("valid");
        assert_eq!(plan.key_mode, KeyMode::Managed);
        assert_eq!(plan.chunk_size, 4 << 20);
        assert_eq!((plan.params.k(), plan.params.m()), (2, 1));
        assert_eq!(plan.content_type, DEFAULT_CONTENT_TYPE);
        assert_eq!(plan.visibility, Visibility::Private);
    }

    #[test]
    fn bad_fields_are_named() {
        let cfg = BrokerConfig::default();
        let cases: Vec<(pb::PutHeader, &str)> = vec![
            (
                pb::PutHeader {
                    name: String::new(),
                    ..header()
                },
                "header.name",
            ),
            (
                pb::PutHeader {
                    name: "a\nb".into(),
                    ..header()
                },
                "header.name",
            ),
            (
                pb::PutHeader {
                    chunk_size_bytes: Some(1000),
                    ..header()
                },
                "chunk_size",
            ),
            (
                pb::PutHeader {
                    redundancy: Some(pb::RedundancyPolicy {
                        k: 33,
                        m: 1,
                        allow_reduced_redundancy: false,
                    }),
                    ..header()
                },
                "redundancy.k",
            ),
            (
                pb::PutHeader {
                    key_mode: pb::KeyMode::EndToEnd as i32,
                    ..header()
                },
                "end_to_end",
            ),
            (
                pb::PutHeader {
                    metadata: [("Bad Key".to_owned(), "v".to_owned())]
                        .into_iter()
                        .collect(),
                    ..header()
                },
                "metadata",
            ),
            (
                pb::PutHeader {
                    price: Some(pb::Price {
                        flat_msat: u64::MAX,
                        per_mib_msat: 0,
                    }),
                    ..header()
                },
                "max_flat_msat",
            ),
            (
                pb::PutHeader {
                    declared_size_bytes: Some(u64::MAX),
                    ..header()
                },
                "declared_size",
            ),
        ];
        for (h, needle) in cases {
            let err = upload_plan(h, &cfg).expect_err(needle);
            assert!(
                err.to_string().contains(needle),
                "{err} should mention {needle}"
            );
        }
    }

    #[test]
    fn ids_must_be_lowercase_hex() {
        let id = ContentId::of(b"x").to_hex();
        assert!(parse_id(&id, "blob_id").is_ok());
        assert!(parse_id(&id.to_uppercase(), "blob_id").is_err());
        assert!(parse_id(&id[..63], "blob_id").is_err());
    }
}
