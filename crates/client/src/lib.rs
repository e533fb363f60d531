#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod admin;
mod blobs;
mod broker_stream;
mod challenge;
mod client;
mod credit;
mod direct;
mod e2e;
mod error;
mod file_target;
mod get;
mod invoice;
mod manifest_cache;
mod output_file;
mod payer;
mod payments;
mod payouts;
mod purchase;
mod put;
mod raw_challenge;
mod share_download;
mod share_link;
mod shares;
mod uncached_writer;
mod write_behind;
mod writer_thread;

pub use challenge::Challenge;
pub use client::{Client, ClientBuilder};
pub use credit::PaidCredit;
pub use e2e::{file_key_hex, parse_file_key};
pub use error::{ClientError, ErrorKind, Result, code_name};
pub use file_target::FileTarget;
pub use get::{Download, Downloaded, GetOptions, progress};
pub use invoice::{Invoice, parse_payment_hash};
pub use payer::{FnPayer, LndPayer, Paid, Payer, PaymentEvent, PaymentPolicy};
pub use purchase::Purchase;
pub use put::{Progress, PutOptions, Uploaded};
/// The file key of an end-to-end blob, and the manifest type.
pub use shardgate_core::{FileKey, Manifest, ShareSecret};
/// The generated protocol messages the SDK takes and returns.
pub use shardgate_proto::v1 as pb;
pub use share_download::{SharePreview, SharedDownload, download_share, preview_share};
pub use share_link::ShareLink;
pub use shares::{CreatedShare, ShareOptions};
