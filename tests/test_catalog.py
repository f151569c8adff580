"""Catalog and the scan's skip/reuse/resume logic, over hand-made records (no model, no match stage).

`workers.analyse_all` is replaced by a fake that returns a hand-made record per
recording and counts what it was asked to analyse, so these tests run in seconds.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers_records import make_record, make_recording

from pipeline.core import catalog
from pipeline.core.errors import UsageError
from pipeline.scan import analyser, cache_keys, clips, engine, outputs, workers
from pipeline.scan.match import MatchOptions
from pipeline.scan.options import DEFAULT_PHRASES_DIR, ScanOptions


@pytest.fixture
def fake_analysis(monkeypatch):
    """Replace the analysis with hand-made records; returns the files transcribed ("re-check X": checked only)."""
    analysed: list[str] = []

    def fake_analyse_all(recordings, options):
        for rec in recordings:
            analysed.append(rec.relative if rec.transcript is None else f"re-check {rec.relative}")
            record = make_record(Path(rec.path), rec.relative, call_id="ignored")
            yield record, {"recording": record["recording"], "segments": record["segments"]}

    monkeypatch.setattr(workers, "analyse_all", fake_analyse_all)
    return analysed


@pytest.fixture
def archive(tmp_path) -> Path:
    root = tmp_path / "archive"
    (root / "sub").mkdir(parents=True)
    make_recording(root / "a.wav", 12.0)
    make_recording(root / "sub" / "b.wav", 13.0)
    return root


@pytest.fixture
def phrases(tmp_path) -> Path:
    folder = tmp_path / "phrases"
    shutil.copytree(DEFAULT_PHRASES_DIR, folder)
    return folder


def scan(archive: Path, out: Path, phrases: Path, **clip_args) -> engine.ScanStats:
    stats = engine.ScanStats()
    engine.scan([str(archive)], out, ScanOptions(phrases_dir=str(phrases)),
                clip_options=clips.ClipOptions(**clip_args), stats=stats)
    return stats


def report_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "report.jsonl").read_text("utf-8").splitlines()]


def test_catalog_roundtrip_and_wal(tmp_path):
    record = {"file": "x.wav", "call_id": "x-1", "status": "ok", "flags": []}
    fp = catalog.fingerprint({"model": "m", "meta": {}})
    assert fp == catalog.fingerprint({"meta": {}, "model": "m"})
    assert fp != catalog.fingerprint({"model": "other", "meta": {}})
    with catalog.Catalog(tmp_path) as cat:
        cat.store(record=record, analysis=record, source_path="/a/x.wav", sha256="s1", fp=fp, clip_key="wav",
                  scan_id="scan1")
        assert cat.lookup("s1", fp) == record
        assert cat.lookup("s1", "other") is None and cat.lookup(None, fp) is None
        assert cat.records() == [record]
        assert cat.sources() == {"x-1": "/a/x.wav"}
        cat.put_peaks("s1", 10, [[[0.0, 1.0]]])
        assert cat.get_peaks("s1", 10) == [[[0.0, 1.0]]]
    with catalog.Catalog(tmp_path, create=False) as cat:   # reopens, data kept
        assert cat.file_row("x-1")["sha256"] == "s1"
        assert cat.prune("scan2") == ["x-1"]
        assert cat.records() == [] and cat.lookup("s1", fp) == record  # the analysis stays cached
    mode = sqlite3.connect(tmp_path / catalog.FILENAME).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_catalog_refuses_a_missing_or_foreign_database(tmp_path):
    with pytest.raises(catalog.CatalogDBError):
        catalog.Catalog(tmp_path / "nowhere", create=False)
    (tmp_path / catalog.FILENAME).write_bytes(b"not a database at all" * 100)
    with pytest.raises(catalog.CatalogDBError):
        catalog.Catalog(tmp_path)


def test_rescan_of_unchanged_archive_analyses_nothing(tmp_path, archive, phrases, fake_analysis):
    out = tmp_path / "out"
    first = scan(archive, out, phrases)
    assert (first.found, first.analysed, first.unchanged) == (2, 2, 0)
    before = report_lines(out)
    assert [r["file"] for r in before] == ["a.wav", "sub/b.wav"]
    stamp = {p: p.stat().st_mtime_ns for p in (out / "calls").iterdir()}
    second = scan(archive, out, phrases)
    assert (second.analysed, second.unchanged, second.reused) == (0, 2, 0)
    assert fake_analysis == ["a.wav", "sub/b.wav"]
    assert report_lines(out) == before
    assert {p: p.stat().st_mtime_ns for p in (out / "calls").iterdir()} == stamp  # call files untouched
    assert "2 unchanged (skipped)" in second.line() and "0 analysed" in second.line()


def test_changed_phrases_or_content_trigger_reanalysis(tmp_path, archive, phrases, fake_analysis):
    out = tmp_path / "out"
    scan(archive, out, phrases)
    (phrases / "rules.yaml").write_text((phrases / "rules.yaml").read_text("utf-8") + "\n# edited\n", "utf-8")
    stats = scan(archive, out, phrases)   # a catalog edit: checks again from the stored transcripts
    assert (stats.rechecked, stats.analysed) == (2, 0) and "2 re-checked, 0 analysed" in stats.line()
    assert fake_analysis[-2:] == ["re-check a.wav", "re-check sub/b.wav"]
    make_recording(archive / "a.wav", 9.0)   # new content, same name
    stats = scan(archive, out, phrases)
    assert (stats.analysed, stats.unchanged) == (1, 1)
    assert fake_analysis[-1] == "a.wav"
    assert report_lines(out)[0]["recording"]["duration_s"] == pytest.approx(9.0, abs=0.05)


def test_copied_file_reuses_analysis_and_removed_file_leaves(tmp_path, archive, phrases, fake_analysis):
    out = tmp_path / "out"
    scan(archive, out, phrases)
    shutil.copy(archive / "a.wav", archive / "copy_of_a.wav")
    (archive / "sub" / "b.wav").unlink()
    stats = scan(archive, out, phrases)
    assert (stats.analysed, stats.reused, stats.unchanged, stats.removed) == (0, 1, 1, 1)
    records = report_lines(out)
    assert [r["file"] for r in records] == ["a.wav", "copy_of_a.wav"]
    copy = records[1]
    assert copy["call_id"].startswith("copy_of_a-")
    assert all(a["clip"].startswith(f"clips/{copy['call_id']}/") for a in copy["annotations"])
    assert all((out / a["clip"]).is_file() for a in copy["annotations"])
    gone = [p.name for p in (out / "calls").iterdir() if p.name.startswith("b-")]
    assert gone == [] and not [p for p in (out / "clips").iterdir() if p.name.startswith("b-")]


def test_new_clip_settings_recut_without_reanalysis(tmp_path, archive, phrases, fake_analysis):
    out = tmp_path / "out"
    scan(archive, out, phrases)
    stats = scan(archive, out, phrases, mode="none")
    assert (stats.analysed, stats.reused) == (0, 2)
    assert not (out / "clips" / report_lines(out)[0]["call_id"]).exists()
    assert all("clip" not in a for r in report_lines(out) for a in r["annotations"])
    stats = scan(archive, out, phrases, mode="wav", padding_s=1.0)
    assert (stats.analysed, stats.reused) == (0, 2)
    assert all((out / a["clip"]).is_file() for r in report_lines(out) for a in r["annotations"])


def test_interrupted_scan_resumes_without_loss_or_duplicates(tmp_path, archive, phrases, monkeypatch):
    """A crash after the first call's commit: the rerun analyses only the rest; stale temp files go."""
    make_recording(archive / "c.wav", 11.0)
    out = tmp_path / "out"
    analysed: list[str] = []

    def crashing(recordings, options):
        for n, rec in enumerate(recordings):
            if n == 1:
                (out / "calls" / ".half.json.abcd.tmp").write_text("{", "utf-8")  # what kill -9 leaves
                raise KeyboardInterrupt
            analysed.append(rec.relative)
            yield make_record(Path(rec.path), rec.relative), None

    monkeypatch.setattr(workers, "analyse_all", crashing)
    with pytest.raises(KeyboardInterrupt):
        scan(archive, out, phrases)
    assert not (out / "report.jsonl").exists()
    assert len(engine.catalog_records(out)) == 1

    def fine(recordings, options):
        for rec in recordings:
            analysed.append(rec.relative)
            yield make_record(Path(rec.path), rec.relative), None

    monkeypatch.setattr(workers, "analyse_all", fine)
    stats = scan(archive, out, phrases)
    assert (stats.unchanged, stats.analysed, stats.stale_temp) == (1, 2, 1)
    assert analysed == ["a.wav", "c.wav", "sub/b.wav"]
    records = report_lines(out)
    assert [r["file"] for r in records] == ["a.wav", "c.wav", "sub/b.wav"]
    assert not list(out.rglob("*.tmp*"))


