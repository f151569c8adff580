"""Phrase catalog loading: the shipped catalog, and errors that name file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pipeline.core.settings import CatalogError
from pipeline.scan.phrase_catalog import load_catalog

ROOT = Path(__file__).resolve().parent.parent

GOOD_RULE = """\
rules:
  - id: greeting
    label: 问候
    required: true
    applies_to:
      types: [any]
      industries: [any]
    phrases:
      - 您好很高兴为您服务
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(folder: Path) -> str:
    with pytest.raises(CatalogError) as info:
        load_catalog(folder)
    return str(info.value)


def test_shipped_catalog_loads_with_all_rules():
    catalog = load_catalog(ROOT / "phrases")
    assert [r.id for r in catalog.rules] == ["marketing_disclosure", "risk_warning", "qualification",
                                             "refund_policy"]
    assert catalog.rule("marketing_disclosure").position.within_first_s == 15
    assert catalog.rule("marketing_disclosure").delivery == {
        "max_rate_cps": 6.5, "min_relative_level_db": -12.0, "min_snr_db": 10.0}
    assert all(r.required and r.min_score == 72 for r in catalog.rules)


def test_shipped_risk_warning_has_finance_and_medical_sets():
    rule = load_catalog(ROOT / "phrases").rule("risk_warning")
    assert rule.applies("marketing", "finance") and rule.applies("consult", "medical")
    assert not rule.applies("marketing", "education") and not rule.applies("service", "finance")
    medical = rule.applicable_sets("consult", "medical")
    assert len(medical) == 1 and "具体请以医生面诊为准" in medical[0].phrases


def test_shipped_classification_and_capture():
    catalog = load_catalog(ROOT / "phrases")
    assert {"marketing", "complaint", "service", "consult"} <= set(catalog.classification.types)
    assert {"finance", "medical", "education"} <= set(catalog.classification.industries)
    regex = catalog.rule("qualification").capture["certificate_no"]
    assert regex.search("执业证编号A12345678").group(1) == "A12345678"


def test_valid_minimal_catalog_gets_defaults(tmp_path):
    write(tmp_path, "a.yaml", GOOD_RULE)
    catalog = load_catalog(tmp_path)
    rule = catalog.rule("greeting")
    assert rule.min_score == 72 and rule.position is None and rule.capture == {}
    assert catalog.classification.default_type == "unknown"
    assert rule.source == f"{tmp_path / 'a.yaml'}:2"


def test_per_rule_threshold_and_defaults_override(tmp_path):
    write(tmp_path, "a.yaml", "defaults:\n  min_score: 85\n" + GOOD_RULE + "    min_score: 90\n"
          + GOOD_RULE.replace("rules:\n", "").replace("greeting", "other"))
    catalog = load_catalog(tmp_path)
    assert catalog.rule("greeting").min_score == 90 and catalog.rule("other").min_score == 85


