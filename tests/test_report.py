"""Per-call annotation files, report.csv, report.html (rendered in headless chromium), `flags`."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from helpers_browser import needs_chromium, pixels, render
from helpers_records import make_record, make_recording

from pipeline.core import catalog
from pipeline.scan import clips, outputs, report

WAVE_RGB = (0x25, 0x63, 0xEB)


# -- per-call files ------------------------------------------------------------------
def test_label_track_parses_back_to_the_annotations(tmp_path):
    record = make_record(make_recording(tmp_path / "a.wav", 12.0))
    text = outputs.LabelTrackWriter().format(record)
    assert text.splitlines()[0] == "0.500000\t2.800000\t营销电话标识"
    rows = outputs.parse_label_track(text)
    statements = [r for r in rows if not r[2].startswith("[问题]")]
    assert statements == [(a["start"], a["end"], a["label"]) for a in record["annotations"]]
    problems = [r for r in rows if r[2].startswith("[问题]")]
    assert problems == [(3.2, 6.1, "[问题] 语速过快 风险告知"), (7.2, 7.2, "[问题] 疑似拼接")]


@pytest.mark.parametrize("channels,speakers", [(1, ["通话", "通话", "通话"]), (2, ["坐席", "坐席", "客户"])])
def test_webvtt_has_speakers_and_escapes_text(tmp_path, channels, speakers):
    record = make_record(make_recording(tmp_path / "a.wav", 12.0, channels), channels=channels)
    vtt = outputs.VttWriter().format(record)
    assert vtt.startswith("WEBVTT\n\n1\n00:00:00.500 --> 00:00:02.800\n<v ")
    assert re.findall(r"<v ([^>]+)>", vtt) == speakers
    assert "好的&lt;知道&gt;了 &amp; 谢谢" in vtt
    cues = re.findall(r"^(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})$", vtt, re.M)
    assert cues == [("00:00:00.500", "00:00:02.800"), ("00:00:03.200", "00:00:06.100"),
                    ("00:00:06.500", "00:00:08.000")]


def test_annotation_sheet_and_write_call_files(tmp_path):
    record = make_record(make_recording(tmp_path / "a.wav", 12.0))
    sheet = outputs.SheetWriter().format(record).splitlines()
    assert len(sheet) == 3 and sheet[0].endswith(" 营销电话标识") and sheet[1].endswith(" 风险告知")
    assert outputs.annotation_sheet(record["annotations"]).splitlines()[2] == "00:00:09-00:00:12 风险告知"
    paths = outputs.write_call_files(tmp_path / "out", record)
    assert sorted(p.name for p in paths) == sorted(
        f"call-1{s}" for s in (".json", ".labels.txt", ".vtt", ".sheet.txt"))
    assert json.loads((tmp_path / "out" / "calls" / "call-1.json").read_text("utf-8")) == record
    assert not list((tmp_path / "out").rglob("*.tmp"))


# -- CSV, HTML -----------------------------------------------------------------------
def test_csv_one_row_per_call(tmp_path):
    record = make_record(make_recording(tmp_path / "a.wav", 12.0))
    failed = {**make_record(tmp_path / "a.wav", "bad.mp3", call_id="bad-1"), "status": "error",
              "error": {"code": "not_audio", "message": "x"}, "annotations": [], "flags": [], "call": None}
    report.write_csv(tmp_path, [record, failed])
    raw = (tmp_path / "report.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == {"file": "a.wav", "call_id": "call-1", "status": "ok", "error": "", "type": "marketing",
                       "industry": "finance", "duration_s": str(record["recording"]["duration_s"]),
                       "statements": "营销电话标识;风险告知",
                       "flags": "too_fast:risk_warning;missing:qualification;splice:-",
                       "integrity": "未检查",
                       "agent_talk_s": "", "customer_talk_s": "", "agent_talk_ratio": "", "longest_silence_s": "",
                       "total_silence_s": "", "overtalk_count": "", "overtalk_s": "", "agent_interruptions": "",
                       "open_flags": "3",
                       "review": "too_fast:risk_warning=open;missing:qualification=open;splice:-=open"}
    assert rows[1]["status"] == "error" and rows[1]["error"] == "not_audio" and rows[1]["type"] == ""


def test_review_states_in_csv_and_html(tmp_path):
    """A dismissal in effect is shown as dismissed and no longer counted as a problem; others stay open."""
    from pipeline.core import review_store
    record = make_record(make_recording(tmp_path / "a.wav", 12.0))
    fast, missing, splice = record["flags"]
    states = {review_store.flag_id("call-1", fast): "dismissed", review_store.flag_id("call-1", splice): "confirmed"}
    row = report.csv_rows([record], states)[0]
    assert row["open_flags"] == 2 and row["flags"] == "too_fast:risk_warning;missing:qualification;splice:-"
    assert row["review"] == "too_fast:risk_warning=dismissed;missing:qualification=open;splice:-=confirmed"
    page = report.format_html([record], {}, states=states)
    assert 'class="badge dismissed"' in page and "已排除" in page and 'class="badge confirmed"' in page
    problems = re.search(r"按问题.*?</tbody>", page).group(0)
    assert re.search(r"too_fast 语速过快</td><td class=\"num\">0</td><td class=\"num\">0</td>"
                     r"<td class=\"num\">1</td>", problems)
    everything_dismissed = {review_store.flag_id("call-1", f): "dismissed" for f in record["flags"]}
    assert "0 通有问题" in report.format_html([record], {}, states=everything_dismissed)


def test_csv_conversation_columns():
    metrics = {"talk_s": {"agent": 20.5, "customer": 9.25, "unknown": 0}, "agent_talk_ratio": 0.689,
               "longest_silence_s": 3.1, "longest_silence_at": 12.0, "total_silence_s": 4.2,
               "overtalk_count": None, "overtalk_s": None, "agent_interruptions": None}
    assert report.conversation_columns(metrics) == {
        "agent_talk_s": 20.5, "customer_talk_s": 9.25, "agent_talk_ratio": 0.689, "longest_silence_s": 3.1,
        "total_silence_s": 4.2, "overtalk_count": "", "overtalk_s": "", "agent_interruptions": ""}


def test_peak_envelope():
    signal = np.zeros((2, 16000), dtype=np.float32)
    signal[0, 8000:8100] = 0.5
    signal[1, :] = -0.25
    peaks = report.peak_envelope(signal, 800)
    assert len(peaks) == 2 and all(len(c) == 800 for c in peaks)
    assert max(p[1] for p in peaks[0]) == 0.5 and peaks[0][0] == [0.0, 0.0]
    assert all(p == [-0.25, -0.25] for p in peaks[1])
    short = report.peak_envelope(np.ones((1, 10), dtype=np.float32), 800)
    assert len(short[0]) == 800 and short[0][-1] == [1.0, 1.0]


def test_html_is_self_contained_and_escaped(tmp_path):
    record = make_record(make_recording(tmp_path / "a.wav", 12.0))
    record["file"] = "<script>alert(1)</script>.wav"
    page = report.format_html([record], {"call-1": report.peak_envelope(np.ones((1, 100), np.float32), 50)})
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    for external in ("<link", "@import", "url(", 'src="http', 'href="http', "//fonts."):
        assert external not in page
    assert page.count("<polygon") == 1 and page.count('class="stmt"') == 3 and page.count('class="flag"') == 1
    assert "疑似拼接" in page and "missing: qualification" in page


def wave_pixels(img: np.ndarray) -> int:
    return int(np.all(np.abs(img.astype(int) - WAVE_RGB) <= 12, axis=2).sum())


@needs_chromium
def test_html_renders_with_waveform_in_chromium(tmp_path):
    """Unit-sized: a hand-made flagged call, its clips and waveform, rendered without console errors."""
    src = make_recording(tmp_path / "a.wav", 12.0, 2)
    out = tmp_path / "out"
    record = make_record(src, channels=2)
    clips.cut_clips(record, str(src), out, clips.ClipOptions("wav"))
    with catalog.Catalog(out) as cat:
        cat.store(record=record, analysis=None, source_path=str(src), sha256=record["recording"]["sha256"],
                  fp="x", clip_key="wav", scan_id="s")
        report.write_reports(out, cat)
    page = (out / "report.html").read_text("utf-8")
    assert page.count("<audio") == 4 and 'src="clips/call-1/' in page
    console = render(out / "report.html", tmp_path / "shot.png", tmp_path)
    assert console == ""
    assert wave_pixels(pixels(tmp_path / "shot.png")) > 2000


@needs_chromium
def test_fixture_report_renders_and_shows_waveforms(fixture_scan, tmp_path):
    """End to end: the fixture archive's report.html. With CALLAUDIT_UPDATE_SCREENSHOT=1 its
    screenshot replaces docs/report.png (the README's picture); a plain test run leaves the tree clean."""
    out = fixture_scan["out"]
    page = (out / "report.html").read_text("utf-8")
    flagged = [r for r in fixture_scan["records"].values() if r["flags"]]
    assert flagged and page.count("<polygon") >= len(flagged)
    png = tmp_path / "report.png"
    console = render(out / "report.html", png, tmp_path)
    assert console == ""
    img = pixels(png)
    assert wave_pixels(img) > 5000, "no waveform drawn"
    top = img[: img.shape[0] // 2]
    assert wave_pixels(top) > 1000, "the first flagged call's waveform is not on the first screen"
    if os.environ.get("CALLAUDIT_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(png, ROOT / "docs" / "report.png")


def test_report_and_flags_commands(fixture_scan, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(fixture_scan["out"], out)
    (out / "report.html").unlink()
    (out / "report.csv").unlink()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "pipeline", "report", str(out)], capture_output=True, text=True,
                          cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (out / "report.html").is_file() and (out / "report.csv").is_file()
    assert (out / "report.jsonl").read_text("utf-8") == (fixture_scan["out"] / "report.jsonl").read_text("utf-8")
    proc = subprocess.run([sys.executable, "-m", "pipeline", "flags", str(out)], capture_output=True, text=True,
                          cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    expected = [(r["file"], f["problem"], f["rule"] or "-") for r in fixture_scan["records"].values()
                for f in r["flags"]]
    assert sorted((ln.split("\t")[0], ln.split("\t")[2], ln.split("\t")[3]) for ln in lines) == sorted(expected)
    proc = subprocess.run([sys.executable, "-m", "pipeline", "flags", str(out), "--problem", "missing"],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    assert all(line.split("\t")[2] == "missing" for line in proc.stdout.splitlines())
    bad = subprocess.run([sys.executable, "-m", "pipeline", "flags", str(tmp_path / "nothing")],
                         capture_output=True, text=True, cwd=ROOT, env=env)
    assert bad.returncode == 2 and "no catalog" in bad.stderr


def test_flagged_lines_filters():
    record = {"file": "a.wav", "call_id": "a-1", "flags": [
        {"problem": "late", "rule": "marketing_disclosure", "start": 35.2, "end": 38.0, "message": ""},
        {"problem": "missing", "rule": "risk_warning", "start": None, "end": None, "message": ""}]}
    assert report.flagged_lines([record]) == ["a.wav\ta-1\tlate\tmarketing_disclosure\t00:00:35-00:00:38",
                                              "a.wav\ta-1\tmissing\trisk_warning\t-"]
    assert report.flagged_lines([record], problem="missing") == ["a.wav\ta-1\tmissing\trisk_warning\t-"]
    assert report.flagged_lines([record], rule="nope") == []


def test_delivery_flags_carry_their_channel_and_are_drawn_on_it():
    """An inaudible statement of the customer channel (1) is flagged and drawn on lane 1, not lane 0."""
    from pipeline.scan import delivery, phrase_catalog
    from pipeline.scan.levels import ChannelLevels
    catalog_ = phrase_catalog.load_catalog(ROOT / "phrases")
    rng = np.random.default_rng(0)
    samples = np.stack([0.1 * np.sin(np.arange(8 * 16000) / 5.0), rng.normal(0, 1e-4, 8 * 16000)])
    annotation = {"rule": "marketing_disclosure", "label": "营销电话标识", "start": 2.0, "end": 4.0, "channel": 1,
                  "text": "本电话为营销电话", "matched_phrase": "本电话为营销电话", "score": 100.0, "fields": {}}
    reference = {ch: ChannelLevels(-20.0, -60.0) for ch in (0, 1)}
    annotations, flags = delivery.assess([annotation], [], catalog_, samples.astype(np.float32), 16000,
                                         reference, [])
    inaudible = [f for f in flags if f["problem"] == "inaudible"]
    assert inaudible and inaudible[0]["channel"] == 1
    record = {"file": "x.wav", "call_id": "x", "recording": {"duration_s": 8.0, "channels": 2},
              "annotations": annotations, "flags": inaudible, "splices": [], "segments": []}
    svg = report.waveform_svg(record, None, {})
    lane_top = re.search(r'<rect class="flag" x="[\d.]+" y="([\d.]+)"', svg).group(1)
    assert float(lane_top) > 90   # lane 1 starts below lane 0 (30 + 90)


def test_uncredited_statement_is_marked_on_sheets_and_roles_name_the_channels():
    asked = {"rule": "marketing_disclosure", "label": "营销电话标识", "start": 8.2, "end": 9.6,
             "credited": False, "not_credited": ["customer", "question"]}
    said = {**asked, "start": 1.0, "end": 2.5, "credited": True, "not_credited": []}
    assert outputs.annotation_sheet([asked, said]) == ("00:00:01-00:00:03 营销电话标识\n"
                                                       "00:00:08-00:00:10 营销电话标识（未计入：客户所说、问句）\n")
    stereo = {"recording": {"channels": 2}, "roles": {"agent_channel": 1}}
    assert (outputs.speaker(stereo, 1), outputs.speaker(stereo, 0)) == ("坐席", "客户")
    mono = {"recording": {"channels": 1}, "roles": {"method": "split+cues", "confidence": 0.5}}
    assert [outputs.speaker(mono, 0, r) for r in ("agent", "customer", "unknown", None)] == ["坐席", "客户", "通话", "通话"]
    assert outputs.speaker_confidence(mono) == "说话人置信度 speaker confidence 0.50 (单声道分离 mono split)"
    assert outputs.speaker_confidence({"roles": None}) == ""
