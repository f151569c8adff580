"""Engine: run the stages over every recording of a batch and collect the records.

A recording is analysed in two stages, cached apart in the output folder's catalog:

- the transcript stage (`Analyser.transcript_stage`: decode, VAD, quiet-speech boost,
  ASR) gives a plain `schema.Transcript`, keyed by the recording's content, the ASR
  and VAD settings, the model's sha256 and the code of those stages only;
- the checks stage (`Analyser.checks_stage`: classification, statement matching,
  delivery, splice detection; it decodes the audio again) is keyed by the phrase
  catalog, the thresholds and the checks' code.

So an edit of the phrase catalog re-runs only the checks, from the stored transcripts.
`scan` finds the recordings under the archive root, hashes each and looks it up in
the catalog (pipeline.catalog), analyses the misses in worker processes (each loads
the model once, and only when it has something to transcribe), cuts each call's clips
and writes its files as soon as it is done, and regenerates report.jsonl/.csv/.html
from the catalog at the end. A file that fails becomes an error record, a worker
process that dies a `worker_crashed` record; the batch always goes on.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.metadata
import inspect
import os
import re
import shutil
import signal
import traceback
import uuid
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

from pipeline.core import catalog as catalog_mod
from pipeline.core import errors, fileio, models, redact, schema
from pipeline.core import meta as meta_mod
from pipeline.core.errors import InputError, UsageError
from pipeline.scan import (
    clips,
    conversation,
    credit,
    decode,
    delivery,
    levels,
    match,
    outputs,
    recovery,
    report,
    roles,
    rules,
    speakers,
    splice,
    transcribe,
    vad,
)
from pipeline.scan.match import MatchOptions
from pipeline.scan.recovery import RecoveryOptions
from pipeline.scan.speakers import SpeakerOptions
from pipeline.scan.splice import SpliceOptions
from pipeline.scan.vad import VadOptions

AUDIO_EXTENSIONS = frozenset(
    ".wav .mp3 .m4a .aac .ogg .opus .oga .flac .amr .awb .gsm .au .wma .webm .mp4 .3gp .mka .aif .aiff".split()
)
DEFAULT_PHRASES_DIR = Path(__file__).resolve().parents[2] / "phrases"


@dataclass
class ScanOptions:
    """Everything a worker needs to analyse a recording; picklable for worker processes.

    The stage options are documented where they are defined (vad.VadOptions,
    recovery.RecoveryOptions, match.MatchOptions, splice.SpliceOptions,
    speakers.SpeakerOptions); they and the
    ASR settings travel with every record (`provenance.options`).
    """

    model: str | None = None             # None/"default", a CTranslate2 model folder, or a cached model name
    language: str = "zh"
    beam_size: int = 5
    vad: VadOptions = field(default_factory=VadOptions)
    recovery: RecoveryOptions = field(default_factory=RecoveryOptions)
    match: MatchOptions = field(default_factory=MatchOptions)
    splice: SpliceOptions = field(default_factory=SpliceOptions)
    speakers: SpeakerOptions = field(default_factory=SpeakerOptions)
    phrases_dir: str = str(DEFAULT_PHRASES_DIR)
    workers: int = 1
    cpu_threads: int = 0
    meta: dict[str, dict] = field(default_factory=dict)
    redact: bool = False
    max_duration_s: float = decode.MAX_DURATION_S
    time_limit_s: float = 300.0          # per file, plus `time_limit_per_audio_s` per second of audio
    time_limit_per_audio_s: float = 1.0  # 1 s per audio second is ~5x the normal real-time factor
    address: str | None = None           # with the Ray backend: cluster to join (HOST:6379); None starts one


def effective_options(options: ScanOptions) -> schema.EffectiveOptions:
    """The options that can change a record (not workers, backend, time limits, metadata)."""
    return schema.EffectiveOptions(
        language=options.language, beam_size=options.beam_size, max_duration_s=options.max_duration_s,
        redact=options.redact, vad=options.vad, recovery=options.recovery, match=options.match,
        splice=options.splice, speakers=options.speakers)


@dataclass
class Recording:
    """A file to scan: its path on disk and its path relative to the archive root."""

    path: str
    relative: str               # with the content (sha256), what identifies the call
    sha256: str | None = None   # when the scan already hashed the file, so probe need not again
    transcript: dict | None = None  # a stored transcript of this content: only the checks run


def _absolute(path: str | Path) -> Path:
    """Absolute without resolving links: a link's own path is where the archive has the file."""
    return Path(os.path.abspath(path))


