"""Format signature parsers (on small files made by ffmpeg here) and the population's outlier rules."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.integrity import containers, population
from pipeline.integrity.signature import format_signature

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fixtures"))
RATE = 8000


def speechlike(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """Voiced bursts with pauses and noise: enough for an MP3 encoder to use its reservoir and short blocks."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    env = (np.sin(2 * np.pi * 1.7 * t) > 0).astype(float)
    x = env * 0.3 * np.sign(np.sin(2 * np.pi * (140 + 30 * np.sin(2 * np.pi * 3 * t)) * t))
    x += 0.02 * rng.standard_normal(t.size)
    x[int(1.2 * RATE):int(1.21 * RATE)] += 0.8  # a click: a transient for short blocks
    return np.clip(x, -1, 1).astype(np.float32)


def make(tmp_path: Path, name: str, *args: str, x: np.ndarray | None = None) -> Path:
    out = tmp_path / name
    raw = (speechlike() if x is None else x).tobytes()
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "f32le", "-ar", str(RATE), "-ac", "1",
                    "-i", "pipe:", *args, str(out)], input=raw, check=True)
    return out


def test_mp3_headers_and_lame_tag(tmp_path):
    sig = format_signature(str(make(tmp_path, "a.mp3", "-c:a", "libmp3lame", "-b:a", "16k", "-id3v2_version", "3",
                                    "-metadata", "title=42", "-write_id3v1", "1")))
    assert sig["errors"] == []
    assert (sig["codec"], sig["sample_rate"], sig["channels"], sig["bit_rate"]) == ("mp3", 8000, 1, 16000)
    assert sig["id3v2"]["version"] == "2.3.0" and "TIT2" in sig["id3v2"]["frames"]
    assert sig["id3v1"] is not None
    assert sig["xing"]["kind"] == "Info" and sig["xing"]["lame"]["encoder"].startswith("Lav")
    assert sig["bitrate_mode"] == "CBR"
    frames = sig["mp3_frames"]
    assert frames["versions"] == ["2.5"] and frames["modes"] == ["mono"] and frames["bitrates"] == [16000]
    assert frames["original"] == [1] and frames["crc"] == [False]
    assert frames["reservoir_used"] is True
    assert sig["duration_matches_frames"] is True
    # MPEG-2.5 at 8 kHz: 576 samples per frame
    assert sig["content"]["frames_duration_s"] == pytest.approx(sig["content"]["frames"] * 576 / 8000)


def test_mp3_stripped_and_reservoir_off(tmp_path):
    sig = format_signature(str(make(tmp_path, "b.mp3", "-c:a", "libmp3lame", "-b:a", "16k", "-reservoir", "0",
                                    "-map_metadata", "-1", "-write_xing", "0", "-id3v2_version", "0",
                                    "-fflags", "+bitexact")))
    assert sig["id3v2"] is None and sig["xing"] is None and sig["tag_keys"] == []
    assert sig["mp3_frames"]["reservoir_used"] is False
    assert sig["stats"]["mp3_main_data_begin_zero_share"] == 1.0


