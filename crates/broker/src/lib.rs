#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod convert;
pub mod error;
pub mod gc;
pub mod gc_orphans;
pub mod get;
pub mod keys;
pub mod lookup;
pub mod metrics;
mod metrics_http;
pub mod payment;
pub mod providers;
pub mod put;
pub mod redundancy_now;
pub mod repair;
pub mod server;
pub mod service;
pub mod state;
pub mod status;
pub mod validate;
pub mod wire_status;

pub use config::BrokerConfig;
pub use error::BrokerError;
pub use payment::{DownloadGrant, DownloadRequest, FreeOnly, PaymentGate, PaymentsConfig};
pub use server::{run, run_with, serve};
