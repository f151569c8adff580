"""The local backend: `Analyser.analyse_file` over recordings in worker processes, in input order.

A worker that dies (native crash, killed, out of memory) costs one `worker_crashed`
record, never the batch. `Backend` is the signature another backend (the Ray one in
`distributed`) implements. Nothing here decides what a record holds or writes files.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Callable, Iterator

from pipeline.scan import analyser
from pipeline.scan.discovery import Recording
from pipeline.scan.options import ScanOptions

_worker: analyser.Analyser | None = None


def _init_worker(options: ScanOptions) -> None:
    global _worker
    _die_with_parent()
    _worker = analyser.Analyser(options)


def _die_with_parent() -> None:
    """Linux: a worker is killed when the scan process dies (kill -9), never left orphaned."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _analyse_in_worker(rec: Recording) -> tuple[dict, dict | None]:
    assert _worker is not None
    return _worker.analyse_file(rec)


Backend = Callable[[list[Recording], ScanOptions], Iterator[tuple[dict, dict | None]]]
"""Runs `Analyser.analyse_file` over recordings and yields (record, transcript) in input order.

`analyse_all` (worker processes) is the default; `pipeline.scan.distributed.analyse_all_ray`
is the Ray one. A backend depends on this module, never the reverse."""


def analyse_all(recordings: list[Recording], options: ScanOptions) -> Iterator[tuple[dict, dict | None]]:
    """Yield (record, transcript) per recording, in order, from worker processes. Nothing to do starts nothing."""
    if not recordings:
        return
    yield from _analyse_in_processes(recordings, options)


def _analyse_in_processes(recordings: list[Recording], options: ScanOptions) -> Iterator[tuple[dict, dict | None]]:
    """The local engine: `options.workers` processes, each given one recording at a time.

    Even one worker is a child process, so a crash in native code (ffmpeg, CTranslate2)
    or the kernel's out-of-memory killer takes down that process, not the scan. When
    the pool breaks, the recordings that were running are suspects: each is analysed
    again alone, and the one whose worker dies again gets a `worker_crashed` record;
    the rest of the batch goes on in a fresh pool.
    """
    width = min(options.workers, len(recordings))
    threads = options.cpu_threads or max(1, (os.cpu_count() or 1) // width)
    worker_options = replace(options, cpu_threads=threads)  # the same threads for suspects: same floats
    todo, suspects = deque(range(len(recordings))), deque()
    done: dict[int, tuple[dict, dict | None]] = {}
    next_out = 0
    while todo or suspects:
        alone = bool(suspects)
        queue, size = (suspects, 1) if alone else (todo, width)
        with ProcessPoolExecutor(size, initializer=_init_worker, initargs=(worker_options,)) as pool:
            running: dict = {}
            try:
                while queue or running:
                    while queue and len(running) < size:
                        running[pool.submit(_analyse_in_worker, recordings[queue[0]])] = queue[0]
                        queue.popleft()
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        done[running[future]] = future.result()
                        del running[future]
                    while next_out in done:
                        yield done.pop(next_out)
                        next_out += 1
            except BrokenProcessPool:
                if alone:
                    (index,) = running.values()
                    done[index] = (analyser.crash_record(recordings[index], options,
                                                "the worker process analysing this recording died "
                                                "(crash in native code, killed, or out of memory)"), None)
                else:
                    suspects.extend(sorted(running.values()))
        while next_out in done:
            yield done.pop(next_out)
            next_out += 1

