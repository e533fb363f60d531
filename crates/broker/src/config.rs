//! [`BrokerConfig`]: everything the broker reads at start, as a serde struct
//! (TOML file, then env/flag overrides in the binary). Every field has a
//! default; only the master key and the admin key hash are needed to serve.
//!
//! Secrets (`master_key`) are a string, `{ env = "VAR" }` or
//! `{ file = "/run/secrets/..." }` and print as `<redacted>`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use shardgate_backends::{HealthPolicy, ProviderConfig, Secret};
use shardgate_core::erasure::{DEFAULT_K, DEFAULT_M, MAX_K, MAX_M};
use shardgate_core::{DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};

use crate::error::BrokerError;

/// Default of `gc_orphan_grace_secs`: a day, so one upload may run for 12 hours
/// (100 GB at about 2.3 MB/s) before it must commit.
pub(crate) const DEFAULT_ORPHAN_GRACE: std::time::Duration = std::time::Duration::from_secs(86_400);

mod gateway;
mod index;
mod limits;
mod payments;
pub use gateway::GatewayConfig;
pub(crate) use index::IndexConfig;
pub use limits::LimitsConfig;
pub use payments::PaymentsConfig;

/// Broker settings. `Debug` never shows secrets.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// Directory of the embedded index (`index.redb`). Default `./shardgate-data`.
    pub data_dir: PathBuf,
    /// The index (`[index]`): the embedded redb file in `data_dir`
    /// (default), or PostgreSQL shared by several broker replicas.
    pub index: IndexConfig,
    /// gRPC listen address, used by the binary (`run` takes a bound
    /// listener). Default `127.0.0.1:7700`.
    pub listen: SocketAddr,
    /// Prometheus `/metrics` address; `None` turns the endpoint off.
    /// Default `127.0.0.1:9700`.
    pub metrics_listen: Option<SocketAddr>,
    /// HTTP gateway address (share pages, L402 over HTTP); `None` (the
    /// default for `serve`) turns it off.
    pub http_listen: Option<SocketAddr>,
    /// The gateway's public address as people reach it (e.g.
    /// `https://files.example.com`), used to build share links. Unset:
    /// clients build links from the address they know.
    pub public_url: Option<String>,
    /// The 32-byte master key as 64 hex characters. Every key the broker
    /// uses (convergence secrets, the key-encryption key, the provider
    /// config seal) is derived from it; it is never stored in the index.
    pub master_key: Option<Secret>,
    /// BLAKE3 of the admin key, 64 hex characters (`x-admin-key`). `None`
    /// disables the Admin and Providers services (every call is refused).
    pub admin_key_hash: Option<String>,
    /// Share one convergence secret across tenants, so equal chunks of
    /// different tenants are stored once. Off by default: with it on, a
    /// tenant can probe whether another stored a given chunk.
    pub global_dedup: bool,
    /// Chunk size used when an upload leaves it unset. Default 4 MiB.
    pub default_chunk_size: u32,
    /// Erasure-coding defaults and bounds.
    pub redundancy: RedundancyConfig,
    /// Upload pipeline and download reader tuning.
    pub pipeline: PipelineConfig,
    /// Quota of a new tenant when none is given. Default 100 GB.
    pub default_quota_bytes: u64,
    /// Request bounds, price bounds and abuse limits (`[limits]`: rates
    /// per client address and tenant, invoices, concurrent transfers).
    pub limits: LimitsConfig,
    /// Providers joined at start (in addition to those joined through the
    /// Providers service, which the index remembers).
    pub providers: Vec<ProviderConfig>,
    /// When a provider counts as DOWN and how it is re-probed.
    pub health: HealthPolicy,
    /// How often a provider that failed its probe at start is tried again,
    /// ms. Default 5000.
    pub provider_rejoin_interval_ms: u64,
    /// How often each replica re-reads the providers stored in the index
    /// and joins, drains or drops what another replica joined, drained or
    /// removed. Default 2000 ms; 0 turns it off.
    pub provider_sync_interval_ms: u64,
    /// Seconds between garbage-collection passes; 0 = only on demand
    /// (Admin.RunGc). Default 3600.
    pub gc_interval_secs: u64,
    /// Chunks condemned per GC batch. Default 1000.
    pub gc_batch: usize,
    /// How long GC remembers released chunks, seconds. An upload running
    /// longer than this is refused at commit (retry it). Default 86400.
    pub gc_tombstone_retention_secs: u64,
    /// Shard objects that no index record names (left by failed,
    /// cancelled or killed uploads) are deleted by GC once older than this,
    /// seconds. An upload must commit within half of it after it starts
    /// (else it is refused, retry it), so GC never touches one in flight.
    /// Default 86400 (uploads up to 12 hours).
    pub gc_orphan_grace_secs: u64,
    /// Seconds between full repair passes (scrub every shard, re-create
    /// missing or corrupt ones, move shards off draining providers); 0 =
    /// no repair worker. Draining providers are also watched every few
    /// seconds between passes. Default 3600.
    pub repair_interval_secs: u64,
    /// Chunks the repair worker reads from the index per page. Default 100.
    pub repair_batch: usize,
    /// How long a provider must stay DOWN before its shards count as lost
    /// and are re-created elsewhere, seconds. Default 3600.
    pub repair_down_grace_secs: u64,
    /// Lightning payments (`[payments]`); `None` serves only free blobs.
    pub payments: Option<PaymentsConfig>,
    /// Limits of the HTTP gateway (`[gateway]`).
    pub gateway: GatewayConfig,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./shardgate-data"),
            index: IndexConfig::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 7700)),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9700))),
            http_listen: None,
            public_url: None,
            master_key: None,
            admin_key_hash: None,
            global_dedup: false,
            default_chunk_size: DEFAULT_CHUNK_SIZE as u32,
            redundancy: RedundancyConfig::default(),
            pipeline: PipelineConfig::default(),
            default_quota_bytes: 100_000_000_000,
            limits: LimitsConfig::default(),
            providers: Vec::new(),
            health: HealthPolicy::default(),
            provider_rejoin_interval_ms: 5_000,
            provider_sync_interval_ms: 2_000,
            gc_interval_secs: 3600,
            gc_batch: 1000,
            gc_tombstone_retention_secs: 86_400,
            gc_orphan_grace_secs: DEFAULT_ORPHAN_GRACE.as_secs(),
            repair_interval_secs: 3600,
            repair_batch: 100,
            repair_down_grace_secs: 3600,
            payments: None,
            gateway: GatewayConfig::default(),
        }
    }
}

