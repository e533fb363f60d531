//! [`LndLink`]: the broker's connection to its LND node.
//!
//! At start the broker connects and calls `GetInfo`. If that fails the
//! broker still serves (free blobs, everything but paid downloads), every
//! call that needs the node answers UNAVAILABLE, and [`LndLink::keep_connected`]
//! retries in the background until the node answers. Once connected, the
//! client's channel reconnects by itself; a call to a node that went away
//! fails with UNAVAILABLE and nothing is served (fail closed).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use shardgate_payments::{LightningNode, LndConfig, PaymentError};

use crate::error::BrokerError;

/// First pause between connection attempts while the node is unreachable;
/// it doubles up to [`RECONNECT_MAX`] (a misconfigured node logs an error
/// per attempt, so not every 2 s for hours).
const RECONNECT_FIRST: Duration = Duration::from_secs(2);
const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// The node client, once `GetInfo` succeeded.
pub(crate) struct LndLink {
    config: LndConfig,
    state: RwLock<LinkState>,
}

enum LinkState {
    Connected(Box<LightningNode>),
    /// Why the last attempt failed (shown to clients, no secrets in it).
    Down(String),
}

impl LndLink {
    /// Tries once; never fails (see the module doc).
    pub(crate) async fn start(config: LndConfig) -> Arc<LndLink> {
        let link = Arc::new(LndLink {
            config,
            state: RwLock::new(LinkState::Down("not connected yet".to_owned())),
        });
        link.try_connect().await;
        link
    }

    /// One attempt: connect and `GetInfo`. True when connected.
    pub(crate) async fn try_connect(&self) -> bool {
        let result = async {
            let node = LightningNode::connect(&self.config).await?;
            let info = node.get_info().await?;
            Ok::<_, PaymentError>((node, info))
        }
        .await;
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok((node, info)) => {
                tracing::info!(
                    endpoint = %self.config.endpoint,
                    alias = %info.alias,
                    pubkey = %info.identity_pubkey,
                    "connected to the Lightning node"
                );
                *state = LinkState::Connected(Box::new(node));
                true
            }
            Err(e) => {
                if e.kind() == shardgate_payments::PaymentErrorKind::Misconfigured {
                    tracing::error!(endpoint = %self.config.endpoint, error = %e, "Lightning node refuses the configured credentials; paid downloads are refused until fixed");
                } else {
                    tracing::warn!(endpoint = %self.config.endpoint, error = %e, "Lightning node unreachable; paid downloads answer UNAVAILABLE until it is");
                }
                *state = LinkState::Down(e.to_string());
                false
            }
        }
    }

    /// True once the node answered `GetInfo`.
    pub(crate) fn is_connected(&self) -> bool {
        matches!(
            *self.state.read().unwrap_or_else(|p| p.into_inner()),
            LinkState::Connected(_)
        )
    }

    /// The client, or UNAVAILABLE while the node has never answered.
    pub(crate) fn node(&self) -> Result<LightningNode, BrokerError> {
        match &*self.state.read().unwrap_or_else(|p| p.into_inner()) {
            LinkState::Connected(node) => Ok((**node).clone()),
            LinkState::Down(why) => Err(BrokerError::Unavailable(format!(
                "the broker's Lightning node is not reachable ({why}); nothing was served or charged, retry with backoff"
            ))),
        }
    }

    /// Retries until connected, then returns (a background worker).
    pub(crate) async fn keep_connected(self: Arc<Self>) {
        let mut pause = RECONNECT_FIRST;
        while !self.is_connected() {
            tokio::time::sleep(pause).await;
            self.try_connect().await;
            pause = (pause * 2).min(RECONNECT_MAX);
        }
    }
}
