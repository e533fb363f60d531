//! [`LnurlServer`]: a small LNURL-pay service (LUD-06) giving a simulated
//! node's owner a Lightning Address (LUD-16), as a custodial wallet or a
//! self-hosted LNURL server does in front of a real LND. For tests and dev
//! mode: plain HTTP on 127.0.0.1 (clients allow that only for loopback).
//!
//! - `GET /.well-known/lnurlp/<user>`: the `payRequest` parameters;
//! - `GET /lnurlp/<user>/callback?amount=<msat>`: `{"pr": <bolt11>, "routes": []}`,
//!   an invoice issued by the node itself with `description_hash =
//!   sha256(metadata)`, payable by any node of the network.
//!
//! Faults ([`LnurlFault`]) make it answer as a broken or hostile service.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::SimError;
use crate::issuer::{self, NewInvoice};
use crate::node::SimNode;
use crate::node_state::NodeState;

/// LUD-06's smallest sensible minimum: 1 sat.
pub const DEFAULT_MIN_SENDABLE_MSAT: u64 = 1_000;
/// Default maximum: 1,000,000 sat.
pub const DEFAULT_MAX_SENDABLE_MSAT: u64 = 1_000_000_000;
/// Invoices from the callback expire after ten minutes, as wallet services'
/// usually do (the payer pays at once).
const CALLBACK_INVOICE_EXPIRY_SECS: i64 = 600;

/// What a test can make the service do wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LnurlFault {
    /// Answers correctly.
    #[default]
    None,
    /// Both endpoints answer `{"status":"ERROR","reason": <this>}`.
    Error(String),
    /// The callback's invoice asks 1 sat more than the `amount` asked.
    WrongAmount,
    /// The callback's invoice commits to the hash of other metadata.
    WrongDescriptionHash,
}

/// How to start the service.
#[derive(Debug, Clone)]
pub struct LnurlServerConfig {
    /// The Lightning Address's user name (lowercase `a-z0-9-_.+`).
    pub user: String,
    /// `minSendable`, msat.
    pub min_sendable_msat: u64,
    /// `maxSendable`, msat.
    pub max_sendable_msat: u64,
}

impl LnurlServerConfig {
    /// Defaults: 1 sat to 1,000,000 sat.
    pub fn new(user: impl Into<String>) -> Self {
        LnurlServerConfig {
            user: user.into(),
            min_sendable_msat: DEFAULT_MIN_SENDABLE_MSAT,
            max_sendable_msat: DEFAULT_MAX_SENDABLE_MSAT,
        }
    }

    /// Sets `maxSendable`.
    pub fn with_max_sendable_msat(mut self, msat: u64) -> Self {
        self.max_sendable_msat = msat;
        self
    }
}

/// What the handlers share.
struct Service {
    node: Arc<NodeState>,
    user: String,
    min_sendable_msat: u64,
    max_sendable_msat: u64,
    metadata: String,
    callback: String,
    fault: Mutex<LnurlFault>,
    callback_requests: AtomicU64,
}

