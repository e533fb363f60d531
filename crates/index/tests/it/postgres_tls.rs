//! The PostgreSQL index over TLS, against a server this test starts itself
//! (`initdb` + `pg_ctl`, `ssl = on`, `hostssl` only) with certificates it
//! makes: verify-full connects; a wrong CA, a wrong host name and plain TCP
//! are refused; a TLS mode without a CA is refused before connecting.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use shardgate_index::{Index, IndexError, PostgresIndex, PostgresOptions, TenantId, TenantRecord};

/// A PostgreSQL server of this test's own, stopped (by its data directory's
/// PID file) on drop.
struct TlsServer {
    dir: tempfile::TempDir,
    port: u16,
    ca_pem: String,
}

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("self-signed CA");
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// Runs a PostgreSQL tool as the `postgres` user (it refuses to run as
/// root, which CI is).
fn as_postgres(program: &str, args: &[&str]) -> std::process::Output {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        Command::new(program)
    };
    command
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (initdb and pg_ctl must be on PATH)"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn give_to_postgres(path: &Path) {
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .expect("chown");
        assert!(status.success(), "chown {}", path.display());
    }
}

impl TlsServer {
    fn start() -> TlsServer {
        let dir = tempfile::Builder::new()
            .prefix("shardgate-pg-tls-")
            .tempdir()
            .expect("tempdir");
        give_to_postgres(dir.path());
        let data = dir.path().join("data");
        let data_s = data.to_str().expect("utf-8 path");
        let out = as_postgres(
            "initdb",
            &["-D", data_s, "-U", "postgres", "--auth=trust", "--no-sync"],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let authority = ca("shardgate test PostgreSQL CA");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        let key = KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &authority.issuer)
            .expect("server certificate");
        write(&data.join("server.crt"), &cert.pem());
        write(&data.join("server.key"), &key.serialize_pem());
        let port = free_port();
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).expect("conf");
        conf.push_str(&format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1,127.0.0.2'\nunix_socket_directories = '{}'\n\
             ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nfsync = off\n",
            dir.path().display()
        ));
        write(&data.join("postgresql.conf"), &conf);
        // TLS or nothing: no plain `host` line.
        write(
            &data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.0/8 trust\n",
        );
        give_to_postgres(dir.path());
        let key_path = data.join("server.key");
        std::fs::set_permissions(
            &key_path,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("chmod key");
        let log = dir.path().join("log");
        let out = as_postgres(
            "pg_ctl",
            &[
                "-D",
                data_s,
                "-l",
                log.to_str().expect("utf-8"),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {} {}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        TlsServer {
            dir,
            port,
            ca_pem: authority.pem,
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self, host: &str, sslmode: &str) -> String {
        format!(
            "postgres://postgres@{host}:{}/postgres?sslmode={sslmode}",
            self.port
        )
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let data = self.data();
        as_postgres(
            "pg_ctl",
            &["-D", data.to_str().unwrap_or(""), "-m", "immediate", "stop"],
        );
    }
}

fn options(ca_pem: Option<&str>) -> PostgresOptions {
    PostgresOptions {
        schema: "tls_test".to_owned(),
        max_connections: 2,
        connect_timeout: Duration::from_secs(10),
        tls_ca_pem: ca_pem.map(|p| p.as_bytes().to_vec()),
        ..PostgresOptions::default()
    }
}

#[tokio::test]
async fn verify_full_connects_and_everything_else_is_refused() {
    let server = TlsServer::start();

    // verify-full with the right CA, by host name and by IP: the index works.
    for host in ["localhost", "127.0.0.1"] {
        let index = PostgresIndex::connect(
            &server.url(host, "verify-full"),
            options(Some(&server.ca_pem)),
        )
        .await
        .unwrap_or_else(|e| panic!("verify-full to {host}: {e}"));
        let id = TenantId::new(format!("tls-{}", host.replace('.', "-"))).expect("id");
        index
            .create_tenant(TenantRecord {
                id: id.clone(),
                name: "over TLS".to_owned(),
                api_key_hash: *blake3_like(host),
                quota_bytes: 1,
                used_bytes: 0,
                created_at_unix_ms: 1,
            })
            .await
            .expect("write over TLS");
        assert!(index.tenant(&id).await.expect("read").is_some());
    }

    // Another CA: the server's certificate does not verify.
    let stranger = ca("not the server's CA");
    let err = PostgresIndex::connect(
        &server.url("localhost", "verify-full"),
        options(Some(&stranger.pem)),
    )
    .await
    .expect_err("wrong CA");
    assert!(matches!(err, IndexError::Storage { .. }), "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");

    // A name the certificate does not carry (the server listens on
    // 127.0.0.2 too, with the same certificate): refused, verify-full
    // checks it.
    let err = PostgresIndex::connect(
        &format!(
            "postgres://postgres@127.0.0.2:{}/postgres?sslmode=verify-full",
            server.port
        ),
        options(Some(&server.ca_pem)),
    )
    .await
    .expect_err("wrong host name");
    assert!(matches!(err, IndexError::Storage { .. }), "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");

    // Plain TCP: the server (hostssl only) refuses.
    let err = PostgresIndex::connect(&server.url("localhost", "disable"), options(None))
        .await
        .expect_err("plain TCP");
    assert!(matches!(err, IndexError::Storage { .. }), "{err:?}");

    // TLS asked for without a CA: refused before connecting, naming the fix.
    let err = PostgresIndex::connect(&server.url("localhost", "verify-full"), options(None))
        .await
        .expect_err("no CA");
    assert!(matches!(err, IndexError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("CA"), "{err}");
}

/// A distinct 32-byte value per host (the API key hash must be unique).
fn blake3_like(host: &str) -> Box<[u8; 32]> {
    let mut out = [0u8; 32];
    for (i, b) in host.bytes().enumerate() {
        out[i % 32] ^= b;
    }
    Box::new(out)
}
