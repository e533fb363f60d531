//! One call per stage and direction: [`seal_chunk`] /
//! [`encode_sealed_chunk`] on upload, [`open_chunk`] /
//! [`open_chunk_from_bodies`] on download, [`rebuild_sealed_chunk`] /
//! [`recreate_shards`] where the ciphertext is enough (END_TO_END reads,
//! repair).

pub(crate) mod open;
mod rebuild;
mod seal;
mod shared_hash;

pub use open::{
    OpenKey, OpenedChunk, open_chunk, open_chunk_from_bodies, open_chunk_from_bodies_in,
    open_chunk_from_data_bodies_in,
};
pub use rebuild::{
    RebuiltChunk, rebuild_sealed_chunk, rebuild_sealed_from_bodies, rebuild_sealed_from_bodies_in,
    recreate_shards, sealed_from_data_bodies_in,
};
pub use seal::{
    EncodedChunk, SealKey, SealedChunk, encode_sealed_chunk, encode_sealed_chunk_in, seal_chunk,
    seal_chunk_in,
};