/// A running LNURL-pay service for one user of one node. Stops on
/// [`LnurlServer::shutdown`] or when dropped.
pub struct LnurlServer {
    service: Arc<Service>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl LnurlServer {
    /// Serves `user`'s address for `node` with the default amount range.
    pub async fn start(node: &SimNode, user: &str) -> Result<LnurlServer, SimError> {
        LnurlServer::start_with(node, LnurlServerConfig::new(user)).await
    }

    /// Serves on 127.0.0.1 with an OS-chosen port; ready when this returns.
    pub async fn start_with(
        node: &SimNode,
        config: LnurlServerConfig,
    ) -> Result<LnurlServer, SimError> {
        let bind_error = |source| SimError::Bind {
            addr: "127.0.0.1:0".into(),
            source,
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let user = config.user;
        // LUD-16: the metadata names the address (text/identifier), so the
        // invoice's description hash binds it to this user.
        let metadata = json!([
            [
                "text/plain",
                format!("Payout to {user} on {}", node.alias())
            ],
            ["text/identifier", format!("{user}@{addr}")],
        ])
        .to_string();
        let service = Arc::new(Service {
            node: Arc::clone(node.state()),
            callback: format!("http://{addr}/lnurlp/{user}/callback"),
            user,
            min_sendable_msat: config.min_sendable_msat,
            max_sendable_msat: config.max_sendable_msat,
            metadata,
            fault: Mutex::new(LnurlFault::None),
            callback_requests: AtomicU64::new(0),
        });
        let router = axum::Router::new()
            .route("/.well-known/lnurlp/{user}", get(pay_params))
            .route("/lnurlp/{user}/callback", get(callback))
            .with_state(Arc::clone(&service));
        let (stop, mut stop_rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    // Err means the server handle is gone: stop too.
                    let _ = stop_rx.wait_for(|stopped| *stopped).await;
                })
                .await;
            if let Err(err) = served {
                tracing::error!(error = %err, "lnurl server failed");
            }
        });
        Ok(LnurlServer {
            service,
            addr,
            stop,
            task: Some(task),
        })
    }

    /// The Lightning Address: `user@127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("{}@{}", self.service.user, self.addr)
    }

    /// The metadata string served: its SHA-256 is every honest invoice's
    /// description hash.
    pub fn metadata(&self) -> &str {
        &self.service.metadata
    }

    /// How many callback (invoice) requests arrived, valid or not: lets a
    /// test show that a client asked for nothing.
    pub fn callback_requests(&self) -> u64 {
        self.service.callback_requests.load(Ordering::SeqCst)
    }

    /// Replaces the active fault.
    pub fn set_fault(&self, fault: LnurlFault) {
        *self
            .service
            .fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = fault;
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for LnurlServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Service {
    fn fault(&self) -> LnurlFault {
        self.fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// LUD-06's refusal, with the HTTP status services commonly pair it with.
fn refusal(status: StatusCode, reason: &str) -> Response {
    (status, Json(json!({"status": "ERROR", "reason": reason}))).into_response()
}

async fn pay_params(State(service): State<Arc<Service>>, Path(user): Path<String>) -> Response {
    if user != service.user {
        return refusal(StatusCode::NOT_FOUND, "unknown user");
    }
    if let LnurlFault::Error(reason) = service.fault() {
        return refusal(StatusCode::OK, &reason);
    }
    Json(json!({
        "tag": "payRequest",
        "callback": service.callback,
        "minSendable": service.min_sendable_msat,
        "maxSendable": service.max_sendable_msat,
        "metadata": service.metadata,
        "commentAllowed": 0,
    }))
    .into_response()
}

async fn callback(
    State(service): State<Arc<Service>>,
    Path(user): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    service.callback_requests.fetch_add(1, Ordering::SeqCst);
    if user != service.user {
        return refusal(StatusCode::NOT_FOUND, "unknown user");
    }
    let fault = service.fault();
    if let LnurlFault::Error(reason) = &fault {
        return refusal(StatusCode::OK, reason);
    }
    let Some(amount_msat) = query.get("amount").and_then(|a| a.parse::<u64>().ok()) else {
        return refusal(StatusCode::BAD_REQUEST, "amount (msat) is required");
    };
    if !(service.min_sendable_msat..=service.max_sendable_msat).contains(&amount_msat) {
        return refusal(StatusCode::BAD_REQUEST, "amount is out of range");
    }
    if !service.node.is_online() {
        return refusal(StatusCode::SERVICE_UNAVAILABLE, "wallet node is offline");
    }
    let invoice_msat = match fault {
        LnurlFault::WrongAmount => amount_msat.saturating_add(1_000),
        _ => amount_msat,
    };
    let metadata_hash = match fault {
        LnurlFault::WrongDescriptionHash => Sha256::digest(b"[[\"text/plain\",\"not this\"]]"),
        _ => Sha256::digest(service.metadata.as_bytes()),
    };
    let value_msat = i64::try_from(invoice_msat).unwrap_or(i64::MAX);
    let issued = NewInvoice::validate(
        String::new(),
        0,
        value_msat,
        metadata_hash.to_vec(),
        CALLBACK_INVOICE_EXPIRY_SECS,
        0,
        false,
    )
    .and_then(|new| issuer::issue(&service.node, new));
    match issued {
        Ok(invoice) => Json(json!({"pr": invoice.payment_request, "routes": []})).into_response(),
        Err(err) => refusal(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    }
}
