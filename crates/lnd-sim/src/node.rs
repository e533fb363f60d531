//! `SimNode`: one simulated LND node with its own gRPC server, TLS
//! certificate and admin macaroon, taking part in a `SimNetwork`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::SimNodeConfig;
use crate::error::SimError;
use crate::faults::FaultConfig;
use crate::fees::RoutingFee;
use crate::macaroon::AdminMacaroon;
use crate::network::SimNetwork;
use crate::node_state::NodeState;
use crate::server;
use crate::switch;
use crate::tls::{self, TlsMaterial};

/// How long a graceful stop may take before the server task is aborted.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often OPEN invoices are checked for expiry (LND's expiry watcher).
const EXPIRY_SWEEP_INTERVAL: Duration = Duration::from_millis(250);
/// Re-binding the same port after `set_down(true)` can briefly race the old
/// socket's teardown: retry this many times, this far apart.
const REBIND_ATTEMPTS: u32 = 50;
const REBIND_PAUSE: Duration = Duration::from_millis(20);

/// Where macaroons live under the LND directory for regtest.
const MACAROON_SUBDIR: &str = "data/chain/bitcoin/regtest";

struct RunningServer {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

/// A running simulated node. Call `shutdown` to stop it cleanly; dropping it
/// stops it too, without waiting.
pub struct SimNode {
    state: Arc<NodeState>,
    macaroon: Arc<AdminMacaroon>,
    tls: TlsMaterial,
    addr: SocketAddr,
    tls_cert_path: PathBuf,
    macaroon_path: PathBuf,
    server: tokio::sync::Mutex<Option<RunningServer>>,
    sweeper: Mutex<Option<RunningSweeper>>,
}

struct RunningSweeper {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SimNode {
    /// Generates the node's certificate and macaroon, writes them to
    /// `config.dir`, joins `network` and starts serving on 127.0.0.1 with an
    /// OS-chosen port. The node is ready for calls when this returns.
    pub async fn start(network: &SimNetwork, config: SimNodeConfig) -> Result<SimNode, SimError> {
        let tls = tls::generate(&config.alias)?;
        let macaroon = Arc::new(AdminMacaroon::mint());
        let tls_cert_path = config.dir.join("tls.cert");
        let macaroon_path = config.dir.join(MACAROON_SUBDIR).join("admin.macaroon");
        write_file(&tls_cert_path, tls.cert_pem.as_bytes()).await?;
        write_file(&config.dir.join("tls.key"), tls.key_pem.as_bytes()).await?;
        write_file(&macaroon_path, macaroon.bytes()).await?;

        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| SimError::Bind {
                addr: "127.0.0.1:0".into(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: "127.0.0.1:0".into(),
            source,
        })?;

        let state = Arc::new(NodeState::new(
            config.alias,
            network.clone(),
            config.balance_msat,
            config.faults,
            config.routing_fee,
        ));
        network.register(&state);
        let node = SimNode {
            sweeper: Mutex::new(Some(spawn_sweeper(Arc::clone(&state)))),
            state,
            macaroon,
            tls,
            addr,
            tls_cert_path,
            macaroon_path,
            server: tokio::sync::Mutex::new(None),
        };
        *node.server.lock().await = Some(node.spawn_server(listener));
        tracing::info!(alias = %node.state.alias, addr = %addr, "lnd-sim node started");
        Ok(node)
    }

    /// The node's shared state (for services in this crate that act as the
    /// node's owner, such as `LnurlServer`).
    pub(crate) fn state(&self) -> &Arc<NodeState> {
        &self.state
    }

    /// `https://127.0.0.1:PORT`, the gRPC endpoint.
    pub fn grpc_endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// `127.0.0.1:PORT`, the `socket` argument `lnd_grpc_rust::connect` takes.
    pub fn grpc_socket(&self) -> String {
        self.addr.to_string()
    }

    /// The node's self-signed `tls.cert` (PEM), written at start: what a
    /// client pins.
    pub fn tls_cert_path(&self) -> &Path {
        &self.tls_cert_path
    }

    /// The PEM text of the node's TLS certificate.
    pub fn tls_cert_pem(&self) -> &str {
        &self.tls.cert_pem
    }

    /// Hex of the PEM file bytes: the `cert` argument of `lnd_grpc_rust::connect`.
    pub fn tls_cert_hex(&self) -> String {
        hex::encode(self.tls.cert_pem.as_bytes())
    }

    /// The node's `admin.macaroon` file (binary), written at start.
    pub fn macaroon_path(&self) -> &Path {
        &self.macaroon_path
    }

    /// Hex of `admin.macaroon`: what clients send as `macaroon` metadata.
    pub fn macaroon_hex(&self) -> String {
        self.macaroon.hex()
    }

    /// Hex of the node's 33-byte identity key (GetInfo `identity_pubkey`).
    pub fn pubkey(&self) -> &str {
        &self.state.pubkey_hex
    }

    /// The node's alias (GetInfo `alias`).
    pub fn alias(&self) -> &str {
        &self.state.alias
    }

    /// Current spendable balance (a test-side view of ChannelBalance).
    pub fn balance_msat(&self) -> u64 {
        self.state.ledger().balance_msat()
    }

    /// Invoices this node has issued, in any state (a test-side view of
    /// ListInvoices): lets a test show that a request created none.
    pub fn invoice_count(&self) -> usize {
        self.state.ledger().invoices().count()
    }

