//! TLS towards an `https://` relay (rustls with ring): the machine's trusted
//! roots, a private CA from a PEM file, or no verification at all; and
//! TLS failures in an operator's words.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};

/// How the relay's certificate is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Trust only the CA certificates in this PEM file (else the
    /// machine's trusted roots).
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (handshake signatures are still checked).
    pub insecure: bool,
}

impl TlsOptions {
    /// The client configuration; `Err` says in words why there is none.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, String> {
        let provider = Arc::new(ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let config = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        } else {
            let roots = match &self.ca_file {
                Some(path) => ca_file_roots(path)?,
                None => system_roots()?,
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        Ok(Arc::new(config))
    }

    /// What a report says about certificate checks.
    pub fn describe(&self) -> String {
        match (&self.ca_file, self.insecure) {
            (_, true) => "certificate NOT verified (--insecure)".to_owned(),
            (Some(p), false) => format!("certificate verified against {}", p.display()),
            (None, false) => "certificate verified".to_owned(),
        }
    }
}

fn ca_file_roots(path: &Path) -> Result<RootCertStore, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the CA file {} is not PEM: {e}", path.display()))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!(
            "the CA file {} holds no usable certificate",
            path.display()
        ));
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(format!(
            "no trusted CA certificates found on this machine{why}: install the \
             ca-certificates package, or pass --ca-file FILE"
        ));
    }
    Ok(roots)
}

/// The name the certificate must carry (and the SNI, for a domain).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_owned()).map_err(|e| format!("{host:?} is not a TLS name: {e}"))
}

/// A failed handshake, in words, with what to do about it.
pub fn handshake_error(e: &std::io::Error, host: &str) -> String {
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<Error>()) else {
        return e.to_string();
    };
    let trust = "--ca-file FILE trusts a private CA, --insecure skips the check";
    match tls {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            format!("the certificate is not signed by a trusted CA ({trust})")
        }
        Error::InvalidCertificate(CertificateError::NotValidForName)
        | Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
            format!("the certificate is not valid for {host} ({trust})")
        }
        Error::InvalidCertificate(CertificateError::Expired)
        | Error::InvalidCertificate(CertificateError::ExpiredContext { .. }) => {
            format!("the certificate has expired ({trust})")
        }
        Error::InvalidCertificate(CertificateError::BadSignature) => format!(
            "the certificate's signature does not verify with the trusted CA of its \
             issuer's name ({trust})"
        ),
        Error::InvalidCertificate(c) => format!("bad certificate: {c:?} ({trust})"),
        Error::InvalidMessage(_) | Error::InappropriateMessage { .. } => {
            format!("{tls} (does the port speak plain HTTP? then use an http:// URL)")
        }
        other => other.to_string(),
    }
}

/// Skips certificate checks but still verifies handshake signatures
/// (`--insecure`; imap-meta's `--upstream-tls-insecure` too).
#[derive(Debug)]
pub struct AnyCertificate(Arc<CryptoProvider>);

impl AnyCertificate {
    /// A verifier checking signatures with `provider`'s algorithms.
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        Self(provider)
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algs = &self.0.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algs = &self.0.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ca_files_are_reported() {
        let missing = TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            insecure: false,
        };
        let err = missing.client_config().err().unwrap_or_default();
        assert!(
            err.contains("cannot read the CA file /nonexistent/ca.pem"),
            "{err}"
        );
        let insecure = TlsOptions {
            ca_file: None,
            insecure: true,
        };
        assert!(insecure.client_config().is_ok());
        assert!(insecure.describe().contains("NOT verified"));
        assert!(server_name("relay.example.org").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
    }
}
