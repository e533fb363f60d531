#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod aligned;
mod chunk_read;
mod chunk_write;
mod client_memory;
pub mod config;
pub mod error;
pub mod health;
pub mod http_metrics;
mod idle_memory;
mod listing;
mod local_chunk_read;
mod local_disk;
pub mod metrics;
pub mod operator;
pub mod placement;
mod probe;
mod provider_io;
mod put;
pub mod registry;
pub mod secret;
mod shard_listing;
pub mod store;
mod validate;

#[cfg(test)]
mod config_tests;
#[cfg(test)]
mod fault_layer;
#[cfg(test)]
mod http_metrics_tests;
#[cfg(test)]
mod metrics_tests;
#[cfg(test)]
mod placement_tests;
#[cfg(test)]
mod registry_tests;
#[cfg(test)]
mod store_tests;
#[cfg(test)]
mod timeout_tests;

pub use aligned::PooledBuf;
pub use chunk_read::{ShardFetcher, ShardSource};
pub use client_memory::keep_freed_memory;
pub use config::{BackendsConfig, ProviderConfig, ProviderKind, ProviderLimits};
pub use error::{BackendError, BackendErrorKind};
pub use health::{HealthPolicy, HealthState};
pub use http_metrics::HttpMetricsLayer;
pub use idle_memory::release_idle_memory;
pub use local_chunk_read::PlacedChunk;
pub use operator::build_operator;
pub use placement::{PlacedShard, Placement, PlacementCandidate, PlacementPolicy, place};
pub use registry::{ProviderRegistry, ProviderStatus};
pub use secret::Secret;
pub use shard_listing::ListedShard;
pub use store::{
    BodyCheck, ObjectMeta, PresignedGet, PutOutcome, ShardStore, VerifiedShard,
    max_shard_object_len,
};

/// The raw opendal types, for callers that need them (tests tamper with
/// objects through `ShardStore::operator`).
pub use opendal;
