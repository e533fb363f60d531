//! Generates the Rust client and server code for `proto/shardgate/v1` and a
//! file descriptor set for gRPC reflection.
//!
//! protoc comes from `protoc-bin-vendored` (together with the well-known
//! `google/protobuf/*.proto` includes), so building needs nothing installed.

use std::env;
use std::error::Error;
use std::path::PathBuf;

/// The API files, relative to the proto root. One file per service plus the
/// shared types.
const PROTO_FILES: &[&str] = &[
    "shardgate/v1/common.proto",
    "shardgate/v1/storage.proto",
    "shardgate/v1/payments.proto",
    "shardgate/v1/providers.proto",
    "shardgate/v1/admin.proto",
    "shardgate/v1/shares.proto",
];

/// Name of the descriptor set in OUT_DIR; `src/lib.rs` includes it.
const DESCRIPTOR_FILE: &str = "shardgate_v1_descriptor.bin";

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    // Any change under proto/ (including a new file) regenerates the code.
    println!("cargo:rerun-if-changed={}", proto_root.display());
    println!("cargo:rerun-if-changed=build.rs");

    let mut config = prost_build::Config::new();
    // Set protoc on the config instead of through the PROTOC variable:
    // changing the environment of a running process is `unsafe` in edition
    // 2024 and would leak into anything else this script spawns.
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // The blob bytes themselves as `bytes::Bytes`: a received Put frame is
    // then a slice of tonic's receive buffer, and a Get frame a slice of
    // the decrypted chunk, instead of a copy into a fresh `Vec` each
    // (1 GiB of copies per GiB moved, each way). Every other `bytes` field
    // is small and stays `Vec<u8>`.
    config.bytes([
        ".shardgate.v1.PutRequest.data",
        ".shardgate.v1.GetResponse.data",
    ]);

    let protos: Vec<PathBuf> = PROTO_FILES.iter().map(|f| proto_root.join(f)).collect();
    let includes = vec![proto_root, protoc_bin_vendored::include_path()?];

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .file_descriptor_set_path(out_dir.join(DESCRIPTOR_FILE))
        .compile_with_config(config, &protos, &includes)?;
    Ok(())
}