def test_unreadable_file_becomes_error_record_without_the_model(tmp_path, phrases, monkeypatch):
    root = tmp_path / "archive"
    root.mkdir()
    (root / "empty.wav").write_bytes(b"")
    (root / "junk.mp3").write_bytes(b"this is not audio" * 50)

    class NoModel(analyser.Analyser):
        def __init__(self, options):   # analysis without loading the model: only bad files here
            self.options = options

    monkeypatch.setattr(analyser, "Analyser", NoModel)
    out = tmp_path / "out"
    scan(root, out, phrases)
    records = report_lines(out)
    assert [(r["file"], r["status"], r["error"]["code"]) for r in records] == [
        ("empty.wav", "error", "empty"), ("junk.mp3", "error", "not_audio")]
    stats = scan(root, out, phrases)
    assert (stats.unchanged, stats.analysed) == (2, 0)   # known-bad content is not retried
    assert "empty.wav,empty-" in (out / "report.csv").read_text("utf-8-sig")
    assert outputs.parse_label_track((out / "calls" / f"{records[0]['call_id']}.labels.txt").read_text("utf-8")) == []


def test_failed_clips_are_cut_again_by_the_next_scan(tmp_path, archive, phrases, fake_analysis, monkeypatch):
    out = tmp_path / "out"
    real_cut = clips.cut

    def failing_cut(*args, **kwargs):
        raise clips.InputError("clip_failed", "disk full")

    monkeypatch.setattr(clips, "cut", failing_cut)
    stats = scan(archive, out, phrases)
    assert stats.clip_failures == 8 and "8 clips failed" in stats.line()
    assert all(a["clip_error"] == "disk full" for r in report_lines(out) for a in r["annotations"])
    monkeypatch.setattr(clips, "cut", real_cut)
    stats = scan(archive, out, phrases)
    assert (stats.analysed, stats.reused, stats.clip_failures) == (0, 2, 0)
    assert all("clip_error" not in a and (out / a["clip"]).is_file() for r in report_lines(out) for a in r["annotations"])


