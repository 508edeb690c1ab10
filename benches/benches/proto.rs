//! Pure hot-path pieces: frame decode/encode, websocket unmasking,
//! ClientInfo verification, owner lookup plus enqueue.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ed25519_dalek::SigningKey;
use relay_core::queue::{Pushed, SendQueue};
use relay_core::router;
use relay_proto::key::{KeyMap, NodeKey};
use relay_proto::ws::{self, Role, WsDecoder};
use relay_proto::{client_info, frame, stream, Datagram, Dialect, Frame, Transport};

fn frames(c: &mut Criterion) {
    let dst = [7u8; 32];
    let packet = vec![0xabu8; 1200];
    let mut encoded = Vec::new();
    for _ in 0..64 {
        stream::encode(
            &mut encoded,
            &Frame::SendPacket {
                dst: &dst,
                packet: &packet,
            },
        );
    }
    let mut g = c.benchmark_group("frame");
    g.throughput(Throughput::Elements(64));
    g.bench_function("decode_64_sendpacket_1200B", |b| {
        b.iter(|| {
            let mut buf = &encoded[..];
            while let Ok(Some(f)) = stream::next_frame(buf) {
                black_box(frame::decode(f.ty, &buf[f.start..f.end]).is_ok());
                buf = &buf[f.end..];
            }
        })
    });
    g.bench_function("encode_64_recvpacket_1200B", |b| {
        let mut out = Vec::with_capacity(encoded.len() + 1024);
        b.iter(|| {
            out.clear();
            for _ in 0..64 {
                Transport::Derp.write_recv_header(&mut out, packet.len());
                out.extend_from_slice(&dst);
                out.extend_from_slice(&packet);
            }
            black_box(out.len())
        })
    });
    g.finish();
}

fn websocket(c: &mut Criterion) {
    let mut g = c.benchmark_group("websocket");
    for size in [1200usize, 65536] {
        let mut data = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("unmask_{size}B"), |b| {
            b.iter(|| ws::apply_mask(black_box(&mut data), [1, 2, 3, 4]))
        });
    }
    let mut msg = Vec::new();
    ws::encode_masked(
        &mut msg,
        &Frame::SendPacket {
            dst: &[3; 32],
            packet: &[9; 1200],
        },
        [9, 8, 7, 6],
    );
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_masked_sendpacket_1200B", |b| {
        let mut d = WsDecoder::new(Role::Server);
        b.iter_batched_ref(
            || msg.clone(),
            |m| black_box(d.decode(m).is_ok()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn handshake(c: &mut Criterion) {
    let sk = SigningKey::from_bytes(&[0x2a; 32]);
    let payload = client_info::build(&sk, 3);
    c.bench_function("client_info_verify_strict", |b| {
        b.iter(|| black_box(client_info::verify(black_box(&payload)).is_ok()))
    });
    c.bench_function("key_point_validation", |b| {
        let key = *sk.verifying_key().as_bytes();
        b.iter(|| black_box(relay_proto::key::is_valid_point(black_box(&key))))
    });
}

fn owner_and_enqueue(c: &mut Criterion) {
    let keys: Vec<NodeKey> = (0..10_000).map(|_| rand::random()).collect();
    let mut map: KeyMap<SendQueue> = keys
        .iter()
        .map(|k| (*k, SendQueue::new(Dialect::V035(Transport::Derp))))
        .collect();
    let src = [1u8; 32];
    let packet = vec![0u8; 1200];
    let mut i = 0usize;
    c.bench_function("owner_lookup_enqueue_take_1200B_10k_clients", |b| {
        b.iter(|| {
            let dst = &keys[i % keys.len()];
            i = i.wrapping_add(7919);
            black_box(router::owner(dst, 2));
            if let Some(q) = map.get_mut(dst) {
                black_box(q.push_datagram(&src, &Datagram::plain(&packet)) == Pushed::First);
                // The writer drains it, handing its buffer back.
                let bytes = q.take().bytes;
                q.install(bytes);
            }
        })
    });
}

criterion_group!(benches, frames, websocket, handshake, owner_and_enqueue);
criterion_main!(benches);
