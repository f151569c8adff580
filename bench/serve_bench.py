"""Load benchmark of the review workbench: 20 concurrent reviewers on loopback.

    python bench/serve_bench.py [--reviewers 20] [--rounds 10] [--time-limit 180]

1. Scans the committed fixture archive once (cached in bench/out/serve/, wav clips,
   fixtures/meta.csv) and gives it one account per reviewer.
2. Starts `python -m pipeline serve` on a free 127.0.0.1 port, in its own process.
3. Each reviewer (a thread with its own HTTP client) logs in, then for `--rounds`
   rounds: opens the call list, a filtered list, a call page, fetches 64 KiB of a
   clip with a range request, reports 2 s listened, and records a decision
   (second_look) on one flag of that call: the review loop, with its writes.
   Bounded in count (rounds) and in time (--time-limit); it only talks to 127.0.0.1.
4. Prints p50 / p95 / max per request kind, and the p95 of page views (the HTML
   pages), and writes bench/out/serve_results.json.

Client and server share the machine's cores, so the figures are an upper bound on
what a reviewer waits for on a machine of its own.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "serve"
PASSWORD = "bench-password-1"
sys.path.insert(0, str(ROOT))

from pipeline.core import catalog, review_store
from pipeline.serve import accounts  # noqa: E402


def prepare() -> list[dict]:
    """The scanned archive (scanned once, then reused); returns its flagged records."""
    if not (OUT / "catalog.sqlite").is_file():
        subprocess.run([sys.executable, "-m", "pipeline", "scan", str(ROOT / "fixtures" / "audio"), "--out", str(OUT),
                        "--meta", str(ROOT / "fixtures" / "meta.csv"), "--clips", "wav"], cwd=ROOT, check=True)
    with catalog.Catalog(OUT, create=False) as cat:
        return [r for r in cat.records() if r.get("flags")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def reviewer(n: int, base: str, flagged: list[dict], rounds: int, deadline: float,
             timings: dict[str, list[float]], lock: threading.Lock, failures: list[str]) -> None:
    def timed(kind: str, method: str, url: str, **kwargs) -> httpx.Response:
        start = time.perf_counter()
        response = client.request(method, url, **kwargs)
        elapsed = time.perf_counter() - start
        with lock:
            timings[kind].append(elapsed)
        if response.status_code >= 400:
            failures.append(f"{kind} {url}: {response.status_code}")
        return response

    with httpx.Client(base_url=base, follow_redirects=False, timeout=60) as client:
        timed("login", "POST", "/login", data={"user": f"reviewer{n:02d}", "password": PASSWORD, "next": "/"})
        for i in range(rounds):
            if time.monotonic() > deadline:
                return
            record = flagged[(n + i) % len(flagged)]
            timed("list", "GET", "/")
            timed("list_filtered", "GET", "/", params={"problem": "missing", "state": "open"})
            page = timed("call", "GET", f"/calls/{record['call_id']}").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            clip = next((a["clip"] for a in record.get("annotations", []) if a.get("clip")), None)
            if clip:
                timed("clip_range", "GET", "/" + clip, headers={"range": "bytes=0-65535"})
                timed("listened", "POST", "/api/listened", json={"media": clip, "seconds": 2},
                      headers={"x-csrf-token": csrf})
            flag = record["flags"][i % len(record["flags"])]
            timed("decide", "POST", f"/calls/{record['call_id']}/decide",
                  data={"csrf": csrf, "flag_id": review_store.flag_id(record["call_id"], flag),
                        "action": "second_look", "note": f"bench {n}/{i}"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--time-limit", type=float, default=180.0, help="stop issuing requests after this (s)")
    args = parser.parse_args()
    flagged = prepare()
    db = review_store.connect(OUT)
    for n in range(args.reviewers):
        accounts.add_user(db, f"reviewer{n:02d}", "reviewer", PASSWORD, approved_by="bench")
    db.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", str(OUT), "--port", str(port),
                               "--meta", str(ROOT / "fixtures" / "meta.csv")], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the workbench did not start")
            time.sleep(0.2)
        timings: dict[str, list[float]] = defaultdict(list)
        failures: list[str] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + args.time_limit
        threads = [threading.Thread(target=reviewer, args=(n, base, flagged, args.rounds, stop_at, timings, lock,
                                                           failures)) for n in range(args.reviewers)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    pages = timings["list"] + timings["list_filtered"] + timings["call"]
    summary = {kind: {"n": len(v), "p50_ms": round(statistics.median(v) * 1000, 1),
                      "p95_ms": round(percentile(v, 0.95) * 1000, 1), "max_ms": round(max(v) * 1000, 1)}
               for kind, v in sorted(timings.items())}
    result = {"reviewers": args.reviewers, "rounds": args.rounds, "calls": len(flagged), "wall_s": round(wall, 2),
              "requests": sum(len(v) for v in timings.values()), "failures": failures[:20],
              "page_p95_ms": round(percentile(pages, 0.95) * 1000, 1),
              "page_p50_ms": round(statistics.median(pages) * 1000, 1), "by_kind": summary}
    print(f"{args.reviewers} reviewers x {args.rounds} rounds on {len(flagged)} flagged calls: "
          f"{result['requests']} requests in {wall:.1f} s ({result['requests'] / wall:.0f}/s), "
          f"{len(failures)} failed")
    print(f"{'kind':<14}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for kind, s in summary.items():
        print(f"{kind:<14}{s['n']:>6}{s['p50_ms']:>10}{s['p95_ms']:>10}{s['max_ms']:>10}")
    print(f"page views (list, filtered list, call page): p50 {result['page_p50_ms']} ms, "
          f"p95 {result['page_p95_ms']} ms")
    (ROOT / "bench" / "out" / "serve_results.json").write_text(json.dumps(result, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
