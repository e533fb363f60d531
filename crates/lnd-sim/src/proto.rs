//! Server code generated from our trimmed copies of LND's protos.
// Generated code: lints are silenced here and nowhere else, because we do
// not control its shape (prost and tonic emit `pub` items in a private module).
#![allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]

pub(crate) mod lnrpc {
    tonic::include_proto!("lnrpc");
}

pub(crate) mod invoicesrpc {
    tonic::include_proto!("invoicesrpc");
}

pub(crate) mod routerrpc {
    tonic::include_proto!("routerrpc");
}