def test_mp3_cut_after_writing_breaks_frame_count(tmp_path):
    """Bytes cut off a file whose Xing header counted its frames: declared length and frames disagree."""
    path = make(tmp_path, "c.mp3", "-c:a", "libmp3lame", "-b:a", "16k", x=speechlike(6.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert format_signature(str(path))["duration_matches_frames"] is False


def test_riff_layouts(tmp_path):
    mulaw = format_signature(str(make(tmp_path, "m.wav", "-c:a", "pcm_mulaw")))
    assert mulaw["codec"] == "pcm_mulaw"
    assert mulaw["riff"]["fmt"]["format_tag"] == 7 and mulaw["riff"]["fmt"]["size"] == 18
    assert mulaw["riff"]["chunks"][0] == "fmt " and mulaw["riff"]["chunks"][-1] == "data"
    assert "LIST" in mulaw["riff"]["chunks"] and mulaw["riff"]["info"]["software"].startswith("Lavf")
    gsm = format_signature(str(make(tmp_path, "g.wav", "-c:a", "libgsm_ms", "-fflags", "+bitexact",
                                    "-map_metadata", "-1")))
    assert gsm["riff"]["fmt"]["format_tag"] == 49 and gsm["riff"]["fmt"]["block_align"] == 65
    assert gsm["riff"]["chunks"] == ["fmt ", "fact", "data"] and "info" not in gsm["riff"]
    assert gsm["riff"]["riff_size_matches_file"] is True


def test_raw_gsm_and_amr(tmp_path):
    gsm = format_signature(str(make(tmp_path, "r.gsm", "-c:a", "libgsm", "-f", "gsm")))
    assert gsm["gsm"] == {"frames_with_magic": True, "trailing_bytes": 0}
    from amr import encode_amr
    pcm = np.round(speechlike(2.0) * 32767).astype(np.int16)
    encode_amr(pcm[: pcm.size // 160 * 160], tmp_path / "a.amr")
    amr = format_signature(str(tmp_path / "a.amr"))
    assert amr["amr"]["magic"] == "amr-nb" and amr["amr"]["modes_used"] == [7]


def test_ogg_opus(tmp_path):
    sig = format_signature(str(make(tmp_path, "o.ogg", "-c:a", "libopus", "-b:a", "16k", "-application", "voip")))
    ogg = sig["ogg"]
    assert ogg["opus_head"]["channels"] == 1 and ogg["opus_head"]["input_rate"] == 8000
    assert ogg["opus_tags"]["vendor"].startswith("Lavf") and "ENCODER" in ogg["opus_tags"]["keys"]
    assert ogg["opus_modes_used"] and 0 < sig["stats"]["opus_main_config_share"] <= 1


def test_flac_blocks_and_vendor(tmp_path):
    sig = format_signature(str(make(tmp_path, "f.flac", "-c:a", "flac", "-sample_fmt", "s16")))
    flac = sig["flac"]
    assert flac["blocks"][0] == "STREAMINFO" and "VORBIS_COMMENT" in flac["blocks"]
    assert flac["comments"]["vendor"].startswith("Lavf") and flac["min_block"] == flac["max_block"] > 0
    assert flac["bits_per_sample"] == 16 and flac["md5_set"] is True


def test_unreadable_files_give_errors_not_exceptions(tmp_path):
    assert format_signature(str(tmp_path / "missing.mp3"))["errors"]
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"not audio at all" * 10)
    assert format_signature(str(junk))["errors"]


def test_id3_parser_frames_and_padding():
    frame = b"TIT2" + (3).to_bytes(4, "big") + b"\x00\x00" + b"\x0042"[:3]
    body = frame + b"\x00" * 20
    size = len(body)
    tag = b"ID3\x03\x00\x00" + bytes([(size >> 21) & 127, (size >> 14) & 127, (size >> 7) & 127, size & 127])
    found = containers.id3v2(tag + body)
    assert found["version"] == "2.3.0" and found["frames"] == ["TIT2"] and found["padding"] == 20


# --------------------------------------------------------------------------- population


def member(i: int, sig: dict, path: str | None = None, date: str | None = None) -> dict:
    return {"call_id": f"c{i}", "path": path or f"rec/20240301_{i}.mp3", "date": date or f"2024-03-{i + 1:02d}",
            "signature": sig}


def sig(encoder: str = "CallRec", gain: float = 0.5, **extra) -> dict:
    return {"codec": "mp3", "software": {"encoder": encoder}, "mp3_frames": {"reservoir_used": False},
            "stats": {"mp3_top_region_split_share": gain}, "content": {"duration_s": 10.0 + gain}, **extra}


def test_outlier_names_field_norm_and_share():
    members = [member(i, sig(gain=0.5 + 0.01 * i)) for i in range(8)]
    members.append(member(8, sig(encoder="Lavf59.27.100", gain=0.1, mp3_frames={"reservoir_used": True})))
    found = population.format_outliers(members)
    assert all(found[f"c{i}"] == [] for i in range(8))
    by_field = {d["field"]: d for d in found["c8"]}
    assert by_field["software.encoder"] == {"field": "software.encoder", "value": "Lavf59.27.100",
                                            "norm": "CallRec", "siblings_sharing": 8, "siblings": 8}
    assert by_field["mp3_frames.reservoir_used"]["norm"] is False
    low, high = by_field["stats.mp3_top_region_split_share"]["norm"]
    assert low > 0.1 and high >= 0.57
    assert "content.duration_s" not in by_field


def test_used_facts_compare_one_way():
    """Not using what siblings sometimes use is no flag; using what no sibling ever used is."""
    members = [member(i, sig(mp3_frames={"reservoir_used": True})) for i in range(7)]
    members.append(member(7, sig(mp3_frames={"reservoir_used": False})))
    assert population.format_outliers(members)["c7"] == []


def test_small_group_has_no_norm():
    members = [member(i, sig()) for i in range(4)] + [member(4, sig(encoder="other"))]
    assert population.format_outliers(members) == {}
    assert [g["status"] for g in population.format_groups(members)] == ["not_enough_siblings"]


def test_groups_by_folder_and_name_pattern_not_extension():
    assert population.source_key("a/20240301_1.mp3") == population.source_key("a/20231231_99999.wav")
    assert population.source_key("a/20240301_1.mp3") != population.source_key("b/20240301_1.mp3")
    assert population.source_key("a/20240301_1.mp3") != population.source_key("a/call-20240301.mp3")


def test_upgrade_period_is_a_new_norm_and_stray_edits_still_flag():
    old = [member(i, sig(encoder="CallRec 4")) for i in range(8)]
    new = [member(i, sig(encoder="CallRec 5")) for i in range(8, 16)]
    forged = member(3, sig(encoder="Lavf59.27.100"))
    forged["call_id"] = "forged"
    found = population.format_outliers(old + new + [forged])
    assert [g["status"] for g in population.format_groups(old + new)] == ["compared", "compared"]
    assert all(found[m["call_id"]] == [] for m in old + new)
    assert [d["field"] for d in found["forged"]] == ["software.encoder"]
    # interleaved in time, the same two values are no period: the minority is flagged
    mixed = [member(i, sig(encoder="CallRec 5" if i % 4 == 0 else "CallRec 4")) for i in range(16)]
    flagged = {c for c, d in population.format_outliers(mixed).items() if d}
    assert flagged == {f"c{i}" for i in range(0, 16, 4)}


def test_a_stray_format_is_an_outlier_of_a_dominant_family_but_not_of_a_mixed_source():
    """10 MP3 + 1 WAV: the WAV is a re-save among MP3 siblings. 7 MP3 + 7 WAV + 2 Ogg: two systems and strays."""
    def of(i, family, **extra):
        container, codec = family.split("/")
        return member(i, sig(container=container, codec=codec, **extra), path=f"rec/20240301_{i}.{codec}")

    dominated = [of(i, "mp3/mp3") for i in range(10)] + [of(10, "wav/pcm_s16le")]
    found = population.format_outliers(dominated)
    assert {d["field"] for d in found["c10"]} >= {"container", "codec"}
    assert all(found[f"c{i}"] == [] for i in range(10))

    mixed = ([of(i, "mp3/mp3") for i in range(7)] + [of(i, "wav/pcm_s16le") for i in range(7, 14)]
             + [of(i, "ogg/opus") for i in range(14, 16)])
    mixed[3] = of(3, "mp3/mp3", software={"encoder": "Lavf59.27.100"})
    found = population.format_outliers(mixed)
    assert {c for c, d in found.items() if d} == {"c3"}           # each system against its own norm
    assert "c14" not in found and "c15" not in found               # strays of a mixed source: no norm
    statuses = {g["family"]: g["status"] for g in population.format_groups(mixed)}
    assert statuses == {"mp3/mp3": "compared", "wav/pcm_s16le": "compared", "ogg/opus": "not_enough_siblings"}


def test_odd_and_even_lengths_of_one_recorder_are_no_outliers(tmp_path):
    """An 8-bit μ-law data chunk is odd or even with the call's length: content, never a format difference.

    (Found on the synthetic splice set restated per layer: 4 of 15 genuine G.711/GSM WAVs were flagged.)
    """
    members = []
    for i in range(8):
        x = speechlike(seconds=2.5, seed=i)[: 16000 + 2 * i + (i == 7)]     # seven even sample counts, one odd
        path = make(tmp_path, f"20240301_{i}.wav", "-c:a", "pcm_mulaw", x=x)
        members.append({"call_id": f"c{i}", "path": f"rec/{path.name}", "date": f"2024-03-{i + 1:02d}",
                        "signature": format_signature(str(path))})
    assert {m["signature"]["content"]["riff_data_odd_padded"] for m in members} == {True, False}
    assert population.format_outliers(members) == {f"c{i}": [] for i in range(8)}


def test_one_frame_statistic_alone_is_no_outlier_two_are():
    """Frame statistics move with the audio now and then; another encoder differs in several at once."""
    def frames(i, share, used=False):
        return member(i, {"codec": "mp3", "mp3_frames": {"reservoir_used": used},
                          "stats": {"mp3_scalefac_scale_share": share}})
    siblings = [frames(i, 0.10 + 0.01 * i) for i in range(8)]
    one = population.format_outliers(siblings + [frames(8, 0.9)])
    assert one["c8"] == []
    two = population.format_outliers(siblings + [frames(8, 0.9, used=True)])
    assert {d["field"] for d in two["c8"]} == {"stats.mp3_scalefac_scale_share", "mp3_frames.reservoir_used"}
    header = population.format_outliers(siblings + [member(8, {"codec": "mp3", "software": {"encoder": "Lavf"},
                                                               "mp3_frames": {"reservoir_used": False}})])
    assert [d["field"] for d in header["c8"]] == ["software"]
