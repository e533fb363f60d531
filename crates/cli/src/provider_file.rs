//! The provider file of `shardgate providers join --config FILE`: `name`,
//! `weight` and a `kind` with the fields of the API's `ProviderConfig`
//! message for that kind. Secrets may be a string, `{ env = "VAR" }` or
//! `{ file = "path" }`, so the file need not hold them.
//!
//! ```toml
//! name = "aws-eu"
//! kind = "s3"            # s3 | gcs | b2 | azblob | fs | memory
//! weight = 100
//! bucket = "shardgate-eu"
//! region = "eu-west-1"
//! access_key_id = "AKIA…"
//! secret_access_key = { env = "AWS_SECRET_ACCESS_KEY" }
//! ```

use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;
use shardgate_backends::Secret;
use shardgate_proto::v1 as pb;
use shardgate_proto::v1::provider_config::Kind;

/// The file form: `name` and `weight` beside a kind-tagged table.
struct ProviderFile {
    name: Option<String>,
    weight: Option<u32>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum KindFile {
    S3 {
        bucket: String,
        #[serde(default)]
        region: String,
        #[serde(default)]
        endpoint: String,
        access_key_id: String,
        secret_access_key: Secret,
        #[serde(default)]
        root: String,
        #[serde(default)]
        virtual_host_style: bool,
    },
    Gcs {
        bucket: String,
        service_account_json: Secret,
        #[serde(default)]
        endpoint: String,
        #[serde(default)]
        root: String,
    },
    B2 {
        bucket: String,
        bucket_id: String,
        application_key_id: String,
        application_key: Secret,
        #[serde(default)]
        root: String,
    },
    Azblob {
        container: String,
        account_name: String,
        account_key: Secret,
        #[serde(default)]
        endpoint: String,
        #[serde(default)]
        root: String,
    },
    Fs {
        root: String,
    },
    Memory {},
}

/// Name, weight and kind from the file at `path`.
pub(crate) fn read(path: &Path) -> anyhow::Result<(Option<String>, Option<u32>, Kind)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bad = |e: toml::de::Error| {
        // Message only: toml's Display quotes the source line, which may
        // hold an inline secret.
        anyhow::anyhow!("{}: {}", path.display(), e.message())
    };
    let mut table: toml::Table = toml::from_str(&text).map_err(bad)?;
    let head = ProviderFile {
        name: table
            .remove("name")
            .and_then(|v| v.as_str().map(str::to_owned)),
        weight: match table.remove("weight") {
            Some(v) => Some(
                v.as_integer()
                    .and_then(|w| u32::try_from(w).ok())
                    .with_context(|| format!("{}: weight must be 0..=10000", path.display()))?,
            ),
            None => None,
        },
    };
    let kind = KindFile::deserialize(table).map_err(bad)?;
    let kind = match kind {
        KindFile::S3 {
            bucket,
            region,
            endpoint,
            access_key_id,
            secret_access_key,
            root,
            virtual_host_style,
        } => Kind::S3(pb::S3Config {
            bucket,
            region,
            endpoint,
            access_key_id,
            secret_access_key: secret_access_key.expose().to_owned(),
            root,
            virtual_host_style,
        }),
        KindFile::Gcs {
            bucket,
            service_account_json,
            endpoint,
            root,
        } => Kind::Gcs(pb::GcsConfig {
            bucket,
            service_account_json: service_account_json.expose().to_owned(),
            endpoint,
            root,
        }),
        KindFile::B2 {
            bucket,
            bucket_id,
            application_key_id,
            application_key,
            root,
        } => Kind::B2(pb::B2Config {
            bucket,
            bucket_id,
            application_key_id,
            application_key: application_key.expose().to_owned(),
            root,
        }),
        KindFile::Azblob {
            container,
            account_name,
            account_key,
            endpoint,
            root,
        } => Kind::Azblob(pb::AzblobConfig {
            container,
            account_name,
            account_key: account_key.expose().to_owned(),
            endpoint,
            root,
        }),
        KindFile::Fs { root } => Kind::Fs(pb::FsConfig {
            root: absolute(&root)?,
        }),
        KindFile::Memory {} => Kind::Memory(pb::MemoryConfig {}),
    };
    Ok((head.name, head.weight, kind))
}

/// The broker wants an absolute fs root; a relative one means "here".
pub(crate) fn absolute(root: &str) -> anyhow::Result<String> {
    if root.is_empty() {
        bail!("an fs provider needs --root DIR");
    }
    let path = std::path::absolute(root).with_context(|| format!("bad --root {root:?}"))?;
    Ok(path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_file_maps_to_the_api_and_reads_env_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.toml");
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, "SK-from-file\n").expect("write");
        std::fs::write(
            &path,
            format!(
                "name = \"aws-eu\"\nkind = \"s3\"\nweight = 7\nbucket = \"b\"\n\
                 access_key_id = \"AK\"\nsecret_access_key = {{ file = {:?} }}\n",
                secret_file.display().to_string()
            ),
        )
        .expect("write");
        let (name, weight, kind) = read(&path).expect("parse");
        assert_eq!(name.as_deref(), Some("aws-eu"));
        assert_eq!(weight, Some(7));
        match kind {
            Kind::S3(c) => {
                assert_eq!(c.bucket, "b");
                assert_eq!(c.secret_access_key, "SK-from-file");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused_without_quoting_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "kind = \"fs\"\nroot = \"/x\"\nbucket = \"hunter2\"\n",
        )
        .expect("w");
        let err = read(&path).expect_err("unknown field").to_string();
        assert!(err.contains("bucket"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        std::fs::write(&path, "kind = \"ftp\"\n").expect("w");
        assert!(read(&path).is_err());
    }
}
