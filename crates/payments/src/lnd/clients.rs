//! `lnd_grpc_rust`'s generated clients for the three LND services we use,
//! over our channel (`channel.rs`), each call carrying the macaroon.

use lnd_grpc_rust::invoicesrpc::invoices_client::InvoicesClient;
use lnd_grpc_rust::lnrpc::lightning_client::LightningClient;
use lnd_grpc_rust::routerrpc::router_client::RouterClient;
use tonic::codegen::InterceptedService;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::transport::Channel;

use crate::error::PaymentError;

/// Adds `macaroon: <hex>` to every request, as LND expects.
#[derive(Clone)]
pub(crate) struct MacaroonInterceptor(MetadataValue<Ascii>);

impl MacaroonInterceptor {
    /// `hex` is the macaroon as validated by `LndConfig::macaroon_hex`.
    pub(crate) fn new(hex: &str) -> Result<Self, PaymentError> {
        MetadataValue::try_from(hex)
            .map(MacaroonInterceptor)
            .map_err(|_| PaymentError::LndConfig {
                reason: "macaroon is not hex".into(),
            })
    }
}

impl Interceptor for MacaroonInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        // A clone of a parsed header value: no per-call parsing or check.
        request.metadata_mut().insert("macaroon", self.0.clone());
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, MacaroonInterceptor>;

/// Clients of one node sharing one channel. Cheap to clone (handles to the
/// channel); the generated methods take `&mut self`, so each call works on
/// a clone.
#[derive(Clone)]
pub(crate) struct LndClients {
    lightning: LightningClient<Authed>,
    invoices: InvoicesClient<Authed>,
    router: RouterClient<Authed>,
}

impl LndClients {
    pub(crate) fn new(channel: Channel, macaroon: MacaroonInterceptor) -> Self {
        LndClients {
            lightning: LightningClient::with_interceptor(channel.clone(), macaroon.clone()),
            invoices: InvoicesClient::with_interceptor(channel.clone(), macaroon.clone()),
            router: RouterClient::with_interceptor(channel, macaroon),
        }
    }

    pub(crate) fn lightning(&mut self) -> &mut LightningClient<Authed> {
        &mut self.lightning
    }

    pub(crate) fn invoices(&mut self) -> &mut InvoicesClient<Authed> {
        &mut self.invoices
    }

    pub(crate) fn router(&mut self) -> &mut RouterClient<Authed> {
        &mut self.router
    }
}
