#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod aead;
pub mod chunker;
pub mod erasure;
pub mod error;
pub mod id;
pub mod shard;

pub use erasure::ErasureParams;
pub use error::{CoreError, CoreErrorKind};
pub use id::ContentId;
pub use shard::{
    SHARD_HEADER_LEN, ShardHeader, decode_shard_object, encode_shard_object, shard_object_key,
};
