"""Engine: run the stages over every recording of a batch and collect the records.

`analyse_file` is the whole per-recording pipeline (decode -> VAD -> ASR ->
classification -> statement matching) and returns one output-contract record.
`scan` finds the recordings, runs `analyse_file` on each (in worker processes
that each load the model once), writes each call's JSON as soon as it is done,
and writes `report.jsonl` at the end. A file that fails becomes an error record;
the batch always goes on.
"""

from __future__ import annotations

import hashlib
import os
import re
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from pipeline import decode, match, meta as meta_mod, outputs, rules, transcribe, vad
from pipeline.errors import InputError

AUDIO_EXTENSIONS = frozenset(
    ".wav .mp3 .m4a .aac .ogg .opus .oga .flac .amr .awb .gsm .au .wma .webm .mp4 .3gp .mka .aif .aiff".split()
)
DEFAULT_PHRASES_DIR = Path(__file__).resolve().parent.parent / "phrases"


@dataclass
class ScanOptions:
    """Everything a worker needs to analyse a recording; picklable for worker processes."""

    model: str | None = None
    language: str = "zh"
    beam_size: int = 5
    vad_aggressiveness: int = 2
    phrases_dir: str = str(DEFAULT_PHRASES_DIR)
    workers: int = 1
    cpu_threads: int = 0
    meta: dict[str, dict] = field(default_factory=dict)


@dataclass
class Recording:
    """A file to scan: its path on disk and its path relative to the scanned root."""

    path: str
    relative: str


def discover(paths: list[str]) -> list[Recording]:
    """Expand files and folders (recursively) into recordings, in a stable order.

    Files named explicitly are always scanned; inside folders only known audio
    extensions are (a folder of recordings also holds CSVs, notes, truth files).
    Symlinked folders are not followed, so link loops cannot trap the walk.
    """
    found: dict[str, Recording] = {}
    for given in paths:
        root = Path(given)
        if root.is_dir():
            for folder, dirs, files in os.walk(root):
                dirs.sort()
                for name in sorted(files):
                    if Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                        full = Path(folder) / name
                        found.setdefault(str(full), Recording(str(full), full.relative_to(root).as_posix()))
        else:
            found.setdefault(str(root), Recording(str(root), root.name))
    return list(found.values())


def call_id_for(relative: str, meta_row: dict | None) -> str:
    """A file-system-safe id, unique per relative path: readable stem plus a short hash.

    The hash keeps two `001.wav` in different folders apart; ids from metadata are
    used when given, but sanitised the same way so they can never escape the output folder.
    """
    wanted = (meta_row or {}).get("call_id") or Path(relative).stem
    safe = re.sub(r"[^\w.-]+", "_", wanted).strip("._")[:60] or "call"
    if meta_row and meta_row.get("call_id") and safe == meta_row["call_id"]:
        return safe
    return f"{safe}-{hashlib.sha1(relative.encode('utf-8')).hexdigest()[:8]}"


def empty_record(rec: Recording, meta_row: dict | None) -> dict:
    """The output-contract skeleton every record starts from (error records included)."""
    return {
        "file": rec.relative,
        "call_id": call_id_for(rec.relative, meta_row),
        "status": "ok",
        "error": None,
        "recording": None,
        "call": None,
        "segments": [],
        "annotations": [],
        "splices": [],
        "flags": [],
    }


class Analyser:
    """Holds what is loaded once per process (model, catalog) and analyses recordings."""

    def __init__(self, options: ScanOptions):
        self.options = options
        self.catalog = rules.load_catalog(options.phrases_dir)
        self.model = transcribe.load_model(options.model, cpu_threads=options.cpu_threads)

    def analyse_file(self, rec: Recording) -> dict:
        """Run every stage on one recording; any failure becomes an error record."""
        meta_row = meta_mod.lookup(self.options.meta, rec.relative)
        record = empty_record(rec, meta_row)
        try:
            info = decode.probe(rec.path)
            record["recording"] = asdict(info)
            audio = decode.decode(rec.path, info=info)
            speech = vad.detect_speech(audio.samples, audio.sample_rate,
                                       aggressiveness=self.options.vad_aggressiveness)
            segments = transcribe.transcribe_segments(
                self.model, audio.samples, audio.sample_rate, speech,
                language=self.options.language, beam_size=self.options.beam_size)
            record["segments"] = segments
            record["call"] = match.classify_call(segments, self.catalog, meta_row)
            record["annotations"], record["flags"] = match.check_call(segments, record["call"], self.catalog)
        except InputError as exc:
            record.update(status="error", error=exc.as_dict())
        except Exception as exc:  # a bug on one file must not stop an archive scan
            record.update(status="error", error={
                "code": "internal_error",
                "message": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=5),
            })
        return record


_worker: Analyser | None = None


def _init_worker(options: ScanOptions) -> None:
    global _worker
    _worker = Analyser(options)


def _analyse_in_worker(rec: Recording) -> dict:
    assert _worker is not None
    return _worker.analyse_file(rec)


def analyse_all(recordings: list[Recording], options: ScanOptions) -> Iterator[dict]:
    """Yield one record per recording, as they finish; in-process when workers == 1."""
    if options.workers <= 1 or len(recordings) <= 1:
        analyser = Analyser(options)
        for rec in recordings:
            yield analyser.analyse_file(rec)
        return
    threads = options.cpu_threads or max(1, (os.cpu_count() or 1) // options.workers)
    worker_options = ScanOptions(**{**asdict(options), "cpu_threads": threads})
    with ProcessPoolExecutor(options.workers, initializer=_init_worker,
                             initargs=(worker_options,)) as pool:
        yield from pool.map(_analyse_in_worker, recordings)


def scan(paths: list[str], out_dir: Path, options: ScanOptions,
         on_record: Callable[[dict], None] | None = None) -> list[dict]:
    """Scan `paths` into `out_dir`: calls/<call_id>.json per recording, then report.jsonl."""
    out_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for record in analyse_all(discover(paths), options):
        outputs.write_call(out_dir, record)
        records.append(record)
        if on_record:
            on_record(record)
    outputs.write_report(out_dir, records)
    return records
