"""End to end: a call-system archive of real and fixture speech, edited copies of every kind, the format layer.

Builds fixtures/integrity_archive.py's held-out half (one edit of each type per kind
and archive codec), then judges every edited copy in the archive it would sit in
(its system's genuine recordings, the copy in place of its original).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fixtures"))

import integrity_archive as ia
import tamper

FRAME_FIELDS = ("mp3_frames.", "stats.mp3_")

pytestmark = pytest.mark.skipif(
    not tamper.load_real_sources(),
    reason="the real-speech corpus is absent (fixtures/real/*.wav or ../shared/real): see fixtures/real/README.md")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    out = tmp_path_factory.mktemp("integrity_archive")
    manifest = ia.build(out, half="heldout", edits_per_kind=1)
    return out, manifest, ia.evaluate(manifest, out)


def test_archive_is_homogeneous_and_large_enough(archive):
    _out, manifest, _ = archive
    for system in ia.SYSTEMS:
        genuine = [e for e in manifest if e["system"] == system and e["genuine"]]
        assert 12 <= len(genuine) <= 25, system


def test_no_genuine_recording_flagged(archive):
    _out, _manifest, figures = archive
    assert figures["genuine_flags"] == []
    for system, (flagged, total) in figures["genuine"].items():
        assert flagged == 0 and total >= 12, system


def test_every_edited_copy_flagged_except_the_own_encoder_limit(archive):
    _out, _manifest, figures = archive
    for system, kinds in figures["edited"].items():
        for kind, (flagged, total) in kinds.items():
            if kind == "own_encoder":
                # the documented limit: the call system's own encoder and settings leave no format trace,
                # and the layer must not flag on the audio's content
                assert flagged == 0, (system, kind)
            else:
                assert flagged == total == 2, (system, kind)


def test_careful_mp3_forger_caught_by_the_frames_not_only_tags(archive):
    _out, manifest, figures = archive
    careful = [e for e in manifest if not e["genuine"] and e["kind"].startswith("careful") and
               e["path"].endswith(".mp3")]
    assert len(careful) == 12  # careful, careful_tags, careful_noreservoir; cut and insert; two MP3 archives
    for e in careful:
        frames = [f for f in figures["differences"][e["path"]] if f.startswith(FRAME_FIELDS)]
        assert frames, e["path"]


def test_system_upgrade_is_a_new_period_not_flags(archive):
    out, manifest, _ = archive
    found = ia.evaluate_upgrade(out, manifest)
    assert found["upgraded"] >= 6
    assert found["periods"] == ["compared", "compared"]
    assert list(found["flagged"]) == [found["forged"]]
