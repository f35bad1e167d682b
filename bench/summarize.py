#!/usr/bin/env python3
"""Median table of bench/run's JSON lines; with --peer FILE also the ratios
to the peer harness (../shared/bench/run-peer.sh) results of the same run."""
import json
import statistics
import sys
from collections import defaultdict


def load(path):
    groups = defaultdict(list)
    for line in open(path):
        if not line.strip().startswith("{"):
            continue
        row = json.loads(line)
        parts = row["label"].split("/")
        if "rps" not in row or parts[-1] == "warmup":
            continue
        backend = {"pg": "postgres"}.get(parts[0], parts[0])
        groups[(backend, parts[1])].append(row)
    return groups


def median(rows, key):
    return statistics.median(r[key] for r in rows)


ours = load(sys.argv[1])
print("\n| backend | what | runs | req/s (median) | p50 ms | p99 ms | socket errors | non-2xx (of all requests) |")
print("|---|---|---|---|---|---|---|---|")
for (backend, what), rows in ours.items():
    errors = sum(r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"] for r in rows)
    non2xx = sum(r.get("non2xx", 0) for r in rows)
    total = sum(r["requests"] for r in rows)
    print(f"| {backend} | {what} | {len(rows)} | {median(rows, 'rps'):.0f} | "
          f"{median(rows, 'p50_ms'):.2f} | {median(rows, 'p99_ms'):.2f} | {errors} | {non2xx} of {total} |")
for line in open(sys.argv[1]):
    if '"peak_rss_kib"' in line:
        row = json.loads(line)
        print(f"{row['label']}: {row['peak_rss_kib'] / 1024:.0f} MiB")

if len(sys.argv) > 3 and sys.argv[2] == "--peer":
    peer = load(sys.argv[3])
    pairs = [("session", "session"), ("signin", "signin"), ("live", "hello")]
    print("\n| backend | what | Portcullis req/s | Better Auth req/s | ratio |")
    print("|---|---|---|---|---|")
    for backend in ("sqlite", "postgres"):
        for ours_key, peer_key in pairs:
            a, b = ours.get((backend, ours_key)), peer.get((backend, peer_key))
            if a and b:
                ra, rb = median(a, "rps"), median(b, "rps")
                print(f"| {backend} | {ours_key} | {ra:.0f} | {rb:.1f} | {ra / rb:.1f}x |")