def archive_root(paths: list[str], given: str | None = None, stored: str | None = None) -> Path:
    """The folder call paths are relative to: `--root`, else the output folder's, else the given paths' parent.

    The default is the common parent of the given paths (a folder counts as its own
    parent), so `scan a/x.wav b/x.wav` keeps the two apart. An output folder keeps
    the root of its first scan: scanning a subfolder into it later keeps every
    call's relative path (and so its call_id) instead of renaming it.
    """
    absolute = [_absolute(p) for p in paths]
    default = Path(os.path.commonpath([p if p.is_dir() else p.parent for p in absolute]))
    root = _absolute(given) if given else Path(stored) if stored else default
    if stored and root != Path(stored):
        raise UsageError(f"this output folder's archive root is {stored}; --root {root} would rename its calls "
                         "(use another --out)")
    for path in absolute:
        if not path.is_relative_to(root):
            raise UsageError(f"{path} is outside the archive root {root}"
                             + (" of this output folder (use another --out)" if stored else " (see --root)"))
    return root


def discover(paths: list[str], root: Path | None = None) -> list[Recording]:
    """Expand files and folders (recursively) into recordings, in a stable order.

    Files named explicitly are always scanned; inside folders only known audio
    extensions are (a folder of recordings also holds CSVs, notes, truth files).
    Symlinked folders are not followed, so link loops cannot trap the walk.
    Relative paths are taken from `root` (default: `archive_root(paths)`).
    """
    root = root or archive_root(paths)
    found: dict[Path, Recording] = {}

    def add(path: Path) -> None:
        full = _absolute(path)
        found.setdefault(full, Recording(str(path), full.relative_to(root).as_posix()))

    for given in paths:
        top = Path(given)
        if top.is_dir():
            for folder, dirs, files in os.walk(top):
                dirs.sort()
                for name in sorted(files):
                    if Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                        add(Path(folder) / name)
        else:
            add(top)
    return list(found.values())


def call_id_for(relative: str, meta_row: dict | None) -> str:
    """A file-system-safe id: readable stem plus a short hash of the path relative to the archive root.

    The hash keeps two `001.wav` in different folders apart; ids from metadata are
    used when given, but sanitised the same way so they can never escape the output
    folder. The scan makes ids unique within one output folder (`_unique_call_id`).
    """
    wanted = (meta_row or {}).get("call_id") or Path(relative).stem
    safe = re.sub(r"[^\w.-]+", "_", wanted).strip("._")[:60] or "call"
    if meta_row and meta_row.get("call_id") and safe == meta_row["call_id"]:
        return safe
    return f"{safe}-{hashlib.sha1(relative.encode('utf-8')).hexdigest()[:8]}"


def _unique_call_id(wanted: str, relative: str, taken: dict[str, str]) -> str:
    """`wanted`, or when another file of this output folder holds it, `wanted` plus a hash of the path."""
    call_id, digits = wanted, 8
    while taken.setdefault(call_id, relative) != relative:
        call_id = f"{wanted}-{hashlib.sha1(relative.encode('utf-8')).hexdigest()[:digits]}"
        digits += 4
    return call_id


def empty_record(rec: Recording, meta_row: dict | None) -> schema.Record:
    """The output-contract skeleton every record starts from (error records included)."""
    return {
        "file": rec.relative,
        "call_id": call_id_for(rec.relative, meta_row),
        "status": "ok",
        "error": None,
        "recording": None,
        "speech": [],
        "levels": [],
        "segments": [],
        "unrecognised_speech": [],
        "roles": None,
        "call": None,
        "annotations": [],
        "splices": [],
        "conversation": None,
        "flags": [],
    }


def crash_record(rec: Recording, options: ScanOptions, message: str) -> schema.Record:
    """The record of a recording whose worker died (a crash in native code, killed, out of memory).

    Not cached: the next scan tries the file again (the cause may have been the machine).
    """
    record = empty_record(rec, meta_mod.lookup(options.meta, rec.relative))
    record.update(status="error", error={"code": "worker_crashed", "message": message})
    return record