/// Erasure-coding defaults and the bounds requests must stay within.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedundancyConfig {
    /// Data shards when a request says 0. Default 2.
    pub default_k: u32,
    /// Parity shards when a request says 0. Default 1.
    pub default_m: u32,
    /// Largest k accepted (at most 32). Default 32.
    pub max_k: u32,
    /// Largest m accepted (at most 16). Default 16.
    pub max_m: u32,
}

impl Default for RedundancyConfig {
    fn default() -> Self {
        Self {
            default_k: DEFAULT_K as u32,
            default_m: DEFAULT_M as u32,
            max_k: MAX_K as u32,
            max_m: MAX_M as u32,
        }
    }
}

/// Concurrency of the data paths.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Chunks of one upload in flight at once (sealing or being written).
    /// Memory per upload is about
    /// `window × chunk size × (1 + (k+m)/k)`; default 4.
    pub window: usize,
    /// Chunks of one download fetched ahead of the one being sent. Default 4.
    pub read_ahead: usize,
    /// If fewer than k shards of a chunk arrived after this long, the
    /// remaining shards are requested too (hedging). Default 300 ms.
    pub hedge_delay_ms: u64,
    /// Shard bytes an upload keeps after writing them, so that a commit
    /// that loses a race with GC can re-write the affected chunks and
    /// retry once. Uploads with more shard bytes than this are not
    /// retried (the client retries: UNAVAILABLE). Default 64 MiB.
    pub retry_budget_bytes: u64,
    /// Bytes that all transfers together may hold in chunk and shard
    /// buffers (uploads, downloads over gRPC and HTTP, repair, shard
    /// objects kept for retries, and the pool of freed buffers, which may
    /// keep an eighth of it, at most 64 MiB): see `memory_budget.rs`. Plan
    /// the pod's memory as this plus ~128 MiB. Default 512 MiB.
    pub memory_budget_bytes: u64,
    /// How long a transfer waits for room in the memory budget before it
    /// is refused with RESOURCE_EXHAUSTED ("retry in 1 s"). Default 10 s.
    pub memory_wait_ms: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            window: 4,
            read_ahead: 4,
            hedge_delay_ms: 300,
            retry_budget_bytes: 64 << 20,
            memory_budget_bytes: 512 << 20,
            memory_wait_ms: 10_000,
        }
    }
}

