//! Providers of a harness broker: one spec renders both the broker's TOML
//! and the `ProviderConfig` the test uses to look at what the provider holds.

use std::path::PathBuf;

use shardgate_backends::{ProviderConfig, ProviderKind, ProviderLimits, Secret, ShardStore};

use crate::PeerError;
use crate::peers::{MOTO_ACCESS_KEY, MOTO_SECRET_KEY, Peer, S3_REGION, azurite_blob_endpoint};

/// Region the B2 profile is used with (moto accepts any).
const B2_REGION: &str = "us-west-004";

/// Where a provider keeps its objects.
#[derive(Clone, Debug)]
pub enum ProviderTarget {
    /// An S3 peer (moto) with the harness's fixed moto credentials.
    S3 {
        /// Base URL of the peer, e.g. `http://127.0.0.1:PORT`.
        endpoint: String,
        /// Bucket holding the shards; it must already exist.
        bucket: String,
    },
    /// An S3 peer used through the B2 profile (B2 key names and region).
    B2 {
        /// Base URL of the peer.
        endpoint: String,
        /// Bucket holding the shards; it must already exist.
        bucket: String,
    },
    /// The GCS emulator, accessed anonymously.
    Gcs {
        /// Base URL of the emulator.
        endpoint: String,
        /// Bucket holding the shards; it must already exist.
        bucket: String,
    },
    /// An azurite peer (kind `azblob`) with its account's shared key.
    Azure {
        /// Blob endpoint including the account, e.g.
        /// `http://127.0.0.1:PORT/devstoreaccount1`.
        endpoint: String,
        /// Account name.
        account: String,
        /// Account key (base64).
        key: String,
        /// Container holding the shards; it must already exist.
        container: String,
    },
    /// A local directory.
    Fs {
        /// Directory the provider writes its objects under.
        root: PathBuf,
    },
}

/// One `[[providers]]` entry. Limits are short, so a dead peer costs a
/// test seconds, not minutes.
#[derive(Clone, Debug)]
pub struct ProviderSpec {
    /// The provider's `name` in the broker config (what the index and
    /// shard locations refer to); unique within one broker.
    pub name: String,
    /// Where its objects live.
    pub target: ProviderTarget,
}

impl ProviderSpec {
    /// moto (or any S3) as kind `s3`; the bucket must exist.
    pub fn s3(name: &str, peer: &Peer, bucket: &str) -> Self {
        Self::new(
            name,
            ProviderTarget::S3 {
                endpoint: peer.endpoint(),
                bucket: bucket.into(),
            },
        )
    }

    /// moto through the B2 profile (kind `b2`); the bucket must exist.
    pub fn b2(name: &str, peer: &Peer, bucket: &str) -> Self {
        Self::new(
            name,
            ProviderTarget::B2 {
                endpoint: peer.endpoint(),
                bucket: bucket.into(),
            },
        )
    }

    /// The GCS emulator (kind `gcs`, anonymous); the bucket must exist.
    pub fn gcs(name: &str, peer: &Peer, bucket: &str) -> Self {
        Self::new(
            name,
            ProviderTarget::Gcs {
                endpoint: peer.endpoint(),
                bucket: bucket.into(),
            },
        )
    }

    /// azurite (kind `azblob`, shared key); the container must exist.
    pub fn azure(name: &str, peer: &Peer, container: &str) -> Self {
        Self::new(
            name,
            ProviderTarget::Azure {
                endpoint: azurite_blob_endpoint(peer),
                account: peer.access_key().to_owned(),
                key: peer.secret_key().to_owned(),
                container: container.into(),
            },
        )
    }

    /// A local directory (kind `fs`).
    pub fn fs(name: &str, root: PathBuf) -> Self {
        Self::new(name, ProviderTarget::Fs { root })
    }

    /// `n` `fs` providers named `p0`, `p1`, … in directories of the same
    /// names under `root`: the usual local set for a broker test.
    pub fn fs_set(root: &std::path::Path, n: usize) -> Vec<Self> {
        (0..n)
            .map(|i| Self::fs(&format!("p{i}"), root.join(format!("p{i}"))))
            .collect()
    }

    fn new(name: &str, target: ProviderTarget) -> Self {
        ProviderSpec {
            name: name.into(),
            target,
        }
    }

