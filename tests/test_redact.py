"""Redaction of personal numbers: what is masked, what stays, alignment kept."""

import pytest

from pipeline.core.redact import mask_text, redact_record


@pytest.mark.parametrize("text,expected", [
    ("我的手机是13812345678", "我的手机是*******5678"),
    ("电话138-1234-5678谢谢", "电话***-****-5678谢谢"),
    ("幺三八一二三四五六七八", "*******五六七八"),
    ("身份证号11010519491231002X", "身份证号**************002X"),
    ("卡号6222 0212 3456 7890", "卡号**** **** **** 7890"),
    ("座机01065529988", "座机*******9988"),
])
def test_personal_numbers_are_masked_keeping_last_four(text, expected):
    assert mask_text(text) == expected
    assert len(mask_text(text)) == len(text)


@pytest.mark.parametrize("text", ["订单号18805321", "一千二百八十元", "编号3200451", "2024年11月7日", "价格199元"])
def test_ordinary_numbers_stay(text):
    assert mask_text(text) == text


def test_record_masks_segments_words_and_annotations_but_keeps_certificate():
    record = {
        "segments": [{"text": "回电13812345678", "words": [
            {"word": "回电"}, {"word": "138123"}, {"word": "45678"}]}],
        "annotations": [{"text": "从业资格证编号110105194912310021", "fields": {"certificate_no": "110105194912310021"}}],
    }
    redact_record(record)
    assert record["segments"][0]["text"] == "回电*******5678"
    assert [w["word"] for w in record["segments"][0]["words"]] == ["回电", "******", "*5678"]
    assert record["annotations"][0]["text"] == "从业资格证编号110105194912310021"
