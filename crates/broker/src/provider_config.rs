//! Provider configs as the API carries them (`pb::ProviderConfig`) versus
//! as the backends use them (`ProviderConfig`): conversion one way for
//! joining, and a secret-free copy for every response.

use std::path::PathBuf;

use shardgate_backends::{ProviderConfig, ProviderKind, ProviderLimits, Secret};
use shardgate_core::ProviderName;
use shardgate_proto::v1 as pb;
use shardgate_proto::v1::provider_config::Kind;

use crate::error::BrokerError;

/// Default and bounds of `JoinProviderRequest.weight`.
pub(crate) const DEFAULT_WEIGHT: u32 = 100;
pub(crate) const MAX_WEIGHT: u32 = 10_000;

/// API weights are in hundredths of the registry's (and config file's)
/// weight, whose default is 1.0: the API default of 100 equals a config
/// provider's default, so both kinds get equal shares.
pub(crate) fn registry_weight(api_weight: u32) -> f64 {
    f64::from(api_weight) / f64::from(DEFAULT_WEIGHT)
}

/// Inverse of [`registry_weight`], for display.
pub(crate) fn api_weight(registry_weight: f64) -> u32 {
    (registry_weight * f64::from(DEFAULT_WEIGHT)).round() as u32
}

/// A Join request's name, by core's one rule ([`ProviderName`]).
pub(crate) fn check_provider_name(name: &str) -> Result<(), BrokerError> {
    ProviderName::check(name)
        .map_err(|_| BrokerError::invalid("name", format!("must be {}", ProviderName::RULE)))
}

/// The backends config for a Join request.
pub(crate) fn to_backend(
    name: &str,
    weight: u32,
    config: &pb::ProviderConfig,
) -> Result<ProviderConfig, BrokerError> {
    let required = |field: &'static str, v: &str| {
        if v.trim().is_empty() {
            Err(BrokerError::invalid(field, "is required"))
        } else {
            Ok(())
        }
    };
    let endpoint = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    let (kind, root) = match &config.kind {
        None => {
            return Err(BrokerError::invalid(
                "config",
                "a provider kind is required",
            ));
        }
        Some(Kind::S3(c)) => {
            required("config.s3.bucket", &c.bucket)?;
            required("config.s3.access_key_id", &c.access_key_id)?;
            required("config.s3.secret_access_key", &c.secret_access_key)?;
            let kind = ProviderKind::S3 {
                bucket: c.bucket.clone(),
                endpoint: endpoint(&c.endpoint),
                region: if c.region.is_empty() {
                    "us-east-1".to_owned()
                } else {
                    c.region.clone()
                },
                access_key_id: Some(Secret::new(c.access_key_id.clone())),
                secret_access_key: Some(Secret::new(c.secret_access_key.clone())),
                virtual_host_style: c.virtual_host_style,
                conditional_writes: true,
            };
            (kind, c.root.clone())
        }
        Some(Kind::Gcs(c)) => {
            required("config.gcs.bucket", &c.bucket)?;
            required("config.gcs.service_account_json", &c.service_account_json)?;
            let kind = ProviderKind::Gcs {
                bucket: c.bucket.clone(),
                endpoint: endpoint(&c.endpoint),
                credential: Some(Secret::new(base64(c.service_account_json.as_bytes()))),
                credential_path: None,
                token: None,
                anonymous: false,
                conditional_writes: false,
            };
            (kind, c.root.clone())
        }
        Some(Kind::B2(c)) => {
            required("config.b2.bucket", &c.bucket)?;
            required("config.b2.bucket_id", &c.bucket_id)?;
            required("config.b2.application_key_id", &c.application_key_id)?;
            required("config.b2.application_key", &c.application_key)?;
            let kind = ProviderKind::B2Native {
                bucket: c.bucket.clone(),
                bucket_id: c.bucket_id.clone(),
                key_id: Secret::new(c.application_key_id.clone()),
                application_key: Secret::new(c.application_key.clone()),
            };
            (kind, c.root.clone())
        }
        Some(Kind::Azblob(c)) => {
            required("config.azblob.container", &c.container)?;
            required("config.azblob.account_name", &c.account_name)?;
            required("config.azblob.account_key", &c.account_key)?;
            let kind = ProviderKind::Azblob {
                container: c.container.clone(),
                endpoint: if c.endpoint.is_empty() {
                    format!("https://{}.blob.core.windows.net", c.account_name)
                } else {
                    c.endpoint.clone()
                },
                account_name: c.account_name.clone(),
                account_key: Some(Secret::new(c.account_key.clone())),
                sas_token: None,
            };
            (kind, c.root.clone())
        }
        Some(Kind::Fs(c)) => {
            required("config.fs.root", &c.root)?;
            if !c.root.starts_with('/') {
                return Err(BrokerError::invalid(
                    "config.fs.root",
                    "must be an absolute path",
                ));
            }
            (
                ProviderKind::Fs {
                    root: PathBuf::from(&c.root),
                },
                String::new(),
            )
        }
        Some(Kind::Memory(_)) => (ProviderKind::Memory {}, String::new()),
    };
    Ok(ProviderConfig {
        name: name.to_owned(),
        weight: registry_weight(weight),
        prefix: root.trim_matches('/').to_owned(),
        kind,
        limits: ProviderLimits::default(),
    })
}