def test_two_scans_cannot_write_one_folder(tmp_path, archive, phrases, fake_analysis):
    out = tmp_path / "out"
    with catalog.Catalog(out, exclusive=True):
        with pytest.raises(catalog.CatalogDBError, match="another scan"):
            scan(archive, out, phrases)
        with catalog.Catalog(out) as reader:   # reading (flags) is fine meanwhile
            assert reader.records() == []
    assert scan(archive, out, phrases).analysed == 2


def scan_paths(paths: list[Path], out: Path, phrases: Path, **kwargs) -> engine.ScanStats:
    stats = engine.ScanStats()
    engine.scan([str(p) for p in paths], out, ScanOptions(phrases_dir=str(phrases)), stats=stats, **kwargs)
    return stats


def test_same_name_in_two_folders_is_two_calls(tmp_path, phrases, fake_analysis):
    """`scan a/x.wav b/x.wav` and two roots sharing a relative path: two calls, stable over re-scans."""
    for folder in ("a", "b", "r1/day", "r2/day"):
        (tmp_path / folder).mkdir(parents=True)
    make_recording(tmp_path / "a" / "x.wav", 12.0)
    make_recording(tmp_path / "b" / "x.wav", 13.0)
    out = tmp_path / "out"
    scan_paths([tmp_path / "a" / "x.wav", tmp_path / "b" / "x.wav"], out, phrases)
    records = report_lines(out)
    assert [r["file"] for r in records] == ["a/x.wav", "b/x.wav"]
    assert len({r["call_id"] for r in records}) == 2
    again = scan_paths([tmp_path / "a" / "x.wav", tmp_path / "b" / "x.wav"], out, phrases)
    assert (again.unchanged, again.analysed, again.removed) == (2, 0, 0) and report_lines(out) == records

    make_recording(tmp_path / "r1" / "day" / "x.wav", 12.0)
    make_recording(tmp_path / "r2" / "day" / "x.wav", 14.0)
    out2 = tmp_path / "out2"
    scan_paths([tmp_path / "r1", tmp_path / "r2"], out2, phrases)
    assert [r["file"] for r in report_lines(out2)] == ["r1/day/x.wav", "r2/day/x.wav"]
    assert len({r["call_id"] for r in report_lines(out2)}) == 2


