//! The rows and columns of the summary tables: which figures each kind of
//! scenario shows, and the relays a run may have.

/// One row of a table: label, JSON pointer, decimals, and whether ratios
/// between relays mean anything (not for the loadgen's own CPU or noise).
pub(crate) struct Metric {
    pub name: &'static str,
    pub pointer: &'static str,
    pub decimals: usize,
    pub ratio: bool,
}

const fn m(name: &'static str, pointer: &'static str, decimals: usize) -> Metric {
    Metric {
        name,
        pointer,
        decimals,
        ratio: true,
    }
}

/// A row shown without ratios.
const fn info(name: &'static str, pointer: &'static str, decimals: usize) -> Metric {
    Metric {
        ratio: false,
        ..m(name, pointer, decimals)
    }
}

/// Shown for runs that send packets.
pub(crate) const TRAFFIC: &[Metric] = &[
    m("delivered pkt/s", "/traffic/delivered_pps", 0),
    m("delivered Gbit/s", "/traffic/delivered_gbps", 3),
    m("lost packets", "/traffic/lost", 0),
    m("unsent packets", "/traffic/unsent", 0),
    m("latency p50 us", "/latency_us/p50", 0),
    m("latency p99 us", "/latency_us/p99", 0),
    m("latency p999 us", "/latency_us/p999", 0),
    m("server CPU ns/packet", "/server/cpu_ns_per_packet", 0),
    m("server CPU cores", "/server/cores", 2),
    info("loadgen CPU cores", "/loadgen/cores", 2),
    info("other processes CPU cores", "/machine/other_cores", 2),
];

/// Shown for idle runs (connect storm and memory).
pub(crate) const IDLE: &[Metric] = &[
    m("connect wall s", "/connect/wall_s", 2),
    m("connects/s", "/connect/per_s", 0),
    m("connect p50 ms", "/connect/time_ms/p50", 1),
    m("connect p99 ms", "/connect/time_ms/p99", 1),
    m("connect failures", "/connect/failed", 0),
    m(
        "server CPU us/connect",
        "/server/connect_cpu_us_per_client",
        1,
    ),
    m(
        "server RSS MiB after connect",
        "/server/rss_after_connect_kib",
        1,
    ),
    m("server RSS bytes/client", "/server/rss_per_client_bytes", 0),
];

/// Shown for runs with a settle wait: how a burst went (pkt/s, clients the
/// server closed) and whether the server's memory went back afterwards.
pub(crate) const BURST: &[Metric] = &[
    m("delivered pkt/s", "/traffic/delivered_pps", 0),
    m("lost packets", "/traffic/lost", 0),
    m("server-closed clients", "/errors/server_closed/count", 0),
    m("disconnects (any reason)", "/traffic/disconnects", 0),
    m("server RSS MiB before", "/server/rss_before_kib", 1),
    m("server RSS MiB peak", "/server/rss_peak_kib", 1),
    m(
        "server RSS MiB at end (clients connected)",
        "/server/rss_end_kib",
        1,
    ),
    m(
        "server RSS MiB after settle (clients gone)",
        "/server/rss_after_settle_kib",
        1,
    ),
    info(
        "server open fds after settle",
        "/server/fds_after_settle",
        0,
    ),
    m("server CPU cores", "/server/cores", 2),
    info("loadgen CPU cores", "/loadgen/cores", 2),
    info("other processes CPU cores", "/machine/other_cores", 2),
];

/// Shown for mixed runs (`--mix 035:1x=…`): totals and each family.
pub(crate) const MIX: &[Metric] = &[
    m("delivered pkt/s (all)", "/traffic/delivered_pps", 0),
    m(
        "0.35 family: delivered pkt/s",
        "/groups/035/delivered_pps",
        0,
    ),
    m("1.x family: delivered pkt/s", "/groups/1x/delivered_pps", 0),
    m("0.35 family: lost packets", "/groups/035/lost", 0),
    m("1.x family: lost packets", "/groups/1x/lost", 0),
    m(
        "0.35 family: latency p50 us",
        "/groups/035/latency_us/p50",
        0,
    ),
    m(
        "0.35 family: latency p99 us",
        "/groups/035/latency_us/p99",
        0,
    ),
    m("1.x family: latency p50 us", "/groups/1x/latency_us/p50", 0),
    m("1.x family: latency p99 us", "/groups/1x/latency_us/p99", 0),
    m("server CPU ns/packet", "/server/cpu_ns_per_packet", 0),
    m("server CPU cores", "/server/cores", 2),
    info("loadgen CPU cores", "/loadgen/cores", 2),
    info("other processes CPU cores", "/machine/other_cores", 2),
];

/// Every relay a run may have, as (label key, column heading).
pub(crate) const RELAYS: [(&str, &str); 5] = [
    ("ours", "uring-relay"),
    ("ours-epoll", "uring-relay (epoll)"),
    ("reference", "iroh-relay 0.35"),
    ("reference-1x", "iroh-relay 1.4.1"),
    ("pump", "pump"),
];

/// The reference a scenario was run against: 1.4.1 where it ran, else 0.35.
pub(crate) fn reference_of(present: &[&str]) -> &'static str {
    if present.contains(&"reference-1x") {
        "reference-1x"
    } else {
        "reference"
    }
}

/// The column heading of a relay.
pub(crate) fn heading_of(relay: &str) -> &str {
    RELAYS
        .iter()
        .find(|(k, _)| *k == relay)
        .map_or(relay, |x| x.1)
}