class Analyser:
    """Holds what is loaded once per process (catalog, and the model once needed) and analyses recordings."""

    def __init__(self, options: ScanOptions):
        self.options = options
        self.catalog = rules.load_catalog(options.phrases_dir)
        self.cues = roles.load_cues(options.phrases_dir)
        self._model = None

    @property
    def model(self):
        """Loaded on first use: a worker that only re-checks stored transcripts never loads it."""
        if self._model is None:
            self._model = transcribe.load_model(self.options.model, cpu_threads=self.options.cpu_threads)
        return self._model

    def analyse_file(self, rec: Recording) -> tuple[schema.Record, schema.Transcript | None]:
        """(record, transcript) of one recording; any failure becomes an error record.

        With `rec.transcript` only the checks run. The transcript comes back for the
        catalog (None when the transcript stage failed); with --redact it is masked
        like the record. A file that takes longer than its time limit (a fixed
        allowance plus one in proportion to its duration) gets error code `timeout`.
        """
        meta_row = meta_mod.lookup(self.options.meta, rec.relative)
        record = empty_record(rec, meta_row)
        transcript = rec.transcript
        try:
            if transcript is None:
                with time_limit(self.options.time_limit_s):
                    info = decode.probe(rec.path, self.options.max_duration_s, sha256=rec.sha256)
                record["recording"] = asdict(info)
            else:  # what probe said: the declared duration
                stored = transcript["recording"]
                info = decode.RecordingInfo(**{**stored, "duration_s": stored["declared_duration_s"]})
            with time_limit(self.options.time_limit_s + self.options.time_limit_per_audio_s * info.duration_s):
                audio = decode.decode(rec.path, info=info, max_duration_s=self.options.max_duration_s)
                if transcript is None:
                    transcript = self.transcript_stage(audio)
                record.update(copy.deepcopy(transcript))
                record.update(self.checks_stage(rec, info, audio, transcript, meta_row))
        except InputError as exc:
            record.update(status="error", error=exc.as_dict())
        except Exception as exc:  # a bug on one file must not stop an archive scan
            record.update(status="error", error={
                "code": "internal_error",
                "message": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=5),
            })
        if self.options.redact:
            redact.redact_record(record)
            if transcript is not None:
                redact.redact_segments(transcript["segments"], redact.kept_numbers(record))
        return record, transcript

    def transcript_stage(self, audio: decode.Audio) -> schema.Transcript:
        """VAD -> quiet-speech boost -> ASR: everything the checks need that costs the ASR.

        Levels are measured on the first-pass VAD speech (as the delivery check needs
        them); `speech` is the VAD speech after the boost.
        """
        samples, rate = audio.samples, audio.sample_rate
        speech = vad.detect_speech(samples, rate, self.options.vad)
        reference = levels.reference_levels(samples, rate, speech)
        boosted, speech, raised = recovery.boost_quiet(samples, rate, speech, reference, self.options.recovery,
                                                       self.options.vad)
        asr = transcribe.TranscribeOptions(language=self.options.language, beam_size=self.options.beam_size)
        heard = transcribe.transcribe(self.model, boosted, rate, speech, asr)
        return {"recording": asdict(audio.info), "speech": [asdict(s) for s in speech],
                "levels": levels.to_plain(reference), "segments": recovery.mark_recovered(heard.segments, raised),
                "unrecognised_speech": heard.unrecognised_speech}

    def checks_stage(self, rec: Recording, info: decode.RecordingInfo, audio: decode.Audio,
                     transcript: schema.Transcript, meta_row: dict | None) -> dict:
        """roles -> classify -> match -> delivery -> splices -> conversation, from a transcript and the audio.

        Returns the record's `segments` (a copy of the transcript's, each with its
        `speaker`), `roles`, `call`, `annotations`, `splices`, `conversation` and `flags`.
        """
        samples, rate = audio.samples, audio.sample_rate
        speech = [vad.SpeechSegment(**s) for s in transcript["speech"]]
        segments = copy.deepcopy(transcript["segments"])
        roles, turns = speakers.assign_roles(samples, rate, segments, meta_row, self.options.speakers, self.cues)
        fast = delivery.fast_speech(samples, rate, speech, segments, self.options.recovery.fast_min_rate)
        call = match.classify_call(segments, self.catalog, meta_row)
        annotations, flags = match.check_call(segments, call, self.catalog, delivery.segments_inside(fast, segments),
                                              self.options.match, self.cues)
        annotations, flags = delivery.assess(annotations, flags, self.catalog, samples, rate,
                                             levels.from_plain(transcript["levels"]), fast)
        match.point_to_unrecognised(flags, transcript.get("unrecognised_speech", []))
        splices = splice.detect_splices(rec.path, info, audio, speech, self.options.splice,
                                        self.options.max_duration_s)
        talk = conversation.measure(turns, audio.info.duration_s, samples.shape[0] > 1)
        return {"segments": segments, "roles": roles, "call": call, "annotations": annotations, "splices": splices,
                "conversation": talk,
                "flags": flags + splice.splice_flags(splices) + conversation.flags(talk, self.catalog.conversation)}


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
                    done[index] = (crash_record(recordings[index], options,
                                                "the worker process analysing this recording died "
                                                "(crash in native code, killed, or out of memory)"), None)
                else:
                    suspects.extend(sorted(running.values()))
        while next_out in done:
            yield done.pop(next_out)
            next_out += 1


