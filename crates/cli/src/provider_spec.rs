//! What `shardgate providers join` sends: a `JoinProviderRequest` built
//! from flags, or from a provider file (see `provider_file`).

use anyhow::{Context, bail};
use shardgate_proto::v1 as pb;
use shardgate_proto::v1::provider_config::Kind;

use crate::args::{JoinArgs, KindArg};
use crate::provider_file::absolute;
use shardgate_core::ProviderName;

impl JoinArgs {
    /// The request, from `--config` (flags `--name`/`--weight` win) or flags.
    pub(crate) fn request(&self) -> anyhow::Result<pb::JoinProviderRequest> {
        let (file_name, file_weight, kind) = match &self.config {
            Some(path) => crate::provider_file::read(path)?,
            None => (None, None, self.kind_from_flags()?),
        };
        // A file's name follows the same rule as --name: say so before
        // anything is sent.
        let file_name = file_name
            .map(|n| n.parse::<ProviderName>())
            .transpose()
            .map_err(|e| anyhow::anyhow!("the config file's name: {e}"))?;
        let Some(name) = self.name.clone().or(file_name) else {
            bail!("the provider needs a name: pass --name or set name in the config file");
        };
        Ok(pb::JoinProviderRequest {
            name: name.into_string(),
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
