//! Generates the server side of our trimmed LND protos (see `proto/`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A vendored protoc: nothing to install on the build machine.
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the
    // environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };

    let protos = [
        "proto/lightning.proto",
        "proto/invoicesrpc/invoices.proto",
        "proto/routerrpc/router.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    // Server only: tests talk to us through the real LND client crate, never
    // through a client generated from our own (possibly wrong) protos.
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}
