//! Per-shard counters, summed at scrape time into the metrics page
//! (Prometheus text or OpenMetrics, see [`render`]).
//!
//! Each shard is the only writer of its own counters, so an increment is a
//! relaxed load and store on a cache line no other core writes: no locked
//! instructions and no sharing on the hot path. Process-wide figures (memory,
//! descriptors, config reloads) are read at scrape time ([`ProcessStats`]).

mod histogram;
mod process;
mod reloads;
mod render;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::proto::Family;

pub use histogram::{Histogram, Spec};
pub use process::{process_rss_bytes, AllocatorStats, ProcessStats};
pub use reloads::{ReloadMetrics, ReloadStats, RELOADS};
pub use render::{render, Format};

/// A counter written by one thread, read by any.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }
    /// For gauges owned by one shard.
    #[inline]
    pub fn sub(&self, n: u64) {
        self.0
            .store(self.0.load(Relaxed).saturating_sub(n), Relaxed);
    }
    /// For gauges owned by one shard: one store, never a torn value.
    #[inline]
    pub fn set(&self, n: u64) {
        self.0.store(n, Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

macro_rules! metric_group {
    ($(#[$doc:meta])* $group:ident { $( $field:ident => $name:literal, $kind:literal, $help:literal; )* }) => {
        $(#[$doc])*
        #[derive(Debug, Default)]
        #[repr(align(128))]
        pub struct $group { $( pub $field: Counter, )* }

        impl $group {
            pub(crate) fn each(&self) -> impl Iterator<Item = (&'static str, &'static str, &'static str, &Counter)> {
                [$( ($name, $kind, $help, &self.$field), )*].into_iter()
            }
        }
    };
}

metric_group! {
    /// The STUN listener's counters (the reference's `stun_*`).
    StunMetrics {
    requests => "stun_requests", "counter", "Number of STUN requests made to the server.";
    ipv4_success => "stun_ipv4_success", "counter", "Number of successful ipv4 STUN requests served.";
    ipv6_success => "stun_ipv6_success", "counter", "Number of successful ipv6 STUN requests served.";
    bad_requests => "stun_bad_requests", "counter", "Number of bad requests made to the STUN endpoint.";
    failures => "stun_failures", "counter", "Number of STUN requests that end in failure.";
    }
}

metric_group! {
    /// One family's counters on one shard. Names follow the references'
    /// `relayserver_*` metrics where one exists (the rate-limit ones as
    /// iroh-relay 1.4.1 spells them, for both families; 0.35 doubled their
    /// `_total`); each is rendered with a `family` label. A counter's name
    /// is its OpenMetrics family, without `_total`.
    FamilyCounters {
    bytes_sent => "relayserver_bytes_sent", "counter", "Number of bytes sent.";
    bytes_recv => "relayserver_bytes_recv", "counter", "Number of bytes received.";
    send_packets_sent => "relayserver_send_packets_sent", "counter", "Number of 'send' packets relayed to the destination.";
    send_packets_recv => "relayserver_send_packets_recv", "counter", "Number of 'send' packets received from the client.";
    send_packets_dropped => "relayserver_send_packets_dropped", "counter", "Number of 'send' packets dropped (unknown destination, full queue, memory budget, or receiver closing).";
    disco_packets_sent => "relayserver_disco_packets_sent", "counter", "Number of disco packets sent.";
    disco_packets_recv => "relayserver_disco_packets_recv", "counter", "Number of disco packets received.";
    disco_packets_dropped => "relayserver_disco_packets_dropped", "counter", "Number of disco packets dropped.";
    other_packets_sent => "relayserver_other_packets_sent", "counter", "Number of packets sent of other type.";
    other_packets_recv => "relayserver_other_packets_recv", "counter", "Number of packets received of other type.";
    other_packets_dropped => "relayserver_other_packets_dropped", "counter", "Number of packets dropped of other type.";
    got_ping => "relayserver_got_ping", "counter", "Number of times a ping was received from a client.";
    sent_pong => "relayserver_sent_pong", "counter", "Number of times a pong was sent to a client.";
    unknown_frames => "relayserver_unknown_frames", "counter", "Number of valid frames the relay ignores.";
    frames_rx_ratelimited_total => "relayserver_frames_rx_ratelimited", "counter", "Number of times reading was paused by the rate limit.";
    bytes_rx_ratelimited => "relayserver_bytes_rx_ratelimited", "counter", "Bytes already read whose handling was delayed by the rate limit.";
    conns_rx_ratelimited_total => "relayserver_conns_rx_ratelimited", "counter", "Number of connections that hit the rate limit.";
    accepts => "relayserver_accepts", "counter", "Number of accepted client connections.";
    disconnects => "relayserver_disconnects", "counter", "Number of client disconnections.";
    unique_client_keys => "relayserver_unique_client_keys", "counter", "Number of client registrations.";
    websocket_accepts => "relayserver_websocket_accepts", "counter", "Number of websocket upgrades.";
    relay_accepts => "relayserver_relay_accepts", "counter", "Number of iroh derp http upgrades.";
    clients_inactive_added => "relayserver_clients_inactive_added", "counter", "Connections kept inactive because a newer one took their endpoint id.";
    clients_inactive_removed => "relayserver_clients_inactive_removed", "counter", "Inactive connections promoted back or closed.";
    dropped_unknown_dst => "uring_relay_dropped_unknown_destination", "counter", "Packets dropped because the destination is not connected.";
    dropped_queue_full => "uring_relay_dropped_queue_full", "counter", "Packets dropped because the destination queue was full.";
    dropped_budget => "uring_relay_dropped_memory_budget", "counter", "Packets dropped because queued packets reached limits.max_queued_bytes.";
    dropped_unforwardable => "uring_relay_dropped_unforwardable", "counter", "Datagrams dropped because their receiver would reject them (empty, or over 65536 bytes).";
    dropped_on_close => "uring_relay_dropped_on_close", "counter", "Queued packets lost when their destination disconnected.";
    write_stalls => "uring_relay_write_stall_disconnects", "counter", "Clients disconnected after a write made no progress for 2 s.";
    ping_timeouts => "uring_relay_ping_timeout_disconnects", "counter", "Clients disconnected for not answering a server ping.";
    protocol_errors => "uring_relay_protocol_error_disconnects", "counter", "Clients disconnected for a protocol violation.";
    handshake_failures => "uring_relay_handshake_failures", "counter", "Connections closed during the handshake after the upgrade.";
    access_denied => "uring_relay_access_denied", "counter", "Handshakes refused by access control.";
    access_revoked => "uring_relay_access_revoked_disconnects", "counter", "Clients disconnected because a reloaded access list no longer admits them.";
    replaced => "uring_relay_replaced_connections", "counter", "Connections closed because the same key connected again.";
    peer_gone_sent => "uring_relay_peer_gone_sent", "counter", "PeerGone / EndpointGone frames queued to clients.";
    clients => "uring_relay_clients", "gauge", "Endpoint ids registered on this shard.";
    duplicate_key_connections => "uring_relay_duplicate_key_connections", "gauge", "Connections kept open, inactive, beside a newer one with the same endpoint id (1.x; 0.35 closes the older one).";
    }
}

metric_group! {
    /// One shard's counters that belong to no family.
    ShardCounters {
    accept_emfile => "uring_relay_accept_errors{errno=\"EMFILE\"}", "counter", "Accepts that failed, by errno; the relay backs off and keeps serving.";
    accept_enfile => "uring_relay_accept_errors{errno=\"ENFILE\"}", "counter", "Accepts that failed, by errno; the relay backs off and keeps serving.";
    accept_other => "uring_relay_accept_errors{errno=\"other\"}", "counter", "Accepts that failed, by errno; the relay backs off and keeps serving.";
    dropped_cross_shard => "uring_relay_dropped_cross_shard_full", "counter", "Packets dropped because the hand-off to the destination's shard was full.";
    cross_shard_packets => "uring_relay_cross_shard_packets", "counter", "Packets handed to another shard for delivery.";
    cross_shard_batches => "uring_relay_cross_shard_batches", "counter", "Batches handed to another shard.";
    sig_batches => "uring_relay_handshake_signature_batches", "counter", "Handshake signatures checked together: batches of two or more.";
    sig_batched => "uring_relay_handshake_signatures_batched", "counter", "Handshake signatures checked in such batches.";
    sig_batch_failures => "uring_relay_handshake_signature_batch_failures", "counter", "Batches that held a bad signature and were checked again one by one.";
    queued_packets => "uring_relay_queued_packets", "gauge", "Packets waiting in send queues on this shard.";
    queued_bytes => "uring_relay_queued_bytes", "gauge", "Bytes queued or being written to clients of this shard.";
    read_busy => "uring_relay_read_busy_connections", "gauge", "Connections sharing the shard's read buffer budget.";
    io_uring => "uring_relay_io_backend{backend=\"io_uring\"}", "gauge", "1 for the I/O backend this shard runs on.";
    io_epoll => "uring_relay_io_backend{backend=\"epoll\"}", "gauge", "1 for the I/O backend this shard runs on.";
    ring_active => "uring_relay_shard_ring", "gauge", "1 when this shard's clients are served by its own ring (multishot receive, provided buffers).";
    ring_enters => "uring_relay_ring_enters", "counter", "io_uring_enter calls on the shard ring (each submits and runs completions).";
    ring_submitted => "uring_relay_ring_submissions", "counter", "Operations submitted to the shard ring.";
    ring_completions => "uring_relay_ring_completions", "counter", "Completions handled from the shard ring.";
    ring_rearms => "uring_relay_ring_receive_arms", "counter", "Multishot receives armed (once per client, again after a pause, buffer exhaustion or an end the kernel chose).";
    ring_enobufs => "uring_relay_ring_buffers_exhausted", "counter", "Receives that found no free buffer in the shard's buffer ring (ENOBUFS) and were armed again.";
    }
}

impl FamilyCounters {
    /// Counts a packet that will not reach its receiver under the
    /// reference's send or disco counter.
    pub fn packet_dropped(&self, disco: bool) {
        if disco {
            self.disco_packets_dropped.inc();
        } else {
            self.send_packets_dropped.inc();
        }
    }
}

/// Frames one write to a client carried: how well sends coalesce.
pub static WRITE_FRAMES: Spec = Spec {
    name: "uring_relay_write_frames",
    help: "Frames each flush of a client's send queue carried (packets and control frames coalesced into one write; Pongs go first in their own).",
    bounds: &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    scale: 1.0,
};

/// Microseconds from a frame entering an empty queue to its write.
pub static QUEUE_WAIT: Spec = Spec {
    name: "uring_relay_queue_wait_seconds",
    help: "Time the oldest frame of each write waited in its client's send queue.",
    bounds: &[
        50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
        1_000_000, 2_500_000,
    ],
    scale: 1e6,
};

/// Everything one shard counts: its own counters, one set per family and
/// the write histograms.
#[derive(Debug)]
pub struct ShardMetrics {
    pub shard: ShardCounters,
    families: [FamilyCounters; Family::COUNT],
    pub write_frames: Histogram,
    pub queue_wait: Histogram,
}

impl Default for ShardMetrics {
    fn default() -> Self {
        Self {
            shard: ShardCounters::default(),
            families: Default::default(),
            write_frames: Histogram::new(&WRITE_FRAMES),
            queue_wait: Histogram::new(&QUEUE_WAIT),
        }
    }
}

impl ShardMetrics {
    pub(crate) fn histograms(&self) -> [&Histogram; 2] {
        [&self.write_frames, &self.queue_wait]
    }

    pub fn family(&self, f: Family) -> &FamilyCounters {
        &self.families[f as usize]
    }
}