/// A copy with every write-only secret emptied.
pub(crate) fn redacted(config: &pb::ProviderConfig) -> pb::ProviderConfig {
    let mut out = config.clone();
    match &mut out.kind {
        Some(Kind::S3(c)) => c.secret_access_key.clear(),
        Some(Kind::Gcs(c)) => c.service_account_json.clear(),
        Some(Kind::B2(c)) => c.application_key.clear(),
        Some(Kind::Azblob(c)) => c.account_key.clear(),
        _ => {}
    }
    out
}

/// The API form of a provider from the broker's config file (secrets
/// empty; kinds the API has no message for show only what maps).
pub(crate) fn from_backend(config: &ProviderConfig) -> pb::ProviderConfig {
    let root = config.prefix.clone();
    let kind = match &config.kind {
        ProviderKind::S3 {
            bucket,
            endpoint,
            region,
            access_key_id,
            virtual_host_style,
            ..
        } => Kind::S3(pb::S3Config {
            bucket: bucket.clone(),
            region: region.clone(),
            endpoint: endpoint.clone().unwrap_or_default(),
            access_key_id: access_key_id
                .as_ref()
                .map(|s| s.expose().to_owned())
                .unwrap_or_default(),
            secret_access_key: String::new(),
            root,
            virtual_host_style: *virtual_host_style,
        }),
        ProviderKind::B2 {
            bucket, endpoint, ..
        } => Kind::S3(pb::S3Config {
            bucket: bucket.clone(),
            endpoint: endpoint.clone().unwrap_or_default(),
            root,
            ..Default::default()
        }),
        ProviderKind::B2Native {
            bucket,
            bucket_id,
            key_id,
            ..
        } => Kind::B2(pb::B2Config {
            bucket: bucket.clone(),
            bucket_id: bucket_id.clone(),
            application_key_id: key_id.expose().to_owned(),
            application_key: String::new(),
            root,
        }),
        ProviderKind::Gcs {
            bucket, endpoint, ..
        } => Kind::Gcs(pb::GcsConfig {
            bucket: bucket.clone(),
            service_account_json: String::new(),
            endpoint: endpoint.clone().unwrap_or_default(),
            root,
        }),
        ProviderKind::Azblob {
            container,
            endpoint,
            account_name,
            ..
        } => Kind::Azblob(pb::AzblobConfig {
            container: container.clone(),
            account_name: account_name.clone(),
            account_key: String::new(),
            endpoint: endpoint.clone(),
            root,
        }),
        ProviderKind::Fs { root } => Kind::Fs(pb::FsConfig {
            root: root.display().to_string(),
        }),
        ProviderKind::Memory {} => Kind::Memory(pb::MemoryConfig {}),
    };
    pb::ProviderConfig { kind: Some(kind) }
}

/// Standard base64 with padding (the backends take a GCS credential in
/// this form); small enough not to need a crate.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for group in input.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn required_fields_are_named_and_secrets_redacted() {
        let cfg = pb::ProviderConfig {
            kind: Some(Kind::S3(pb::S3Config {
                bucket: "b".into(),
                access_key_id: "AK".into(),
                ..Default::default()
            })),
        };
        let err = to_backend("p1", 100, &cfg).expect_err("no secret");
        assert!(err.to_string().contains("secret_access_key"), "{err}");
        let mut full = cfg.clone();
        if let Some(Kind::S3(c)) = &mut full.kind {
            c.secret_access_key = "SK".into();
        }
        assert!(to_backend("p1", 100, &full).is_ok());
        match redacted(&full).kind {
            Some(Kind::S3(c)) => assert!(c.secret_access_key.is_empty()),
            other => panic!("{other:?}"),
        }
        assert!(check_provider_name("p-1").is_ok());
        assert!(check_provider_name("1p").is_err());
        assert!(check_provider_name("P").is_err());
    }
}
