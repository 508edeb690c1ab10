//! The page in both formats, from counters set by hand.

use super::*;

/// Two shards with some of everything moved.
fn page(format: Format) -> String {
    let a = ShardMetrics::default();
    let b = ShardMetrics::default();
    a.family(Family::V035).accepts.add(2);
    b.family(Family::V035).accepts.inc();
    b.family(Family::V1x).accepts.add(7);
    a.family(Family::V035).clients.add(5);
    b.family(Family::V035).clients.add(3);
    b.family(Family::V035).clients.sub(1);
    a.family(Family::V035).frames_rx_ratelimited_total.add(4);
    b.family(Family::V1x).conns_rx_ratelimited_total.inc();
    b.family(Family::V1x).access_revoked.add(2);
    a.shard.accept_emfile.add(2);
    b.shard.accept_enfile.inc();
    let stun = StunMetrics::default();
    stun.requests.add(3);
    let process = ProcessStats {
        rss_bytes: Some(4096),
        open_fds: Some(7),
        max_fds: Some(20000),
        log_lines_dropped: 3,
        allocator: Some(AllocatorStats {
            allocated: 5,
            ..Default::default()
        }),
        reloads: ReloadStats {
            applied: 4,
            rejected: 1,
            last_successful: false,
        },
    };
    a.write_frames.observe(1);
    b.write_frames.observe(3);
    b.queue_wait.observe(120);
    b.family(Family::V1x).duplicate_key_connections.set(2);
    render(Some(&stun), &[&a, &b], process, format)
}

/// Samples read the same in both formats.
#[test]
fn samples() {
    for format in [Format::Text, Format::OpenMetrics] {
        let text = page(format);
        for line in [
            "stun_requests_total 3\n",
            "relayserver_accepts_total{family=\"0.35\"} 3\n\
             relayserver_accepts_total{family=\"1.x\"} 7\n",
            "uring_relay_clients{shard=\"0\",family=\"0.35\"} 5\n",
            "uring_relay_clients{shard=\"1\",family=\"0.35\"} 2\n",
            // One spelling (1.4.1's) for both families.
            "relayserver_frames_rx_ratelimited_total{family=\"0.35\"} 4\n\
             relayserver_frames_rx_ratelimited_total{family=\"1.x\"} 0\n",
            "relayserver_conns_rx_ratelimited_total{family=\"0.35\"} 0\n\
             relayserver_conns_rx_ratelimited_total{family=\"1.x\"} 1\n",
            "relayserver_bytes_rx_ratelimited_total{family=\"0.35\"} 0\n",
            "uring_relay_access_revoked_disconnects_total{family=\"1.x\"} 2\n",
            "process_resident_memory_bytes 4096\n",
            "process_open_fds 7\n",
            "process_max_fds 20000\n",
            "uring_relay_allocator_bytes{kind=\"allocated\"} 5\n",
            "uring_relay_duplicate_key_connections{shard=\"1\",family=\"1.x\"} 2\n",
            "uring_relay_write_frames_bucket{le=\"1\"} 1\n\
             uring_relay_write_frames_bucket{le=\"2\"} 1\n\
             uring_relay_write_frames_bucket{le=\"4\"} 2\n",
            "uring_relay_write_frames_bucket{le=\"+Inf\"} 2\n\
             uring_relay_write_frames_count 2\n\
             uring_relay_write_frames_sum 4\n",
            "uring_relay_queue_wait_seconds_bucket{le=\"0.0001\"} 0\n",
            "uring_relay_queue_wait_seconds_bucket{le=\"0.00025\"} 1\n",
            "uring_relay_queue_wait_seconds_sum 0.00012\n",
            "uring_relay_log_lines_dropped_total 3\n",
            "uring_relay_accept_errors_total{errno=\"EMFILE\"} 2\n\
             uring_relay_accept_errors_total{errno=\"ENFILE\"} 1\n\
             uring_relay_accept_errors_total{errno=\"other\"} 0\n",
            "uring_relay_config_reloads_total{result=\"applied\"} 4\n\
             uring_relay_config_reloads_total{result=\"rejected\"} 1\n",
            "uring_relay_config_last_reload_successful 0\n",
        ] {
            assert!(text.contains(line), "{format:?}: no {line:?} in\n{text}");
        }
        assert!(!text.contains("_total_total"), "{format:?}");
        assert!(!text.contains("\n\n"), "{format:?}");
    }
}

