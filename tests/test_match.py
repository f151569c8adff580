"""Statement matching on realistic Whisper-style transcripts (homophones, drops, splits)."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.scan import match
from pipeline.scan.classify import classify_call
from pipeline.scan.match import check_call, find_statements
from pipeline.scan.outputs import annotation_sheet
from pipeline.scan.phrase_catalog import load_catalog

ROOT = Path(__file__).resolve().parent.parent
CATALOG = load_catalog(ROOT / "phrases")
FINANCE = {"type": "marketing", "industry": "finance"}
CHAR_S = 0.25  # synthetic speaking rate: 4 characters per second


def segment(text: str, start: float, channel: int = 0, word_chars: int = 2) -> dict:
    """A segment whose words are `word_chars`-character chunks of the text, 0.25 s per character."""
    words, t = [], start
    for i in range(0, len(text), word_chars):
        chunk = text[i:i + word_chars]
        words.append({"start": round(t, 3), "end": round(t + CHAR_S * len(chunk), 3), "word": chunk,
                      "probability": 0.9})
        t += CHAR_S * len(chunk)
    return {"start": start, "end": round(t, 3), "channel": channel, "text": text, "words": words}


def rule(rule_id: str):
    return CATALOG.rule(rule_id)


@pytest.mark.parametrize("text", [
    "本电话为营销电话",
    "本電話為影響電話",            # Traditional + 营销 heard as 影响
    "本店话为营销电话",            # homophone 电 -> 店
    "您好，本次來電為營銷推廣電話。",
    "本电话为营销的电话",          # inserted character
    "本电话为营销电",              # dropped character
    "这是一同营销电话",
    "本通话为营销类电话哈",
])
def test_disclosure_found_despite_asr_errors(text):
    hits = find_statements(rule("marketing_disclosure"), [segment(text, 2.0)])
    assert len(hits) == 1
    assert hits[0].rule == "marketing_disclosure" and hits[0].score >= 72


@pytest.mark.parametrize("text, score", [
    ("本电话为营销电话", 100.0),
    ("本電話為營銷電話", 100.0),     # Traditional is normalised, not merely "sounds alike"
    ("本店话为营销电话", 98.8),      # a homophone costs 0.1 of a character
    ("本电话为营销电", 87.5),        # a dropped character costs a whole one
])
def test_scores_follow_the_documented_costs(text, score):
    assert find_statements(rule("marketing_disclosure"), [segment(text, 0.0)])[0].score == score


def test_gap_in_phrase_takes_a_name_for_free():
    hits = find_statements(rule("qualification"), [segment("我是理财规划师欧阳明月从业资格证编号12345678", 0.0)])
    assert hits[0].phrase == "我是理财规划师…从业资格证编号" and hits[0].score == 100.0
    assert (hits[0].start, hits[0].text[:2]) == (0.0, "我是")


@pytest.mark.parametrize("text", [
    "您好请问有什么可以帮您",
    "我想查一下话费",
    "营业厅地址在人民路一百号",
    "请问您的电话号码是多少",
    "为了保障您的权益本次通话将被录音",
    "不要再给我打营销电话了",
    "您好这里是营销中心",
])
def test_ordinary_talk_is_not_a_disclosure(text):
    assert find_statements(rule("marketing_disclosure"), [segment(text, 2.0)]) == []


def test_denying_a_marketing_call_is_no_disclosure():
    """The wording is heard ("这是营销电话" is a catalog phrase) but the negation is not credited."""
    call = {"type": "marketing", "industry": "general"}
    annotations, flags = check_call([segment("您好这不是营销电话", 2.0)], call, CATALOG)
    denied, = [a for a in annotations if a["rule"] == "marketing_disclosure"]
    assert (denied["credited"], denied["not_credited"]) == (False, ["negated"])
    assert any(f["problem"] == "missing" and f["rule"] == "marketing_disclosure" for f in flags)


@pytest.mark.parametrize("text, phrase", [
    ("投资有风险入市需景深", "投资有风险，入市需谨慎"),
    ("本产品为中高风险等级可能随时本金", "本产品为中高风险等级，可能损失本金"),
    ("李财非存款，产品有风险，投资须谨慎。", "理财非存款，产品有风险，投资须谨慎"),
    ("基金过往业绩不代表未来表现", "基金过往业绩不代表未来表现"),
])
def test_finance_risk_warning_variants(text, phrase):
    hits = find_statements(rule("risk_warning"), [segment(text, 0.0)], "marketing", "finance")
    assert [h.phrase for h in hits] == [phrase]


@pytest.mark.parametrize("text", [
    "这个没有风险的您放心",
    "这个产品风险很低",
    "请问您的风险承受能力怎么样",
    "投资要谨慎一点",
    "过往的业绩还是不错的",
])
def test_risk_mentioned_in_passing_is_not_a_warning(text):
    assert find_statements(rule("risk_warning"), [segment(text, 0.0)], "marketing", "finance") == []


def test_medical_wording_only_counts_on_medical_calls():
    segments = [segment("本建议仅供参考具体诊疗请尊医嘱", 3.0)]
    assert len(find_statements(rule("risk_warning"), segments, "consult", "medical")) == 1
    assert find_statements(rule("risk_warning"), segments, "marketing", "finance") == []


@pytest.mark.parametrize("text, number", [
    ("我是李财规划时王明，从业资格证编号一二三四五六七八。", "12345678"),
    ("我是理财规划师王明从业资格证编号12345678", "12345678"),
    ("我是理财规划师张伟从业资格证编号是A12345678", "A12345678"),
    ("我是保险代理人刘洋，执业证号幺两三四五六七", "1234567"),
    ("我是执业医师李红执业证编号110123456", "110123456"),
])
def test_qualification_captures_certificate_number(text, number):
    segments = [segment(text, 1.0)]
    hits = find_statements(rule("qualification"), segments)
    assert len(hits) == 1
    assert hits[0].fields == {"certificate_no": number}
    assert hits[0].end == segments[0]["end"]  # the span reaches over the number


def test_qualification_without_number_captures_none():
    hits = find_statements(rule("qualification"), [segment("我是理财规划师王明从业资格证编号稍后发您", 0.0)])
    assert len(hits) == 1 and hits[0].fields == {"certificate_no": None}


def test_time_span_maps_to_word_timestamps():
    # 8 filler characters (2.0 s) precede the statement, which lasts 8 characters (2.0 s)
    seg = segment("嗯您好先生本电话为营销电话请问", 10.0, word_chars=1)
    hits = find_statements(rule("marketing_disclosure"), [seg])
    assert (hits[0].start, hits[0].end) == (11.25, 13.25)
    assert hits[0].text == "本电话为营销电话"


def test_statement_split_across_segments_of_one_channel():
    segments = [segment("好的本电话为", 20.0), segment("客户您好", 21.0, channel=1),
                segment("营销电话", 22.0)]
    hits = find_statements(rule("marketing_disclosure"), segments)
    assert [(h.start, h.end, h.channel, h.text) for h in hits] == [(20.5, 23.0, 0, "本电话为营销电话")]


def test_halves_on_different_channels_do_not_join():
    segments = [segment("好的本电话为", 20.0), segment("营销电话", 21.6, channel=1)]
    assert find_statements(rule("marketing_disclosure"), segments) == []


def test_segments_without_words_are_spread_over_their_time():
    seg = {"start": 4.0, "end": 8.0, "channel": 0, "text": "本電話為營銷電話", "words": []}
    hits = find_statements(rule("marketing_disclosure"), [seg])
    assert (hits[0].start, hits[0].end) == (4.0, 8.0)


def test_repeated_statement_gives_one_hit_each():
    segments = [segment("本电话为营销电话", 2.0), segment("再说一遍本电话为营销电话", 40.0)]
    hits = find_statements(rule("marketing_disclosure"), segments)
    assert [h.start for h in hits] == [2.0, 41.0]


def finance_call(disclosure_at: float) -> list[dict]:
    return [
        segment("喂您好", 0.5, channel=1),
        segment("您好我是理财规划师王明从业资格证编号一二三四五六七八", 1.0),
        segment("本电话为营销电话", disclosure_at),
        segment("给您推荐一款基金产品", disclosure_at + 3),
        segment("投资有风险入市需景深", disclosure_at + 8),
    ]


def test_compliant_finance_call_has_annotations_and_no_flags():
    annotations, flags = check_call(finance_call(12.0), FINANCE, CATALOG)
    assert flags == []
    assert [a["rule"] for a in annotations] == ["qualification", "marketing_disclosure", "risk_warning"]
    first = annotations[0]
    assert set(first) == {"rule", "label", "start", "end", "channel", "text", "matched_phrase", "score", "fields",
                          "concepts", "speaker", "credited", "not_credited"}
    assert all(a["credited"] and a["not_credited"] == [] for a in annotations)
    assert first["concepts"] == {}  # credited to a fixed phrase
    assert first["label"] == "资质声明" and first["fields"] == {"certificate_no": "12345678"}
    assert annotations[2]["text"] == "投资有风险入市需景深"


def test_late_disclosure_is_flagged_with_its_span():
    annotations, flags = check_call(finance_call(45.0), FINANCE, CATALOG)
    assert [f["problem"] for f in flags] == ["late"]
    assert flags[0]["rule"] == "marketing_disclosure"
    assert (flags[0]["start"], flags[0]["end"]) == (45.0, 47.0)
    assert "营销电话标识" in flags[0]["message"] and "15 s" in flags[0]["message"]
    assert "marketing_disclosure" in [a["rule"] for a in annotations]  # still annotated


def test_missing_required_statements_are_flagged_for_applicable_rules_only():
    segments = [segment("您好给您推荐一款基金产品", 1.0)]
    _, flags = check_call(segments, FINANCE, CATALOG)
    assert sorted(f["rule"] for f in flags) == ["marketing_disclosure", "qualification", "risk_warning"]
    assert all(f["problem"] == "missing" and f["start"] is None and f["end"] is None for f in flags)


def test_service_call_needs_nothing():
    segments = [segment("您好请问有什么可以帮您", 0.0), segment("我想查一下话费", 3.0, channel=1)]
    assert check_call(segments, {"type": "service", "industry": "general"}, CATALOG) == ([], [])


def custom_catalog(tmp_path, extra: str):
    (tmp_path / "rules.yaml").write_text(textwrap.dedent("""\
        rules:
          - id: recording_notice
            label: 录音提示
            applies_to: {types: [any], industries: [any]}
            phrases: [本次通话将被录音]
        """) + extra, encoding="utf-8")
    return load_catalog(tmp_path)


def test_non_required_rule_annotates_without_flags(tmp_path):
    catalog = custom_catalog(tmp_path, "    required: false\n")
    call = {"type": "service", "industry": "general"}
    assert check_call([segment("您好", 0.0)], call, catalog) == ([], [])
    annotations, flags = check_call([segment("您好本次通话将被录音", 0.0)], call, catalog)
    assert [a["rule"] for a in annotations] == ["recording_notice"] and flags == []


def test_position_by_agent_turns(tmp_path):
    catalog = custom_catalog(tmp_path, "    required: true\n    position: {within_first_turns: 2}\n")
    call = {"type": "service", "industry": "general"}
    opening = [segment("您好", 0.0), segment("喂", 1.0, channel=1)]
    _, on_time = check_call(opening + [segment("本次通话将被录音", 2.0)], call, catalog)  # agent turn 2
    _, late = check_call(opening + [segment("请问是张先生吗", 2.0), segment("是的", 4.0, channel=1),
                                    segment("本次通话将被录音", 5.0)], call, catalog)  # agent turn 3
    assert on_time == []
    assert [f["problem"] for f in late] == ["late"] and "first 2 turns" in late[0]["message"]


def test_classification_metadata_wins():
    segments = [segment("给您推荐一款基金产品收益率很高", 0.0)]
    call = classify_call(segments, CATALOG, {"type": "complaint", "industry": "education"})
    assert call == {"type": "complaint", "industry": "education", "source": "metadata", "evidence": [],
                    "confidence": "metadata", "alternatives": {}}


def test_classification_inferred_from_keywords():
    segments = [segment("您好给您推荐一款基金产品", 0.0), segment("收益率怎么样", 3.0, channel=1)]
    call = classify_call(segments, CATALOG, None)
    assert (call["type"], call["industry"], call["source"]) == ("marketing", "finance", "inferred")
    assert {"推荐", "基金", "收益率"} <= set(call["evidence"])


def test_classification_mixes_metadata_and_inference():
    segments = [segment("医生我最近头疼是什么症状", 0.0)]
    call = classify_call(segments, CATALOG, {"type": "consult", "industry": "unknown"})
    assert (call["type"], call["industry"], call["source"]) == ("consult", "medical", "inferred")
    assert "医生" in call["evidence"] and "症状" in call["evidence"]


def test_classification_complaint_and_nothing_to_go_on():
    complaint = classify_call([segment("我对你们的服务很不满意我要投诉", 0.0)], CATALOG)
    assert complaint["type"] == "complaint"
    silent = classify_call([segment("喂喂", 0.0)], CATALOG, {})
    assert (silent["type"], silent["industry"], silent["evidence"]) == ("unknown", "general", [])


def test_annotation_sheet_lines_in_time_order():
    annotations = [
        {"label": "风险告知", "start": 75.4, "end": 79.2},
        {"label": "营销电话标识", "start": 3.0, "end": 5.5},
        {"label": "资质声明", "start": 3661.0, "end": 3665.0},
    ]
    assert annotation_sheet(annotations) == (
        "00:00:03-00:00:06 营销电话标识\n"
        "00:01:15-00:01:20 风险告知\n"
        "01:01:01-01:01:05 资质声明\n"
    )
    assert annotation_sheet([]) == ""


# --- statements by meaning (concepts) ------------------------------------------------------

EDUCATION = ("marketing", "education")


def phrases_only(rule_id: str):
    """The rule without its concepts: what the whole-phrase matcher finds alone."""
    full = rule(rule_id)
    return replace(full, phrase_sets=tuple(replace(s, concepts=()) for s in full.phrase_sets))


def test_paraphrased_refund_with_two_asr_errors_is_found_by_meaning():
    # 退费 heard as 推废, the 七 of 七天 dropped, worded unlike every catalog phrase
    segments = [segment("您放心孩子报名后天之内不想上了学费全额推废", 3.0)]
    assert find_statements(phrases_only("refund_policy"), segments, *EDUCATION) == []
    hits = find_statements(rule("refund_policy"), segments, *EDUCATION)
    assert [(h.phrase, h.concepts) for h in hits] == [("full_refund", {"full": "全额", "refund": "退费"})]
    assert hits[0].score == 95.0  # 全额 exact (100), 推废 two homophones (90)


@pytest.mark.parametrize("rule_id, call, text", [
    ("risk_warning", ("marketing", "finance"), "需要提醒您理财产品存在风险请您慎重考虑后再投资"),
    ("risk_warning", ("marketing", "finance"), "这款产品不承诺保本本金有可能出现亏损"),
    ("risk_warning", ("marketing", "finance"), "以前的收益情况并不代表以后的收益"),
    ("risk_warning", ("consult", "medical"), "我说的这些只能作为参考最好还是去医院让医生当面看看"),
    ("qualification", ("marketing", "finance"), "本人是保险代理人工号是5201873"),
    ("qualification", ("consult", "medical"), "我是心内科主治大夫王芳工号1103564"),
    ("marketing_disclosure", ("marketing", "general"), "跟您讲清楚我们这通是推销电话"),
    ("refund_policy", EDUCATION, "一周内觉得不合适可以申请退款一分不扣"),
])
def test_paraphrases_found_by_concept(rule_id, call, text):
    hits = find_statements(rule(rule_id), [segment(text, 0.0)], *call)
    assert len(hits) == 1 and hits[0].concepts, hits


@pytest.mark.parametrize("rule_id, call, text", [
    ("refund_policy", EDUCATION, "退费太麻烦了上次退了一个月"),
    ("refund_policy", EDUCATION, "退费太麻烦了一周都没弄好"),        # refund before period: order matters
    ("refund_policy", EDUCATION, "全额付款有没有优惠"),
    ("refund_policy", EDUCATION, "七天后再说吧"),
    ("risk_warning", ("marketing", "finance"), "你们风险大不大"),
    ("risk_warning", ("marketing", "finance"), "我不想投资没什么闲钱"),
    ("risk_warning", ("marketing", "finance"), "这个没有风险的您放心"),
    ("risk_warning", ("consult", "medical"), "之前的医生说吃药也没什么用"),
    ("qualification", ("marketing", "finance"), "你的工号是多少我要投诉你"),
    ("marketing_disclosure", ("marketing", "general"), "不要再给我打推销电话了"),
])
def test_keyword_talk_is_no_statement(rule_id, call, text):
    assert find_statements(rule(rule_id), [segment(text, 0.0)], *call) == []


def test_phrase_is_credited_before_a_concept_over_the_same_words():
    hits = find_statements(rule("refund_policy"), [segment("课程开课七天内可无理由全额退费", 0.0)], *EDUCATION)
    assert [(h.phrase, h.concepts) for h in hits] == [("开课七天内可无理由全额退费", {})]


def test_concept_annotation_names_the_groups_heard():
    annotations, flags = check_call([segment("本电话为营销电话", 0.0), segment("学费我们全额退还", 5.0)],
                                    {"type": "marketing", "industry": "education"}, CATALOG)
    refund = next(a for a in annotations if a["rule"] == "refund_policy")
    assert refund["matched_phrase"] == "full_refund" and refund["concepts"] == {"refund": "退还", "full": "全额"}
    assert flags == []


# --- confidence and needs_review ----------------------------------------------------------

INSURANCE = [segment("您好本电话为营销电话", 0.0), segment("我们新推出一款意外保险还送体检", 4.0)]


def test_weakly_inferred_industry_is_low_confidence_with_alternatives():
    call = classify_call(INSURANCE, CATALOG)
    assert (call["type"], call["industry"], call["confidence"]) == ("marketing", "general", "low")
    assert call["alternatives"] == {"industry": {"finance": ["保险"]}}


def test_missing_statement_of_a_plausible_industry_needs_review():
    call = classify_call(INSURANCE, CATALOG)
    _, flags = check_call(INSURANCE, call, CATALOG)
    assert sorted(f["rule"] for f in flags) == ["qualification", "risk_warning"]
    assert all(f["problem"] == "needs_review" for f in flags)
    message = next(f["message"] for f in flags if f["rule"] == "risk_warning")
    assert message == ("industry inferred as general from 0 keyword(s); if this is a marketing finance call "
                       "(heard: 保险), 风险告知 (risk_warning) is missing.")


def test_statement_said_under_the_alternative_needs_no_review():
    segments = INSURANCE + [segment("意外险也有风险请您谨慎购买", 8.0)]
    _, flags = check_call(segments, classify_call(segments, CATALOG), CATALOG)
    assert [f["rule"] for f in flags] == ["qualification"]


def test_confident_or_given_classification_raises_no_review():
    finance = finance_call(2.0)
    call = classify_call(finance, CATALOG)
    assert call["confidence"] == "high" and call["alternatives"] == {}
    meta = classify_call(INSURANCE, CATALOG, {"type": "marketing", "industry": "general"})
    assert meta["confidence"] == "metadata"
    assert check_call(INSURANCE, meta, CATALOG)[1] == []


def test_a_class_with_fewer_keywords_is_not_an_alternative():
    # gym sale: general (健身, 门店) beats education (报名); low confidence, but no alternative
    segments = [segment("我是健身会员顾问我们新开了一家门店这周报名有优惠", 0.0)]
    call = classify_call(segments, CATALOG)
    assert (call["industry"], call["confidence"], call["alternatives"]) == ("general", "low", {})


def test_missing_flags_point_to_unrecognised_speech():
    flags = [{"problem": "missing", "rule": "risk_warning", "start": None, "end": None, "channel": None,
              "message": "Required statement not found."},
             {"problem": "late", "rule": "x", "start": 20.0, "end": 22.0, "channel": 0, "message": "Too late."}]
    match.point_to_unrecognised(flags, [{"start": 19.7, "end": 21.6, "channel": 0}])
    assert "could not transcribe at 00:00:19" in flags[0]["message"]
    assert flags[1]["message"] == "Too late."
    match.point_to_unrecognised(flags, [])
    assert flags[0]["message"].count("could not transcribe") == 1
