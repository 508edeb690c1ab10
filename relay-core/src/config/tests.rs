use super::*;
use crate::access::AccessConfig;
use crate::proto::Family;

#[test]
fn chatmail_config() {
    let text = include_str!("../../../deploy/iroh-relay.toml");
    let c = ConfigFile::parse(text).unwrap().resolve(false).unwrap();
    assert_eq!(c.http_bind_addr, "[::]:3340".parse().unwrap());
    assert_eq!(c.stun_bind_addr, None);
    assert_eq!(c.metrics_bind_addr, None);
    assert!(matches!(c.access, AccessConfig::Everyone));
}

#[test]
fn defaults_and_dev() {
    let c = ConfigFile::default().resolve(true).unwrap();
    assert_eq!(c.http_bind_addr, "[::]:3340".parse().unwrap());
    assert_eq!(c.stun_bind_addr, Some("[::]:3478".parse().unwrap()));
    assert_eq!(c.metrics_bind_addr, Some("[::]:9090".parse().unwrap()));
    let c = ConfigFile::default().resolve(false).unwrap();
    assert_eq!(c.http_bind_addr.port(), 80);
    assert!(c.shards >= 1);
}

#[test]
fn unknown_keys_and_shards() {
    let c = ConfigFile::parse("future_key = 1\nshards = 3\nhttp_bind_addr = \"127.0.0.1:1\"\n[limits]\naccept_conn_limit = 5.0\n")
        .unwrap()
        .resolve(false)
        .unwrap();
    assert_eq!(c.shards, 3);
    assert_eq!(c.io_backend, IoBackend::Auto);
    assert_eq!(c.limits.accept_conn_limit, Some(5.0));
}

#[test]
fn io_backend_choice() {
    let c = ConfigFile::parse("io_backend = \"epoll\"").unwrap();
    assert_eq!(c.io_backend, Some(IoBackend::Epoll));
    assert!(ConfigFile::parse("io_backend = \"kqueue\"").is_err());
}

#[test]
fn policy_from_limits() {
    let c = ConfigFile::parse("[limits]\naccept_conn_limit = 10.0\n[limits.client.rx]\nbytes_per_second = 400\nmax_burst_bytes = 800\n")
        .unwrap()
        .resolve(false)
        .unwrap();
    let p = c.policy();
    assert_eq!(
        p.rx_limit(Family::V035),
        Some(RxLimit {
            bytes_per_second: 400.0,
            burst_bytes: 800.0
        })
    );
    assert_eq!(p.accept_limit, Some((10.0, 10.0)));
    assert_eq!(
        p.max_queued_bytes as u64,
        crate::sysmem::default_queue_budget()
    );
    let c = ConfigFile::parse("[limits]\nmax_queued_bytes = 67108864\n")
        .unwrap()
        .resolve(false)
        .unwrap();
    assert_eq!(c.policy().max_queued_bytes, 64 << 20);
    assert!(ConfigFile::parse("[limits]\nmax_queued_bytes = 1000\n")
        .unwrap()
        .resolve(false)
        .is_err());
    let c = ConfigFile::parse("[limits.client.rx]\nbytes_per_second = 400\n")
        .unwrap()
        .resolve(false)
        .unwrap();
    assert_eq!(
        c.policy().rx_limit(Family::V035).map(|l| l.burst_bytes),
        Some(400.0)
    );
    assert_eq!(
        c.policy().rx_limit(Family::V1x).map(|l| l.burst_bytes),
        Some(40.0)
    );
    assert!(ConfigFile::parse("[limits]\naccept_conn_limit = -1.0\n")
        .unwrap()
        .resolve(false)
        .is_err());
}

#[test]
fn rejections() {
    assert!(ConfigFile::parse("http_bind_addr = 5").is_err());
    assert!(ConfigFile::parse("shards = 0")
        .unwrap()
        .resolve(false)
        .is_err());
    let tls = "[tls]\ncert_mode = \"Manual\"\n";
    assert!(ConfigFile::parse(tls).unwrap().resolve(false).is_err());
    assert!(ConfigFile::parse(tls).unwrap().resolve(true).is_ok());
    assert!(ConfigFile::parse("enable_quic_addr_discovery = true")
        .unwrap()
        .resolve(true)
        .is_err());
    let burst_only = "[limits.client.rx]\nmax_burst_bytes = 10\n";
    assert!(ConfigFile::parse(burst_only)
        .unwrap()
        .resolve(false)
        .is_err());
    let zero = "[limits.client.rx]\nbytes_per_second = 0\n";
    assert!(ConfigFile::parse(zero).unwrap().resolve(false).is_err());
}