@pytest.mark.parametrize("edit, line, message", [
    (("    label: 问候\n", "    lable: 问候\n"), 3, "unknown key 'lable' in a rule"),
    (("    required: true\n", "    required: true\n    phrse: [x]\n"), 5, "unknown key 'phrse' in a rule"),
    (("    required: true\n", "    required: maybe\n"), 4, "'required' must be true or false"),
    (("    required: true\n", "    required: true\n    min_score: 150\n"), 5, "'min_score' must be greater than 0"),
    (("    required: true\n", "    required: true\n    min_score: high\n"), 5, "'min_score' must be a number"),
    (("      types: [any]\n", "      types: [marketting]\n"), 6, "'marketting' in 'types' is not one of"),
    (("      - 您好很高兴为您服务\n", "      - 您好\n"), 9, "too short to match reliably"),
    (("      - 您好很高兴为您服务\n", "      - 您好很高兴…\n"), 9, "must not start or end with '…'"),
    (("    phrases:\n      - 您好很高兴为您服务\n", "    phrases: 您好很高兴为您服务\n"), 8,
     "'phrases' must be a non-empty list"),
    (("    required: true\n", "    required: true\n    capture:\n      cert: '编号(\\d+'\n"), 6,
     "capture 'cert': invalid regular expression"),
    (("    required: true\n", "    required: true\n    capture:\n      cert: '编号\\d+'\n"), 6,
     "must have exactly one (...) group"),
    (("    required: true\n", "    required: true\n    position:\n      within_first_s: -5\n"), 6,
     "'within_first_s' must be greater than 0"),
    (("    required: true\n", "    required: true\n    position:\n      first_s: 5\n"), 6,
     "unknown key 'first_s' in 'position'"),
    (("    required: true\n", "    required: true\n    delivery:\n      max_rate_cps: fast\n"), 6,
     "'max_rate_cps' must be a number"),
    (("    required: true\n", "    required: true\n    required: false\n"), 5, "duplicate key 'required'"),
])
def test_rule_errors_name_file_line_and_rule(tmp_path, edit, line, message):
    path = write(tmp_path, "rules.yaml", GOOD_RULE.replace(*edit))
    error = load_error(tmp_path)
    assert error.startswith(f"{path}:{line}: "), error
    assert message in error
    if "duplicate key" not in message:
        assert "rule 'greeting'" in error


def test_missing_id_is_reported_at_the_rule(tmp_path):
    path = write(tmp_path, "rules.yaml", GOOD_RULE.replace("  - id: greeting\n    label", "  - label"))
    assert load_error(tmp_path) == f"{path}:2: missing 'id'"


def test_missing_phrases(tmp_path):
    path = write(tmp_path, "rules.yaml", GOOD_RULE.split("    phrases:")[0])
    assert load_error(tmp_path) == f"{path}:2: rule 'greeting': missing 'phrases' (or 'phrase_sets')"


def test_duplicate_ids_across_files_point_at_both(tmp_path):
    first = write(tmp_path, "a.yaml", GOOD_RULE)
    second = write(tmp_path, "b.yaml", "# another file\n" + GOOD_RULE)
    assert load_error(tmp_path) == (f"{second}:3: rule 'greeting': duplicate id "
                                    f"(first defined at {first}:2)")


def test_yaml_syntax_error_has_line(tmp_path):
    path = write(tmp_path, "rules.yaml", GOOD_RULE + "  - id: [unclosed\n")
    error = load_error(tmp_path)
    assert error.startswith(f"{path}:") and "invalid YAML" in error


def test_unknown_top_level_key(tmp_path):
    path = write(tmp_path, "rules.yaml", GOOD_RULE + "rulez: []\n")
    assert load_error(tmp_path).startswith(f"{path}:10: unknown key 'rulez' in the file")


def test_defaults_defined_twice(tmp_path):
    write(tmp_path, "a.yaml", "defaults:\n  min_score: 80\n" + GOOD_RULE)
    second = write(tmp_path, "b.yaml", "defaults:\n  min_score: 70\n")
    assert load_error(tmp_path).startswith(f"{second}:1: 'defaults' is already defined in")


def test_classification_rejects_unknown_industry(tmp_path):
    write(tmp_path, "a.yaml", GOOD_RULE)
    path = write(tmp_path, "classification.yaml", """\
        classification:
          types:
            marketing: [优惠]
          industries:
            finanse: [基金]
        """)
    assert load_error(tmp_path).startswith(f"{path}:5: 'finanse' in 'industries' is not one of")


def test_phrase_sets_and_flat_phrases_are_exclusive(tmp_path):
    path = write(tmp_path, "rules.yaml", GOOD_RULE + "    phrase_sets: []\n")
    assert load_error(tmp_path).startswith(f"{path}:10: rule 'greeting': use either")


def test_empty_folder(tmp_path):
    assert "no *.yaml or *.yml phrase files" in load_error(tmp_path)


