"""Prohibited statements on transcripts (synthetic segment lists): what is a violation, what is a lawful mention.

The matcher and the catalog are the real ones (phrases/); only the transcript is written here.
The audio end to end is tests/test_prohibited_e2e.py.
"""

from pathlib import Path

import pytest
from conftest import ROOT

from pipeline.core.settings import CatalogError
from pipeline.scan import prohibited
from pipeline.scan.match import check_call
from pipeline.scan.phrase_catalog import load_catalog

CATALOG = load_catalog(ROOT / "phrases")
PROHIBITED = {r.id for r in CATALOG.rules if r.prohibited}


def segment(text: str, speaker: str = "agent", start: float = 0.0, channel: int = 0) -> dict:
    return {"start": start, "end": start + len(text) * 0.25, "channel": channel, "text": text, "words": [],
            "speaker": speaker}


def check(texts: list[tuple[str, str]], industry: str, call_type: str = "marketing") -> tuple[list, list]:
    """(prohibited annotations, prohibited flags) of a call made of (speaker, text) turns."""
    segments, at = [], 0.0
    for speaker, text in texts:
        segments.append(segment(text, speaker, at, 1 if speaker == "customer" else 0))
        at += len(text) * 0.25 + 1.0
    annotations, flags = check_call(segments, {"type": call_type, "industry": industry}, CATALOG)
    return ([a for a in annotations if a["rule"] in PROHIBITED], [f for f in flags if f["problem"] == "prohibited"])


def test_the_shipped_rules():
    assert PROHIBITED == {"finance_guaranteed_return", "insurance_misrepresented", "medical_treatment_instruction",
                          "education_guaranteed_outcome", "impersonating_authority"}
    for rule_id in PROHIBITED:
        rule = CATALOG.rule(rule_id)
        assert rule.prohibited.reason and rule.label and rule.speaker == "agent" and not rule.required


VIOLATIONS = [
    ("finance", "这款产品是保本保息的，您放心。", "finance_guaranteed_return"),
    ("finance", "您放心，这个理财稳赚不赔。", "finance_guaranteed_return"),
    ("finance", "我们保证您的收益在百分之六以上。", "finance_guaranteed_return"),
    ("finance", "这个产品零风险，您放心买。", "finance_guaranteed_return"),
    ("finance", "投资这个一点风险都没有。", "finance_guaranteed_return"),
    ("general", "这款理财产品稳赚不赔。", "finance_guaranteed_return"),     # an insurance sale inferred general
    ("finance", "这个保险就跟存款一样，随时能取。", "insurance_misrepresented"),
    ("medical", "您吃这个药就能好。", "medical_treatment_instruction"),
    ("medical", "布洛芬一天吃三次。", "medical_treatment_instruction"),
    ("education", "我们这个班保过。", "education_guaranteed_outcome"),
    ("education", "考不过全额退费。", "education_guaranteed_outcome"),
    ("general", "您好，我是公安局的民警，您涉嫌一起案件。", "impersonating_authority"),
    ("finance", "我们是受银保监会委托来通知您的。", "impersonating_authority"),
]


@pytest.mark.parametrize(("industry", "text", "rule"), VIOLATIONS)
def test_a_forbidden_statement_by_the_agent_is_flagged_with_its_rule_time_and_reason(industry, text, rule):
    found, flags = check([("agent", text)], industry)
    assert [f["rule"] for f in flags] == [rule], found
    flag = flags[0]
    assert flag["start"] is not None and flag["end"] > flag["start"] and flag["channel"] == 0
    assert CATALOG.rule(rule).prohibited.reason in flag["message"] and CATALOG.rule(rule).label in flag["message"]
    assert "Speaker unknown" not in flag["message"]