    fn limits() -> ProviderLimits {
        ProviderLimits {
            timeout_ms: 10_000,
            io_timeout_ms: 5_000,
            retry_max_times: 1,
            retry_min_delay_ms: 10,
            retry_max_delay_ms: 100,
            ..ProviderLimits::default()
        }
    }

    /// The `[[providers]]` table for the broker's config.
    pub fn toml(&self) -> String {
        let l = Self::limits();
        let limits = format!(
            "limits = {{ timeout_ms = {}, io_timeout_ms = {}, retry_max_times = {}, retry_min_delay_ms = {}, retry_max_delay_ms = {} }}\n",
            l.timeout_ms,
            l.io_timeout_ms,
            l.retry_max_times,
            l.retry_min_delay_ms,
            l.retry_max_delay_ms
        );
        let body = match &self.target {
            ProviderTarget::S3 { endpoint, bucket } => format!(
                "kind = \"s3\"\nbucket = {bucket:?}\nregion = {S3_REGION:?}\nendpoint = {endpoint:?}\naccess_key_id = {MOTO_ACCESS_KEY:?}\nsecret_access_key = {MOTO_SECRET_KEY:?}\n"
            ),
            ProviderTarget::B2 { endpoint, bucket } => format!(
                "kind = \"b2\"\nbucket = {bucket:?}\nregion = {B2_REGION:?}\nendpoint = {endpoint:?}\nkey_id = {MOTO_ACCESS_KEY:?}\napplication_key = {MOTO_SECRET_KEY:?}\n"
            ),
            ProviderTarget::Gcs { endpoint, bucket } => format!(
                "kind = \"gcs\"\nbucket = {bucket:?}\nendpoint = {endpoint:?}\nanonymous = true\n"
            ),
            ProviderTarget::Azure {
                endpoint,
                account,
                key,
                container,
            } => format!(
                "kind = \"azblob\"\ncontainer = {container:?}\nendpoint = {endpoint:?}\naccount_name = {account:?}\naccount_key = {key:?}\n"
            ),
            ProviderTarget::Fs { root } => {
                format!("kind = \"fs\"\nroot = {:?}\n", root.display().to_string())
            }
        };
        format!("\n[[providers]]\nname = {:?}\n{body}{limits}", self.name)
    }

    /// The same provider as a `ProviderConfig` (to list what it holds).
    pub fn config(&self) -> ProviderConfig {
        let secret = |s: &str| Secret::new(s.to_owned());
        let kind = match &self.target {
            ProviderTarget::S3 { endpoint, bucket } => ProviderKind::S3 {
                bucket: bucket.clone(),
                endpoint: Some(endpoint.clone()),
                region: S3_REGION.into(),
                access_key_id: Some(secret(MOTO_ACCESS_KEY)),
                secret_access_key: Some(secret(MOTO_SECRET_KEY)),
                virtual_host_style: false,
                conditional_writes: true,
            },
            ProviderTarget::B2 { endpoint, bucket } => ProviderKind::B2 {
                bucket: bucket.clone(),
                region: B2_REGION.into(),
                endpoint: Some(endpoint.clone()),
                key_id: secret(MOTO_ACCESS_KEY),
                application_key: secret(MOTO_SECRET_KEY),
            },
            ProviderTarget::Gcs { endpoint, bucket } => ProviderKind::Gcs {
                bucket: bucket.clone(),
                endpoint: Some(endpoint.clone()),
                credential: None,
                credential_path: None,
                token: None,
                anonymous: true,
                conditional_writes: false,
            },
            ProviderTarget::Azure {
                endpoint,
                account,
                key,
                container,
            } => ProviderKind::Azblob {
                container: container.clone(),
                endpoint: endpoint.clone(),
                account_name: account.clone(),
                account_key: Some(secret(key)),
                sas_token: None,
            },
            ProviderTarget::Fs { root } => ProviderKind::Fs { root: root.clone() },
        };
        ProviderConfig {
            name: self.name.clone(),
            weight: 1.0,
            prefix: String::new(),
            kind,
            limits: Self::limits(),
        }
    }

