"""Clips: one per annotation and splice, right length, decodable, safe names, written atomically."""

from __future__ import annotations

import subprocess

import pytest
from conftest import FIXTURES
from helpers_records import make_record, make_recording

from pipeline.scan import clips, decode

PAD = 0.5


def decodes(path) -> bool:
    """ffmpeg decodes the whole clip without an error."""
    proc = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True)
    return proc.returncode == 0 and not proc.stderr.strip()


def expected(start: float, end: float, pad: float, duration: float) -> float:
    return min(duration, end + pad) - max(0.0, start - pad)


def test_stamp_and_safe_names():
    assert clips.stamp(75.2) == "00-01-15.20"
    assert clips.stamp(3723.456) == "01-02-03.46"
    assert clips.safe_name('风险/告知: "a"*?<b>|c\\d') == "风险_告知_a_b_c_d"
    assert clips.safe_name("CON") == "_CON" and clips.safe_name("...") == "_"
    assert clips.safe_name("x" * 100) == "x" * 48


@pytest.mark.parametrize("channels", [1, 2])
def test_wav_clips_for_every_annotation_and_splice(tmp_path, channels):
    src = make_recording(tmp_path / "call.wav", 12.0, channels)
    record = make_record(src, channels=channels)
    out = tmp_path / "out"
    clips.cut_clips(record, str(src), out, clips.ClipOptions("wav", PAD, 2.0))
    names = [a["clip"] for a in record["annotations"]] + [s["clip"] for s in record["splices"]]
    assert names == [
        "clips/call-1/营销电话标识_00-00-00.50_00-00-02.80.wav",
        "clips/call-1/风险告知_00-00-03.20_00-00-06.10.wav",
        "clips/call-1/风险告知_00-00-09.25_00-00-11.90.wav",
        "clips/call-1/疑似拼接_00-00-07.20.wav",
    ]
    duration = record["recording"]["duration_s"]
    for ann in record["annotations"]:
        info = decode.probe(str(out / ann["clip"]))
        assert info.codec == "pcm_s16le" and info.channels == channels and info.sample_rate == 16000
        assert info.duration_s == pytest.approx(expected(ann["start"], ann["end"], PAD, duration), abs=0.1)
        assert decodes(out / ann["clip"])
    assert decode.probe(str(out / record["splices"][0]["clip"])).duration_s == pytest.approx(4.0, abs=0.1)
    assert sorted(p.name for p in (out / "clips" / "call-1").iterdir()) == sorted(n.split("/")[-1] for n in names)


@pytest.mark.parametrize("suffix,codec_args,codec", [
    (".mp3", ("-c:a", "libmp3lame", "-b:a", "32k"), "mp3"),
    (".wav", ("-c:a", "pcm_mulaw", "-ar", "8000"), "pcm_mulaw"),
    (".flac", ("-c:a", "flac"), "flac"),
    (".ogg", ("-c:a", "libopus", "-b:a", "24k"), "opus"),
    (".m4a", ("-c:a", "aac", "-b:a", "32k"), "aac"),
])
def test_source_clips_keep_codec_and_container(tmp_path, suffix, codec_args, codec):
    src = make_recording(tmp_path / f"call{suffix}", 12.0, 1, *codec_args)
    record = make_record(src)
    out = tmp_path / "out"
    clips.cut_clips(record, str(src), out, clips.ClipOptions("source", PAD, 2.0))
    duration = clips.decoded_duration(src)  # the container's figure is an estimate for MP3
    for ann in record["annotations"]:
        assert ann["clip"].endswith(suffix)
        info = decode.probe(str(out / ann["clip"]))
        assert info.codec == codec
        assert clips.decoded_duration(out / ann["clip"]) == pytest.approx(expected(ann["start"], ann["end"], PAD, duration), abs=0.1)
        assert decodes(out / ann["clip"])


def test_recut_replaces_old_clips_and_none_removes_them(tmp_path):
    src = make_recording(tmp_path / "call.wav", 12.0)
    out = tmp_path / "out"
    record = make_record(src)
    clips.cut_clips(record, str(src), out, clips.ClipOptions("wav", 0.5))
    record["annotations"] = record["annotations"][:1]
    record["annotations"][0]["end"] = 2.5
    clips.cut_clips(record, str(src), out, clips.ClipOptions("wav", 1.0))
    folder = out / "clips" / "call-1"
    assert {p.name for p in folder.iterdir()} == {"营销电话标识_00-00-00.50_00-00-02.50.wav", "疑似拼接_00-00-07.20.wav"}
    assert decode.probe(str(folder / "营销电话标识_00-00-00.50_00-00-02.50.wav")).duration_s == pytest.approx(3.5, abs=0.1)
    clips.cut_clips(record, str(src), out, clips.ClipOptions("none"))
    assert not folder.exists() and "clip" not in record["annotations"][0]
    assert not list(out.rglob("*.tmp*"))


def test_duplicate_names_get_a_suffix_and_error_records_get_no_clips(tmp_path):
    src = make_recording(tmp_path / "call.wav", 12.0)
    record = make_record(src)
    record["annotations"].append(dict(record["annotations"][0]))
    clips.cut_clips(record, str(src), tmp_path / "out", clips.ClipOptions("wav"))
    assert record["annotations"][3]["clip"].endswith("营销电话标识_00-00-00.50_00-00-02.80_2.wav")
    failed = make_record(src)
    failed.update(status="error", error={"code": "decode_failed", "message": "x"})
    clips.cut_clips(failed, str(src), tmp_path / "out2", clips.ClipOptions("wav"))
    assert all("clip" not in a for a in failed["annotations"])


def test_fixture_scan_has_a_decodable_clip_per_annotation(fixture_scan):
    """End to end: the real CLI's default clips (wav, 0.5 s padding) on the fixture archive."""
    out, records = fixture_scan["out"], fixture_scan["records"]
    annotated = [r for r in records.values() if r["annotations"]]
    assert annotated
    for record in annotated:
        duration = min(record["recording"]["duration_s"], clips.decoded_duration(FIXTURES / record["file"]))
        for ann in record["annotations"] + record["splices"]:
            assert ann.get("clip", "").startswith(f"clips/{record['call_id']}/"), ann
            path = out / ann["clip"]
            if "time" in ann:
                want = expected(ann["time"], ann["time"], 2.0, duration)
            else:
                want = expected(ann["start"], ann["end"], PAD, duration)
            assert clips.decoded_duration(path) == pytest.approx(want, abs=0.1), path
            assert decodes(path), path
    assert not list(out.rglob("*.tmp*"))


def test_a_clip_that_cannot_be_cut_is_reported_not_raised(tmp_path):
    src = make_recording(tmp_path / "call.wav", 12.0)
    record = make_record(src)
    src.unlink()
    failures = clips.cut_clips(record, str(src), tmp_path / "out", clips.ClipOptions("wav"))
    assert len(failures) == 4
    assert all("clip" not in a and a["clip_error"] for a in record["annotations"] + record["splices"])
    assert not (tmp_path / "out" / "clips" / "call-1").exists()
