//! TLS in front of a relay, as nginx is in front of chatmail's: a test CA
//! with a certificate for `localhost` and 127.0.0.1 signed by it, and a
//! proxy that terminates TLS with it and passes the bytes to the relay's
//! plain port, noting the SNI each client sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{crypto::ring, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// A CA and one server certificate it signed.
pub struct TestCa {
    /// The CA certificate, PEM: what `--ca-file` trusts.
    pub ca_pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key_der: Vec<u8>,
}

impl TestCa {
    /// A fresh CA and a certificate for `names` (DNS names or IP addresses).
    pub fn new(names: &[&str]) -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "uring-relay test CA");
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let leaf = CertificateParams::new(names).expect("certificate params");
        let key = KeyPair::generate().expect("key");
        let cert = leaf
            .signed_by(&key, &ca_cert, &ca_key)
            .expect("certificate");
        TestCa {
            ca_pem: ca_cert.pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// A rustls server configuration serving the certificate.
    pub fn server_config(&self) -> ServerConfig {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der.clone()], key)
            .expect("certificate and key")
    }
}

/// A TLS-terminating proxy on a loopback port; it lives as long as the
/// test process.
pub struct TlsProxy {
    pub addr: SocketAddr,
    pub ca: TestCa,
    sni: Arc<Mutex<Vec<Option<String>>>>,
}

impl TlsProxy {
    /// Terminates TLS for `localhost` and 127.0.0.1 and forwards to `upstream`.
    pub fn start(upstream: SocketAddr) -> TlsProxy {
        let ca = TestCa::new(&["localhost", "127.0.0.1"]);
        let acceptor = TlsAcceptor::from(Arc::new(ca.server_config()));
        let sni = Arc::new(Mutex::new(Vec::new()));
        let seen = sni.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let _ = tx.send(listener.local_addr().expect("addr"));
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    let (acceptor, seen) = (acceptor.clone(), seen.clone());
                    tokio::spawn(async move {
                        let Ok(mut tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let name = tls.get_ref().1.server_name().map(str::to_owned);
                        if let Ok(mut s) = seen.lock() {
                            s.push(name);
                        }
                        let Ok(mut up) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                    });
                }
            });
        });
        let addr = rx.recv().expect("proxy address");
        TlsProxy { addr, ca, sni }
    }

    /// The SNI of every TLS connection so far (`None`: the client sent none).
    pub fn sni(&self) -> Vec<Option<String>> {
        self.sni.lock().map(|s| s.clone()).unwrap_or_default()
    }
}
