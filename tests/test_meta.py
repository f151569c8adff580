"""Metadata CSV and file discovery: lookups, validation messages, stable safe call ids."""

import pytest

from pipeline.core.meta import MetaError, load_meta, lookup
from pipeline.scan.discovery import call_id_for, discover


def test_lookup_by_relative_path_then_basename(tmp_path):
    csv = tmp_path / "meta.csv"
    csv.write_text("file,call_id,type,industry,agent_id\n"
                   "2024/05/a.wav,C1,marketing,finance,A7\n"
                   "b.mp3,,service,,\n", encoding="utf-8")
    meta = load_meta(str(csv))
    assert lookup(meta, "2024/05/a.wav") == {"call_id": "C1", "type": "marketing", "industry": "finance",
                                             "agent_id": "A7"}
    assert lookup(meta, "other/b.mp3") == {"type": "service"}
    assert lookup(meta, "2024/06/a.wav") is None


@pytest.mark.parametrize("content,expected", [
    ("name,type\nx.wav,marketing\n", "meta.csv:1: the header must have a 'file' column"),
    ("file,type\nx.wav,sales\n", "meta.csv:2: type 'sales' is not one of"),
    ("file,industry\nx.wav,finance\ny.wav,banking\n", "meta.csv:3: industry 'banking'"),
    ("file,type\n,marketing\n", "meta.csv:2: empty 'file' value"),
    ("file,agent_channel\nx.wav,0\ny.wav,left\n", "meta.csv:3: agent_channel 'left' is not one of 0, 1"),
])
def test_bad_csv_names_file_and_line(tmp_path, content, expected):
    csv = tmp_path / "meta.csv"
    csv.write_text(content, encoding="utf-8")
    with pytest.raises(MetaError, match=expected):
        load_meta(str(csv))


def test_call_ids_are_safe_unique_and_stable():
    a = call_id_for("2024/05/001.wav", None)
    b = call_id_for("2024/06/001.wav", None)
    assert a != b and a.startswith("001-") and a == call_id_for("2024/05/001.wav", None)
    hostile = call_id_for("x.wav", {"call_id": "../../etc/passwd"})
    assert "/" not in hostile and not hostile.startswith(".")
    assert call_id_for("x.wav", {"call_id": "CALL-2024-0001"}) == "CALL-2024-0001"


def test_discover_scans_audio_extensions_in_folders_only(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("sub/b.WAV", "a.mp3", "notes.txt", "a.truth.json"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "loop").symlink_to(tmp_path)
    found = discover([str(tmp_path), str(tmp_path / "notes.txt")])
    assert [r.relative for r in found] == ["a.mp3", "sub/b.WAV", "notes.txt"]