def test_scanning_a_subfolder_keeps_the_rest_of_the_archive(tmp_path, archive, phrases, fake_analysis):
    out = tmp_path / "out"
    scan_paths([archive], out, phrases)
    before = report_lines(out)
    call_files = sorted(p.name for p in (out / "calls").iterdir())
    stats = scan_paths([archive / "sub"], out, phrases)
    assert (stats.found, stats.unchanged, stats.removed) == (1, 1, 0)   # same relative path, same call_id
    assert report_lines(out) == before
    assert sorted(p.name for p in (out / "calls").iterdir()) == call_files
    assert all((out / a["clip"]).is_file() for r in before for a in r["annotations"])


def test_vanished_files_are_pruned_under_the_scanned_paths_or_everywhere_with_prune(tmp_path, archive, phrases,
                                                                                   fake_analysis):
    out = tmp_path / "out"
    scan_paths([archive], out, phrases)
    (archive / "a.wav").unlink()
    (archive / "sub" / "b.wav").unlink()
    make_recording(archive / "sub" / "c.wav", 11.0)
    stats = scan_paths([archive / "sub"], out, phrases)
    assert (stats.analysed, stats.removed) == (1, 1)
    assert [r["file"] for r in report_lines(out)] == ["a.wav", "sub/c.wav"]   # a.wav was not under sub/
    stats = scan_paths([archive / "sub"], out, phrases, prune=True)
    assert (stats.unchanged, stats.removed) == (1, 1)
    assert [r["file"] for r in report_lines(out)] == ["sub/c.wav"]
    assert sorted(p.name.split("-")[0] for p in (out / "clips").iterdir()) == ["c"]


def test_paths_outside_the_output_folders_root_are_refused(tmp_path, archive, phrases, fake_analysis):
    out = tmp_path / "out"
    scan_paths([archive / "sub"], out, phrases)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    make_recording(elsewhere / "z.wav", 10.0)
    with pytest.raises(UsageError, match="outside the archive root"):
        scan_paths([elsewhere], out, phrases)
    with pytest.raises(UsageError, match="would rename"):
        scan_paths([archive / "sub"], out, phrases, root=str(archive))
    assert [r["file"] for r in report_lines(out)] == ["b.wav"]


def test_metadata_call_ids_stay_unique(tmp_path, archive, phrases, fake_analysis):
    out = tmp_path / "out"
    meta = {"a.wav": {"call_id": "C1"}, "sub/b.wav": {"call_id": "C1"}}
    engine.scan([str(archive)], out, ScanOptions(phrases_dir=str(phrases), meta=meta))
    ids = [r["call_id"] for r in report_lines(out)]
    assert ids[0] == "C1" and ids[1].startswith("C1-") and len(set(ids)) == 2


def test_transcript_key_ignores_the_checks_and_checks_key_covers_redaction():
    """The transcript cache must survive any change to matching, delivery, splices, rules or phrases."""
    def names(modules):
        return {m.__name__.rsplit(".", 1)[1] for m in modules}
    checks = {"match", "phrase_align", "pinyin", "classify", "rules", "rule_yaml", "phrase_catalog", "delivery",
              "splice", "redact", "meta", "analyser", "options"}
    assert not names(cache_keys.TRANSCRIPT_MODULES) & checks
    assert checks <= names(cache_keys.CHECK_MODULES)
    options = ScanOptions()
    assert cache_keys.transcript_key(options, "m") == cache_keys.transcript_key(
        ScanOptions(phrases_dir="/elsewhere", match=MatchOptions(fast_slack=3.0)), "m")
    assert cache_keys.transcript_key(options, "m") != cache_keys.transcript_key(ScanOptions(beam_size=1), "m")
    assert cache_keys.checks_key(options, "c1") != cache_keys.checks_key(options, "c2")
