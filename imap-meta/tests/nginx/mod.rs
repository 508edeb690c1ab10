//! nginx in front of a relay as a chatmail server runs it: TLS terminated
//! with a certificate from a test CA, `/relay` proxied with the Upgrade
//! and Connection headers, `/ping` and `/generate_204` proxied plainly
//! (the locations of cmdeploy's nginx.conf). nginx runs as a child of the
//! test, in one process, with its prefix, config and logs in a temp dir,
//! on a free loopback port; killed on drop.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's package puts the binary.
const NGINX: &str = "/usr/sbin/nginx";

/// The nginx binary, or `None` (the test then skips) unless
/// `REQUIRE_NGINX=1`, which scripts/test sets after installing it.
pub fn binary(test: &str) -> Option<PathBuf> {
    let found = [PathBuf::from(NGINX)]
        .into_iter()
        .chain(
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths)
                .map(|d| d.join("nginx")),
        )
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("REQUIRE_NGINX").is_none_or(|v| v != "1"),
            "REQUIRE_NGINX=1 but nginx is not installed (apt-get install nginx)"
        );
        eprintln!("{test}: SKIP (nginx is not installed; scripts/test installs it)");
    }
    found
}

/// A test CA and a certificate for `localhost` it signed, as PEM files.
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn certs(dir: &Path) -> Certs {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "chatmail test CA");
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    let key = KeyPair::generate().expect("key");
    let cert = leaf
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("certificate");
    let c = Certs {
        ca: dir.join("ca.pem"),
        cert: dir.join("fullchain.pem"),
        key: dir.join("privkey.pem"),
    };
    std::fs::write(&c.ca, ca_cert.pem()).expect("write CA");
    std::fs::write(&c.cert, cert.pem()).expect("write certificate");
    std::fs::write(&c.key, key.serialize_pem()).expect("write key");
    c
}

/// A running nginx.
pub struct Nginx {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// nginx's error log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

/// Starts `bin` serving https on 127.0.0.1:`port` with `certs`, proxying
/// the relay's routes to `relay` as chatmail does.
pub fn start(bin: &Path, port: u16, certs: &Certs, relay: SocketAddr) -> Nginx {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().display();
    let (cert, key) = (certs.cert.display(), certs.key.display());
    let conf = format!(
        "daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    server {{
        listen 127.0.0.1:{port} ssl default_server;
        server_name localhost;
        location / {{ return 404; }}
        location /relay {{
            proxy_pass http://{relay};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection \"upgrade\";
        }}
        location /ping {{
            proxy_pass http://{relay};
            proxy_http_version 1.1;
        }}
        location /generate_204 {{
            proxy_pass http://{relay};
            proxy_http_version 1.1;
        }}
    }}
}}
"
    );
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, conf).expect("write nginx.conf");
    let child = Command::new(bin)
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    let mut nginx = Nginx { child, port, dir };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = nginx.child.try_wait() {
            panic!("nginx exited ({status}):\n{}", nginx.log());
        }
        assert!(
            Instant::now() < deadline,
            "nginx not serving on {addr}:\n{}",
            nginx.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    nginx
}
