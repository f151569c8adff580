"""`--engine ray` gives the same report as the local engine, on a private Ray instance and on a started cluster.

Three short fixture calls (three codecs) are scanned with the real CLI and model by
the local engine (2 worker processes) and by Ray (2 actors): report.jsonl must be
identical record for record. The cluster case starts `ray start --head --block` on
loopback (the process group is ended at the end) and joins it with `--address`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT
from ray._private.services import resolve_ip_for_localhost

FILES = [str(FIXTURES / name) for name in
         ("service_call.wav", "marketing_variant_disclosure.amr", "education_sale_refund.mp3")]
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}


def scan(out: Path, *extra: str, env: dict | None = None) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "pipeline", "scan", *FILES, "--out", str(out),
                           "--workers", "2", *extra],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, **RAY_ENV, **(env or {})},
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in (out / "report.jsonl").read_text("utf-8").splitlines()]
    assert len(records) == len(FILES) and all(r["status"] == "ok" for r in records), proc.stderr[-3000:]
    return records


@pytest.fixture(scope="module")
def local_records(tmp_path_factory) -> list[dict]:
    return scan(tmp_path_factory.mktemp("local"), "--engine", "local")


def test_ray_local_instance_matches_local_engine(local_records, tmp_path):
    assert scan(tmp_path / "ray", "--engine", "ray") == local_records


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ray_head(tmp_path):
    """`ray start --head --block` with 2 CPUs; yields its address, then ends its process group."""
    port = _free_port()
    ray_cli = Path(sys.executable).with_name("ray")
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "ray_head.log", "wb"),
        env={**os.environ, **RAY_ENV, "RAY_AUTH_MODE": "token"}, start_new_session=True)
    # Ray maps 127.0.0.1 in an address to this node's IP, so the head listens there (ray's own choice).
    ip = resolve_ip_for_localhost("127.0.0.1")
    address = f"{ip}:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the GCS port answers once the head is up
            assert head.poll() is None, (tmp_path / "ray_head.log").read_text(errors="replace")
            try:
                socket.create_connection((ip, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("ray head did not start within 60 s")
        yield address
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(20)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        head.wait()


def test_ray_cluster_address_matches_local_engine(ray_head, tmp_path):
    # A cluster's actors get OMP_NUM_THREADS from Ray unless the driver sets it: set it for both engines.
    # `ray start` turns token authentication on (token in ~/.ray/auth_token): the driver must use it too.
    env = {"OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": "token"}
    local = scan(tmp_path / "local", "--engine", "local", env=env)
    assert scan(tmp_path / "ray", "--engine", "ray", "--address", ray_head, env=env) == local


def test_actor_plan_mirrors_the_local_engine():
    from pipeline.scan import distributed
    from pipeline.scan.options import ScanOptions
    cores = os.cpu_count() or 1
    assert distributed.plan_actors(ScanOptions(workers=1), 5, cores) == (1, cores)
    assert distributed.plan_actors(ScanOptions(workers=2), 1, cores) == (1, cores)
    assert distributed.plan_actors(ScanOptions(workers=2), 5, cores) == (2, max(1, cores // 2))
    assert distributed.plan_actors(ScanOptions(workers=4), 3, cores) == (3, max(1, cores // 4))
    cluster = ScanOptions(workers=2, address="head:6379")
    assert distributed.plan_actors(cluster, 100, 48) == (48, 1)
    assert distributed.plan_actors(cluster, 5, 48) == (5, 1)
