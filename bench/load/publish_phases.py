#!/usr/bin/env python3
"""Where a publish's time goes in the broker, over one load run.

Scrapes the broker's /metrics before and after a command (usually causeway-bench) and
prints, from the difference, each phase of causeway_publish_phase_seconds, the whole
causeway_publish_seconds, causeway_fsync_seconds and the phases of
causeway_delivery_phase_seconds (live subscribers): count, mean, and p50/p90/p99
interpolated within the histogram's buckets (docs/broker.md, "Where a publish's time goes").

    bench/load/publish_phases.py --admin 127.0.0.1:9450 -- \\
        build/release/bench/load/causeway-bench --broker 127.0.0.1:7450 --benchmarks lat1k_fsync

Means add up (each phase's mean is its share of a publish when every request goes to one
partition); percentiles of phases do not.
"""
import argparse
import re
import subprocess
import sys
import urllib.request

SAMPLE = re.compile(r'^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
ROWS = [("read", "phase"), ("write", "phase"), ("sync_wait", "phase"), ("gather", "phase"), ("sync", "phase"),
        ("complete", "phase"), ("respond", "phase"), ("publish (total)", "publish"), ("fdatasync", "fsync"),
        ("delivery wake", "delivery"), ("delivery read", "delivery"), ("delivery push", "delivery")]


def scrape(admin):
    """{(family, phase): {"buckets": [(le, cumulative)], "sum": s, "count": c}}"""
    with urllib.request.urlopen(f"http://{admin}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if not m:
            continue
        name, labels, value = m["name"], dict(LABEL.findall(m["labels"] or "")), float(m["value"])
        for family, key in (("causeway_publish_phase_seconds", "phase"), ("causeway_publish_seconds", "publish"),
                            ("causeway_fsync_seconds", "fsync"), ("causeway_delivery_phase_seconds", "delivery")):
            if not name.startswith(family) or name[len(family):] not in ("_bucket", "_sum", "_count"):
                continue
            suffix = name[len(family):]
            phase = labels.get("phase") if key in ("phase", "delivery") else key
            h = out.setdefault((key, phase), {"buckets": [], "sum": 0.0, "count": 0.0})
            if suffix == "_bucket":
                h["buckets"].append((float(labels["le"]), value))
            elif suffix == "_sum":
                h["sum"] = value
            elif suffix == "_count":
                h["count"] = value
    return out


def quantile(buckets, q):
    """Linear interpolation inside the bucket holding the q-th observation (as PromQL's
    histogram_quantile); buckets are (upper bound, cumulative count), ascending."""
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return float("nan")
    rank = q * total
    lo, below = 0.0, 0.0
    for le, cum in buckets:
        if cum >= rank:
            if le == float("inf"):
                return lo
            return lo + (le - lo) * ((rank - below) / (cum - below) if cum > below else 1.0)
        lo, below = le, cum
    return lo


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--admin", required=True, help="the broker's admin address (--admin-listen), HOST:PORT")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- then the load to run")
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("give the load command after --")
    before = scrape(args.admin)
    rc = subprocess.call(cmd)
    after = scrape(args.admin)
    print(f"\n{'phase':<16} {'count':>9} {'mean us':>9} {'p50 us':>9} {'p90 us':>9} {'p99 us':>9}")
    for label, key in ROWS:
        phase = label if key == "phase" else label.split(" ")[1] if key == "delivery" else key
        a = after.get((key, phase))
        if a is None:
            print(f"{label:<16} (not in /metrics: an older broker?)")
            continue
        b = before.get((key, phase), {"buckets": [], "sum": 0.0, "count": 0.0})
        prev = dict(b["buckets"])
        buckets = [(le, cum - prev.get(le, 0.0)) for le, cum in a["buckets"]]
        count = a["count"] - b["count"]
        if count <= 0:
            print(f"{label:<16} {0:>9}")
            continue
        mean = (a["sum"] - b["sum"]) / count * 1e6
        qs = [quantile(buckets, q) * 1e6 for q in (0.5, 0.9, 0.99)]
        print(f"{label:<16} {int(count):>9} {mean:>9.1f} " + " ".join(f"{v:>9.1f}" for v in qs))
    return rc


if __name__ == "__main__":
    sys.exit(main())
