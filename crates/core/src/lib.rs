#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod aead;
pub mod buffer;
pub mod chunker;
pub mod e2e;
pub mod erasure;
pub mod error;
pub mod id;
pub mod keys;
pub mod manifest;
pub mod pipeline;
pub mod shard;
pub mod wrap;

pub use buffer::ShardBuf;
pub use chunker::{DEFAULT_CHUNK_SIZE, FrameChunker, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, ReadChunker};
pub use e2e::E2eReader;
pub use erasure::ErasureParams;
pub use error::{CoreError, CoreErrorKind};
pub use id::ContentId;
pub use keys::{
    ChunkKey, ConvergenceScope, ConvergenceSecret, FileKey, KeyEncryptionKey, MasterKey,
};
pub use manifest::{KeyMode, Manifest, ManifestChunk};
pub use pipeline::{
    EncodedChunk, OpenKey, OpenedChunk, SealKey, SealedChunk, encode_sealed_chunk,
    encode_sealed_chunk_in, open_chunk, open_chunk_from_bodies, seal_chunk, seal_chunk_in,
};
pub use shard::{
    SHARD_HEADER_LEN, ShardHeader, decode_shard_object, encode_shard_object, shard_object_key,
};
pub use wrap::WrappedChunkKey;
