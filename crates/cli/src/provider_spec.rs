//! What `shardgate providers join` sends: a `JoinProviderRequest` built
//! from flags, or from a provider file (see `provider_file`).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
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

impl JoinArgs {
    /// The request, from `--config` (flags `--name`/`--weight` win) or flags.
    pub fn request(&self) -> anyhow::Result<pb::JoinProviderRequest> {
        let (file_name, file_weight, kind) = match &self.config {
            Some(path) => crate::provider_file::read(path)?,
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
pub(crate) fn absolute(root: &str) -> anyhow::Result<String> {
    if root.is_empty() {
        bail!("an fs provider needs --root DIR");
    }
    let path = std::path::absolute(root).with_context(|| format!("bad --root {root:?}"))?;
    Ok(path.display().to_string())
}
