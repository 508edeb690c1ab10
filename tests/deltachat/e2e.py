#!/usr/bin/env python3
"""The real Delta Chat core end to end: discovery over IMAP METADATA and
WebXDC realtime through the relay, with the relay as the only path.

Run through scripts/deltachat-e2e, which installs what this needs. Every
step prints its time; a failing run keeps its logs and says where.
"""

import argparse
import logging
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from scenarios import Failed, Run, Steps
from topology import Topology

SCENARIOS = ["pair", "group", "restart", "negative"]


def run_once(args, label):
    root = Path(tempfile.mkdtemp(prefix="dce2e-", dir=args.workdir))
    # Postfix and Dovecot drop privileges and must reach their files below.
    root.chmod(0o755)
    step = Steps(label)
    names = ["a", "b", "c"] if "group" in args.scenarios else ["a", "b"]
    report = {"root": root, "ok": False}
    try:
        with Topology(names) as topo:
            step(f"namespaces up ({', '.join(names)}), work dir {root}")
            run = Run(args, topo, root, step, report)
            # A hung call into a core or server ends with its process killed.
            watchdog = threading.Timer(args.run_timeout, watchdog_fired, (topo, report))
            watchdog.start()
            try:
                run.setup()
                if "pair" in args.scenarios or "restart" in args.scenarios:
                    run.pair()
                for name in ("group", "restart", "negative"):
                    if name in args.scenarios:
                        getattr(run, name)()
                report["ok"] = True
            finally:
                watchdog.cancel()
                run.teardown()
    except Failed as e:
        report["error"] = str(e)
    except Exception as e:  # setup errors: same report, with the type
        report["error"] = f"{type(e).__name__}: {e}"
    if "watchdog" in report:
        report["ok"] = False
        report["error"] = f"{report['watchdog']}; then {report.get('error')}"
    return finish(args, report, root, step)


def watchdog_fired(topo, report):
    report["watchdog"] = "run exceeded --run-timeout, every process killed"
    topo.kill_processes()


def finish(args, report, root, step):
    step("passed" if report["ok"] else f"FAILED: {report['error']}")
    if report["ok"] and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"logs kept in {root}", flush=True)
    return report


class QuietClose(logging.Filter):
    """The client library logs a traceback when a core it stopped goes away."""

    def filter(self, record):
        return "RPC server closed" not in str(record.exc_info[1] if record.exc_info else "")


def main():
    logging.getLogger().addFilter(QuietClose())
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--relay", choices=["ours", "reference"], required=True)
    p.add_argument("--relay-bin", required=True)
    p.add_argument("--imap-meta-bin", required=True)
    p.add_argument("--rpc-server", required=True)
    p.add_argument("--discovery", choices=["proxy", "dovecot"], default="proxy")
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--timeout", type=float, default=45,
                   help="seconds each realtime direction may take")
    p.add_argument("--order", choices=["together", "one-by-one"], default="together",
                   help="both directions at once (as Delta Chat's own tests), or a->b "
                   "while b is silent, then b->a (exposes iroh-gossip 0.35's stall)")
    p.add_argument("--advertise", choices=["both", "b-then-a"], default="both",
                   help="a and b advertise at once, or b first and a once b's arrived")
    p.add_argument("--negative-timeout", type=float, default=20)
    p.add_argument("--restart-bound", type=float, default=60)
    p.add_argument("--run-timeout", type=float, default=300,
                   help="kill everything when one run takes longer")
    p.add_argument("--workdir", default=None)
    p.add_argument("--keep", action="store_true", help="keep logs of passing runs too")
    p.add_argument("--client-log", default="info,iroh=info")
    p.add_argument("--relay-log", default="info")
    args = p.parse_args()
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios {sorted(unknown)}; known: {SCENARIOS}")

    reports = []
    for i in range(args.repeat):
        label = f"{args.relay}/{args.discovery}" + (f" {i + 1}/{args.repeat}" if args.repeat > 1 else "")
        reports.append(run_once(args, label))
    failed = [r for r in reports if not r["ok"]]
    print(f"== {args.relay}, discovery {args.discovery}, {','.join(args.scenarios)}: "
          f"{len(reports) - len(failed)} of {len(reports)} passed", flush=True)
    for r in failed:
        print(f"   failed: {r['error']} (logs {r['root']}; relay {r.get('metrics')})")
    if len(reports) > 1:
        times = [v for r in reports for v in (r.get("directions") or {}).values() if v]
        if times:
            times.sort()
            print(f"   first realtime data after advertising: median {times[len(times)//2]:.1f} s, "
                  f"max {times[-1]:.1f} s over {len(times)} directions")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
