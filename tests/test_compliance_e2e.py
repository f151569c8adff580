"""Compliance rules and delivery checks end to end on the fixture calls (real model).

Each fixture's truth names the statements said (with spans) and the exact flags a
correct scan raises; the precision/recall figures quoted in the README come from here.
"""

from helpers_truth import flag_tally, overlaps, said, statement_counts
from rapidfuzz.distance import Levenshtein


def test_flags_are_exactly_right_on_every_fixture(fixture_scan, truths):
    tally = flag_tally(fixture_scan["records"], truths)
    print(f"flags: {tally['true']} right, {tally['false']} false, {tally['missed']} missed; "
          f"{tally['speaker_review']} reviews of who said a statement (mono voices not named)")
    assert tally["false"] == tally["missed"] == 0, tally


def test_every_statement_is_located_over_its_truth_span(fixture_scan, truths):
    counts = statement_counts(fixture_scan["records"], truths)
    print(f"statements: {counts['found']}/{counts['total']} located, {counts['wrong']} annotations over no such "
          f"statement")
    assert counts["found"] == counts["total"] and counts["wrong"] == 0


def test_certificate_numbers_are_captured(fixture_scan, truths):
    """Whisper base sometimes drops or swaps one digit of a long number: at most one edit is allowed."""
    exact = total = 0
    for stem, truth in truths.items():
        wanted = [u["fields"]["certificate_no"] for u in said(truth) if u.get("fields", {}).get("certificate_no")]
        got = [a["fields"].get("certificate_no") or "" for a in fixture_scan["records"][stem]["annotations"]
               if a["rule"] == "qualification"]
        for number in wanted:
            total += 1
            exact += number in got
            assert any(Levenshtein.distance(g, number) <= 1 for g in got), f"{stem}: {number}, got {got}"
    print(f"certificate numbers: {exact}/{total} exact")


def test_inferred_call_type_and_industry_match_truth(fixture_scan, truths):
    for stem, truth in truths.items():
        call = fixture_scan["records"][stem]["call"]
        assert (call["type"], call["industry"]) == (truth["call"]["type"], truth["call"]["industry"]), stem


def test_delivery_flags_point_at_the_statement(fixture_scan, truths):
    """too_fast / inaudible flags overlap the truth statement of that delivery, on its channel; normal ones
    are judged audible and at a normal rate."""
    normal = 0
    for stem, truth in truths.items():
        record = fixture_scan["records"][stem]
        for flag in (f for f in record["flags"] if f["problem"] in ("too_fast", "inaudible")):
            kind = {"too_fast": "fast", "inaudible": "quiet"}[flag["problem"]]
            assert any(u["rule"] == flag["rule"] and u["delivery"] == kind and u["channel"] == flag["channel"]
                       and overlaps(flag, u) for u in truth["utterances"]), f"{stem}: {flag}"
        for a in record["annotations"]:
            if any(u["rule"] == a["rule"] and u["delivery"] == "normal" and overlaps(a, u) for u in said(truth)):
                normal += 1
                assert a["audible"] and a["rate_ok"], f"{stem}: normal statement judged {a}"
        for a in record["annotations"]:
            print(f"{stem:32} {a['rule']:22} {a['start']:6.2f}-{a['end']:6.2f} "
                  f"{a['speech_rate_cps']:5.2f} cps {a['acoustic_rate_sps']:5.2f} sps "
                  f"{a['level_dbfs']:7.2f} dBFS rel {a['relative_level_db']:6.2f} snr {a['snr_db']:6.2f}")
    assert normal >= 10


def test_unintelligible_statement_points_reviewer_to_fast_speech(fixture_scan, truths):
    for stem, truth in truths.items():
        fast = [u for u in truth["utterances"] if u["delivery"] == "unintelligible"]
        if not fast:
            continue
        missing = [f for f in fixture_scan["records"][stem]["flags"]
                   if f["problem"] == "missing" and f["rule"] == fast[0]["rule"]]
        assert missing and "Abnormally fast speech" in missing[0]["message"], stem


def test_quiet_statement_recovered_by_gain_pass(fixture_scan, truths):
    record = fixture_scan["records"]["quiet_disclosure"]
    quiet = next(u for u in truths["quiet_disclosure"]["utterances"] if u["delivery"] == "quiet")
    recovered = [s for s in record["segments"] if s.get("recovered") == "gain" and overlaps(s, quiet)]
    assert recovered, "the quiet disclosure was not re-transcribed"


def test_metadata_call_id_is_used(fixture_scan):
    assert fixture_scan["records"]["marketing_no_disclosure_meta"]["call_id"] == "C2024110701"
