//! `uring-relay probe --protocol`, access tokens and restarts: 0.35 over a
//! websocket and iroh 1.x (v2, v1) against uring-relay; 1.x against the
//! reference 0.35 relay (which cannot serve it); a relay with
//! `access.shared_token`; a relay that announces a restart mid-probe. The
//! real iroh-relay 1.4.1 server is probed in tests-1x/tests/probe.rs.

use tests::fake_server::{restarting_proxy, Framing};
use tests::probe_run::{assert_passes, check, probe, probe_command, reference_binary, url};
use tests::{skip_on_reference, RelayOptions, RelayProcess};

#[test]
fn every_protocol_passes_against_uring_relay() {
    if skip_on_reference("iroh 1.x") {
        return;
    }
    let relay = RelayProcess::start(2).expect("relay");
    for protocol in ["derp", "ws", "v2", "v1"] {
        let o = probe(&[&url(relay.addr()), "--json", "--protocol", protocol]);
        assert_passes(&o, 5);
        let r = o.json();
        assert_eq!(r["protocol"], protocol);
        let detail = check(&r, "connect_a")["detail"]
            .as_str()
            .unwrap_or_default();
        let want = match protocol {
            "v2" => "upgrade (iroh-relay-v2), challenge and Ping answered",
            "v1" => "upgrade (iroh-relay-v1), challenge and Ping answered",
            _ => "upgrade, ClientInfo and Ping answered",
        };
        assert!(detail.starts_with(want), "{protocol}: {detail}");
    }
    let o = probe(&[&url(relay.addr()), "--protocol", "v2"]);
    assert!(
        o.stdout
            .contains(") with iroh 1.x clients (iroh-relay-v2) at "),
        "{}",
        o.stdout
    );
}

