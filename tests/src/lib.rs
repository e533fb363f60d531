#![doc = include_str!("../README.md")]

mod azure_shared_key;
pub mod broker_process;
pub mod browser;
mod buckets;
mod error;
pub mod fault_proxy;
pub mod gateway;
mod http1;
mod http_client;
pub mod lightning;
mod peer;
pub mod peers;
pub mod provider_kinds;
pub mod raw_wire;
mod sigv4;
mod tools;

pub use error::PeerError;
pub use fault_proxy::{FaultMode, FaultProxy, ProxyStats};
pub use peers::{
    Peer, PeerKind, azurite_blob_endpoint, create_azure_container, create_gcs_bucket,
    create_s3_bucket, create_s3_bucket_in_region, start_azurite, start_gcs_emulator, start_moto,
    start_s3s_fs, tools_available, tools_dir,
};
pub use provider_kinds::{ProviderKind, provider_kinds};
pub use tools::{CHROMIUM_ENV, NodeDriver, TOOLS_ENV, Tool, node_driver};
