"""One comparable form of Chinese text, and what it costs to hear one syllable for another.

Whisper writes Traditional characters, digits as 7 or 七, and homophones (理财→李财)
or near-homophones (谨慎→景深). `normalise` folds the first two away; the toneless
pinyin of each character and `syllable_cost` price the rest for the alignment
(`phrase_align`). Pure text functions: nothing here knows rules, segments or time.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import opencc
from pypinyin import Style, lazy_pinyin
from rapidfuzz.distance import Levenshtein

HOMOPHONE_COST = 0.1       # same toneless pinyin, different character: Whisper's commonest error

_T2S = opencc.OpenCC("t2s")
_TO_HAN_DIGITS = str.maketrans("0123456789幺两〇", "零一二三四五六七八九一二零")
TO_ASCII_DIGITS = str.maketrans("零一二三四五六七八九", "0123456789")


@lru_cache(maxsize=65536)
def normalise(text: str) -> str:
    """One comparable form: Simplified, lower-case, digits as 一二三, no punctuation or spaces."""
    text = _T2S.convert(unicodedata.normalize("NFKC", text)).lower().translate(_TO_HAN_DIGITS)
    return "".join(ch for ch in text if ch.isalnum())


def syllables(chars: str) -> list[str]:
    """Toneless pinyin per character (non-Chinese characters stand for themselves)."""
    heard = lazy_pinyin(chars, style=Style.NORMAL, errors=lambda s: list(s))
    if len(heard) != len(chars):  # never expected; keep the alignment one-to-one anyway
        heard = [lazy_pinyin(ch, style=Style.NORMAL, errors=lambda s: list(s))[0] for ch in chars]
    return heard


@lru_cache(maxsize=200_000)
def syllable_cost(a: str, b: str) -> float:
    """Cost of hearing syllable b where a was said: small for homophones and near-homophones."""
    if a == b:
        return HOMOPHONE_COST
    return HOMOPHONE_COST + (1 - HOMOPHONE_COST) * Levenshtein.normalized_distance(a, b)