    /// Keys of every shard object the provider holds (listed directly, not
    /// through the broker).
    pub async fn shard_objects(&self) -> Result<Vec<String>, PeerError> {
        let store = ShardStore::from_config(&self.config()).map_err(|e| other(&self.name, e))?;
        store
            .list_all("shards/")
            .await
            .map_err(|e| other(&self.name, e))
    }
}

fn other(name: &str, err: impl std::fmt::Display) -> PeerError {
    PeerError::Protocol {
        peer: name.to_owned(),
        reason: format!("listing shard objects: {err}"),
    }
}

/// The real peers of an end-to-end test and the providers on them. From
/// [`PeerProviders::start`]: moto as `s3`, the GCS emulator as `gcs`, a
/// second moto through the B2 profile as `b2`, in this order. Dropping it
/// stops them (by PID).
pub struct PeerProviders {
    /// The running peers (s3, gcs, b2; or the one azurite); kept here so
    /// they live as long as this value.
    pub peers: Vec<Peer>,
    /// The providers: one per peer, in the same order, named `s3`, `gcs`,
    /// `b2` (or `azure-1..3`, all on the one azurite).
    pub specs: Vec<ProviderSpec>,
}

impl PeerProviders {
    /// Starts the three peers (concurrently) and creates `bucket` on each.
    pub async fn start(bucket: &str) -> Result<PeerProviders, PeerError> {
        use crate::peers::{
            create_gcs_bucket, create_s3_bucket, create_s3_bucket_in_region, start_gcs_emulator,
            start_moto,
        };
        let (s3, gcs, b2) = tokio::join!(start_moto(), start_gcs_emulator(), start_moto());
        let (s3, gcs, b2) = (s3?, gcs?, b2?);
        create_s3_bucket(&s3, bucket).await?;
        create_gcs_bucket(&gcs, bucket).await?;
        create_s3_bucket_in_region(&b2, bucket, B2_REGION).await?;
        let specs = vec![
            ProviderSpec::s3("s3", &s3, bucket),
            ProviderSpec::gcs("gcs", &gcs, bucket),
            ProviderSpec::b2("b2", &b2, bucket),
        ];
        Ok(PeerProviders {
            peers: vec![s3, gcs, b2],
            specs,
        })
    }

    /// Three moto peers (started concurrently) with `bucket` on each, as
    /// the S3 providers `moto-0`, `moto-1`, `moto-2`: one process per
    /// provider, so one can be stopped or put behind a fault proxy alone.
    pub async fn start_motos(bucket: &str) -> Result<PeerProviders, PeerError> {
        use crate::peers::{create_s3_bucket, start_moto};
        let (a, b, c) = tokio::join!(start_moto(), start_moto(), start_moto());
        let peers = vec![a?, b?, c?];
        let mut specs = Vec::new();
        for (i, peer) in peers.iter().enumerate() {
            create_s3_bucket(peer, bucket).await?;
            specs.push(ProviderSpec::s3(&format!("moto-{i}"), peer, bucket));
        }
        Ok(PeerProviders { peers, specs })
    }

    /// One azurite peer with three containers `<bucket>-1..3`, as the
    /// providers `azure-1`, `azure-2`, `azure-3`: a broker whose every shard
    /// goes through the Azure Blob API.
    pub async fn start_azurite(bucket: &str) -> Result<PeerProviders, PeerError> {
        use crate::peers::{create_azure_container, start_azurite};
        let peer = start_azurite().await?;
        let mut specs = Vec::new();
        for i in 1..=3 {
            let container = format!("{bucket}-{i}");
            create_azure_container(&peer, &container).await?;
            specs.push(ProviderSpec::azure(
                &format!("azure-{i}"),
                &peer,
                &container,
            ));
        }
        Ok(PeerProviders {
            peers: vec![peer],
            specs,
        })
    }

    /// Shard objects on every provider, listed directly: (provider, count).
    pub async fn shard_counts(&self) -> Result<Vec<(String, usize)>, PeerError> {
        let mut counts = Vec::new();
        for spec in &self.specs {
            counts.push((spec.name.clone(), spec.shard_objects().await?.len()));
        }
        Ok(counts)
    }

    /// Total shard objects over the providers that are still running.
    pub async fn total_shards(&self) -> Result<usize, PeerError> {
        Ok(self.shard_counts().await?.iter().map(|(_, n)| n).sum())
    }
}
