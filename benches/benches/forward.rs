//! In-process end to end: a relay on loopback and two clients. A handful
//! of clients only; a 10k-client run needs loadgen in its own process.

use std::net::SocketAddr;

use benches::BenchClient;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use relay_core::config::ConfigFile;
use relay_core::shard::Server;

fn start(shards: usize) -> Server {
    let text = format!("http_bind_addr = \"127.0.0.1:0\"\nenable_stun = false\nenable_metrics = false\nshards = {shards}\n");
    let config = ConfigFile::parse(&text)
        .and_then(|f| f.resolve(false))
        .expect("bench config");
    let metrics = (0..shards).map(|_| Default::default()).collect();
    Server::start(&config, metrics).expect("relay starts")
}

fn pair(addr: SocketAddr) -> (BenchClient, BenchClient) {
    let mut a = BenchClient::connect(addr).expect("client a");
    let mut b = BenchClient::connect(addr).expect("client b");
    // The first Pong means the handshake is done.
    a.ping().expect("a ready");
    b.ping().expect("b ready");
    (a, b)
}

fn forward(c: &mut Criterion) {
    let mut g = c.benchmark_group("forward_loopback");
    for shards in [1usize, 2] {
        let server = start(shards);
        let (mut a, mut b) = pair(server.local_addr());
        let dst = b.key;
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("one_packet_1200B_{shards}_shards"), |bench| {
            bench.iter(|| {
                a.send_many(&dst, &[7u8; 1200], 1).expect("send");
                b.recv_packets(1).expect("recv");
            })
        });
        g.throughput(Throughput::Elements(64));
        g.bench_function(format!("batch_64x1200B_{shards}_shards"), |bench| {
            bench.iter(|| {
                a.send_many(&dst, &[7u8; 1200], 64).expect("send");
                b.recv_packets(64).expect("recv");
            })
        });
    }
    g.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
