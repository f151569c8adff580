"""Prohibited statements: is a located forbidden wording a violation, and the flag it raises.

The matcher (pipeline.scan.match) finds a prohibited rule's wording like any other
statement. Whether it is a violation is read here, lexically, from the transcript:

- said by the customer, it is not ("是保本的吗？" asks, it promises nothing); said by
  the agent, or by a speaker the call cannot tell (a mono recording without roles),
  it is: the flag then says the speaker is unknown;
- asked as a question (pipeline.scan.credit.is_question) it is not;
- denied it is not: a negation just before it or inside it ("我们不能承诺保本",
  "这款产品不保本"), or a denial right after it ("稳赚不赔是没有的");
- quoted it is not: reported speech just before it ("您说的稳赚不赔", "所谓的零风险");
- with one of the rule's `unless` words near it it is not ("我们是受银保监会监管的机构").

A negation word that is part of the wording the hit matched ("没有任何风险") belongs
to the promise, not to a denial. What this cannot see: a promise worded outside the
rule's keyword groups, sound-alikes beyond the matcher's pinyin tolerance, irony,
a denial more than a few words away, a double negation ("不能说不保本" reads as denied).
It must not decide what was said (that is the matcher's) nor cut clips (clips.py).
"""

from __future__ import annotations

from pipeline.scan.credit import is_question
from pipeline.scan.outputs import clock
from pipeline.scan.pinyin import normalise

# Just before the statement or inside it (not in the wording it matched), these deny it.
NEGATIONS = ("不能", "不会", "不可能", "不存在", "没有", "并非", "不是", "无法", "不承诺", "不保", "非保", "不敢",
             "不得", "不允许", "禁止", "严禁", "谁也不", "没法", "做不到", "别信", "不要信", "不要相信", "不要听信",
             "从来不", "绝不", "决不", "不提供", "不做", "没人能", "没有人能")
# Right after the statement, these deny it ("稳赚不赔是没有的", "零风险是不存在的").
DENIALS_AFTER = ("是没有的", "没有的", "不存在", "是不可能", "不可能", "是假的", "是骗人", "骗人的", "是违规",
                 "违规的", "不能信", "没这回事", "没有这回事", "是不对的", "不靠谱", "不真实", "是虚假", "是误导")
# Just before the statement, these report someone else's words ("您说的稳赚不赔").
QUOTES = ("您说的", "你说的", "您讲的", "你讲的", "您提到的", "你提到的", "所谓", "有人说", "别人说", "听说",
          "网上说", "他们说", "宣传的", "说什么", "您听到的", "你听到的", "像什么")
BEFORE_CHARS = 8      # characters before the statement read for a negation or a quotation
AFTER_CHARS = 8       # characters after it read for a denial
UNLESS_CHARS = 16     # characters on each side searched for the rule's `unless` words
UNKNOWN_SPEAKER = ("Speaker unknown (no roles for this recording): listen to confirm the agent said it.")


def _plain(text: str) -> str:
    return normalise(text)


def reasons(rule, annotation: dict, before: str, after: str) -> list[str]:
    """Why a located prohibited wording is no violation ("customer", "question", "negated", "quoted",
    "excepted"); [] when it is one.

    `annotation` is the match's annotation (its speaker, text, matched phrase and
    concept keywords); `before`/`after` are the raw words next to it in the same turn.
    """
    found = []
    if rule.speaker != "any" and annotation["speaker"] not in (rule.speaker, "unknown"):
        found.append(annotation["speaker"])
    text = annotation["text"]
    if is_question(text, before, after):
        found.append("question")
    matched = [_plain(w) for w in (annotation["matched_phrase"], *annotation["concepts"].values())]
    near, inside, later = _plain(before)[-BEFORE_CHARS:], _plain(text), _plain(after)[:AFTER_CHARS]
    own = [cue for cue in NEGATIONS if any(cue in w for w in matched)]   # "没有任何风险" denies nothing
    if any(cue not in own and cue in near + inside for cue in NEGATIONS) or \
            any(later.startswith(cue) or cue in later[:len(cue) + 2] for cue in DENIALS_AFTER):
        found.append("negated")
    if any(cue in near for cue in QUOTES):
        found.append("quoted")
    window = _plain(before)[-UNLESS_CHARS:] + inside + _plain(after)[:UNLESS_CHARS]
    if any(_plain(word) in window for word in rule.prohibited.unless):
        found.append("excepted")
    return found


def flags(rule, annotations: list[dict]) -> list[dict]:
    """A `prohibited` flag for each located wording of the rule that is a violation (credited)."""
    return [{"problem": "prohibited", "rule": rule.id, "start": a["start"], "end": a["end"], "channel": a["channel"],
             "message": f"Prohibited statement: {rule.label} ({rule.id}) at {clock(a['start'])}, "
                        f"{a['speaker']}: “{a['text']}”. {rule.prohibited.reason}"
                        + (f" {UNKNOWN_SPEAKER}" if a["speaker"] == "unknown" else "")}
            for a in annotations if a["credited"]]


def attach_clips(record: dict) -> None:
    """Give each prohibited flag the clip of the statement it is about (cut with the annotations)."""
    clips = {(a["rule"], a["start"], a["channel"]): a.get("clip") for a in record.get("annotations", [])}
    for flag in record.get("flags", []):
        if flag["problem"] == "prohibited":
            clip = clips.get((flag["rule"], flag["start"], flag["channel"]))
            if clip:
                flag["clip"] = clip
            else:
                flag.pop("clip", None)
