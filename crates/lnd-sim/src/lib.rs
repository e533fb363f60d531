#![doc = include_str!("../README.md")]

mod bech32;
mod bolt11;
mod config;
mod error;
mod faults;
mod fees;
mod gotime;
mod issuer;
mod ledger;
mod lnd_status;
mod lnurl_server;
mod macaroon;
mod network;
mod node;
mod node_key;
mod node_state;
mod proto;
mod records;
mod server;
mod switch;
mod tls;

pub use bolt11::{Bolt11Error, PaymentRequest};
pub use config::SimNodeConfig;
pub use error::SimError;
pub use faults::{FaultConfig, PaymentFailure};
pub use fees::RoutingFee;
pub use lnurl_server::{
    DEFAULT_MAX_SENDABLE_MSAT, DEFAULT_MIN_SENDABLE_MSAT, LnurlFault, LnurlServer,
    LnurlServerConfig,
};
pub use macaroon::MACAROON_METADATA_KEY;
pub use network::SimNetwork;
pub use node::SimNode;
pub use server::LND_VERSION;
