//! TLS for server connections, with libpq's `sslmode` meanings, through rustls.
//!
//! * `disable`: plain TCP.
//! * `prefer` (the default): TLS when the server offers it, else plain; the certificate is
//!   not checked, as libpq does not check it either.
//! * `require`: TLS or no connection; the certificate is not checked, unless `sslrootcert`
//!   names a CA file, when the chain is checked against it (libpq: require then acts as
//!   verify-ca).
//! * `verify-ca`: TLS, and the chain must lead to a trusted root; the host name is not
//!   compared.
//! * `verify-full`: TLS, a trusted chain, and a certificate issued for the host connected to.
//!
//! The trusted roots are `sslrootcert`'s certificates when it is given, else the system's
//! store. Prisma's `sslaccept=strict` asks for the full check under any TLS mode;
//! `sslaccept=accept_invalid_certs` for none, which contradicts verify-ca and verify-full.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Nothing: the session is encrypted, but the server is not authenticated.
    None,
    /// The chain leads to a trusted root; any host name.
    Chain,
    /// The chain, and a certificate issued for the host connected to.
    Full,
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The system's store, read when a connection is first verified.
    System,
    /// A PEM file of CA certificates (`sslrootcert`).
    File(PathBuf),
}

impl fmt::Display for Roots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Roots::System => f.write_str("the system's trusted roots"),
            Roots::File(path) => write!(f, "sslrootcert={}", path.display()),
        }
    }
}

/// The rustls client settings for `verification` against `roots`. A root file that cannot
/// be read, or holds no certificate, is an error naming it.
pub fn client_config(verification: Verification, roots: &Roots) -> Result<ClientConfig, String> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS setup failed: {err}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = match verification {
        Verification::None => Arc::new(AcceptAnyCertificate(provider)),
        Verification::Chain | Verification::Full => {
            let store = Arc::new(root_store(roots)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(store, provider)
                .build()
                .map_err(|err| format!("TLS setup failed: {err}"))?;
            if verification == Verification::Full {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

fn root_store(roots: &Roots) -> Result<RootCertStore, String> {
    let certificates = match roots {
        Roots::File(path) => read_pem(path)?,
        Roots::System => {
            // Unreadable entries are skipped, as long as some certificate was found.
            let found = rustls_native_certs::load_native_certs();
            found.certs
        }
    };
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(match roots {
            Roots::File(path) => format!(
                "sslrootcert={} holds no usable CA certificate",
                path.display()
            ),
            Roots::System => "the system's store of trusted roots is empty; name a CA file \
                              with sslrootcert=<path>"
                .to_owned(),
        });
    }
    Ok(store)
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let unreadable =
        |err: &dyn fmt::Display| format!("sslrootcert={} cannot be read: {err}", path.display());
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|err| unreadable(&err))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| unreadable(&err))?;
    Ok(certificates)
}

/// Why a TLS handshake failed, in words, when the failure was rustls's; `host` is the host
/// connected to and `roots` where the trusted roots came from.
pub fn explain(
    err: &(dyn std::error::Error + 'static),
    host: &str,
    roots: &Roots,
) -> Option<String> {
    let tls = find_rustls_error(err)?;
    Some(match tls {
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => format!(
            "the server's TLS certificate is not signed by a trusted certificate authority \
             (trusted: {roots})"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "the server's TLS certificate is not valid for host {host:?} (sslmode=verify-full \
             compares the host name; verify-ca does not)"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "the server's TLS certificate has expired".to_owned(),
        other => format!("the TLS handshake failed: {other}"),
    })
}

/// The rustls error behind a connection error. An `io::Error`'s `source` skips the error it
/// wraps, so those are opened by hand.
fn find_rustls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cause = Some(err);
    while let Some(current) = cause {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        cause = current.source();
    }
    None
}

/// Accepts any certificate (libpq's prefer and require), but still checks that the server
/// holds the key of the certificate it sent.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// verify-ca: the full check, less the host name. webpki checks the chain before the name,
/// so a name mismatch means the chain was already found trusted.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
