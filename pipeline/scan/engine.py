"""Engine: run the stages over every recording of a batch and collect the records.

A recording is analysed in two stages, cached apart in the output folder's catalog:

- the transcript stage (`Analyser.transcript_stage`: decode, VAD, quiet-speech boost,
  ASR) gives a plain `schema.Transcript`, keyed by the recording's content, the ASR
  and VAD settings, the model's sha256 and the code of those stages only;
- the checks stage (`Analyser.checks_stage`: classification, statement matching,
  delivery, splice detection; it decodes the audio again) is keyed by the phrase
  catalog, the thresholds and the checks' code (`cache_keys`).

So an edit of the phrase catalog re-runs only the checks, from the stored transcripts.
`scan` finds the recordings under the archive root (`discovery`), hashes each and looks
it up in the catalog (pipeline.core.catalog), analyses the misses in worker processes
(`workers`: each loads the model once, and only when it has something to transcribe),
cuts each call's clips and writes its files as soon as it is done, and regenerates
report.jsonl/.csv/.html from the catalog at the end. A file that fails becomes an error
record, a worker process that dies a `worker_crashed` record; the batch always goes on.
The engine decides nothing a record says: that is `analyser` and the stages.
"""

from __future__ import annotations

import contextlib
import copy
import shutil
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from pipeline.core import catalog as catalog_mod
from pipeline.core import fileio, models
from pipeline.core import meta as meta_mod
from pipeline.core.errors import InputError
from pipeline.integrity import archive as integrity_archive
from pipeline.integrity import custody as custody_mod
from pipeline.integrity.ledger import Signer
from pipeline.scan import clips, outputs, report, workers
from pipeline.scan.cache_keys import checks_key, provenance, transcript_key
from pipeline.scan.discovery import (
    Recording,
    absolute_path,
    archive_root,
    call_id_for,
    discover,
    unique_call_id,
)
from pipeline.scan.options import ScanOptions
from pipeline.scan.workers import Backend


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
    custody: str = ""       # the custody ledger's summary line (pipeline.integrity.custody)

    def line(self) -> str:
        return (f"catalog: {self.found} found, {self.unchanged} unchanged (skipped), {self.reused} reused, "
                f"{self.rechecked} re-checked, {self.analysed} analysed, {self.removed} removed"
                + (f", {self.clip_failures} clips failed" if self.clip_failures else "")
                + (f"\n{self.custody}" if self.custody else ""))


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
         backend: Backend | None = None, signer: Signer | None = None) -> list[dict]:
    """Scan `paths` into `out_dir` and return every call's record (sorted by file).

    Each recording is hashed and looked up in DIR/catalog.sqlite first: unchanged
    ones are skipped, a known record is reused, a known transcript is only checked
    again, only the rest is transcribed. Per finished call: clips,
    calls/<call_id>.{labels.txt,vtt,sheet.txt,json}, then a catalog commit, so a
    killed scan resumes where it stopped. At the end, calls under the given paths
    whose files vanished are dropped (with `prune`, every call this scan did not
    see), and report.jsonl/.csv/.html are regenerated from the catalog. `backend`
    analyses what is left to do (default: `workers.analyse_all`, local worker processes).
    Every recording seen is checked against DIR/custody.jsonl (pipeline.integrity;
    `signer` signs its new entries) and every record gets its integrity verdict.
    """
    clip_options = clip_options or clips.ClipOptions()
    stats = stats if stats is not None else ScanStats()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with catalog_mod.Catalog(out_dir, exclusive=True) as cat, \
            contextlib.closing(custody_mod.Custody.open(out_dir, signer)) as custody:
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
            custody.observe(pending.call_id, pending.rec.relative, pending.rec.path, pending.rec.sha256 or sha,
                            (record.get("recording") or {}).get("audio_sha256"), record.get("format"))
            replaced = cat.store(record=record, analysis=analysis if _cacheable(analysis) else None,
                                 transcript=transcript, transcript_fp=transcript_fp,
                                 source_path=str(absolute_path(pending.rec.path)), sha256=sha, fp=pending.fp,
                                 clip_key=clip_key + (":incomplete" if failures else ""), scan_id=scan_id)
            for call_id in replaced:
                _remove_call(out_dir, call_id)
            if on_record:
                on_record(record)

        todo: list[_Pending] = []
        for rec in recordings:
            meta_row = meta_mod.lookup(options.meta, rec.relative)
            pending = _Pending(rec, unique_call_id(call_id_for(rec.relative, meta_row), rec.relative, taken),
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
                cat.touch(pending.call_id, scan_id, str(absolute_path(rec.path)))
                custody.observe(pending.call_id, rec.relative, rec.path, rec.sha256,
                                (row["record"].get("recording") or {}).get("audio_sha256"), row["record"].get("format"))
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
        analysed = (backend or workers.analyse_all)([p.rec for p in todo], worker_options)
        for pending, (analysis, transcript) in zip(todo, analysed):
            if pending.rec.transcript is None:
                stats.analysed += 1
                finish(pending, analysis, transcript)
            else:
                stats.rechecked += 1
                finish(pending, analysis, None)  # stored already

        scopes = None if prune else [absolute_path(p).relative_to(archive).as_posix() for p in paths]
        for call_id in cat.prune(scan_id, scopes):
            _remove_call(out_dir, call_id)
            stats.removed += 1
        integrity_archive.finish_scan(out_dir, cat, custody, scopes, archive)
        stats.custody = custody.summary()
        return report.write_reports(out_dir, cat)


def regenerate_reports(out_dir: Path) -> list[dict]:
    """`callaudit report DIR`: report.jsonl/.csv/.html again from the catalog."""
    with catalog_mod.Catalog(Path(out_dir), create=False, exclusive=True) as cat:
        return report.write_reports(Path(out_dir), cat)


def catalog_records(out_dir: Path) -> list[dict]:
    """Every call's record from DIR's catalog."""
    with catalog_mod.Catalog(Path(out_dir), create=False) as cat:
        return cat.records()