CONCEPT_RULE = GOOD_RULE + """\
    concepts:
      - name: full_refund
        within_chars: 20
        groups:
          refund: [退费, 退款]
          full: [全额, 全部]
"""


def test_concepts_load_with_groups_in_order(tmp_path):
    write(tmp_path, "rules.yaml", CONCEPT_RULE)
    concept = load_catalog(tmp_path).rule("greeting").phrase_sets[0].concepts[0]
    assert (concept.name, concept.within_chars, concept.ordered) == ("full_refund", 20, False)
    assert concept.groups == (("refund", ("退费", "退款")), ("full", ("全额", "全部")))


def test_shipped_rules_all_have_concepts():
    for rule in load_catalog(ROOT / "phrases").rules:
        assert all(s.concepts for s in rule.phrase_sets), rule.id


@pytest.mark.parametrize("edit, line, message", [
    (("        within_chars: 20\n", "        within_chars: 20\n        orderd: true\n"), 13,
     "unknown key 'orderd' in a concept"),
    (("          full: [全额, 全部]\n", ""), 13, "'groups' must map at least 2 group names"),
    (("[全额, 全部]", "[全额, 全]"), 15, "keyword '全' in group 'full' is too short"),
    (("[全额, 全部]", "[全额, 全…部]"), 15, "must not contain '…'"),
    (("        within_chars: 20\n", "        within_chars: 3\n"), 12, "within_chars 3 is shorter than"),
    (("        within_chars: 20\n", "        within_chars: 500\n"), 12,
     "'within_chars' must be greater than 0 and at most 200"),
    (("        within_chars: 20\n", "        within_chars: 20\n        ordered: yes please\n"), 13,
     "'ordered' must be true or false"),
    (("        within_chars: 20\n", ""), 11, "concept needs 'within_chars'"),
    (("      - name: full_refund\n", "      - name: Full Refund\n"), 11, "concept 'name' must be lower_snake_case"),
    (("          refund: [退费, 退款]\n", "          refund: []\n"), 14, "group 'refund' must be a non-empty list"),
])
def test_concept_errors_name_file_line_and_rule(tmp_path, edit, line, message):
    path = write(tmp_path, "rules.yaml", CONCEPT_RULE.replace(*edit))
    error = load_error(tmp_path)
    assert error.startswith(f"{path}:{line}: rule 'greeting': "), error
    assert message in error


def test_duplicate_concept_names(tmp_path):
    path = write(tmp_path, "rules.yaml", CONCEPT_RULE + CONCEPT_RULE.split("    concepts:\n")[1])
    assert load_error(tmp_path).startswith(f"{path}:16: rule 'greeting': duplicate concept name 'full_refund'")


def test_classification_confidence_limits_are_validated(tmp_path):
    write(tmp_path, "rules.yaml", GOOD_RULE)
    path = write(tmp_path, "classes.yaml", """\
        classification:
          confident_keywords: many
          types: {marketing: [营销]}
          industries: {finance: [基金]}
        """)
    assert load_error(tmp_path).startswith(f"{path}:2: 'confident_keywords' must be an integer")


def test_yml_files_are_loaded_and_counted_alike(tmp_path):
    """A `.yml` rule file is part of the catalog: loaded, and in the checksum records carry."""
    from pipeline.scan.phrase_catalog import catalog_files, catalog_sha256
    write(tmp_path, "a.yaml", GOOD_RULE)
    before = catalog_sha256(tmp_path)
    write(tmp_path, "b.yml", GOOD_RULE.replace("greeting", "farewell").replace("您好很高兴为您服务", "感谢您的来电再见"))
    assert [r.id for r in load_catalog(tmp_path).rules] == ["greeting", "farewell"]
    assert [p.name for p in catalog_files(tmp_path)] == ["a.yaml", "b.yml"]
    assert catalog_sha256(tmp_path) != before
