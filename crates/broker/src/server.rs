//! The composition root: opens the index, builds keys, registry and
//! services, starts the workers (GC, provider re-probes, metrics), serves
//! gRPC until `shutdown`, then stops everything in order.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use shardgate_backends::ProviderRegistry;
use shardgate_index::Index;
use shardgate_proto::v1::admin_server::AdminServer;
use shardgate_proto::v1::payments_server::PaymentsServer;
use shardgate_proto::v1::providers_server::ProvidersServer;
use shardgate_proto::v1::shares_server::SharesServer;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::auth::Authenticator;
use crate::config::BrokerConfig;
use crate::directory::ProviderDirectory;
use crate::error::BrokerError;
use crate::gc::GcWorker;
use crate::keys::BrokerKeys;
use crate::limits::{RequestRateLayer, TransferLimits, TrustedProxies};
use crate::memory_budget::MemoryBudget;
use crate::metrics_http::{handle, serve_metrics};
use crate::payment::{FreeOnly, PaymentGate, gate_from_config};
use crate::providers::{load_providers, rejoin_pending};
use crate::repair::{RepairSettings, RepairWorker};
use crate::service::admin::AdminService;
use crate::service::get_route::GetRoute;
use crate::service::payments::PaymentsService;
use crate::service::providers::ProvidersService;
use crate::service::shares::SharesService;
use crate::service::storage::StorageService;
use crate::state::Broker;
use crate::wire_status::{MAX_HEADER_LIST_BYTES, WireStatusLayer};

/// The services this broker serves (reported SERVING in the health service).
const SERVED: &[&str] = &[
    "shardgate.v1.Storage",
    "shardgate.v1.Providers",
    "shardgate.v1.Admin",
    "shardgate.v1.Payments",
    "shardgate.v1.Shares",
];
/// How often DOWN providers get a half-open probe check.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// How often idle memory is handed back to the system (`memory_release.rs`).
const MEMORY_RELEASE_INTERVAL: Duration = Duration::from_secs(10);

/// The sockets a broker serves on, bound by the caller (tests and `dev`
/// bind port 0 and read the addresses back).
pub struct Listeners {
    /// gRPC.
    pub grpc: TcpListener,
    /// Prometheus `/metrics`, if served.
    pub metrics: Option<TcpListener>,
    /// The HTTP gateway (share pages, L402 over HTTP), if served.
    pub http: Option<TcpListener>,
}

impl Listeners {
    /// gRPC only.
    pub fn grpc(grpc: TcpListener) -> Listeners {
        Listeners {
            grpc,
            metrics: None,
            http: None,
        }
    }
}