#[test]
fn one_x_against_the_reference_0_35_relay() {
    let Some(bin) = reference_binary() else {
        eprintln!("one_x_against_the_reference_0_35_relay: SKIP (reference not installed)");
        return;
    };
    let relay = RelayProcess::start_with(RelayOptions {
        bin: Some(bin),
        ..Default::default()
    })
    .expect("reference relay");
    let o = probe(&[
        &url(relay.addr()),
        "--json",
        "--protocol",
        "v2",
        "--timeout",
        "3",
    ]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    let r = o.json();
    // A 0.35 relay has no X-Iroh-Response and switches without a subprotocol.
    let g204 = check(&r, "generate_204")["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        g204.contains("without X-Iroh-Response") && g204.contains("iroh 1.x clients"),
        "{g204}"
    );
    assert_eq!(
        check(&r, "connect_a")["error"],
        format!(
            "relay at {} does not speak iroh 1.x: it switched protocols without choosing \
             `Sec-WebSocket-Protocol: iroh-relay-v2` (an iroh 0.35 relay answers so)",
            relay.addr()
        )
        .as_str()
    );
}

#[test]
fn shared_token_relay() {
    if skip_on_reference("access.shared_token") {
        return;
    }
    let relay = RelayProcess::start_with(RelayOptions {
        extra_toml: "access.shared_token = [\"tok-probe\", \"tok/other\"]".to_owned(),
        ..Default::default()
    })
    .expect("relay");
    let base = url(relay.addr());
    // 1.x clients with the token, from --token or the URL, pass.
    assert_passes(
        &probe(&[&base, "--json", "--protocol", "v2", "--token", "tok-probe"]),
        5,
    );
    let with_query = format!("{base}/?token=tok%2Fother");
    let o = probe(&[&with_query, "--json", "--protocol", "v1"]);
    assert_passes(&o, 5);
    // The token stays out of the report (and out of metric labels).
    assert_eq!(o.json()["url"], format!("{base}/?token=REDACTED").as_str());
    assert!(!o.stdout.contains("other"), "{}", o.stdout);

    // Without it they are denied, and told where a token goes.
    let r = probe(&[&base, "--json", "--protocol", "v2", "--timeout", "3"]).json();
    assert_eq!(
        check(&r, "connect_a")["error"],
        "relay denied client A: ServerDeniesAuth(\"not authorized\") (its access control does \
         not admit unknown keys; a relay with access.shared_token needs --token TOKEN or \
         ?token= in the URL)"
    );
    let r = probe(&[&base, "--json", "--protocol", "v2", "--token", "wrong"]).json();
    assert_eq!(
        check(&r, "connect_b")["error"],
        "relay denied client B: ServerDeniesAuth(\"not authorized\") (the relay did not accept \
         the token, or its access control does not admit this key)"
    );

    // 0.35 clients cannot send it, whatever the probe holds.
    for args in [
        vec![base.as_str(), "--token", "tok-probe"],
        vec![with_query.as_str()],
    ] {
        let mut all = args.clone();
        all.extend(["--json", "--timeout", "3"]);
        let o = probe(&all);
        assert_eq!(o.code, 1, "{}", o.stdout);
        assert_eq!(
            o.json()["error"],
            "relay refused client A: Health(\"not authenticated\") (the relay requires an \
             access token (access.shared_token), which iroh 0.35 clients cannot send, so \
             Delta Chat's 0.35 clients are refused; --protocol v2 checks the token)"
        );
    }
}

/// A Restarting frame with 1000 ms and 30000 ms, as `protocol` writes it.
fn restarting(protocol: &str) -> (Framing, Vec<u8>) {
    let times = [0, 0, 0x03, 0xe8, 0, 0, 0x75, 0x30];
    let (framing, mut wire) = match protocol {
        "derp" => (Framing::Derp, vec![0x0f, 0, 0, 0, 8]),
        "ws" => (Framing::Websocket, vec![0x82, 9, 0x0f]),
        _ => (Framing::Websocket, vec![0x82, 9, 0x0c]),
    };
    wire.extend_from_slice(&times);
    (framing, wire)
}

#[test]
fn a_restart_mid_probe_is_reported_as_such() {
    if skip_on_reference("iroh 1.x") {
        return;
    }
    let relay = RelayProcess::start(1).expect("relay");
    for protocol in ["derp", "ws", "v2"] {
        let (framing, frame) = restarting(protocol);
        let proxy = restarting_proxy(relay.addr(), framing, frame);
        let o = probe(&[
            &url(proxy),
            "--json",
            "--protocol",
            protocol,
            "--timeout",
            "2",
        ]);
        assert_eq!(o.code, 1, "{}", o.stdout);
        let r = o.json();
        assert_eq!(check(&r, "connect_b")["ok"], true, "{r:#}");
        let err = r["error"].as_str().unwrap_or_default();
        assert!(
            err.starts_with(
                "relay is restarting (sent Restarting: reconnect in 1000 ms, try for 30000 ms) \
                 to client A (while sending A to B)"
            ),
            "{protocol}: {err}"
        );
        assert_eq!(check(&r, "forward_a_to_b")["error"], err);
        assert_eq!(
            check(&r, "forward_b_to_a")["skipped"],
            "the relay is restarting (see forward_a_to_b)"
        );
    }
}

#[test]
fn help_says_what_the_probe_does() {
    let out = probe_command(&["--help"]).output().expect("probe --help");
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(!help.contains("See `probe --help`"), "{help}");
    for needle in [
        "Checks a running relay from outside",
        "https://",
        "--protocol <PROTOCOL>",
        "--token <TOKEN>",
        "--ca-file <FILE>",
        "--insecure",
        "access.shared_token",
        "Exit status",
    ] {
        assert!(help.contains(needle), "{needle:?} missing:\n{help}");
    }
    let out = std::process::Command::new(tests::relay::uring_relay_binary().expect("binary"))
        .arg("--help")
        .output()
        .expect("uring-relay --help");
    let top = String::from_utf8_lossy(&out.stdout);
    assert!(top.contains("probe"), "{top}");
    assert!(!top.contains("See `probe --help`"), "{top}");
}
