#!/usr/bin/env python3
"""Median table of bench/run's JSON lines, then issue #19's ratio table from
the references measured in the same invocation:
  --hash-rate F      bench/hash-rate's lines (hashes per second on one core)
  --ceiling F        ../shared/bench/run-rust-ceiling.sh's results (actix hello)
  --peer F           ../shared/bench/run-peer.sh's results, default hash (scrypt)
  --peer-argon2id F  the same with BA_HASH=argon2id
A reference that is missing prints as "n/a"; nothing is filled in from elsewhere."""
import argparse
import json
import os
import statistics
from collections import defaultdict


def load(path):
    """(backend, what) -> runs; warm-ups and non-wrk lines left out."""
    groups = defaultdict(list)
    if not path or not os.path.exists(path):
        return groups
    for line in open(path):
        if not line.strip().startswith("{"):
            continue
        row = json.loads(line)
        parts = row["label"].split("/")
        if "rps" not in row or parts[-1] == "warmup":
            continue
        # The peer labels its modes "pg" and "sqlite+argon2id".
        backend = parts[0].split("+")[0]
        backend = {"pg": "postgres"}.get(backend, backend)
        groups[(backend, parts[1])].append(row)
    return groups


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def hash_rates(path):
    """bench/hash-rate's lines: rates on one core by label, and ours with
    every CPU hashing at once (None when absent)."""
    rates, all_cores = {}, None
    if path and os.path.exists(path):
        for line in open(path):
            if line.startswith("{"):
                row = json.loads(line)
                if "hashes_per_s_one_core" in row:
                    rates[row["label"]] = row["hashes_per_s_one_core"]
                all_cores = row.get("hashes_per_s_all_cores", all_cores)
    return rates, all_cores


args = argparse.ArgumentParser()
args.add_argument("results")
args.add_argument("--hash-rate")
args.add_argument("--ceiling")
args.add_argument("--peer")
args.add_argument("--peer-argon2id")
args = args.parse_args()

ours = load(args.results)
print("\n| backend | what | runs | req/s (median) | p50 ms | p99 ms | server CPU µs/request | socket errors | non-2xx (of all requests) |")
print("|---|---|---|---|---|---|---|---|---|")
for (backend, what), rows in ours.items():
    errors = sum(r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"] for r in rows)
    non2xx = sum(r.get("non2xx", 0) for r in rows)
    total = sum(r["requests"] for r in rows)
    cpu = [r["server_cpu_us"] for r in rows if "server_cpu_us" in r]
    cpu = f"{statistics.median(cpu):.1f}" if cpu else "n/a"
    print(f"| {backend} | {what} | {len(rows)} | {median(rows, 'rps'):.0f} | "
          f"{median(rows, 'p50_ms'):.2f} | {median(rows, 'p99_ms'):.2f} | {cpu} | {errors} | {non2xx} of {total} |")
for line in open(args.results):
    if '"peak_rss_kib"' in line:
        row = json.loads(line)
        print(f"{row['label']}: {row['peak_rss_kib'] / 1024:.0f} MiB")

rates, all_cores = hash_rates(args.hash_rate)
ceiling = load(args.ceiling)
peer = load(args.peer)
peer_argon2id = load(args.peer_argon2id)
ours_per_core = next((v for k, v in rates.items() if k.startswith("portcullis")), None)
if rates:
    print("\nArgon2id hashes per second on one core: "
          + ", ".join(f"{k} {v:.1f}" for k, v in rates.items()))
if all_cores:
    print(f"Ours with all {os.cpu_count()} CPUs hashing at once: {all_cores:.1f} per second")


def rps(groups, backend, what):
    rows = groups.get((backend, what))
    return median(rows, "rps") if rows else None


def ratio(a, b, goal, p99=None):
    if a is None or b is None:
        return "n/a"
    text = f"{a / b:.2f} ({a:,.0f} / {b:,.1f})"
    if p99 is not None:
        text += f", p99 {p99:.1f} ms"
    return text + (" ✓" if goal is not None and a / b >= goal else "")


hello = rps(ceiling, "actix", "hello")
cores = os.cpu_count() or 1
print("\n| figure | SQLite | PostgreSQL | goal |")
print("|---|---|---|---|")
lines = [
    ("`GET /v1/sessions/current` ÷ actix-web hello", lambda b: ratio(rps(ours, b, "session"), hello, 0.5), "≥ 0.5"),
    ("the same ÷ Better Auth get-session", lambda b: ratio(rps(ours, b, "session"), rps(peer, b, "session"), 50), "≥ 50"),
    ("`POST /v1/sessions/refresh` ÷ Better Auth get-session",
     lambda b: ratio(rps(ours, b, "refresh"), rps(peer, b, "session"), 20,
                     median(ours[(b, "refresh")], "p99_ms") if ours.get((b, "refresh")) else None), "≥ 20"),
    (f"sign-in ÷ ({cores} cores × our Argon2id hashes/s/core)",
     lambda b: ratio(rps(ours, b, "signin"), cores * ours_per_core if ours_per_core else None, 0.9), "≥ 0.9"),
    ("sign-in ÷ our Argon2id hashes/s with all cores hashing at once",
     lambda b: ratio(rps(ours, b, "signin"), all_cores, None), "(beside)"),
    ("sign-in ÷ Better Auth sign-in with Argon2id (same parameters)",
     lambda b: ratio(rps(ours, b, "signin"), rps(peer_argon2id, b, "signin"), 1.5), "≥ 1.5"),
    ("sign-in ÷ Better Auth sign-in, its default scrypt",
     lambda b: ratio(rps(ours, b, "signin"), rps(peer, b, "signin"), None), "(beside)"),
]
for name, cell, goal in lines:
    print(f"| {name} | {cell('sqlite')} | {cell('postgres')} | {goal} |")


def storm(backend, what="burst", goal=True):
    rows = ours.get((backend, what))
    if not rows:
        return "n/a"
    p99 = median(rows, "p99_ms")
    return f"{p99:.1f} ms ({median(rows, 'rps'):,.0f} req/s)" + (" ✓" if goal and p99 <= 5 else "")


print(f"| validation p99 while {os.environ.get('BURST_CONC', '200')} connections sign in "
      f"| {storm('sqlite')} | {storm('postgres')} | ≤ 5 ms |")
print(f"| the same while {os.environ.get('BURST_CONC', '200')} connections send invalid tokens (no hashing) "
      f"| {storm('sqlite', 'flood', False)} | {storm('postgres', 'flood', False)} | (beside) |")
print("| the same with nothing else running (8 connections: the machine's own p99) "
      f"| {storm('sqlite', 'calm', False)} | {storm('postgres', 'calm', False)} | (beside) |")
