#!/usr/bin/env python3
"""Prints the storage micro benchmark results (Google Benchmark JSON) as one table.

Usage: storage_report.py RESULTS.json

Reads the medians of a run made with --benchmark_repetitions and
--benchmark_report_aggregates_only (bench/micro/run_storage_bench.sh does both) and prints:
each append case's records/s and payload MB/s with its ratio to the matching ceiling
(durability os -> BM_Ceiling_Write, fsync -> BM_Ceiling_WriteFdatasync, same bytes per
call), the fsync 16-appender rate as a multiple of the 1-appender rate, the reads, and
whether the storage targets listed in bench/micro/README.md are met. Standard library only.
"""

import json
import sys

OS_TARGET = 0.70        # os appends >= 70% of raw write() bandwidth (1 KiB records)
GROUP_TARGET = 10.0     # fsync: 16 appenders >= 10x one appender


def parse_name(run_name):
    """'BM_X/bytes:100/batch:1/fsync:0/min_time:0.100/real_time/threads:16' ->
    ('BM_X', {'bytes': 100, 'batch': 1, 'fsync': 0, 'threads': 16})."""
    parts = run_name.split("/")
    args = {}
    for p in parts[1:]:
        key, sep, value = p.partition(":")
        if sep and key != "min_time":
            try:
                args[key] = int(value)
            except ValueError:
                args[key] = value
    return parts[0], args


