//! Server code generated from our trimmed copies of LND's protos.
#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod lnrpc {
    tonic::include_proto!("lnrpc");
}

pub mod invoicesrpc {
    tonic::include_proto!("invoicesrpc");
}

pub mod routerrpc {
    tonic::include_proto!("routerrpc");
}
