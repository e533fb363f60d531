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
pub mod provider_name;
pub mod shard;
pub mod share;
pub mod stream;
pub mod wrap;

pub use buffer::ShardBuf;
pub use chunker::{DEFAULT_CHUNK_SIZE, FrameChunker, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, ReadChunker};
pub use e2e::E2eReader;
pub use erasure::{ErasureParams, MIN_SEALED_CHUNK_LEN};
pub use error::{CoreError, CoreErrorKind};
pub use id::ContentId;
pub use keys::{
    ChunkKey, ConvergenceScope, ConvergenceSecret, FileKey, KeyEncryptionKey, MasterKey,
};
pub use manifest::{KeyMode, Manifest, ManifestChunk};
pub use pipeline::{
    EncodedChunk, OpenKey, OpenedChunk, RebuiltChunk, SealKey, SealedChunk, encode_sealed_chunk,
    encode_sealed_chunk_in, open_chunk, open_chunk_from_bodies, open_chunk_from_bodies_in,
    open_chunk_from_data_bodies_in, rebuild_sealed_chunk, rebuild_sealed_from_bodies,
    rebuild_sealed_from_bodies_in, recreate_shards, seal_chunk, seal_chunk_in,
    sealed_from_data_bodies_in,
};
pub use provider_name::ProviderName;
pub use shard::{
    SHARD_HEADER_LEN, ShardHeader, decode_shard_object, encode_shard_object, shard_object_key,
    split_shard_object,
};
pub use share::{ReadToken, ShareSecret, ShareWrappingKey};
pub use stream::{StreamLayout, StreamRange};
pub use wrap::WrappedChunkKey;