# -- cache keys: what makes a stored transcript or record stale ------------------------------
# Each level hashes the source of the modules it runs (and of the engine code that wires
# them), so a change to the checks re-checks the archive without transcribing it again,
# and a change to the outputs re-does neither.
TRANSCRIPT_MODULES = (decode, vad, levels, recovery, transcribe, errors)
CHECK_MODULES = (decode, levels, match, rules, delivery, splice, meta_mod, redact, errors, schema,
                 speakers, roles, credit, conversation)


def callaudit_version() -> str:
    try:
        return importlib.metadata.version("callaudit")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def _module_sources(module) -> list[Path]:
    """The files of a module, or of every module of a package (the splice detectors are one)."""
    path = Path(module.__file__)
    return sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]


def _code_sha(modules: tuple, *objects) -> str:
    digest = hashlib.sha256("".join(inspect.getsource(obj) for obj in objects).encode("utf-8"))
    for module in modules:
        for path in _module_sources(module):
            digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def transcript_key(options: ScanOptions, model_sha256: str) -> str:
    """What a transcript depends on besides the recording's content (never the phrase catalog)."""
    return catalog_mod.fingerprint({
        "code": _code_sha(TRANSCRIPT_MODULES + ((redact,) if options.redact else ()), Analyser.transcript_stage),
        "model": model_sha256, "language": options.language, "beam_size": options.beam_size,
        "vad": asdict(options.vad), "max_duration_s": options.max_duration_s, "redact": options.redact,
        "quiet": [options.recovery.quiet_below_db, options.recovery.quiet_context_s],
    })


def checks_key(options: ScanOptions, catalog_sha256: str) -> str:
    """What the checks depend on besides the transcript and the call's metadata row."""
    return catalog_mod.fingerprint({
        "code": _code_sha(CHECK_MODULES, ScanOptions, empty_record, Analyser.analyse_file, Analyser.checks_stage),
        "version": callaudit_version(), "catalog": catalog_sha256, "options": asdict(effective_options(options)),
    })


def provenance(options: ScanOptions, model: dict) -> schema.Provenance:
    """The block every record carries: tool version, model and catalog checksums, effective options."""
    return {
        "callaudit": callaudit_version(),
        "model": {"name": model["name"], "sha256": model["sha256"]},
        "catalog": {"sha256": rules.catalog_sha256(options.phrases_dir),
                    "files": [p.name for p in rules.catalog_files(options.phrases_dir)]},
        "options": asdict(effective_options(options)),
    }


# -- scan: hash, look up in the catalog, analyse the misses, write, regenerate reports --
@dataclass
class ScanStats:
    """What a scan did; the CLI prints it (only `analysed` were transcribed)."""

    found: int = 0
    unchanged: int = 0      # same content, options and clips as the catalog: nothing done
    reused: int = 0         # record found in the catalog (moved/copied file, new clip settings)
    rechecked: int = 0      # transcript found in the catalog: only the checks ran
    analysed: int = 0       # decoded and transcribed
    removed: int = 0        # calls in the catalog no longer in the archive
    stale_temp: int = 0     # temporary files of an interrupted run, deleted
    clip_failures: int = 0  # clips ffmpeg could not cut (retried by the next scan)

    def line(self) -> str:
        return (f"catalog: {self.found} found, {self.unchanged} unchanged (skipped), {self.reused} reused, "
                f"{self.rechecked} re-checked, {self.analysed} analysed, {self.removed} removed"
                + (f", {self.clip_failures} clips failed" if self.clip_failures else ""))


@dataclass
class _Pending:
    rec: Recording
    call_id: str
    fp: str


def _cacheable(record: dict) -> bool:
    """Errors caused by a bug, by reading the file or by a busy machine may not recur: analysed again."""
    return record["status"] == "ok" or (record.get("error") or {}).get("code") not in (
        "internal_error", "unreadable", "timeout", "worker_crashed")


def _files_complete(out_dir: Path, record: dict) -> bool:
    if not (out_dir / "calls" / f"{record['call_id']}.json").is_file():
        return False
    items = record.get("annotations", []) + record.get("splices", [])
    return all((out_dir / item["clip"]).is_file() for item in items if item.get("clip"))


def _remove_call(out_dir: Path, call_id: str) -> None:
    outputs.remove_call_files(out_dir, call_id)
    shutil.rmtree(out_dir / "clips" / call_id, ignore_errors=True)


