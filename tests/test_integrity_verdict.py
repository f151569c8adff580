"""The integrity verdict over hand-made layer findings: the worst layer wins, flags follow, text for tables."""

from __future__ import annotations

import copy

from helpers_records import make_record, make_recording

from pipeline.integrity import custody, verdict

FIRST = {"size": 10, "sha256": "1" * 64, "audio_sha256": "a" * 64, "seen_at": "2026-01-01T00:00:00.000000Z"}


def history(**latest) -> custody.History:
    return custody.History("a.wav", "a-1", {**FIRST, "format": None, "mtime": None}, 0, {**FIRST, **latest})


def record(tmp_path, splices=True, fmt=True) -> dict:
    rec = make_record(make_recording(tmp_path / "a.wav", 3.0))
    rec["format"] = {"codec": "mp3"} if fmt else None
    if not splices:
        rec["splices"], rec["flags"] = [], [f for f in rec["flags"] if f["problem"] != "splice"]
    return rec


def test_clean_layers_are_intact_as_far_as_checked_and_name_the_layers(tmp_path):
    rec = record(tmp_path, splices=False)
    found = verdict.integrity(rec, custody.evidence(history(), "1" * 64, "a" * 64), [])
    assert found["verdict"] == "intact_as_far_as_checked"
    assert found["layers_checked"] == ["custody", "format", "waveform"]
    assert all(layer["proves"] and layer["cannot"] for layer in found["layers"])
    assert verdict.flags(found) == []
    assert verdict.summary(found).startswith("未见篡改（仅限已查各层）（已查：保管链、格式、波形）")


def test_too_few_siblings_or_no_history_is_not_checked(tmp_path):
    rec = record(tmp_path, splices=False)
    rec["status"] = "error"
    found = verdict.integrity(rec, custody.evidence(None, None, None), None)
    assert found["verdict"] == "not_checked" and found["layers_checked"] == []
    assert "fewer than 6" in found["layers"][1]["evidence"]["reason"]


def test_modified_beats_suspect_and_says_what_changed(tmp_path):
    rec = record(tmp_path)
    now = {"sha256": "2" * 64, "audio_sha256": "a" * 64, "seen_at": "2026-02-01T00:00:00.000000Z"}
    evidence = custody.evidence(history(**now), "2" * 64, "a" * 64)
    diff = [{"field": "software.encoder", "value": "Lavf61", "norm": None, "siblings_sharing": 40, "siblings": 41}]
    found = verdict.integrity(rec, evidence, diff)
    assert found["verdict"] == "modified_after_capture"
    assert found["modified_after_capture"]["audio_changed"] is False        # tags only
    assert [f["rule"] for f in verdict.flags(found)] == ["modified_after_capture", "format_outlier"]
    assert "40/41" in verdict.flags(found)[1]["message"] and "仅文件头/标签变化" in verdict.flags(found)[0]["message"]
    rec2 = copy.deepcopy(rec)
    assert verdict.apply(rec2, found) and not verdict.apply(rec2, found)   # applying twice changes nothing
    assert [f["problem"] for f in rec2["flags"]].count("integrity") == 2
    assert [f["problem"] for f in rec2["flags"]].count("splice") == 1       # waveform finds stay splice flags


def test_a_waveform_splice_alone_is_suspect_without_an_integrity_flag(tmp_path):
    rec = record(tmp_path, fmt=False)
    found = verdict.integrity(rec, custody.evidence(history(), "1" * 64, None), None)
    assert found["verdict"] == "suspect" and verdict.flags(found) == []
    assert "7.2s 处疑似拼接" in verdict.summary(found)


def test_package_adds_the_duration_layer(tmp_path):
    rec = record(tmp_path, splices=False)
    verdict.apply(rec, verdict.integrity(rec, custody.evidence(history(), "1" * 64, None), []))
    text, found = verdict.package_verdict(rec, ["录音 120 s，通话记录 180 s"])
    assert found["verdict"] == "suspect" and "时长对账: 录音 120 s" in text
    text, found = verdict.package_verdict(rec, [])
    assert found["verdict"] == "intact_as_far_as_checked" and "时长对账" in text
    assert verdict.package_verdict(None, None)[0] == "无录音"