/// Serves on `listener` until `shutdown` completes, with the index
/// `config.index` names (redb in `config.data_dir` by default),
/// `/metrics` on `config.metrics_listen` and the HTTP gateway on
/// `config.http_listen`.
pub async fn run(
    config: BrokerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BrokerError> {
    let metrics = match config.metrics_listen {
        Some(addr) => Some(TcpListener::bind(addr).await?),
        None => None,
    };
    let http = match config.http_listen {
        Some(addr) => Some(TcpListener::bind(addr).await?),
        None => None,
    };
    let listeners = Listeners {
        grpc: listener,
        metrics,
        http,
    };
    run_with(config, listeners, shutdown).await
}

/// As [`run`], with every listener passed in.
pub async fn run_with(
    config: BrokerConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BrokerError> {
    config.validate()?;
    let index = config.index.open(&config.data_dir).await?;
    serve(config, index, listeners, FreeOnly, shutdown).await
}

/// Everything wired from its parts: any index, and the payment gate used
/// when the config has no `[payments]` (with it, the L402 gate is built
/// from the config and `payments` is not used).
pub async fn serve(
    config: BrokerConfig,
    index: Arc<dyn Index>,
    listeners: Listeners,
    payments: impl PaymentGate,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BrokerError> {
    config.validate()?;
    let master = config
        .master_key
        .as_ref()
        .ok_or_else(|| BrokerError::Config("master_key is required".to_owned()))?;
    let keys = BrokerKeys::from_hex(master.expose())?.with_global_dedup(config.global_dedup);
    let admin_hash = match &config.admin_key_hash {
        Some(h) => {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(h, &mut bytes).map_err(|_| {
                BrokerError::Config("admin_key_hash must be 64 hex characters".to_owned())
            })?;
            Some(bytes)
        }
        None => None,
    };
    let (payments, cashier) = gate_from_config(&config, index.clone(), &keys, payments).await;
    let registry = ProviderRegistry::new(config.health);
    let gc = GcWorker::new(
        index.clone(),
        registry.clone(),
        config.gc_batch,
        Duration::from_secs(config.gc_tombstone_retention_secs),
    )
    .with_orphan_grace(Duration::from_secs(config.gc_orphan_grace_secs));
    let memory = MemoryBudget::with_buffer_pool(
        config.pipeline.memory_budget_bytes,
        Duration::from_millis(config.pipeline.memory_wait_ms),
    );
    let repair = RepairWorker::new(
        index.clone(),
        registry.clone(),
        RepairSettings::from_config(&config),
        memory.clone(),
    );
    let broker = Arc::new(Broker {
        auth: Authenticator::new(index.clone(), admin_hash)
            .with_tenant_rate(config.limits.requests_per_second_per_tenant),
        transfers: Arc::new(TransferLimits::new(
            config.limits.transfers_per_address,
            config.limits.transfers_per_tenant,
        )),
        payments,
        cashier: cashier.clone(),
        gc: gc.clone(),
        repair: repair.clone(),
        directory: ProviderDirectory::default(),
        memory,
        cpu: Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        )),
        keys,
        registry: registry.clone(),
        index,
        config,
    });
    let pending = load_providers(&broker).await?;

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    for name in SERVED {
        reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(shardgate_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| BrokerError::Internal(format!("reflection service: {e}")))?;

    // Background work lives in one JoinSet, aborted at shutdown.
    let mut workers = JoinSet::new();
    if broker.config.gc_interval_secs > 0 {
        let every = Duration::from_secs(broker.config.gc_interval_secs);
        workers.spawn(gc.run_periodic(every));
    }
    if broker.config.repair_interval_secs > 0 {
        workers.spawn(repair.run_periodic());
    }
    // Half-open probes of DOWN providers (each revival is logged there).
    workers.spawn(async move { registry.probe_loop(PROBE_INTERVAL).await });
    if !pending.is_empty() {
        let every = Duration::from_millis(broker.config.provider_rejoin_interval_ms.max(1));
        workers.spawn(rejoin_pending(broker.clone(), pending, every));
    }
    if broker.config.provider_sync_interval_ms > 0 {
        let every = Duration::from_millis(broker.config.provider_sync_interval_ms);
        workers.spawn(crate::provider_sync::sync_periodically(
            broker.clone(),
            every,
        ));
    }
    workers.spawn(crate::memory_release::release_periodically(
        broker.memory.clone(),
        MEMORY_RELEASE_INTERVAL,
    ));
    if let Some(cashier) = &cashier {
        workers.spawn(cashier.lnd.clone().keep_connected());
        workers.spawn(crate::payment::watcher::watch_holds(cashier.clone()));
        workers.spawn(crate::payment::payouts::reconcile_payouts(cashier.clone()));
        workers.spawn(crate::payment::auto_payout::auto_payouts(cashier.clone()));
    }
    let Listeners {
        grpc: listener,
        metrics,
        http,
    } = listeners;
    if let (Some(listener), Some(handle)) = (metrics, handle()) {
        workers.spawn(serve_metrics(listener, handle));
    }
    if let Some(http) = http {
        tracing::info!(addr = ?http.local_addr().ok(), "HTTP gateway serving");
        workers.spawn(crate::gateway::serve_http(http, broker.clone()));
    }

    tracing::info!(addr = ?listener.local_addr().ok(), "broker serving");
    // TCP_NODELAY: without it a response's small writes (header frame,
    // trailers) wait ~40 ms for the client's delayed ACK.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let result = tonic::transport::Server::builder()
        // HTTP/2 receive windows: hyper's 1 MiB default held an upload to
        // one 1 MiB frame per round trip (docs/performance.md, "What the upload path
        // depends on"). A stream may buffer one 4 MiB chunk, a connection two.
        .initial_stream_window_size(crate::memory_budget::STREAM_WINDOW_BYTES)
        .initial_connection_window_size(8 << 20)
        // HTTP/2 frames up to 1 MiB (one upload message): at the 16 KiB
        // default a client sends a 1 GiB upload as 66,000 frames, one
        // writev each (docs/performance.md, "Client path against rclone").
        .max_frame_size(1 << 20)
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
        // Decoder faults of unary calls get common.proto's codes.
        .layer(WireStatusLayer)
        // Calls per client address, before anything is decoded.
        .layer(RequestRateLayer::new(
            broker.config.limits.requests_per_second_per_address,
            // Validated at start: the list parses.
            TrustedProxies::parse(
                &broker.config.limits.trusted_proxies,
                "limits.trusted_proxies",
            )
            .unwrap_or_default(),
        ))
        .add_service(health)
        .add_service(reflection)
        // Storage, with Get's data frames written without a copy
        // (service/get_route.rs).
        .add_service(GetRoute::new(StorageService::new(broker.clone())))
        .add_service(ProvidersServer::new(ProvidersService::new(broker.clone())))
        .add_service(AdminServer::new(AdminService::new(broker.clone())))
        .add_service(PaymentsServer::new(PaymentsService::new(broker.clone())))
        .add_service(SharesServer::new(SharesService::new(broker.clone())))
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            // Tell load balancers first; in-flight calls then finish (an
            // upload commits or leaves only orphans).
            for name in SERVED {
                reporter
                    .set_service_status(*name, ServingStatus::NotServing)
                    .await;
            }
            reporter
                .set_service_status("", ServingStatus::NotServing)
                .await;
        })
        .await;
    workers.shutdown().await;
    result.map_err(|e| BrokerError::Internal(format!("gRPC server: {e}")))
}