    /// Replaces the node's latency / payment-failure faults (routing fees
    /// and stalled payments have their own setters: `set_routing_fee`,
    /// `stall_payments`).
    pub fn set_faults(&self, faults: FaultConfig) {
        self.state.set_faults(faults);
    }

    /// Replaces the fee of this node's outgoing payments, from the next
    /// payment on.
    pub fn set_routing_fee(&self, base_msat: u64, ppm: u64) {
        self.state.set_routing_fee(RoutingFee { base_msat, ppm });
    }

    /// While on, this node's new outgoing payments lock amount + fee and
    /// stop in the network: IN_FLIGHT (to SendPaymentV2, TrackPaymentV2 and
    /// ChannelBalance's unsettled balance) until [`SimNode::resolve_stalled`]
    /// releases them, as a payment stuck at a hop does. Turning it off does
    /// not release payments already stalled.
    pub fn stall_payments(&self, stall: bool) {
        self.state.set_stall_payments(stall);
    }

    /// Payment hashes of this node's stalled outgoing payments.
    pub fn stalled_payments(&self) -> Vec<[u8; 32]> {
        self.state.stalled().keys().copied().collect()
    }

    /// Releases a stalled payment. `succeed`: the HTLC reaches the payee,
    /// whose invoice settles (payee credited the amount, the payer's amount
    /// and fee spent, preimage released; a hold invoice becomes ACCEPTED
    /// instead; a payee that is down or refuses fails it as usual).
    /// Otherwise the payment FAILS with NO_ROUTE and its amount and fee
    /// are refunded. Works while this node is `set_down`, as the network
    /// does not wait for the payer's RPC server.
    pub fn resolve_stalled(&self, payment_hash: &[u8; 32], succeed: bool) -> Result<(), SimError> {
        if switch::resolve_stalled(&self.state, payment_hash, succeed) {
            Ok(())
        } else {
            Err(SimError::NotStalled {
                payment_hash: hex::encode(payment_hash),
            })
        }
    }

    /// Down: closes the listening socket and every connection, so calls fail
    /// as against a dead LND, and payments to this node fail with NO_ROUTE.
    /// Up: listens again on the same port with the same cert and macaroon.
    pub async fn set_down(&self, down: bool) -> Result<(), SimError> {
        let mut server = self.server.lock().await;
        if down {
            self.state.set_online(false);
            if let Some(running) = server.take() {
                stop_server(running).await;
            }
            return Ok(());
        }
        if server.is_none() {
            let listener = self.rebind().await?;
            *server = Some(self.spawn_server(listener));
        }
        self.state.set_online(true);
        Ok(())
    }

    /// Stops serving, leaves the network and ends every task of this node.
    pub async fn shutdown(self) -> Result<(), SimError> {
        self.state.set_online(false);
        if let Some(running) = self.server.lock().await.take() {
            stop_server(running).await;
        }
        let sweeper = self
            .sweeper
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(sweeper) = sweeper {
            let _ = sweeper.stop.send(true);
            let _ = sweeper.task.await;
        }
        self.state.network.unregister(&self.state.pubkey_hex);
        tracing::info!(alias = %self.state.alias, "lnd-sim node stopped");
        Ok(())
    }

    fn spawn_server(&self, listener: TcpListener) -> RunningServer {
        let (stop, stop_rx) = watch::channel(false);
        let state = Arc::clone(&self.state);
        let macaroon = Arc::clone(&self.macaroon);
        let tls = self.tls.clone();
        let task = tokio::spawn(async move {
            let served = server::serve(state, macaroon, &tls, listener, stop_rx).await;
            if let Err(err) = &served {
                tracing::error!(error = %err, "lnd-sim server failed");
            }
            served
        });
        RunningServer { stop, task }
    }

    async fn rebind(&self) -> Result<TcpListener, SimError> {
        let mut last_err = None;
        for _ in 0..REBIND_ATTEMPTS {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => return Ok(listener),
                Err(err) => last_err = Some(err),
            }
            tokio::time::sleep(REBIND_PAUSE).await;
        }
        Err(SimError::Bind {
            addr: self.addr.to_string(),
            source: last_err.unwrap_or_else(|| std::io::Error::other("bind failed")),
        })
    }
}

impl Drop for SimNode {
    fn drop(&mut self) {
        // Best effort when `shutdown` was not called: signal and abort, so
        // no task outlives the node.
        self.state.network.unregister(&self.state.pubkey_hex);
        if let Ok(mut server) = self.server.try_lock()
            && let Some(running) = server.take()
        {
            let _ = running.stop.send(true);
            running.task.abort();
        }
        let sweeper = self
            .sweeper
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(sweeper) = sweeper {
            let _ = sweeper.stop.send(true);
            sweeper.task.abort();
        }
    }
}

async fn stop_server(running: RunningServer) {
    let RunningServer { stop, mut task } = running;
    let _ = stop.send(true);
    if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
        tracing::warn!("lnd-sim server did not stop gracefully; aborting");
        task.abort();
        let _ = task.await;
    }
}

fn spawn_sweeper(state: Arc<NodeState>) -> RunningSweeper {
    let (stop, mut stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(EXPIRY_SWEEP_INTERVAL);
        loop {
            tokio::select! {
                _ = stop_rx.wait_for(|stopped| *stopped) => break,
                _ = tick.tick() => state.sweep_expired(),
            }
        }
    });
    RunningSweeper { stop, task }
}

async fn write_file(path: &Path, bytes: &[u8]) -> Result<(), SimError> {
    let fail = |source| SimError::Files {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(fail)?;
    }
    tokio::fs::write(path, bytes).await.map_err(fail)
}
