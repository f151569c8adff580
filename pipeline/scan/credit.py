"""Crediting: does a located statement count towards its rule?

The matcher finds the catalog's wording wherever it is heard, but a statement
counts only when the right party says it as a statement. The customer asking
"你们这是营销电话吗？" and the agent saying "本电话不是营销电话" contain the disclosure's
words and disclose nothing. Such a hit is kept as an annotation with
`credited: false` and its reasons, so a reviewer sees it, and only credited
annotations satisfy a required rule.

Mood is read from the transcript: Whisper writes the question particle (吗) and
usually the question mark, and a negation is a word the catalog's own wording
of the rule does not contain. This is a lexical test: "我不能说这不是营销电话"
(a double negation) is read as negated, and a question asked without 吗/？/是不是
("这是营销电话？" said with rising tone but transcribed with a full stop) is not seen.

Who said it comes from pipeline.scan.speakers (channels, or the mono split and
its roles). Where the role stayed `unknown`, an agent's statement is credited only
if its own words lean to the agent (phrases/speaker_cues.yaml: no 朋友说/你们 tilt
to the customer) and it is said where the rule wants it; the call then gets
`needs_review` naming the statement, so it never passes on wording alone unseen.

It judges hits already found; it never searches the transcript itself.
"""

from __future__ import annotations

from pipeline.scan import roles
from pipeline.scan.outputs import clock
from pipeline.scan.rules import Rule

# Said right after the statement, these make it a question ("这是营销电话吗？").
QUESTION_TAIL = ("吗", "么", "嘛", "?", "？")
# Said inside or just before the statement, these make it a question ("是不是营销电话").
QUESTION_WORDS = ("是不是", "是否", "对不对", "有没有", "是吧")
# Said inside or just before the statement, these deny it ("本电话不是营销电话").
NEGATIONS = ("不是", "并非", "并不是", "没有", "不属于", "不算", "不为", "非营销")
TAIL_CHARS = 2      # characters after the statement read for a question particle
BEFORE_CHARS = 4    # characters before it read for a question word or negation


def _rule_wording(rule: Rule) -> str:
    """Every phrase and concept keyword of the rule: negations in it belong to the statement."""
    words = [p for s in rule.phrase_sets for p in s.phrases]
    words += [k for s in rule.phrase_sets for c in s.concepts for _, group in c.groups for k in group]
    return "|".join(words)


def is_question(text: str, before: str, after: str) -> bool:
    """Whether the statement is asked: a particle or ？ right after it, or a question word in or just before it."""
    tail = after.strip()[:TAIL_CHARS]
    near = before[-BEFORE_CHARS:] + text
    return (any(mark in tail or text.rstrip().endswith(mark) for mark in QUESTION_TAIL)
            or any(word in near for word in QUESTION_WORDS))


def reasons(rule: Rule, speaker: str, text: str, before: str, after: str,
            cues: roles.Cues | None = None, on_time: bool = True) -> list[str]:
    """Why a statement does not count: "customer" (or "agent"), "speaker_unknown", "question", "negated";
    [] when it counts.

    `text` is the transcript over the statement, `before`/`after` the raw words
    just before and after it in the same turn. A speaker "unknown" counts for an
    agent's rule only when the words around it (not its own: the catalog's wording
    is agent wording by definition) do not lean to the customer (`cues`) and it is
    `on_time` for the rule's position; else "speaker_unknown". Without `cues` no
    roles were assigned (matching alone) and the speaker is not judged.
    """
    found = []
    if rule.speaker != "any" and speaker not in (rule.speaker, "unknown"):
        found.append(speaker)
    if rule.speaker == "agent" and speaker == "unknown" and cues is not None and \
            not (on_time and agent_like(before + after, cues)):
        found.append("speaker_unknown")
    near = before[-BEFORE_CHARS:] + text
    if is_question(text, before, after):
        found.append("question")
    wording = _rule_wording(rule)
    plain = near
    for word in QUESTION_WORDS:      # the 不是 of 是不是 asks, it does not deny
        plain = plain.replace(word, "")
    if any(word in plain and word not in wording for word in NEGATIONS):
        found.append("negated")
    return found


def agent_like(words: str, cues: roles.Cues) -> bool:
    """Whether the words around a statement lean to no customer: customer cues do not outweigh agent ones."""
    agent, customer = roles.cue_score(words, cues)
    return customer <= agent


def unknown_speaker_flags(rule: Rule, credited: list[dict]) -> list[dict]:
    """`needs_review` for each statement credited although nobody could tell who said it (role unknown)."""
    return [{"problem": "needs_review", "rule": rule.id, "start": a["start"], "end": a["end"], "channel": a["channel"],
             "message": f"{rule.label} ({rule.id}) at {clock(a['start'])} credited on its wording and position alone: "
                        f"the speaker could not be told on this recording; listen to confirm the agent said it.",
             "about": "speaker"}
            for a in credited if a["speaker"] == "unknown" and rule.speaker == "agent"]