def load(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    rows = {}
    for b in doc.get("benchmarks", []):
        if b.get("error_occurred"):
            print(f"ERROR in {b.get('name')}: {b.get('error_message')}", file=sys.stderr)
            continue
        agg = b.get("aggregate_name")
        if b.get("run_type") == "aggregate" and agg not in ("median", "cv"):
            continue
        if b.get("run_type") != "aggregate":
            agg = "median"  # a run without repetitions: its only value stands in for the median
        name, args = parse_name(b.get("run_name", b["name"]))
        args.setdefault("threads", b.get("threads", 1))
        key = (name, tuple(sorted(args.items())))
        rows.setdefault(key, {"name": name, "args": args})[agg] = b
    return doc.get("context", {}), list(rows.values())


def find(rows, name, **want):
    for r in rows:
        if r["name"] == name and all(r["args"].get(k) == v for k, v in want.items()):
            return r
    return None


def median(row, field):
    if row is None or "median" not in row:
        return None
    return row["median"].get(field)


def cv(row, field):
    if row is None or "cv" not in row:
        return None
    return row["cv"].get(field)


def fmt_rate(v):
    if v is None:
        return "-"
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{unit}"
    return f"{v:.3g}"


def fmt_mb(v):
    return "-" if v is None else f"{v / 1e6:,.1f}"


def fmt_ratio(v):
    return "-" if v is None else f"{v:.2f}"


def fmt_pct(v):
    return "-" if v is None else f"{100 * v:.0f}%"


def table(headers, lines):
    widths = [max(len(str(h)), *(len(str(l[i])) for l in lines)) if lines else len(str(h))
              for i, h in enumerate(headers)]
    out = ["  ".join(str(h).rjust(w) for h, w in zip(headers, widths)),
           "  ".join("-" * w for w in widths)]
    for l in lines:
        out.append("  ".join(str(c).rjust(w) for c, w in zip(l, widths)))
    return "\n".join(out)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    context, rows = load(sys.argv[1])
    reps = None
    for r in rows:
        if "median" in r and r["median"].get("repetitions"):
            reps = r["median"]["repetitions"]
            break
    print(f"\nStorage micro benchmarks: medians of {reps or 1} repetitions "
          f"({context.get('num_cpus', '?')} CPUs, {context.get('date', '')}); "
          f"MB = 10^6 payload bytes; cv = run-to-run spread of records/s")

    # --- Appends against their ceilings --------------------------------------------------
    lines = []
    ratios = {}
    for fsync in (0, 1):
        ceiling_name = "BM_Ceiling_WriteFdatasync" if fsync else "BM_Ceiling_Write"
        for nbytes in (100, 1024):
            for batch in (1, 64):
                ceil = find(rows, ceiling_name, bytes=nbytes, batch=batch)
                ceil_bps = median(ceil, "bytes_per_second")
                framed_bps = None if fsync else median(find(rows, "BM_Ceiling_WriteFramed", bytes=nbytes, batch=batch),
                                                       "bytes_per_second")
                for threads in (1, 4, 16):
                    r = find(rows, "BM_PartitionLog_Append", bytes=nbytes, batch=batch, fsync=fsync,
                             threads=threads)
                    if r is None:
                        continue
                    # Wall-clock rates (see BM_PartitionLog_Append); GB's own for older files.
                    rps = median(r, "wall_records_per_second") or median(r, "items_per_second")
                    bps = median(r, "wall_bytes_per_second") or median(r, "bytes_per_second")
                    ratio = bps / ceil_bps if bps is not None and ceil_bps else None
                    ratio_framed = bps / framed_bps if bps is not None and framed_bps else None
                    ratios[(fsync, nbytes, batch, threads)] = ratio
                    appends = median(r, "appends")
                    syncs = median(r, "fdatasyncs")
                    per_sync = appends / syncs if fsync and appends and syncs else None
                    segs = median(r, "segments")
                    sync_us = median(r, "sync_us")
                    busy = median(r, "sync_busy")
                    lines.append([
                        "fsync" if fsync else "os", nbytes, batch, threads, fmt_rate(rps), fmt_pct(cv(r, "wall_records_per_second") or cv(r, "items_per_second")),
                        fmt_mb(bps), fmt_mb(median(r, "wall_log_bytes_per_second")),
                        f"{ceiling_name.removeprefix('BM_Ceiling_')}", fmt_mb(ceil_bps), fmt_ratio(ratio),
                        fmt_ratio(ratio_framed),
                        "-" if per_sync is None else f"{per_sync:.1f}",
                        "-" if sync_us is None else f"{sync_us:,.0f}", fmt_pct(busy),
                        "-" if segs is None else f"{segs:.0f}"])
    print("\nAppends (one batch of `batch` records per append). ratio = payload MB/s over the ceiling's payload"
          "\nMB/s (= appends/s over write calls/s of record bytes x batch); vs framed = the same over"
          "\nBM_Ceiling_WriteFramed, which writes the log's encoded batch size per call (os rows only)")
    print(table(["mode", "record B", "batch", "appenders", "records/s", "cv", "MB/s", "log MB/s",
                 "ceiling", "ceil MB/s", "ratio", "vs framed", "appends/sync", "sync µs", "sync busy",
                 "segments"], lines))

    # --- Ceilings -------------------------------------------------------------------------
    lines = []
    for name in ("BM_Ceiling_Write", "BM_Ceiling_WriteFramed", "BM_Ceiling_WriteFdatasync"):
        for nbytes in (100, 1024):
            for batch in (1, 64):
                r = find(rows, name, bytes=nbytes, batch=batch)
                if r is None:
                    continue
                calls = median(r, "items_per_second")
                calls = calls / batch if calls is not None else None
                wbps = median(r, "write_bytes_per_second")
                per_call = wbps / calls if wbps and calls else None
                lines.append([name.removeprefix("BM_Ceiling_"), nbytes, batch,
                              "-" if per_call is None else f"{per_call:,.0f}", fmt_rate(calls),
                              fmt_pct(cv(r, "items_per_second")), fmt_mb(wbps)])
    if lines:
        print("\nCeilings (pwrite appending to a fresh file in the same directory; MB/s of bytes written)")
        print(table(["ceiling", "record B", "batch", "bytes/call", "calls/s", "cv", "write MB/s"], lines))

    # --- Group commit ----------------------------------------------------------------------
    lines = []
    group = {}
    for nbytes in (100, 1024):
        for batch in (1, 64):
            def rate(t):
                r = find(rows, "BM_PartitionLog_Append", bytes=nbytes, batch=batch, fsync=1, threads=t)
                return median(r, "wall_records_per_second") or median(r, "items_per_second")
            one = rate(1)
            many = {t: rate(t) for t in (4, 16)}
            if one is None:
                continue
            mult = {t: (v / one if v is not None and one else None) for t, v in many.items()}
            group[(nbytes, batch)] = mult[16]
            lines.append([nbytes, batch, fmt_rate(one), fmt_rate(many[4]), fmt_rate(many[16]),
                          "-" if mult[4] is None else f"{mult[4]:.1f}x",
                          "-" if mult[16] is None else f"{mult[16]:.1f}x"])
    if lines:
        print("\nGroup commit (durability=fsync, records/s)")
        print(table(["record B", "batch", "1 appender", "4 appenders", "16 appenders", "4 / 1", "16 / 1"], lines))

    # --- Group commit gathering (LogConfig::commit_delay), same run ---------------------------
    lines = []
    for t in (4, 16):
        for delay in (0, 50, 200):
            r = find(rows, "BM_PartitionLog_AppendCommitDelay", bytes=1024, batch=1, fsync=1, delay_us=delay, threads=t)
            if r is None:
                continue
            m = r.get("median", {})
            off = find(rows, "BM_PartitionLog_AppendCommitDelay", bytes=1024, batch=1, fsync=1, delay_us=0, threads=t)
            base = median(off, "wall_records_per_second")
            rate = m.get("wall_records_per_second")
            syncs = m.get("fdatasyncs")
            appends = m.get("appends")
            per_sync = (appends / syncs) if syncs and appends else None  # appends is summed over threads
            lines.append([t, delay, fmt_rate(rate), "-" if not (rate and base) else f"{rate / base:.2f}",
                          "-" if per_sync is None else f"{per_sync:.1f}", fmt_pct(m.get("sync_busy"))])
    if lines:
        print("\nGroup commit gathering (fsync, 1 KiB x 1 per append; ratio to commit_delay=0 in this run)")
        print(table(["appenders", "commit_delay us", "records/s", "ratio", "appends/sync", "sync busy"], lines))

    # --- CPU work of an append, no I/O ---------------------------------------------------------
    lines = []
    for nbytes in (100, 1024):
        for batch in (1, 64):
            r = find(rows, "BM_BatchFormat_Encode", bytes=nbytes, batch=batch)
            if r is None:
                continue
            ns = median(r, "real_time")
            lines.append(["BatchFormat_Encode", nbytes, batch, fmt_rate(median(r, "items_per_second")) + " records/s",
                          "-" if ns is None else f"{ns:,.0f} {r['median'].get('time_unit', 'ns')}"])
    r = find(rows, "BM_Crc32c_Extend")
    if r is not None:
        lines.append(["Crc32c_Extend", "-", "-", fmt_mb(median(r, "bytes_per_second")) + " MB/s",
                      f"{median(r, 'real_time'):,.0f} {r['median'].get('time_unit', 'ns')}"])
    if lines:
        print("\nCPU part of an append (size + encode with CRC + decode header; CRC of 64 KiB)")
        print(table(["benchmark", "record B", "batch", "rate", "time/op"], lines))

    # --- Reads -------------------------------------------------------------------------------
    lines = []
    for name, unit in (("BM_PartitionLog_SequentialRead", "MB/s"), ("BM_PartitionLog_OffsetLookup", "lookups/s"),
                       ("BM_PartitionLog_TimeLookup", "lookups/s")):
        for nbytes, batch in ((1024, 64), (100, 64), (100, 1)):
            r = find(rows, name, bytes=nbytes, batch=batch)
            if r is None:
                continue
            if unit == "MB/s":
                value = fmt_mb(median(r, "bytes_per_second")) + " MB/s, " + fmt_rate(median(r, "items_per_second")) + " records/s"
            else:
                value = fmt_rate(median(r, "items_per_second")) + " " + unit
            ns = median(r, "real_time")
            tu = r["median"].get("time_unit", "ns") if "median" in r else "ns"
            lines.append([name.removeprefix("BM_PartitionLog_"), nbytes, batch, value,
                          "-" if ns is None else f"{ns:,.0f} {tu}", fmt_pct(cv(r, "items_per_second"))])
    if lines:
        print("\nReads (128 MiB log in 32 MiB segments, page cache hot; time is per read() call / lookup)")
        print(table(["benchmark", "record B", "batch", "rate", "time/op", "cv"], lines))

    # --- Targets -----------------------------------------------------------------------------
    print("\nTargets")
    verdicts = []

    def verdict(label, value, target, fmt):
        if value is None:
            print(f"  {label}: no data")
            return
        ok = value >= target
        verdicts.append(ok)
        print(f"  {label}: {fmt(value)} (target >= {fmt(target)}) {'MET' if ok else 'NOT MET'}")

    for batch in (64, 1):
        verdict(f"os, 1 KiB records, batch {batch}, 1 appender: share of raw write() bandwidth",
                ratios.get((0, 1024, batch, 1)), OS_TARGET, fmt_pct)
    for nbytes in (100, 1024):
        verdict(f"fsync, {nbytes} B records, batch 1: 16 appenders / 1 appender",
                group.get((nbytes, 1)), GROUP_TARGET, lambda v: f"{v:.1f}x")
    for nbytes in (100, 1024):
        g = group.get((nbytes, 64))
        if g is not None:
            print(f"  (informational) fsync, {nbytes} B records, batch 64: 16 / 1 = {g:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
