#!/usr/bin/env python3
"""Writes RELIABILITY.md from the results of bench/faults (loadgen JSON
reports, metrics scraped before and after each run, recovery probes).

Usage: faults-render.py KIND RESULTS OUT CMD COMMIT SETUP MACHINE RELAYS SCENARIOS OFFENDERS ELAPSED
KIND is "faults" or "soak".
"""

import glob
import json
import os
import re
import statistics
import sys

DROP_RE = re.compile(
    r"drop|disconnect|ratelimit|handshake_fail|timeout|unknown_frames|accept_error|denied|replaced"
)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def metrics(path):
    """Counter name (labels summed) -> value."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                if not line.strip() or line.startswith("#"):
                    continue
                parts = line.split()
                if len(parts) < 2:
                    continue
                name = parts[0].split("{")[0]
                try:
                    out[name] = out.get(name, 0.0) + float(parts[1])
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def drops(base):
    before, after = metrics(base + ".metrics-before"), metrics(base + ".metrics-after")
    d = {}
    for name, v in after.items():
        if DROP_RE.search(name):
            delta = v - before.get(name, 0.0)
            if delta > 0:
                short = re.sub(r"^(uring_relay_|relayserver_)", "", name)
                d[short] = delta
    return d


def recovery(base):
    try:
        with open(base + ".recovery") as f:
            kv = dict(p.split("=", 1) for p in f.read().split())
        return kv.get("ping") == "200" and int(kv.get("delivered", "0")) > 0
    except (OSError, ValueError):
        return False


def load(results, scen, relay):
    runs = []
    for path in sorted(glob.glob(os.path.join(results, f"{scen}-{relay}-r*.json"))):
        if not re.search(r"-r\d+\.json$", path):
            continue
        base = path[: -len(".json")]
        with open(path) as f:
            rep = json.load(f)
        runs.append((rep, drops(base), recovery(base)))
    return runs


def mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f}"


def num(v, fmt="{:.0f}"):
    return "-" if v is None else fmt.format(v)


def summarize(runs):
    """Medians over the rounds of one relay and scenario."""
    g = lambda f: median([f(r) for r, _, _ in runs])  # noqa: E731
    fault = lambda k: (lambda r: (r.get("fault") or {}).get(k))  # noqa: E731
    s = {
        "pps": g(lambda r: r["fault"]["pairs_delivered_pps"] if r.get("fault") else r["traffic"]["delivered_pps"]),
        "p99_ms": g(lambda r: r["latency_us"]["p99"] / 1e3),
        "lost": g(lambda r: r["traffic"]["lost"]),
        "disc": g(lambda r: r["traffic"]["disconnects"]),
        "rss": [g(lambda r, k=k: (fault(k)(r) or {}).get("rss_kib")) for k in ("before", "after")],
        "fds": [g(lambda r, k=k: (fault(k)(r) or {}).get("fds")) for k in ("before", "after")],
        "rss_peak": g(fault("rss_peak_kib")),
        "fds_peak": g(fault("fds_peak")),
        "idle_fds": [g(lambda r: r["server"]["fds_before"]), g(lambda r: r["server"]["fds_after_settle"])],
        "closed": g(lambda r: r["fault"]["offenders"]["closed_by_server"] if r.get("fault") else None),
        "opened": g(lambda r: r["fault"]["offenders"]["opened"] if r.get("fault") else None),
        "open_at_stop": g(lambda r: r["fault"]["offenders"]["open_at_stop"] if r.get("fault") else None),
        "recovered": all(ok for _, _, ok in runs),
        "rounds": len(runs),
    }
    names = sorted({k for _, d, _ in runs for k in d})
    s["drops"] = {k: median([d.get(k, 0.0) for _, d, _ in runs]) for k in names}
    return s


def goals(s, base):
    """The printed goals (never asserted)."""
    out = []
    if base and base["pps"] and s["pps"] is not None:
        out.append(("≥90% pkt/s", s["pps"] >= 0.9 * base["pps"]))
    if base and base["p99_ms"] and s["p99_ms"] is not None:
        out.append(("p99 <2×", s["p99_ms"] < 2 * base["p99_ms"]))
    a, b = s["fds"]
    if a is not None and b is not None:
        out.append(("fds back", b <= a))
    a, b = s["rss"]
    if a and b is not None:
        out.append(("RSS ±5%", abs(b / a - 1) <= 0.05))
    out.append(("recovered", s["recovered"]))
    return " ".join(("✓ " if ok else "✗ ") + name for name, ok in out)


def faults_report(a):
    results, relays, scens = a["results"], a["relays"].split(), a["scenarios"].split()
    lines = []
    base = {r: summarize(load(results, "baseline", r)) for r in relays}
    lines += [
        "## Results",
        "",
        "| fault | relay | pairs pkt/s (of baseline) | pairs p99 ms (× baseline) | pairs lost / disconnects "
        "| offenders closed by server / opened (open at stop) | server RSS MiB start / peak / after "
        "| server fds start / peak / after | fds idle before / after settle | drops and disconnects by reason "
        "| recovered | goals |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scen in scens:
        for relay in relays:
            runs = load(results, scen, relay)
            if not runs:
                lines.append(f"| {scen} | {relay} | (no successful run) |||||||||| |")
                continue
            s = summarize(runs)
            b = base.get(relay)
            rel = lambda v, bv, f: (  # noqa: E731
                f" ({f(v, bv)})" if scen != "baseline" and v is not None and bv else ""
            )
            pps = num(s["pps"]) + rel(s["pps"], b and b["pps"], lambda v, bv: f"{100 * v / bv:.0f}%")
            p99 = num(s["p99_ms"], "{:.2f}") + rel(
                s["p99_ms"], b and b["p99_ms"], lambda v, bv: f"{v / bv:.2f}×"
            )
            off = "-" if s["opened"] is None else f"{num(s['closed'])} / {num(s['opened'])} ({num(s['open_at_stop'])})"
            drops_s = ", ".join(f"{k} {v:.0f}" for k, v in s["drops"].items() if v) or "none"
            lines.append(
                f"| {scen} | {relay} | {pps} | {p99} | {num(s['lost'])} / {num(s['disc'])} | {off} "
                f"| {mib(s['rss'][0])} / {mib(s['rss_peak'])} / {mib(s['rss'][1])} "
                f"| {num(s['fds'][0])} / {num(s['fds_peak'])} / {num(s['fds'][1])} "
                f"| {num(s['idle_fds'][0])} / {num(s['idle_fds'][1])} | {drops_s} "
                f"| {'yes' if s['recovered'] else '**no**'} | {goals(s, b) if scen != 'baseline' else ''} |"
            )
    return lines


def soak_report(a):
    lines = ["## Results", ""]
    lines += [
        "| relay | churn clients connected (of opened) | pairs pkt/s | pairs p99 ms | pairs lost | "
        "RSS MiB pre-churn / peak / after | fds pre-churn / peak / after | RSS within 5% | fds within 5% "
        "| drops and disconnects by reason | recovered |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    series = {}
    for relay in a["relays"].split():
        runs = load(a["results"], "soak", relay)
        if not runs:
            lines.append(f"| {relay} | (no successful run) |||||||||")
            continue
        rep, d, ok = runs[0]
        f = rep["fault"]
        o = f["offenders"]
        rp, fp = f["rss_after_vs_before_pct"], f["fds_after_vs_before_pct"]
        within = lambda p: "-" if p is None else ("✓" if abs(p) <= 5 else "✗") + f" {p:+.1f}%"  # noqa: E731
        drops_s = ", ".join(f"{k} {v:.0f}" for k, v in d.items() if v) or "none"
        lines.append(
            f"| {relay} | {o['established']} ({o['opened']}) | {f['pairs_delivered_pps']:.0f} "
            f"| {rep['latency_us']['p99'] / 1e3:.2f} | {rep['traffic']['lost']} "
            f"| {mib(f['before']['rss_kib'])} / {mib(f['rss_peak_kib'])} / {mib(f['after']['rss_kib'])} "
            f"| {num(f['before']['fds'])} / {num(f['fds_peak'])} / {num(f['after']['fds'])} "
            f"| {within(rp)} | {within(fp)} | {drops_s} | {'yes' if ok else '**no**'} |"
        )
        series[relay] = f["samples"]
    if series:
        lines += ["", "### Server RSS (MiB) and open fds over time", ""]
        relays = list(series)
        lines.append("| t (s) | " + " | ".join(f"{r} RSS | {r} fds" for r in relays) + " |")
        lines.append("|---|" + "---|---|" * len(relays))
        longest = max(len(s) for s in series.values())
        for i in range(longest):
            row = None
            cells = []
            for r in relays:
                s = series[r]
                if i < len(s):
                    row = row if row is not None else s[i]["t_s"]
                    cells += [mib(s[i]["rss_kib"]), num(s[i]["fds"])]
                else:
                    cells += ["", ""]
            lines.append(f"| {num(row)} | " + " | ".join(cells) + " |")
    return lines


def main():
    keys = ["kind", "results", "out", "cmd", "commit", "setup", "machine", "relays", "scenarios", "offenders", "elapsed"]
    a = dict(zip(keys, sys.argv[1:]))
    if len(a) != len(keys):
        sys.exit(__doc__)
    soak = a["kind"] == "soak"
    head = [
        "# Reliability" + (": soak with churn" if soak else " under misbehaving clients"),
        "",
        f"Produced by `{a['cmd']}` ({int(a['elapsed']) // 60} min) at commit {a['commit']}; {a['machine']}.",
        "",
        f"Setup: {a['setup']}. Both relays run `shards = 2` (the reference its default",
        "multi-threaded runtime), unpinned, with metrics on; loadgen (well-behaved",
        "clients and offenders) is a separate process on the same 2 cores.",
        "",
    ]
    if not soak:
        head += [
            f"Offenders per mode (count@--fault-rate): {a['offenders']}.",
            "",
            "- **churn**: clients in pairs that leave (FIN) and connect again, rate = reconnects/s over all.",
            "- **slowloris**: half send the upgrade request head one byte at a time (rate = bytes/s",
            "  each), half open a connection and send nothing; a closed one opens again.",
            "- **slow-reader**: receivers that never read (4 KiB receive buffer) while as many",
            "  senders flood them with 8 KiB packets (rate = packets/s per sender).",
            "- **garbage**: clients that finish the handshake, then send random bytes (rate = bytes/s each).",
            "- **half-open**: half finish the handshake and reset the socket (SO_LINGER 0: no FIN) and",
            "  connect again (rate = resets/s over all); half stop responding with the socket open",
            "  until the fault ends, then reset.",
            "",
        ]
    head += [
        "How to read this:",
        "",
        "- **pairs pkt/s**: packets the well-behaved clients delivered per second while the",
        "  fault ran (baseline: over the whole traffic phase); **p99**: their one-way latency",
        "  over the traffic phase; **lost**: sent minus delivered after a 2 s grace.",
        "- **start / peak / after**: server VmRSS and open fds from /proc with the pairs",
        "  connected: before the offenders (churn: once all churn clients are connected),",
        "  the largest sample while the fault ran (every second; soak every 10 s), and",
        "  after the fault stopped (churn: all clients connected again), with the pairs",
        "  still connected. **fds idle before / after settle**: before any client, and 3 s",
        "  after every client left.",
        "- **drops and disconnects by reason**: growth of the drop and disconnect counters",
        "  of the relay's metrics endpoint over the run (`uring_relay_*`, `relayserver_*`",
        "  with the prefix removed).",
        "- **recovered**: after the run the relay answers `/ping` with 200 and two new",
        "  clients connect and forward.",
        "- **goals** (printed, not asserted): pairs keep ≥90% of the no-fault pkt/s and",
        "  p99 below 2× the no-fault p99; fds back to the start count; RSS within 5%.",
        "- Cells are medians over the rounds. This is a shared 2-core VM: expect noise.",
        "",
    ]
    body = soak_report(a) if soak else faults_report(a)
    failed = os.path.join(a["results"], "failed.txt")
    if os.path.exists(failed):
        with open(failed) as f:
            body += ["", "## Runs that did not complete", ""] + [f"- {l.strip()}" for l in f if l.strip()]
    rel = os.path.relpath(a["results"], os.getcwd())
    body += ["", f"Raw JSON, metrics scrapes and server logs: `{rel}` (not committed)."]
    body += ["", "Fuzzing (hours run per target, findings): [FUZZING.md](FUZZING.md), written by",
             "`FUZZ_REPORT=FUZZING.md scripts/fuzz SECONDS`."]
    with open(a["out"], "w") as f:
        f.write("\n".join(head + body) + "\n")


if __name__ == "__main__":
    main()
