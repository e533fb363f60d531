#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod auth;
mod clock;
mod config;
mod convert;
mod directory;
mod error;
mod gateway;
mod gc;
mod gc_orphans;
mod get;
mod grpc_status;
mod keys;
mod limits;
mod lookup;
mod memory_budget;
mod memory_release;
mod metrics;
mod metrics_http;
mod payment;
mod provider_config;
mod provider_sync;
mod providers;
mod put;
mod redundancy_now;
mod repair;
mod server;
mod service;
mod state;
mod validate;
mod wire_status;

pub use config::{BrokerConfig, GatewayConfig, LimitsConfig};
pub use error::BrokerError;
pub use limits::Payer;
pub use payment::{DownloadGrant, DownloadRequest, FreeOnly, PaymentGate, PaymentsConfig};
pub use server::{Listeners, run, run_with, serve};
