"""Statements worded unlike the catalog, end to end on fixtures/paraphrase/ (real model).

The catalog's phrases were tuned on fixtures/audio/; these calls (fixtures/paraphrase.py)
say every statement in other words, and their customers use the statements' keywords
in ordinary talk. The recall and precision quoted in the README come from here.
"""

from dataclasses import replace

import pytest
from conftest import ROOT, load_truths, scan_folder
from helpers_truth import flag_tally, said, statement_counts

from pipeline.scan.match import find_statements
from pipeline.scan.phrase_catalog import load_catalog

PARAPHRASE = ROOT / "fixtures" / "paraphrase"
CATALOG = load_catalog(ROOT / "phrases")
TRUTHS = load_truths(PARAPHRASE)


@pytest.fixture(scope="module")
def paraphrase_scan(tmp_path_factory) -> dict:
    """The paraphrase set scanned once with the real CLI, without metadata (the type is inferred)."""
    return scan_folder(PARAPHRASE, tmp_path_factory.mktemp("paraphrase"))


def text_segment(text: str) -> list[dict]:
    return [{"start": 0.0, "end": len(text) * 0.25, "channel": 0, "text": text, "words": []}]


def statements() -> list[tuple[str, dict]]:
    return [(stem, u) for stem, truth in TRUTHS.items() for u in said(truth)]


def test_the_set_is_paraphrased_not_catalog_wording():
    """On the scripts' own text the whole-phrase matcher alone finds few statements, the full rule all."""
    by_phrase = by_rule = 0
    for stem, utt in statements():
        call = TRUTHS[stem]["call"]
        rule = CATALOG.rule(utt["rule"])
        phrases_only = replace(rule, phrase_sets=tuple(replace(s, concepts=()) for s in rule.phrase_sets))
        by_phrase += bool(find_statements(phrases_only, text_segment(utt["text"]), call["type"], call["industry"]))
        by_rule += bool(find_statements(rule, text_segment(utt["text"]), call["type"], call["industry"]))
    print(f"paraphrased statements found on their text: {by_phrase} by phrases alone, {by_rule} by the rule")
    assert by_rule == len(statements()) and by_phrase <= len(statements()) // 4


def test_statements_located_by_meaning(paraphrase_scan):
    counts = statement_counts(paraphrase_scan["records"], TRUTHS)
    recall = counts["found"] / counts["total"]
    precision = (counts["annotations"] - counts["wrong"]) / counts["annotations"]
    print(f"paraphrase set: recall {counts['found']}/{counts['total']} = {recall:.3f}, precision "
          f"{counts['annotations'] - counts['wrong']}/{counts['annotations']} = {precision:.3f}")
    assert recall >= 0.9 and precision >= 0.95


def test_concept_annotations_say_which_groups_were_heard(paraphrase_scan):
    by_concept = [a for r in paraphrase_scan["records"].values() for a in r["annotations"] if a["concepts"]]
    assert by_concept
    for a in by_concept:
        rule = CATALOG.rule(a["rule"])
        concept = next(c for s in rule.phrase_sets for c in s.concepts if c.name == a["matched_phrase"])
        assert list(a["concepts"]) == [name for name, _ in concept.groups]
        assert all(keyword in dict(concept.groups)[group] for group, keyword in a["concepts"].items())


def test_flags_are_exactly_right_on_the_paraphrase_set(paraphrase_scan):
    tally = flag_tally(paraphrase_scan["records"], TRUTHS)
    print(f"paraphrase flags: {tally['true']} right, {tally['false']} false, {tally['missed']} missed; "
          f"{tally['speaker_review']} reviews of who said a statement (mono voices not named)")
    assert tally["false"] == tally["missed"] == 0, tally


def test_unsure_industry_with_missing_statement_needs_review(paraphrase_scan):
    """An insurance sale naming its industry once is inferred general: its missing finance statements are not silent."""
    record = paraphrase_scan["records"]["para_insurance_unsure"]
    assert (record["call"]["industry"], record["call"]["confidence"]) == ("general", "low")
    assert "finance" in record["call"]["alternatives"]["industry"]
    review = {f["rule"]: f["message"] for f in record["flags"] if f["problem"] == "needs_review"}
    assert set(review) == {"risk_warning", "qualification"}
    assert "industry inferred as general" in review["risk_warning"] and "finance" in review["risk_warning"]
    assert not any(f["problem"] == "missing" for f in record["flags"])
