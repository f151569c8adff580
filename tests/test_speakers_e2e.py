"""Who said it, end to end on fixtures/speakers/ (stereo, real model), and the mono split on mixed-down stereo.

The speaker set (fixtures/speakers.py) puts the disclosure's wording in the customer's
mouth as a question and in the agent's as a denial; neither may count. The channels
of its stereo calls are the truth for the mono split: mixed down, the split must
find the same two speakers. The DER and attribution figures in the README come from here.
"""

import sys

import numpy as np
import pytest
from conftest import FIXTURES, ROOT, load_truths, scan_folder
from helpers_truth import diarization_error, flag_tally, overlaps

from pipeline.scan import decode, speakers

sys.path.insert(0, str(ROOT / "fixtures"))
import speaker_mixes  # noqa: E402

SPEAKER_SET = ROOT / "fixtures" / "speakers"
TRUTHS = load_truths(SPEAKER_SET)


@pytest.fixture(scope="module")
def speaker_scan(tmp_path_factory) -> dict:
    return scan_folder(SPEAKER_SET, tmp_path_factory.mktemp("speakers"), "--clips", "none")


def test_customer_question_and_negated_disclosure_are_not_credited(speaker_scan):
    records = speaker_scan["records"]
    asked, = [a for a in records["customer_asks_marketing"]["annotations"] if a["rule"] == "marketing_disclosure"]
    assert (asked["speaker"], asked["credited"], asked["not_credited"]) == ("customer", False, ["customer", "question"])
    denied, = [a for a in records["negated_disclosure"]["annotations"] if a["rule"] == "marketing_disclosure"]
    assert (denied["speaker"], denied["credited"], denied["not_credited"]) == ("agent", False, ["negated"])
    for stem in ("customer_asks_marketing", "negated_disclosure"):
        missing, = [f for f in records[stem]["flags"] if f["problem"] == "missing"]
        assert "Heard but not credited" in missing["message"], missing


def test_agent_disclosure_is_credited_and_flags_are_exact(speaker_scan):
    heard = [a for a in speaker_scan["records"]["agent_discloses_stereo"]["annotations"]
             if a["rule"] == "marketing_disclosure"]
    said, = [a for a in heard if a["speaker"] == "agent"]
    assert said["credited"] is True
    # the customer's echo "是营销电话啊，什么活动？" may match the catalog's 这是营销电话: never credited
    assert all((a["speaker"], a["credited"], a["not_credited"][:1]) == ("customer", False, ["customer"])
               for a in heard if a is not said)
    tally = flag_tally(speaker_scan["records"], TRUTHS)
    assert tally["false"] == tally["missed"] == 0, tally


def test_roles_inferred_and_every_statement_attributed_to_its_speaker(speaker_scan):
    right = total = 0
    for stem, truth in TRUTHS.items():
        record = speaker_scan["records"][stem]
        assert (record["roles"]["method"], record["roles"]["agent_channel"]) == ("inferred", 0), record["roles"]
        assert all(s["speaker"] in ("agent", "customer") for s in record["segments"])
        for a in record["annotations"]:
            truth_speakers = {u["speaker"] for u in truth["utterances"] if overlaps(a, u)}
            total += 1
            right += truth_speakers == {a["speaker"]}
        talk = record["conversation"]["talk_s"]
        said = {who: sum(u["end"] - u["start"] for u in truth["utterances"] if u["speaker"] == who)
                for who in ("agent", "customer")}
        for who in said:   # the VAD holds on ~0.1 s after each utterance
            assert said[who] - 0.3 <= talk[who] <= said[who] + 0.15 * len(truth["utterances"]), (stem, who)
    print(f"statement attribution: {right}/{total}")
    assert right == total