impl BrokerConfig {
    /// Points the broker at a PostgreSQL index (`serve --index-url`).
    pub fn set_postgres_index_url(&mut self, url: Secret) {
        self.index.set_postgres_url(url);
    }

    /// TLS to the PostgreSQL index, checked against the CA in `path`
    /// (`serve --index-ca-file`); an error for the redb index.
    pub fn set_postgres_index_ca_file(&mut self, path: PathBuf) -> Result<(), BrokerError> {
        self.index.set_postgres_ca_file(path)
    }
}

impl BrokerConfig {
    /// Checks the values that `serde` cannot; the error names the field.
    pub fn validate(&self) -> Result<(), BrokerError> {
        let bad = |what: &str| Err(BrokerError::Config(what.to_owned()));
        self.index.validate()?;
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return bad("public_url must start with http:// or https://");
        }
        let size = self.default_chunk_size as usize;
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&size) {
            return bad("default_chunk_size must be within 262144..=67108864");
        }
        let r = &self.redundancy;
        if r.max_k == 0 || r.max_k as usize > MAX_K || r.max_m == 0 || r.max_m as usize > MAX_M {
            return bad("redundancy.max_k must be 1..=32 and redundancy.max_m 1..=16");
        }
        if r.default_k == 0 || r.default_k > r.max_k || r.default_m == 0 || r.default_m > r.max_m {
            return bad("redundancy.default_k/default_m must be within 1..=max_k / 1..=max_m");
        }
        if self.pipeline.window == 0 || self.pipeline.read_ahead == 0 {
            return bad("pipeline.window and pipeline.read_ahead must be at least 1");
        }
        if self.pipeline.memory_budget_bytes < 16 << 20 {
            return bad("pipeline.memory_budget_bytes must be at least 16 MiB (16777216)");
        }
        let frame = self.limits.max_data_frame_bytes;
        // Frames ride in gRPC messages limited to 4 MiB, with some framing.
        if frame == 0 || frame > 3 << 20 {
            return bad("limits.max_data_frame_bytes must be 1..=3145728");
        }
        if self.gateway.invoices_per_minute_per_address == 0
            || self.gateway.invoices_per_minute_per_link == 0
        {
            return bad("gateway.invoices_per_minute_* must be at least 1");
        }
        crate::limits::TrustedProxies::parse(
            &self.gateway.trusted_proxies,
            "gateway.trusted_proxies",
        )?;
        if self.gc_orphan_grace_secs < 2 {
            return bad("gc_orphan_grace_secs must be at least 2 (uploads get half of it)");
        }
        if self.limits.min_invoice_msat == 0 {
            return bad("limits.min_invoice_msat must be at least 1");
        }
        self.limits.validate_abuse_limits()?;
        if let Some(hash) = &self.admin_key_hash
            && (hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return bad("admin_key_hash must be 64 hex characters (BLAKE3 of the admin key)");
        }
        if let Some(payments) = &self.payments {
            payments.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_debug_redacts_the_master_key() {
        let toml = r#"
            master_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
            [[providers]]
            name = "m0"
            kind = "memory"
        "#;
        let cfg: BrokerConfig = toml::from_str(toml).expect("parse");
        cfg.validate().expect("valid");
        assert_eq!(cfg.providers.len(), 1);
        assert_eq!(cfg.redundancy.default_k, 2);
        assert_eq!(cfg.default_quota_bytes, 100_000_000_000);
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("00112233"), "{dbg}");
    }

    #[test]
    fn rejects_out_of_bounds_values_naming_the_field() {
        let cfg = BrokerConfig {
            default_chunk_size: 1000,
            ..BrokerConfig::default()
        };
        let err = cfg.validate().expect_err("too small");
        assert!(err.to_string().contains("default_chunk_size"), "{err}");
        let cfg = BrokerConfig {
            admin_key_hash: Some("xyz".into()),
            ..BrokerConfig::default()
        };
        assert!(cfg.validate().is_err());
    }
}
