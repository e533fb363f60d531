//! One call per stage and direction: [`seal_chunk`] /
//! [`encode_sealed_chunk`] on upload, [`open_chunk`] /
//! [`open_chunk_from_bodies`] on download.

mod open;
mod seal;
mod shared_hash;

pub use open::{OpenKey, OpenedChunk, open_chunk, open_chunk_from_bodies};
pub use seal::{
    EncodedChunk, SealKey, SealedChunk, encode_sealed_chunk, encode_sealed_chunk_in, seal_chunk,
    seal_chunk_in,
};
