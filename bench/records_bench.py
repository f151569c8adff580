"""Benchmark: `callaudit records` on a year of a large center (5,000,000 rows) next to a pandas baseline.

    python bench/records_bench.py [--rows N]

1. Generates (once, cached by row count, into bench/out/) the CDR file with
   fixtures/cdr.py's vectorised generator, written by polars: UTF-8 CSV, 400
   agents, 20 lines, 8 % short calls.
2. Runs, each in its own child process, measured like bench/bench.py (wall time,
   peak RSS of the process, peak PSS sampled):
   - `python -m pipeline records FILE --out DIR --period 2025-01-01:2025-12-31`
     (every output, the 5-million-row cleaned copy in records.xlsx included;
     its stage timings come from summary.json);
   - a pandas baseline doing the same core checks on the same file: read as
     text, number/time/duration/vocabulary checks, daily coverage, ratios per
     month/agent/line, night calls, per-day short-call share per agent and
     number, the 60-minute burst window (the same numpy search as the engine),
     issues written as CSV; no workbook.
3. Prints both, with the rows accepted and the findings each found (they must
   agree), and checks the targets: under 60 s and 2 GiB for the records command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from bench import (  # bench/bench.py: same measuring as the scan benchmark
    OUT,
    ROOT,
    run_measured,
)

sys.path.insert(0, str(ROOT))
from fixtures.cdr import write_bench  # noqa: E402

TARGET_S, TARGET_MIB = 60.0, 2048.0
PERIOD = "2025-01-01:2025-12-31"

PANDAS_BASELINE = r"""
import json, sys
import numpy as np, pandas as pd
from pipeline.records.config import load_records_config
path, out = sys.argv[1], sys.argv[2]
c = load_records_config()
df = pd.read_csv(path, dtype=str, keep_default_na=False)
df.columns = ["caller", "callee", "start_time", "duration", "call_type", "result", "agent", "line"]
service = "|".join(f"(?:{p})" for p in c.service_numbers)
number = rf"^(?:1[3-9]\d{{9}}|0(?:10|2\d)\d{{8}}|0[3-9]\d{{2}}\d{{7,8}}|{service})$"
start = pd.to_datetime(df["start_time"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
seconds = pd.to_numeric(df["duration"], errors="coerce")
bad = pd.DataFrame({
    "caller": ~df["caller"].str.fullmatch(number), "callee": ~df["callee"].str.fullmatch(number),
    "start_time": start.isna() | (start < "2025-01-01") | (start >= "2026-01-01"),
    "duration": seconds.isna() | (seconds < 0) | (seconds > c.max_duration_s),
    "call_type": ~df["call_type"].isin(list(c.call_types)), "result": ~df["result"].isin(list(c.call_results))})
issues = bad.stack()
issues = issues[issues].reset_index()
issues.to_csv(out, index=False)
rejected = bad.any(axis=1)
clean = pd.DataFrame({"caller": df["caller"], "start": start, "duration": seconds, "call_type": df["call_type"],
                      "connected": df["result"].map(c.call_results).fillna(False).astype(bool),
                      "agent": df["agent"], "line": df["line"]})[~rejected]
del df, bad
clean["day"] = clean["start"].dt.floor("D")
days = clean.groupby("day").size().reindex(pd.date_range("2025-01-01", "2025-12-31"), fill_value=0)
gaps = int((days == 0).sum() + ((days > 0) & (days < c.low_day_fraction * days[days > 0].median())).sum())
t = c.thresholds
clean["short"] = clean["connected"] & (clean["duration"] < t.short_call_s)
ratio = 0
for key in (clean["start"].dt.to_period("M"), clean["agent"], clean["line"]):
    g = clean.groupby(key).agg(calls=("connected", "size"), connected=("connected", "sum"), short=("short", "sum"))
    g["talk"] = clean[clean["connected"]].groupby(key[clean["connected"]])["duration"].mean()
    g = g[g["calls"] >= t.min_calls]
    ratio += int(((g["connected"] / g["calls"] < t.min_connect_rate) | (g["talk"] < t.min_average_talk_s)
                  | (g["short"] / g["connected"] > t.max_short_share)).sum())
    g = clean.groupby(key)["call_type"].value_counts().unstack(fill_value=0)
a = c.abnormal
minute = clean["start"].dt.hour * 60 + clean["start"].dt.minute
night = int(clean[(minute >= a.night_from_min) & (minute < a.night_to_min)]["day"].nunique())
short = 0
for by in ("agent", "caller"):
    g = clean[clean["connected"]].groupby(["day", by]).agg(n=("short", "size"), s=("short", "sum"))
    short += int(((g["n"] >= a.daily_min_calls) & (g["s"] / g["n"] > t.max_short_share)).sum())
calls = clean.sort_values(["caller", "start"])
code = calls["caller"].rank(method="dense").to_numpy().astype(np.int64)
key = code * (1 << 40) + calls["start"].astype("int64").to_numpy() // 10**9
counts = np.searchsorted(key, key + a.burst_window_min * 60) - np.arange(key.size)
bursts = int((counts > a.burst_calls).any())
print(json.dumps({"accepted_rows": int(len(clean)), "coverage": gaps, "ratio": ratio,
                  "abnormal_days_night": night, "short_groups": short, "burst_windows": bursts}))
"""


def bench_file(rows: int) -> Path:
    path = OUT / f"cdr-{rows}.csv"
    if not path.is_file():
        print(f"generating {rows:,} records ...", file=sys.stderr, flush=True)
        write_bench(path, rows)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()
    path = bench_file(args.rows)
    out = OUT / "records"
    print("callaudit records ...", file=sys.stderr, flush=True)
    engine = run_measured([sys.executable, "-m", "pipeline", "records", str(path), "--out", str(out),
                           "--period", PERIOD])
    summary = json.loads((out / "records" / "summary.json").read_text("utf-8"))
    print("pandas baseline ...", file=sys.stderr, flush=True)
    baseline_out = OUT / "records-pandas-issues.csv"
    env = {"PYTHONPATH": str(ROOT)}
    baseline = run_measured([sys.executable, "-c", PANDAS_BASELINE, str(path), str(baseline_out)], env=env,
                            stdout=True)
    found = json.loads(baseline["stdout"])
    counts = summary["counts"]
    size = path.stat().st_size / 2**20
    print(f"\n{args.rows:,} records ({path.relative_to(ROOT)}, {size:.0f} MiB), {os.cpu_count()} cores")
    print(f"{'':34}{'wall s':>8}{'RSS MiB':>9}{'tree PSS MiB':>14}")
    for label, m in (("callaudit records (polars)", engine), ("pandas baseline (no workbook)", baseline)):
        print(f"{label:34}{m['wall_s']:8.1f}{m['rss_mib']:9.0f}{m['tree_pss_mib']:14.0f}")
    stages = summary["seconds"]
    print("records stages (s): " + ", ".join(f"{k} {v}" for k, v in stages.items()))
    check_s = sum(v for k, v in stages.items() if k not in ("workbook", "other_outputs"))
    print(f"check without writing outputs: {check_s:.1f} s; accepted rows: polars {counts['accepted_rows']:,}, "
          f"pandas {found['accepted_rows']:,}; coverage gaps {counts['coverage']} / {found['coverage']}; "
          f"ratio findings {counts['ratio']} / {found['ratio']}")
    for name, value, target in (("records wall (s)", engine["wall_s"], TARGET_S),
                                ("records peak RSS (MiB)", engine["rss_mib"], TARGET_MIB)):
        print(f"{name:34}{value:8.1f}  target < {target:<6} {'ok' if value < target else 'MISSED'}")
    (OUT / "records-results.json").write_text(json.dumps({"rows": args.rows, "engine": engine, "pandas": {
        k: v for k, v in baseline.items() if k != "stdout"}, "stages": stages, "baseline_found": found}, indent=1))


if __name__ == "__main__":
    main()
