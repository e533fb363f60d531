//! What `shardgate providers join` sends: a `JoinProviderRequest` built
//! from flags or from a provider TOML file whose fields are those of the
//! API's `ProviderConfig` messages. Secrets in the file may be a string,
//! `{ env = "VAR" }` or `{ file = "path" }`, so the file need not hold them.
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

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde::Deserialize;
use shardgate_backends::Secret;
use shardgate_proto::v1 as pb;
use shardgate_proto::v1::provider_config::Kind;

use crate::args::AdminConnArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    S3,
    Gcs,
    B2,
    Azblob,
    Fs,
    Memory,
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    #[command(flatten)]
    pub conn: AdminConnArgs,
    /// Provider name ([a-z0-9-], starting with a letter).
    #[arg(long)]
    pub name: Option<String>,
    /// Provider kind (or give everything in --config).
    #[arg(long, conflicts_with = "config", required_unless_present = "config")]
    pub kind: Option<KindArg>,
    /// Provider TOML file (name, kind, weight and the kind's fields).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Relative share of new shards (1..=10000, default 100).
    #[arg(long)]
    pub weight: Option<u32>,
    /// s3, gcs, b2: bucket name.
    #[arg(long)]
    pub bucket: Option<String>,
    /// s3: region.
    #[arg(long)]
    pub region: Option<String>,
    /// s3, gcs, azblob: endpoint URL.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// s3: access key id.
    #[arg(long)]
    pub access_key_id: Option<String>,
    /// s3: secret access key.
    #[arg(long, env = "SHARDGATE_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_access_key: Option<String>,
    /// s3: bucket.endpoint URLs instead of endpoint/bucket.
    #[arg(long)]
    pub virtual_host_style: bool,
    /// gcs: service-account JSON key file.
    #[arg(long, value_name = "FILE")]
    pub service_account_json: Option<PathBuf>,
    /// b2: bucket id.
    #[arg(long)]
    pub bucket_id: Option<String>,
    /// b2: application key id.
    #[arg(long)]
    pub application_key_id: Option<String>,
    /// b2: application key.
    #[arg(long, env = "SHARDGATE_B2_APPLICATION_KEY", hide_env_values = true)]
    pub application_key: Option<String>,
    /// azblob: container.
    #[arg(long)]
    pub container: Option<String>,
    /// azblob: storage account name.
    #[arg(long)]
    pub account_name: Option<String>,
    /// azblob: storage account key.
    #[arg(long, env = "SHARDGATE_AZBLOB_ACCOUNT_KEY", hide_env_values = true)]
    pub account_key: Option<String>,
    /// Key prefix in the bucket (s3, gcs, b2, azblob) or directory (fs).
    #[arg(long)]
    pub root: Option<String>,
}

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

impl JoinArgs {
    /// The request, from `--config` (flags `--name`/`--weight` win) or flags.
    pub fn request(&self) -> anyhow::Result<pb::JoinProviderRequest> {
        let (file_name, file_weight, kind) = match &self.config {
            Some(path) => from_file(path)?,
            None => (None, None, self.kind_from_flags()?),
        };
        let Some(name) = self.name.clone().or(file_name) else {
            bail!("the provider needs a name: pass --name or set name in the config file");
        };
        Ok(pb::JoinProviderRequest {
            name,
            config: Some(pb::ProviderConfig { kind: Some(kind) }),
            weight: self.weight.or(file_weight).unwrap_or(0),
        })
    }

    fn kind_from_flags(&self) -> anyhow::Result<Kind> {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let Some(kind) = self.kind else {
            bail!("pass --kind or --config");
        };
        Ok(match kind {
            KindArg::S3 => Kind::S3(pb::S3Config {
                bucket: s(&self.bucket),
                region: s(&self.region),
                endpoint: s(&self.endpoint),
                access_key_id: s(&self.access_key_id),
                secret_access_key: s(&self.secret_access_key),
                root: s(&self.root),
                virtual_host_style: self.virtual_host_style,
            }),
            KindArg::Gcs => Kind::Gcs(pb::GcsConfig {
                bucket: s(&self.bucket),
                service_account_json: match &self.service_account_json {
                    Some(path) => std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))?,
                    None => String::new(),
                },
                endpoint: s(&self.endpoint),
                root: s(&self.root),
            }),
            KindArg::B2 => Kind::B2(pb::B2Config {
                bucket: s(&self.bucket),
                bucket_id: s(&self.bucket_id),
                application_key_id: s(&self.application_key_id),
                application_key: s(&self.application_key),
                root: s(&self.root),
            }),
            KindArg::Azblob => Kind::Azblob(pb::AzblobConfig {
                container: s(&self.container),
                account_name: s(&self.account_name),
                account_key: s(&self.account_key),
                endpoint: s(&self.endpoint),
                root: s(&self.root),
            }),
            KindArg::Fs => Kind::Fs(pb::FsConfig {
                root: absolute(&s(&self.root))?,
            }),
            KindArg::Memory => Kind::Memory(pb::MemoryConfig {}),
        })
    }
}

/// The broker wants an absolute fs root; a relative one means "here".
fn absolute(root: &str) -> anyhow::Result<String> {
    if root.is_empty() {
        bail!("an fs provider needs --root DIR");
    }
    let path = std::path::absolute(root).with_context(|| format!("bad --root {root:?}"))?;
    Ok(path.display().to_string())
}

fn from_file(path: &std::path::Path) -> anyhow::Result<(Option<String>, Option<u32>, Kind)> {
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
        let (name, weight, kind) = from_file(&path).expect("parse");
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
        let err = from_file(&path).expect_err("unknown field").to_string();
        assert!(err.contains("bucket"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        std::fs::write(&path, "kind = \"ftp\"\n").expect("w");
        assert!(from_file(&path).is_err());
    }
}
