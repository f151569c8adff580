"""Scale-out on Ray: the same per-recording analysis in Ray actors, one model per actor.

`analyse_all_ray(recordings, options)` is the `workers.Backend` that `--engine ray`
passes to `engine.scan` (this module depends on the engine, never the reverse). Each
actor builds one `analyser.Analyser` (phrase catalog + Whisper model, loaded once) and
runs `Analyser.analyse_file` on the recordings it is given, so a record is exactly the
one the local engine produces; nothing here may change what a record says. Every actor is
kept busy (one recording running, one queued), results are collected as they
complete and handed back in input order as soon as all earlier ones are in (the
scan writes each call's files and catalog row as it arrives). An actor that dies
turns its recording into a `worker_crashed` record, as a local worker does.

Without `options.address` a private Ray instance is started on this machine
(loopback only, no dashboard, no usage stats) and shut down at the end; with
`--address HOST:6379` the scan joins an existing cluster (`ray start --head` /
`ray start --address=HOST:6379`). On a cluster every node must see the archive,
the phrase folder and the model at the same paths, and have callaudit installed
in the same Python environment.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Iterator

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402

from pipeline.scan.analyser import Analyser, crash_record  # noqa: E402
from pipeline.scan.discovery import Recording  # noqa: E402
from pipeline.scan.options import ScanOptions  # noqa: E402

QUEUED_PER_ACTOR = 2  # one running, one waiting: an actor never idles on the driver's round trip


@ray.remote
class AnalyserActor:
    """One model per actor; `analyse` is `Analyser.analyse_file`."""

    def __init__(self, options: ScanOptions):
        self.analyser = Analyser(options)

    def analyse(self, rec: Recording) -> tuple[dict, dict | None]:
        return self.analyser.analyse_file(rec)


def _connect(options: ScanOptions) -> bool:
    """Join `options.address` or start a local instance; True when this call started Ray (and must stop it)."""
    if ray.is_initialized():
        return False
    common = {"include_dashboard": False, "log_to_driver": False, "logging_level": "warning"}
    if options.address:
        ray.init(address=options.address, **common)
    else:
        # address="local": always a private instance, never a `ray start` cluster found on this machine
        cpus = max(os.cpu_count() or 1, options.workers * max(1, options.cpu_threads))  # room for every actor
        ray.init(address="local", num_cpus=cpus, _node_ip_address="127.0.0.1",
                 object_store_memory=256 << 20, **common)  # records are small: no 30%-of-RAM store
    return True


def plan_actors(options: ScanOptions, n_recordings: int, cluster_cpus: int) -> tuple[int, int]:
    """(actors, CPUs and CTranslate2 threads per actor).

    Local instance: the local engine's split (`workers` processes sharing the cores),
    so both engines run the model with the same thread count. Existing cluster: one
    actor per `cpu_threads` (default 1) of the cluster's CPUs; `--workers` describes
    this machine and is ignored.
    """
    if options.address:
        per_actor = max(1, options.cpu_threads or 1)
        actors = max(1, cluster_cpus // per_actor)
    elif options.workers <= 1 or n_recordings <= 1:  # the local engine runs in-process on every core
        actors, per_actor = 1, options.cpu_threads or os.cpu_count() or 1
    else:
        actors = options.workers
        per_actor = options.cpu_threads or max(1, (os.cpu_count() or 1) // actors)
    return min(actors, n_recordings), per_actor


def _actor_env(options: ScanOptions) -> dict:
    """OpenMP threads as in a local worker process, so both engines compute the same floats.

    Ray sets OMP_NUM_THREADS to an actor's CPU count; a local worker inherits this
    process's environment (unset: OpenMP uses every core). The thread count changes
    numpy's/CTranslate2's summation order and so the transcript's last digits. On a
    cluster Ray's default is kept unless OMP_NUM_THREADS is set here.
    """
    threads = os.environ.get("OMP_NUM_THREADS") or (None if options.address else str(os.cpu_count() or 1))
    return {"env_vars": {"OMP_NUM_THREADS": threads}} if threads else {}


def _failure(rec: Recording, options: ScanOptions, exc: BaseException) -> tuple[dict, None]:
    """An actor that died (killed, out of memory, node lost): a `worker_crashed` record (re-analysed next scan)."""
    first_line = str(exc).splitlines()[0] if str(exc) else ""
    return crash_record(rec, options, f"ray: {type(exc).__name__}: {first_line}"), None


def analyse_all_ray(recordings: list[Recording],
                    options: ScanOptions) -> Iterator[tuple[dict, dict | None]]:
    """Yield (record, transcript) per recording, in input order, analysed by Ray actors."""
    if not recordings:
        return
    started = _connect(options)
    actors: list = []
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        n_actors, per_actor = plan_actors(options, len(recordings), cpus)
        actor_options = replace(options, cpu_threads=per_actor, workers=1)
        actors = [AnalyserActor.options(num_cpus=per_actor, max_restarts=1,
                                        runtime_env=_actor_env(options)).remote(actor_options)
                  for _ in range(n_actors)]
        # Paths are resolved here: an actor's working directory is not the driver's.
        todo = deque((i, replace(rec, path=str(Path(rec.path).resolve())))
                     for i, rec in enumerate(recordings))
        running: dict = {}                      # ObjectRef -> (index, actor)
        done: dict[int, tuple] = {}
        next_out = 0

        def submit(actor) -> None:
            index, rec = todo.popleft()
            running[actor.analyse.remote(rec)] = (index, actor)

        for _ in range(QUEUED_PER_ACTOR):
            for actor in actors:
                if todo:
                    submit(actor)
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                index, actor = running.pop(ref)
                try:
                    done[index] = ray.get(ref)
                except (ray.exceptions.RayError, OSError) as exc:
                    done[index] = _failure(recordings[index], options, exc)
                if todo:
                    submit(actor)
            while next_out in done:
                yield done.pop(next_out)
                next_out += 1
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