def test_mono_split_on_mixed_down_stereo(speaker_scan, fixture_scan):
    """DER of the split against the channels (best cluster mapping; no collar and a 0.25 s one), whether
    the agent was named right, and whether each transcript segment got its speaker's role."""
    cases = [(SPEAKER_SET, stem, speaker_scan["records"][stem]) for stem in TRUTHS]
    cases.append((FIXTURES, "complaint_call_stereo", fixture_scan["records"]["complaint_call_stereo"]))
    errors, collared, confusions, named, right, total = [], [], [], 0, 0, 0
    for folder, stem, record in cases:
        truth = load_truths(folder)[stem]
        path = folder / truth["file"]
        audio = decode.decode(str(path), info=decode.probe(str(path), 3600), max_duration_s=3600)
        mono = audio.samples.mean(axis=0, keepdims=True)
        segments = [{**s, "channel": 0} for s in record["segments"]]
        _, turns = speakers.assign_roles(mono, audio.sample_rate, segments, None, speakers.SpeakerOptions())
        error = diarization_error(truth["utterances"], turns, truth["duration_s"])
        collar = diarization_error(truth["utterances"], turns, truth["duration_s"], collar_s=0.25)
        as_named = diarization_error(truth["utterances"], turns, truth["duration_s"], best_mapping=False)
        named += as_named["confusion"] == error["confusion"]
        errors.append(error["der"])
        collared.append(collar["der"])
        confusions.append(error["confusion"])
        for segment in segments:
            said = [u for u in truth["utterances"] if overlaps(segment, u)]
            if said:
                total += 1
                right += segment["split_speaker"] == max(said, key=lambda u: speakers.overlap(
                    segment["start"], segment["end"], u["start"], u["end"]))["speaker"]
        print(f"{stem:28} DER {error['der']:.3f} (missed {error['missed']:.3f}, false alarm "
              f"{error['false_alarm']:.3f}, confusion {error['confusion']:.3f}); collar 0.25 s: {collar['der']:.3f}")
    print(f"mean DER {np.mean(errors):.3f} (collar 0.25 s: {np.mean(collared):.3f}) over {len(errors)} mixed-down "
          f"stereo calls; agent named right in {named}/{len(errors)}; segments given their speaker's role {right}/{total}")
    # measured: mean 0.054 (0.026-0.076, nearly all of it VAD hangover), confusion <= 0.002, collar 0.000, 4/4 named,
    # segments 35/35. The bounds leave room for the shared machine's int8 kernels changing a segment's times.
    assert np.mean(errors) < 0.10 and max(confusions) < 0.03 and named == len(errors), (errors, confusions)
    assert right >= total - 1, (right, total)


@pytest.mark.parametrize("folder", [FIXTURES, ROOT / "fixtures" / "paraphrase"])
def test_mono_split_on_the_mono_fixtures(folder):
    """The mono calls' truth names each utterance's speaker: the split's DER there (best cluster mapping)."""
    errors = []
    for truth in load_truths(folder).values():
        if truth["channels"] > 1:
            continue
        path = folder / truth["file"]
        audio = decode.decode(str(path), info=decode.probe(str(path), 3600), max_duration_s=3600)
        _, turns = speakers.assign_roles(audio.samples, audio.sample_rate, [], None, speakers.SpeakerOptions())
        errors.append(diarization_error(truth["utterances"], turns, truth["duration_s"])["der"])
    print(f"{folder.name}: mean DER {np.mean(errors):.3f}, median {np.median(errors):.3f}, worst {max(errors):.3f} "
          f"over {len(errors)} calls")
    # measured 0.062 mean, worst 0.151 (fixtures/audio: an AMR call and the quiet one, whose soft speech the
    # VAD half misses); 0.059 mean, worst 0.075 (paraphrase)
    assert np.mean(errors) < 0.10 and max(errors) < 0.25


@pytest.mark.skipif(not speaker_mixes.available(), reason="real recordings absent (not in git, see fixtures/real/README.md)")
def test_mono_split_on_real_speaker_mixes():
    """Two different real speakers alternating (fixtures/speaker_mixes.py): the split was not designed on them."""
    errors, confusions = [], []
    for name, (samples, truth, duration) in speaker_mixes.two_speaker_calls().items():
        _, turns = speakers.assign_roles(samples, speaker_mixes.RATE, [], None, speakers.SpeakerOptions())
        error = diarization_error(truth, turns, duration)
        collar = diarization_error(truth, turns, duration, collar_s=0.25)
        errors.append(error["der"])
        confusions.append(error["confusion"])
        print(f"{name:28} DER {error['der']:.3f} (missed {error['missed']:.3f}, false alarm "
              f"{error['false_alarm']:.3f}, confusion {error['confusion']:.3f}); collar 0.25 s: {collar['der']:.3f}")
    print(f"mean DER {np.mean(errors):.3f} over {len(errors)} real two-speaker mixes")
    assert np.mean(errors) < 0.10 and max(confusions) < 0.03, (errors, confusions)   # measured 0.055, confusion 0


@pytest.mark.skipif(not speaker_mixes.available(), reason="real recordings absent (not in git, see fixtures/real/README.md)")
def test_mono_split_on_one_real_speaker():
    """One real speaker alone: how much of the speech the split gives an invented second speaker (a known limit,
    README: Who said it). Measured 0.17-0.50; the bound catches a split that stops clustering by voice."""
    shares = {}
    for name, (samples, _, _) in speaker_mixes.one_speaker_calls().items():
        _, turns = speakers.assign_roles(samples, speaker_mixes.RATE, [], None, speakers.SpeakerOptions())
        talk = {k: sum(t["end"] - t["start"] for t in turns if t["speaker"] == k) for k in ("agent", "customer")}
        shares[name] = round(min(talk.values()) / max(sum(talk.values()), 1e-9), 3)
    print("share of one speaker's speech given to a second:", shares)
    assert np.mean(list(shares.values())) < 0.4, shares
