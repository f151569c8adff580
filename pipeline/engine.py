"""Engine: run the stages over every recording of a batch and collect the records.

`analyse_file` is the whole per-recording pipeline (decode -> VAD -> ASR ->
classification -> statement matching -> delivery checks -> splice detection) and
returns one output-contract record.
`scan` finds the recordings, hashes each and looks it up in the output folder's
catalog (pipeline.catalog), runs `analyse_file` only on the misses (in worker
processes that each load the model once), cuts each call's clips and writes its
files as soon as it is done, and regenerates report.jsonl/.csv/.html from the
catalog at the end. A file that fails becomes an error record;
the batch always goes on.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import os
import re
import shutil
import signal
import traceback
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

from pipeline import catalog as catalog_mod
from pipeline import (clips, conversation, decode, delivery, match, outputs, redact, report, rules, speakers, splice,
                      transcribe, vad)
from pipeline import meta as meta_mod
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
    redact: bool = False
    max_duration_s: float = decode.MAX_DURATION_S
    time_limit_s: float = 300.0          # per file, plus `time_limit_per_audio_s` per second of audio
    time_limit_per_audio_s: float = 1.0  # 1 s per audio second is ~5x the normal real-time factor
    engine: str = "local"                # "local" (worker processes) or "ray" (pipeline.distributed)
    address: str | None = None           # Ray cluster to join (HOST:6379); None starts a local instance
    agent_channel: int | None = None     # stereo: the agent's channel; None infers it (metadata wins)


@dataclass
class Recording:
    """A file to scan: its path on disk and its path relative to the scanned root."""

    path: str
    relative: str
    sha256: str | None = None  # when the scan already hashed the file, so probe need not again


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
        "unrecognised_speech": [],
        "annotations": [],
        "splices": [],
        "flags": [],
        "roles": None,
        "conversation": None,
    }


class Analyser:
    """Holds what is loaded once per process (model, catalog) and analyses recordings."""

    def __init__(self, options: ScanOptions):
        self.options = options
        self.catalog = rules.load_catalog(options.phrases_dir)
        self.model = transcribe.load_model(options.model, cpu_threads=options.cpu_threads)

    def analyse_file(self, rec: Recording) -> dict:
        """Run every stage on one recording; any failure becomes an error record.

        A file that takes longer than its time limit (a fixed allowance plus one in
        proportion to its duration) is abandoned with error code `timeout`.
        """
        meta_row = meta_mod.lookup(self.options.meta, rec.relative)
        record = empty_record(rec, meta_row)
        try:
            with time_limit(self.options.time_limit_s):
                info = decode.probe(rec.path, self.options.max_duration_s, sha256=rec.sha256)
            record["recording"] = asdict(info)
            with time_limit(self.options.time_limit_s + self.options.time_limit_per_audio_s * info.duration_s):
                self._run_stages(rec, info, record, meta_row)
        except InputError as exc:
            record.update(status="error", error=exc.as_dict())
        except Exception as exc:  # a bug on one file must not stop an archive scan
            record.update(status="error", error={
                "code": "internal_error",
                "message": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=5),
            })
        return redact.redact_record(record) if self.options.redact else record

    def _run_stages(self, rec: Recording, info: decode.RecordingInfo, record: dict, meta_row: dict | None) -> None:
        """decode -> VAD -> (quiet boost) -> ASR -> classify -> match -> delivery -> splices, into `record`."""
        audio = decode.decode(rec.path, info=info, max_duration_s=self.options.max_duration_s)
        record["recording"] = asdict(audio.info)
        samples, rate = audio.samples, audio.sample_rate
        asr = transcribe.TranscribeOptions(language=self.options.language, beam_size=self.options.beam_size)
        speech = vad.detect_speech(samples, rate, aggressiveness=self.options.vad_aggressiveness)
        levels = delivery.reference_levels(samples, rate, speech)
        boosted, speech, raised = delivery.boost_quiet(samples, rate, speech, levels)
        transcript = transcribe.transcribe(self.model, boosted, rate, speech, asr)
        segments = delivery.mark_recovered(transcript.segments, raised)
        record["unrecognised_speech"] = transcript.unrecognised_speech
        fast = delivery.fast_speech(samples, rate, speech, segments)
        who = speakers.SpeakerOptions(agent_channel=self.options.agent_channel,
                                      vad_aggressiveness=self.options.vad_aggressiveness)
        record["roles"], turns = speakers.assign_roles(samples, rate, segments, meta_row, who)
        record["segments"] = segments
        record["call"] = match.classify_call(segments, self.catalog, meta_row)
        annotations, flags = match.check_call(segments, record["call"], self.catalog,
                                              delivery.segments_inside(fast, segments))
        record["annotations"], record["flags"] = delivery.assess(
            annotations, flags, self.catalog, samples, rate, levels, fast)
        record["splices"] = splice.detect_splices(rec.path, info, audio, speech)
        record["flags"] += splice.splice_flags(record["splices"])
        record["conversation"] = conversation.measure(turns, audio.info.duration_s, samples.shape[0] > 1)
        record["flags"] += conversation.flags(record["conversation"], self.catalog.conversation)


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise InputError('timeout') in this (main) thread after `seconds`.

    SIGALRM interrupts between Python bytecodes: the ASR stage returns to Python
    after every batch of windows, so a pathological file is stopped within one batch.
    """
    def expire(signum, frame):
        raise InputError("timeout", f"analysis took longer than its limit of {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_worker: Analyser | None = None


def _init_worker(options: ScanOptions) -> None:
    global _worker
    _die_with_parent()
    _worker = Analyser(options)


def _die_with_parent() -> None:
    """Linux: a worker is killed when the scan process dies (kill -9), never left orphaned."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _analyse_in_worker(rec: Recording) -> dict:
    assert _worker is not None
    return _worker.analyse_file(rec)


def analyse_all(recordings: list[Recording], options: ScanOptions) -> Iterator[dict]:
    """Yield one record per recording, in order; in-process when workers == 1. Nothing to do loads nothing.

    `options.engine == "ray"` runs the same analysis in Ray actors (pipeline.distributed).
    """
    if not recordings:
        return
    if options.engine == "ray":
        from pipeline import distributed  # imports ray: only when asked for
        yield from distributed.analyse_all_ray(recordings, options)
        return
    if options.engine != "local":
        raise ValueError(f"unknown engine {options.engine!r} (local or ray)")
    if options.workers <= 1 or len(recordings) <= 1:
        analyser = Analyser(options)
        for rec in recordings:
            yield analyser.analyse_file(rec)
        return
    threads = options.cpu_threads or max(1, (os.cpu_count() or 1) // options.workers)
    worker_options = ScanOptions(**{**asdict(options), "cpu_threads": threads})
    with ProcessPoolExecutor(min(options.workers, len(recordings)), initializer=_init_worker,
                             initargs=(worker_options,)) as pool:
        yield from pool.map(_analyse_in_worker, recordings)


# -- fingerprint: what makes a cached analysis stale ------------------------------------
# The stages' modules whole, and of this module only what analyses (not scan/report code),
# so a change to the analysis re-analyses the archive and a change to the outputs does not.
ANALYSIS_MODULES = ("decode", "vad", "transcribe", "match", "rules", "splice", "delivery", "meta", "errors",
                    "speakers", "credit", "conversation")


def _sha_of_files(paths: list[Path], extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode("utf-8"))
    for path in paths:
        digest.update(path.name.encode("utf-8") + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _analysis_source() -> str:
    import inspect
    return "".join(inspect.getsource(obj) for obj in (ScanOptions, empty_record, Analyser))


def _model_identity(model: str | None) -> str:
    from pipeline import models
    resolved = models.resolve_model(model)
    if model in (None, "default"):
        return f"default:{models.MODEL_BIN_SHA256}"
    model_bin = Path(resolved) / "model.bin"
    if model_bin.is_file():
        stat = model_bin.stat()
        return f"dir:{Path(resolved).resolve()}:{stat.st_size}:{int(stat.st_mtime)}"
    return f"name:{resolved}"


def analysis_fingerprint(options: ScanOptions) -> dict:
    """The options, phrase catalog and analysis code a record depends on (the file's meta row is added per file)."""
    here = Path(__file__).resolve().parent
    phrases = Path(options.phrases_dir)
    return {
        "code": _sha_of_files([here / f"{name}.py" for name in ANALYSIS_MODULES], _analysis_source()),
        "model": _model_identity(options.model),
        "language": options.language,
        "beam_size": options.beam_size,
        "vad_aggressiveness": options.vad_aggressiveness,
        "agent_channel": options.agent_channel,
        "redact": options.redact,
        "max_duration_s": options.max_duration_s,
        "phrases": _sha_of_files(sorted(list(phrases.glob("*.yaml")) + list(phrases.glob("*.yml")))),
    }


# -- scan: hash, look up in the catalog, analyse the misses, write, regenerate reports --
@dataclass
class ScanStats:
    """What a scan did; the CLI prints it (`unchanged` + `reused` were not transcribed)."""

    found: int = 0
    unchanged: int = 0      # same content, options and clips as the catalog: nothing done
    reused: int = 0         # analysis found in the catalog (moved/copied file, new clip settings)
    analysed: int = 0       # decoded and transcribed
    removed: int = 0        # calls in the catalog no longer in the archive
    stale_temp: int = 0     # temporary files of an interrupted run, deleted
    clip_failures: int = 0  # clips ffmpeg could not cut (retried by the next scan)

    def line(self) -> str:
        return (f"catalog: {self.found} found, {self.unchanged} unchanged (skipped), {self.reused} reused, "
                f"{self.analysed} analysed, {self.removed} removed"
                + (f", {self.clip_failures} clips failed" if self.clip_failures else ""))


@dataclass
class _Pending:
    rec: Recording
    call_id: str
    sha256: str | None
    fp: str


def _cacheable(record: dict) -> bool:
    """Errors caused by a bug, by reading the file or by a busy machine may not recur: analysed again."""
    return record["status"] == "ok" or (record.get("error") or {}).get("code") not in (
        "internal_error", "unreadable", "timeout")


def _files_complete(out_dir: Path, record: dict) -> bool:
    if not (out_dir / "calls" / f"{record['call_id']}.json").is_file():
        return False
    items = record.get("annotations", []) + record.get("splices", [])
    return all((out_dir / item["clip"]).is_file() for item in items if item.get("clip"))


def scan(paths: list[str], out_dir: Path, options: ScanOptions,
         on_record: Callable[[dict], None] | None = None,
         clip_options: clips.ClipOptions | None = None,
         stats: ScanStats | None = None) -> list[dict]:
    """Scan `paths` into `out_dir` and return every call's record (sorted by file).

    Each recording is hashed and looked up in DIR/catalog.sqlite first: unchanged
    ones are skipped, known content is reused, only the rest is decoded and
    transcribed. Per finished call: clips, calls/<call_id>.{labels.txt,vtt,sheet.txt,json},
    then a catalog commit, so a killed scan resumes where it stopped. At the end
    calls that left the archive are dropped and report.jsonl/.csv/.html are
    regenerated from the catalog.
    """
    clip_options = clip_options or clips.ClipOptions()
    stats = stats if stats is not None else ScanStats()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recordings = discover(paths)
    stats.found = len(recordings)
    base = analysis_fingerprint(options)
    clip_key = clip_options.key()
    scan_id = uuid.uuid4().hex
    with catalog_mod.Catalog(out_dir, exclusive=True) as cat:
        stats.stale_temp = outputs.remove_stale_temp(out_dir)

        def finish(pending: _Pending, analysis: dict) -> None:
            record = copy.deepcopy(analysis)
            record["file"], record["call_id"] = pending.rec.relative, pending.call_id
            failures = clips.cut_clips(record, pending.rec.path, out_dir, clip_options)
            stats.clip_failures += len(failures)
            outputs.write_call_files(out_dir, record)
            sha = (record.get("recording") or {}).get("sha256") or pending.sha256
            cat.store(record=record, analysis=analysis if _cacheable(analysis) else None,
                      source_path=str(Path(pending.rec.path).resolve()), sha256=sha, fp=pending.fp,
                      clip_key=clip_key + (":incomplete" if failures else ""), scan_id=scan_id)
            if on_record:
                on_record(record)

        todo: list[_Pending] = []
        for rec in recordings:
            meta_row = meta_mod.lookup(options.meta, rec.relative)
            pending = _Pending(rec, call_id_for(rec.relative, meta_row), None,
                               catalog_mod.fingerprint({**base, "meta": meta_row or {}}))
            try:
                pending.sha256 = decode.file_sha256(rec.path)
            except (OSError, InputError):
                pass  # analyse_file turns it into an error record
            row = cat.file_row(pending.call_id)
            if (row and pending.sha256 and row["sha256"] == pending.sha256 and row["fingerprint"] == pending.fp
                    and row["clip_key"] == clip_key and row["file"] == rec.relative
                    and _files_complete(out_dir, row["record"])):
                cat.touch(pending.call_id, scan_id, str(Path(rec.path).resolve()))
                stats.unchanged += 1
                if on_record:
                    on_record(row["record"])
                continue
            cached = cat.lookup(pending.sha256, pending.fp)
            if cached is not None:
                finish(pending, cached)
                stats.reused += 1
                continue
            todo.append(pending)

        hashed = [replace(p.rec, sha256=p.sha256) for p in todo]
        for pending, analysis in zip(todo, analyse_all(hashed, options)):
            stats.analysed += 1
            finish(pending, analysis)

        for call_id in cat.prune(scan_id):
            outputs.remove_call_files(out_dir, call_id)
            shutil.rmtree(out_dir / "clips" / call_id, ignore_errors=True)
            stats.removed += 1
        return report.write_reports(out_dir, cat)


def regenerate_reports(out_dir: Path) -> list[dict]:
    """`callaudit report DIR`: report.jsonl/.csv/.html again from the catalog."""
    with catalog_mod.Catalog(Path(out_dir), create=False, exclusive=True) as cat:
        return report.write_reports(Path(out_dir), cat)


def catalog_records(out_dir: Path) -> list[dict]:
    """Every call's record from DIR's catalog."""
    with catalog_mod.Catalog(Path(out_dir), create=False) as cat:
        return cat.records()
