"""The call's type and industry: metadata values win, the rest is inferred from keywords.

Keywords are looked for literally, and those of 3+ characters also by their pinyin
(homophone errors); how sure an inferred value is, and which classes it might be
instead, goes into the record so that `match` can ask for a review. Reads the
transcript's text only: nothing here locates statements or raises flags.
"""

from __future__ import annotations

from pipeline.scan.pinyin import normalise, syllables
from pipeline.scan.rules import Catalog, Classification

MIN_KEYWORD_PINYIN = 3     # shorter classification keywords match literally only


def _keyword_found(keyword: str, chars: str, pinyin: str) -> bool:
    """Literal match; keywords of 3+ characters also match by pinyin (homophone errors)."""
    wanted = normalise(keyword)
    if not wanted:
        return False
    if wanted in chars:
        return True
    return len(wanted) >= MIN_KEYWORD_PINYIN and f" {' '.join(syllables(wanted))} " in pinyin


def _infer(classes: dict[str, tuple[str, ...]], chars: str, pinyin: str, minimum: int,
           default: str) -> tuple[str, list[str], dict[str, list[str]]]:
    """The class with most distinct keywords present (first listed wins ties), its keywords, and every class's."""
    found = {name: [k for k in keywords if _keyword_found(k, chars, pinyin)] for name, keywords in classes.items()}
    best, evidence = default, []
    for name, words in found.items():
        if len(words) >= max(minimum, 1) and len(words) > len(evidence):
            best, evidence = name, words
    return best, evidence, found


def _weighed(best: str, evidence: list[str], found: dict[str, list[str]],
             rules: Classification) -> tuple[str, dict[str, list[str]]]:
    """How sure an inferred value is ("high"/"low"), and the classes it might be instead.

    "high" needs at least `confident_keywords` keywords and a lead of
    `confident_margin` over every other class; anything less (a default taken for
    want of keywords included) is "low". The plausible alternatives of a low value
    are the classes with at least one keyword and at least as many as the chosen
    value: a class that lost a tie, or any class heard at all when the value is a
    default. Classes with fewer keywords than the winner are not second-guessed.
    """
    others = [len(words) for name, words in found.items() if name != best]
    runner_up = max(others, default=0)
    if len(evidence) >= rules.confident_keywords and len(evidence) - runner_up >= rules.confident_margin:
        return "high", {}
    return "low", {name: words for name, words in found.items()
                   if name != best and words and len(words) >= len(evidence)}


def classify_call(segments: list[dict], catalog: Catalog, meta: dict | None = None) -> dict:
    """The call's type and industry: metadata values win, the rest is inferred from keywords.

    `source` is "metadata" only when both values came from metadata; `evidence`
    lists the keywords behind the inferred values. A metadata value of
    "unknown" (or empty) counts as not given. `confidence` is "metadata", or
    "low" when any inferred value is (see `_weighed`), else "high";
    `alternatives` maps each low value's key ("type"/"industry") to the classes
    it might be instead, with the keywords heard for them, so that check_call
    can say what would be missing under those assumptions.
    """
    meta = meta or {}
    rules = catalog.classification
    chars = "".join(normalise(s.get("text") or "") for s in sorted(segments, key=lambda s: s["start"]))
    pinyin = f" {' '.join(syllables(chars))} "
    result, evidence, source, confidence, alternatives = {}, [], "metadata", "metadata", {}
    for key, classes, default in (("type", rules.types, rules.default_type),
                                  ("industry", rules.industries, rules.default_industry)):
        given = (meta.get(key) or "").strip()
        if given and given != "unknown":
            result[key] = given
            continue
        result[key], found, every = _infer(classes, chars, pinyin, rules.min_keywords, default)
        evidence += [k for k in found if k not in evidence]
        source = "inferred"
        sure, others = _weighed(result[key], found, every, rules)
        confidence = "low" if "low" in (confidence, sure) else sure
        if others:
            alternatives[key] = others
    return {**result, "source": source, "evidence": evidence, "confidence": confidence,
            "alternatives": alternatives}

