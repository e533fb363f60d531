//! TLS that trusts exactly the node's certificate.
//!
//! LND serves a self-signed certificate that is also marked as a CA. A
//! WebPKI path check refuses such a certificate as a server certificate
//! (`CaUsedAsEndEntity`), and the names in it rarely match the name the
//! broker dials (LND clients ignore the host name). So instead of a root
//! store we *pin*: the server's end-entity certificate must be byte-equal
//! to a certificate of the configured `tls_cert` PEM, and the handshake
//! signature must verify with that certificate's key (so the server holds
//! the private key). Validity dates are not checked: the pin, not a CA's
//! promise, is what we trust, and LND replaces an expired certificate with
//! a new one, which no longer matches the pin.
//!
//! The crypto provider is rustls' ring provider, chosen here explicitly:
//! a workspace build also compiles aws-lc-rs (object_store), and rustls
//! refuses to pick a process default when both are present.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, OtherError, SignatureScheme};

use crate::error::PaymentError;

/// ALPN protocol id of HTTP/2 (gRPC servers, LND included, require it).
const ALPN_H2: &[u8] = b"h2";

/// A client TLS configuration that accepts only the certificates in `pem`.
pub(crate) fn client_config(pem: &[u8]) -> Result<Arc<ClientConfig>, PaymentError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = PinnedCertVerifier::from_pem(pem, &provider)?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PaymentError::LndConfig {
            reason: format!("TLS setup: {e}"),
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// Accepts a server whose certificate is one of `pinned`.
#[derive(Debug)]
struct PinnedCertVerifier {
    pinned: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The reason a handshake is refused, as rustls reports it.
#[derive(Debug)]
struct NotPinned;

impl PinnedCertVerifier {
    fn from_pem(pem: &[u8], provider: &CryptoProvider) -> Result<Self, PaymentError> {
        let pinned = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PaymentError::LndConfig {
                reason: format!("TLS certificate PEM does not parse: {e}"),
            })?;
        if pinned.is_empty() {
            return Err(PaymentError::LndConfig {
                reason: "TLS certificate PEM holds no CERTIFICATE block".into(),
            });
        }
        Ok(PinnedCertVerifier {
            pinned,
            algorithms: provider.signature_verification_algorithms,
        })
    }
}

impl std::fmt::Display for NotPinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the node presented a certificate other than the configured tls_cert")
    }
}

impl std::error::Error for NotPinned {}

/// Readable text of a refused certificate (rustls shows `Other` with Debug).
pub(crate) fn describe(err: &CertificateError) -> String {
    match err {
        CertificateError::Other(other) => other.to_string(),
        err => err.to_string(),
    }
}

impl ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|cert| cert.as_ref() == end_entity.as_ref())
        {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(NotPinned)),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use shardgate_lnd_sim::{SimNetwork, SimNode, SimNodeConfig};

    use super::*;

    #[test]
    fn pem_without_a_certificate_is_a_config_error() {
        let err = client_config(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .expect_err("no certificate");
        assert!(matches!(err, PaymentError::LndConfig { .. }), "{err}");
    }

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("the simulator writes PEM")
    }

    /// The pinned certificate passes under any name (LND clients ignore
    /// host names); another node's certificate fails whatever the name.
    #[tokio::test]
    async fn only_the_pinned_certificate_passes_whatever_the_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let network = SimNetwork::new();
        let start =
            |name: &str| SimNode::start(&network, SimNodeConfig::new(name, dir.path().join(name)));
        let (ours, other) = (
            start("ours").await.expect("node"),
            start("other").await.expect("node"),
        );
        let provider = rustls::crypto::ring::default_provider();
        let verifier = PinnedCertVerifier::from_pem(ours.tls_cert_pem().as_bytes(), &provider)
            .expect("pins the certificate");
        let now = UnixTime::now();
        for name in ["localhost", "lnd.example.org", "10.1.2.3"] {
            let name = ServerName::try_from(name).expect("valid name");
            verifier
                .verify_server_cert(&der(ours.tls_cert_pem()), &[], &name, &[], now)
                .expect("pinned certificate accepted");
            match verifier.verify_server_cert(&der(other.tls_cert_pem()), &[], &name, &[], now) {
                Err(rustls::Error::InvalidCertificate(refused)) => assert_eq!(
                    describe(&refused),
                    "the node presented a certificate other than the configured tls_cert"
                ),
                unexpected => panic!("another certificate must be refused: {unexpected:?}"),
            }
        }
        ours.shutdown().await.expect("stops");
        other.shutdown().await.expect("stops");
    }
}
