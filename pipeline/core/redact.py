"""Redaction: mask personal numbers (phones, ID cards, bank cards) in what a scan writes.

Recordings are personal data; reports travel to auditors and regulators who need
the statements, not the customer's phone number. Masking is character for
character (`*`), keeping the last four digits so a reviewer can still tell two
numbers apart, and keeping every text the same length so word timestamps stay
aligned. Certificate numbers captured from qualification statements are the
agent's public credentials and stay.
It masks text only: it never changes a text's length, reads or writes files.
"""

from __future__ import annotations

import re

# Spoken digits as Whisper writes them: Arabic, full-width, or Chinese numerals.
DIGIT_OF = {**{c: c for c in "0123456789"}, **{chr(0xFF10 + i): str(i) for i in range(10)},
            **dict(zip("零〇一二三四五六七八九幺两", "0012345678912"))}
NUMBER_RUN = re.compile(r"\d(?:[-\s]?\d)*(?:[-\s]?[Xx])?")
KEEP_LAST = 4


def is_personal_number(digits: str) -> bool:
    """Mobile (11 digits, 1[3-9]...), landline with area code, ID card (15/18), bank card (16-19)."""
    n = len(digits)
    return ((n == 11 and digits[0] == "1" and digits[1] in "3456789")
            or (10 <= n <= 12 and digits[0] == "0")
            or 15 <= n <= 19)


def mask_text(text: str, keep: frozenset[str] = frozenset()) -> str:
    """`text` with every personal number masked but its last four digits; `keep` numbers stay."""
    shadow = "".join(DIGIT_OF.get(c, c) for c in text)
    chars = list(text)
    for run in NUMBER_RUN.finditer(shadow):
        digits = re.sub(r"[-\s]", "", run.group())
        if digits in keep or not is_personal_number(digits):
            continue
        positions = [i for i in range(run.start(), run.end()) if shadow[i] not in "- \t"]
        for i in positions[:-KEEP_LAST]:
            chars[i] = "*"
    return "".join(chars)


def kept_numbers(record: dict) -> frozenset[str]:
    """The numbers a call's statements captured (certificate numbers): they stay unmasked."""
    return frozenset(str(v) for a in record.get("annotations", []) for v in a.get("fields", {}).values() if v)


def redact_segments(segments: list[dict], keep: frozenset[str] = frozenset()) -> list[dict]:
    """Mask personal numbers in transcript segments and their words, in place.

    Used on the record and on the transcript the catalog keeps, so with --redact no
    unmasked number is stored anywhere in the output folder.
    """
    for segment in segments:
        segment["text"] = mask_text(segment["text"], keep)
        if segment.get("words"):
            masked = mask_text("".join(w["word"] for w in segment["words"]), keep)
            for word in segment["words"]:
                word["word"], masked = masked[: len(word["word"])], masked[len(word["word"]):]
    return segments


def redact_record(record: dict) -> dict:
    """Mask personal numbers in a call record's transcript and annotation texts, in place."""
    keep = kept_numbers(record)
    redact_segments(record.get("segments", []), keep)
    for annotation in record.get("annotations", []):
        annotation["text"] = mask_text(annotation["text"], keep)
    return record