/// Prometheus text: HELP and TYPE name the samples; no `# EOF`.
#[test]
fn text_format() {
    let text = page(Format::Text);
    assert!(text.starts_with("# HELP stun_requests_total "));
    assert!(text.contains(
        "# TYPE relayserver_accepts_total counter\n\
         relayserver_accepts_total{family=\"0.35\"} 3\n"
    ));
    assert!(text.contains(
        "# TYPE relayserver_frames_rx_ratelimited_total counter\n\
         relayserver_frames_rx_ratelimited_total{family=\"0.35\"} 4\n"
    ));
    assert!(text.contains(
        "# TYPE uring_relay_accept_errors_total counter\n\
         uring_relay_accept_errors_total{errno=\"EMFILE\"} 2\n"
    ));
    assert!(text.contains("# TYPE uring_relay_clients gauge\n"));
    assert!(text.contains("# TYPE uring_relay_write_frames histogram\n"));
    assert!(text.contains(
        "# TYPE uring_relay_config_last_reload_successful gauge\n\
         uring_relay_config_last_reload_successful 0\n"
    ));
    assert!(!text.contains("# EOF"));
}

/// OpenMetrics: a counter's family has no `_total`; `# EOF` closes.
#[test]
fn openmetrics_format() {
    let text = page(Format::OpenMetrics);
    assert!(text.starts_with("# HELP stun_requests "));
    assert!(text.contains(
        "# TYPE relayserver_accepts counter\n\
         relayserver_accepts_total{family=\"0.35\"} 3\n"
    ));
    assert!(text.contains(
        "# TYPE relayserver_conns_rx_ratelimited counter\n\
         relayserver_conns_rx_ratelimited_total{family=\"0.35\"} 0\n"
    ));
    assert!(text.contains("# TYPE uring_relay_config_reloads counter\n"));
    assert!(text.ends_with("\n# EOF\n"));
}

/// Every sample follows its family's HELP and TYPE, and each family is
/// announced once, in both formats.
#[test]
fn every_sample_has_help_and_type() {
    for format in [Format::Text, Format::OpenMetrics] {
        let text = page(format);
        let mut current: Option<(String, String)> = None;
        let mut seen = std::collections::HashSet::new();
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            if line == "# EOF" {
                assert!(lines.peek().is_none());
                continue;
            }
            if let Some(help) = line.strip_prefix("# HELP ") {
                let (name, h) = help.split_once(' ').unwrap_or((help, ""));
                assert!(!h.is_empty(), "{format:?}: {line}");
                assert!(seen.insert(name.to_string()), "{format:?}: {name} twice");
                let ty = lines.next().unwrap_or_default();
                let kind = ty
                    .strip_prefix(&format!("# TYPE {name} "))
                    .unwrap_or_else(|| panic!("{format:?}: {ty:?} after {line:?}"));
                current = Some((name.to_string(), kind.to_string()));
                continue;
            }
            let (family, kind) = current.clone().expect("a sample before any HELP");
            let sample = line.split(['{', ' ']).next().unwrap_or_default();
            let base = match (format, kind.as_str()) {
                (Format::OpenMetrics, "counter") => format!("{family}_total"),
                _ => family.clone(),
            };
            let ok = match kind.as_str() {
                "histogram" => ["_bucket", "_count", "_sum"]
                    .iter()
                    .any(|s| sample == format!("{base}{s}")),
                _ => sample == base,
            };
            assert!(ok, "{format:?}: sample {sample} under {kind} {family}");
        }
    }
}

#[test]
fn content_types() {
    assert_eq!(
        Format::Text.content_type(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(
        Format::OpenMetrics.content_type(),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
}

/// The reload metrics are on every page, even one without STUN or shards
/// (starting successful); counter names carry no `_total` of their own.
#[test]
fn reloads_are_always_rendered() {
    let text = render(None, &[], ProcessStats::default(), Format::Text);
    assert!(text.contains(
        "uring_relay_config_reloads_total{result=\"applied\"} 0\n\
         uring_relay_config_reloads_total{result=\"rejected\"} 0\n"
    ));
    assert!(text.contains("uring_relay_config_last_reload_successful 1\n"));
    let names: Vec<_> = FamilyCounters::default().each().map(|(n, ..)| n).collect();
    assert!(names.contains(&"uring_relay_access_revoked_disconnects"));
    assert!(names.iter().all(|n| !n.ends_with("_total")), "{names:?}");
}
