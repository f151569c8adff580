"""Prohibited statements end to end on fixtures/prohibited/ (real model, real ffmpeg clips, the workbench).

The set (fixtures/prohibited.py) has forbidden promises and a treatment instruction said by
the agent, and the same words denied, quoted, asked, excused or said by the customer. The
other fixture sets raise no prohibited flag: their own exact-flag tests (test_compliance_e2e,
test_paraphrase_e2e, test_speakers_e2e) count any as a false flag. The real corpus is scanned here.
"""

import urllib.parse
from pathlib import Path

import pytest
from conftest import ROOT, load_truths, scan_folder
from helpers_serve import PASSWORD, client, login
from helpers_truth import flag_tally

from pipeline.core import review_store
from pipeline.scan.phrase_catalog import load_catalog
from pipeline.serve import accounts

PROHIBITED_SET = ROOT / "fixtures" / "prohibited"
REAL = ROOT.parent / "shared" / "real"
TRUTHS = load_truths(PROHIBITED_SET)
CATALOG = load_catalog(ROOT / "phrases")
FORBIDDEN = {r.id for r in CATALOG.rules if r.prohibited}


@pytest.fixture(scope="module")
def prohibited_scan(tmp_path_factory) -> dict:
    """The set scanned once with the real CLI, wav clips, no metadata (types and industries inferred)."""
    return scan_folder(PROHIBITED_SET, tmp_path_factory.mktemp("prohibited") / "out", "--clips", "wav")


def _tally(records: dict, truths: dict) -> dict:
    only = {stem: {**t, "expected_flags": [f for f in t["expected_flags"] if f["problem"] == "prohibited"]}
            for stem, t in truths.items()}
    return flag_tally({s: {**r, "flags": [f for f in r["flags"] if f["problem"] == "prohibited"]}
                       for s, r in records.items()}, only)


def test_violations_flagged_and_lawful_mentions_not(prohibited_scan):
    prohibited = _tally(prohibited_scan["records"], TRUTHS)
    every = flag_tally(prohibited_scan["records"], TRUTHS)
    print(f"prohibited flags: {prohibited['true']} right, {prohibited['false']} false, {prohibited['missed']} missed; "
          f"all flags: {every['true']} right, {every['false']} false, {every['missed']} missed")
    planted = sum(f["problem"] == "prohibited" for t in TRUTHS.values() for f in t["expected_flags"])
    assert prohibited["false"] == prohibited["missed"] == 0 and prohibited["true"] == planted == 5, prohibited
    assert every["false"] == every["missed"] == 0, every


def test_each_flag_is_at_the_statement_with_its_clip(prohibited_scan):
    out = prohibited_scan["out"]
    for stem, record in prohibited_scan["records"].items():
        said = [u for u in TRUTHS[stem]["utterances"] if u["rule"] in FORBIDDEN]
        for flag in (f for f in record["flags"] if f["problem"] == "prohibited"):
            utterance = next(u for u in said if u["rule"] == flag["rule"])
            assert utterance["start"] - 0.5 <= flag["start"] < flag["end"] <= utterance["end"] + 0.5, (stem, flag)
            clip = out / flag["clip"]
            assert clip.is_file() and clip.read_bytes()[:4] == b"RIFF", flag
            assert CATALOG.rule(flag["rule"]).prohibited.reason in flag["message"]
            # stereo: the agent's channel; mono: the role the voices were given (pipeline.scan.roles), and only
            # where none could be given does the flag say the speaker is unknown
            speaker, = {a["speaker"] for a in record["annotations"]
                        if a["rule"] == flag["rule"] and a["start"] == flag["start"]}
            assert speaker == "agent" or (TRUTHS[stem]["channels"] == 1 and speaker == "unknown"), (stem, speaker)
            assert ("Speaker unknown" in flag["message"]) == (speaker == "unknown"), flag


def test_denied_quoted_asked_and_customer_words_are_annotated_not_credited(prohibited_scan):
    records = prohibited_scan["records"]
    def why(stem):
        return [set(a["not_credited"]) for a in records[stem]["annotations"] if a["rule"] in FORBIDDEN]
    denial = why("pro_fund_denial")
    assert len(denial) >= 3 and all(denial) and {"negated"} <= set().union(*denial)
    assert {"question"} <= set().union(*denial) and {"quoted"} <= set().union(*denial)
    assert why("pro_customer_stereo") == [{"customer"}]
    assert why("pro_medical_referral") and all(why("pro_medical_referral"))
    assert all("excepted" in w for w in why("pro_regulated_intro"))


def test_the_call_page_shows_the_prohibited_flag(prohibited_scan):
    out = prohibited_scan["out"]
    db = review_store.connect(out)
    accounts.add_user(db, "rita", "reviewer", PASSWORD, approved_by="lisi")
    db.close()
    record = prohibited_scan["records"]["pro_fund_promise"]
    flag = next(f for f in record["flags"] if f["problem"] == "prohibited")
    c = client(out)
    login(c, "rita")
    page = c.get(f"/calls/{urllib.parse.quote(record['call_id'])}").text
    assert "prohibited 违规话术" in page and CATALOG.rule(flag["rule"]).label in page
    assert f'data-media="{flag["clip"]}"' in page
    assert c.get("/" + urllib.parse.quote(flag["clip"])).content[:4] == b"RIFF"
    listed = c.get("/?problem=prohibited").text
    assert record["call_id"] in listed and "pro_fund_denial" not in listed


@pytest.mark.skipif(not (REAL / "SOURCES.tsv").is_file(), reason=f"the real-speech corpus is not at {REAL}")
def test_no_prohibited_flag_on_the_real_corpus(tmp_path: Path):
    scan = scan_folder(REAL, tmp_path / "real", "--clips", "none")
    assert len(scan["records"]) >= 17
    flagged = [(s, f["message"]) for s, r in scan["records"].items() for f in r["flags"] if f["problem"] == "prohibited"]
    assert flagged == []