LAWFUL = [   # (industry, speaker, text, why it is no violation, or None when the wording is not even located)
    ("finance", "agent", "我们不能承诺保本。", "negated"),
    ("finance", "agent", "您说的稳赚不赔是没有的。", "quoted"),
    ("finance", "agent", "所谓的零风险产品是不存在的。", "quoted"),
    ("finance", "agent", "本产品不保本，可能损失本金。", "negated"),
    ("finance", "agent", "这款产品不承诺保本，本金有可能出现亏损。", "negated"),
    ("finance", "agent", "过往业绩不保证未来收益。", "negated"),
    ("finance", "agent", "不存在保本这回事。", None),
    ("finance", "agent", "投资有风险，入市需谨慎。", None),
    ("finance", "agent", "理财非存款，产品有风险，投资须谨慎。", None),
    ("finance", "agent", "分红是不保证的，以实际为准。", None),
    ("finance", "customer", "这个是保本的吗？", "customer"),
    ("finance", "unknown", "这个产品是保本的吗？", "question"),
    ("finance", "customer", "我朋友说你们这个稳赚不赔。", "customer"),
    ("medical", "agent", "建议您到医院做进一步检查。", None),
    ("medical", "agent", "用药请遵医嘱。", None),
    ("medical", "agent", "吃药的剂量一定要听医生的。", None),
    ("medical", "agent", "这个药我们不能保证治好，要去医院看。", "negated"),
    ("medical", "unknown", "吃这个药就能好吗？", "question"),
    ("education", "agent", "开课七天内可无理由全额退费。", None),          # the required refund policy
    ("education", "agent", "不过您放心，七天内可以全额退款。", None),       # 不过 = "but", not "fail"
    ("education", "agent", "我们不承诺保过，考试要靠自己努力。", "negated"),
    ("general", "agent", "我们是受银保监会监管的正规机构。", "excepted"),
    ("general", "customer", "你们是公安局的吗？", None),
    ("general", "agent", "这个套餐有保底消费。", None),
    ("general", "agent", "我保证给您讲清楚。", None),
    ("finance", "agent", "确保您充分了解产品的收益和风险。", None),
]


@pytest.mark.parametrize(("industry", "speaker", "text", "why"), LAWFUL)
def test_the_same_words_denied_quoted_asked_or_said_by_the_customer_are_no_violation(industry, speaker, text, why):
    found, flags = check([(speaker, text)], industry)
    assert flags == [], found
    if why is None:
        assert all(not a["credited"] for a in found)
    else:
        assert found and all(why in a["not_credited"] for a in found), found


def test_an_unknown_speaker_is_flagged_and_said_to_be_unknown():
    found, flags = check([("unknown", "这款产品稳赚不赔。")], "finance")
    assert [f["rule"] for f in flags] == ["finance_guaranteed_return"]
    assert "Speaker unknown" in flags[0]["message"] and found[0]["speaker"] == "unknown"


def test_a_misheard_risk_warning_is_that_warning_not_a_promise():
    """Whisper heard 了解产品风险后谨慎投资 as 了解产品风险后解释投资: 品风险 is close to 零风险 by pinyin and 投资
    names a product, so the finance concept matched inside the risk warning (tests/test_speakers_e2e.py, mono);
    the warning's own words are an `unless` of the rule."""
    annotations, flags = check([("agent", "投资有风险，入市需谨慎，请您充分了解产品风险后解释投资。")], "finance")
    assert flags == []
    assert annotations and all("excepted" in a["not_credited"] for a in annotations)
    # the same promise in a sentence of its own is still one
    annotations, flags = check([("agent", "投资有风险，入市需谨慎。"), ("agent", "但这款产品零风险，您放心投资。")],
                               "finance")
    assert [f["rule"] for f in flags] == ["finance_guaranteed_return"]


def test_industry_rules_stay_in_their_industry():
    assert check([("agent", "您吃这个药就能好。")], "finance")[1] == []
    assert check([("agent", "我们这个班保过。")], "medical")[1] == []


def test_a_prohibited_flag_gets_the_clip_of_its_statement():
    record = {"annotations": [{"rule": "finance_guaranteed_return", "start": 3.0, "channel": 0, "clip": "clips/c/x.wav"},
                              {"rule": "risk_warning", "start": 9.0, "channel": 0, "clip": "clips/c/y.wav"}],
              "flags": [{"problem": "prohibited", "rule": "finance_guaranteed_return", "start": 3.0, "channel": 0},
                        {"problem": "missing", "rule": "qualification", "start": None, "channel": None}]}
    prohibited.attach_clips(record)
    assert record["flags"][0]["clip"] == "clips/c/x.wav" and "clip" not in record["flags"][1]
    del record["annotations"][0]["clip"]
    prohibited.attach_clips(record)
    assert "clip" not in record["flags"][0]


@pytest.mark.parametrize(("yaml", "message"), [
    ("prohibited: {unless: [备案]}", "needs a 'reason'"),
    ("required: true\n    prohibited: {reason: x}", "cannot have 'required'"),
    ("prohibited: {reason: x, unless: [备]}", "too short"),
    ("prohibited: {reason: x, because: y}", "unknown key 'because'"),
    ("prohibited: {reason: x}\n    position: {within_first_s: 5}", "cannot have 'position'"),
])
def test_catalog_mistakes_name_file_and_line(tmp_path: Path, yaml: str, message: str):
    (tmp_path / "rules.yaml").write_text(
        "rules:\n  - id: bad_promise\n    label: 禁语\n    " + yaml + "\n"
        "    applies_to: {types: [any], industries: [any]}\n    phrases: [稳赚不赔]\n", "utf-8")
    with pytest.raises(CatalogError, match=rf"rules\.yaml:\d+: rule 'bad_promise': .*{message}"):
        load_catalog(tmp_path)