def scan(paths: list[str], out_dir: Path, options: ScanOptions,
         on_record: Callable[[dict], None] | None = None,
         clip_options: clips.ClipOptions | None = None,
         stats: ScanStats | None = None, root: str | None = None, prune: bool = False,
         backend: Backend | None = None) -> list[dict]:
    """Scan `paths` into `out_dir` and return every call's record (sorted by file).

    Each recording is hashed and looked up in DIR/catalog.sqlite first: unchanged
    ones are skipped, a known record is reused, a known transcript is only checked
    again, only the rest is transcribed. Per finished call: clips,
    calls/<call_id>.{labels.txt,vtt,sheet.txt,json}, then a catalog commit, so a
    killed scan resumes where it stopped. At the end, calls under the given paths
    whose files vanished are dropped (with `prune`, every call this scan did not
    see), and report.jsonl/.csv/.html are regenerated from the catalog. `backend`
    analyses what is left to do (default: `analyse_all`, local worker processes).
    """
    clip_options = clip_options or clips.ClipOptions()
    stats = stats if stats is not None else ScanStats()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with catalog_mod.Catalog(out_dir, exclusive=True) as cat:
        archive = archive_root(paths, root, cat.get_info("root"))
        cat.set_info("root", str(archive))
        recordings = discover(paths, archive)
        stats.found = len(recordings)
        stats.stale_temp = outputs.remove_stale_temp(out_dir)
        model = models.model_identity(options.model)
        stamp = provenance(options, model)
        transcript_fp = transcript_key(options, model["sha256"])
        checks_fp = checks_key(options, stamp["catalog"]["sha256"])
        clip_key = clip_options.key()
        scan_id = uuid.uuid4().hex
        taken = cat.call_ids()

        def finish(pending: _Pending, analysis: dict, transcript: dict | None) -> None:
            analysis = {**analysis, "provenance": stamp}
            record = copy.deepcopy(analysis)
            record["file"], record["call_id"] = pending.rec.relative, pending.call_id
            failures = clips.cut_clips(record, pending.rec.path, out_dir, clip_options)
            stats.clip_failures += len(failures)
            outputs.write_call_files(out_dir, record)
            sha = (record.get("recording") or {}).get("sha256") or pending.rec.sha256
            replaced = cat.store(record=record, analysis=analysis if _cacheable(analysis) else None,
                                 transcript=transcript, transcript_fp=transcript_fp,
                                 source_path=str(_absolute(pending.rec.path)), sha256=sha, fp=pending.fp,
                                 clip_key=clip_key + (":incomplete" if failures else ""), scan_id=scan_id)
            for call_id in replaced:
                _remove_call(out_dir, call_id)
            if on_record:
                on_record(record)

        todo: list[_Pending] = []
        for rec in recordings:
            meta_row = meta_mod.lookup(options.meta, rec.relative)
            pending = _Pending(rec, _unique_call_id(call_id_for(rec.relative, meta_row), rec.relative, taken),
                               catalog_mod.fingerprint({"transcript": transcript_fp, "checks": checks_fp,
                                                        "meta": meta_row or {}}))
            try:
                rec.sha256 = fileio.file_sha256(rec.path)
            except (OSError, InputError):
                pass  # analyse_file turns it into an error record
            row = cat.file_row(pending.call_id)
            if (row and rec.sha256 and row["sha256"] == rec.sha256 and row["fingerprint"] == pending.fp
                    and row["clip_key"] == clip_key and row["file"] == rec.relative
                    and _cacheable(row["record"]) and _files_complete(out_dir, row["record"])):
                cat.touch(pending.call_id, scan_id, str(_absolute(rec.path)))
                stats.unchanged += 1
                if on_record:
                    on_record(row["record"])
                continue
            cached = cat.lookup(rec.sha256, pending.fp)
            if cached is not None:
                finish(pending, cached, None)
                stats.reused += 1
                continue
            rec.transcript = cat.transcript(rec.sha256, transcript_fp)
            todo.append(pending)

        worker_options = replace(options, model=model["path"])
        analysed = (backend or analyse_all)([p.rec for p in todo], worker_options)
        for pending, (analysis, transcript) in zip(todo, analysed):
            if pending.rec.transcript is None:
                stats.analysed += 1
                finish(pending, analysis, transcript)
            else:
                stats.rechecked += 1
                finish(pending, analysis, None)  # stored already

        scopes = None if prune else [_absolute(p).relative_to(archive).as_posix() for p in paths]
        for call_id in cat.prune(scan_id, scopes):
            _remove_call(out_dir, call_id)
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
