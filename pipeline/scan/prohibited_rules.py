"""The `prohibited:` section of a catalog rule: what makes a rule a statement agents must not make.

A prohibited rule is written like any other (phrases and concepts, `applies_to`,
`speaker`), plus

    prohibited:
      reason: 金融产品销售不得承诺保本、保证收益 …   # why it is forbidden (shown with the flag)
      unless: [受银保监会监管, 备案]                 # optional: words that, heard next to it, make it lawful

It parses and validates that section only (file:line errors through core.settings);
judging a hit is pipeline.scan.prohibited's job. It must not import the rest of the
scan package (pipeline.scan.rules imports it).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.settings import Where, YamlMap

PROHIBITED_KEYS = ("prohibited",)
SPEC_KEYS = {"reason", "unless"}
NOT_WITH = ("required", "position", "delivery", "capture")   # meaningless for a statement that must not be made
MIN_UNLESS_CHARS = 2


@dataclass(frozen=True)
class ProhibitedSpec:
    """Why a statement is forbidden, and the words that make a hit lawful after all."""

    reason: str
    unless: tuple[str, ...] = ()


def parse_prohibited(where: Where, raw: YamlMap) -> ProhibitedSpec | None:
    """The rule's `prohibited` section, or None for an ordinary (required or optional) statement."""
    if "prohibited" not in raw:
        return None
    line = where.key_line(raw, "prohibited")
    spec = where.mapping(raw["prohibited"], line, "'prohibited'", SPEC_KEYS)
    reason = spec.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise where.error(where.key_line(spec, "reason") if "reason" in spec else line,
                          "'prohibited' needs a 'reason': why the statement is forbidden (shown with the flag)")
    for key in NOT_WITH:
        if key in raw and not (key == "required" and raw[key] is False):
            raise where.error(where.key_line(raw, key), f"a prohibited rule cannot have '{key}' "
                                                        f"(it flags a statement that was made)")
    unless = ()
    if "unless" in spec:
        unless = where.strings(spec["unless"], where.key_line(spec, "unless"), "'unless'")
        for word, item_line in zip(unless, spec["unless"].item_lines):
            if sum(ch.isalnum() for ch in word) < MIN_UNLESS_CHARS:
                raise where.error(item_line, f"'unless' word '{word}' is too short "
                                             f"(at least {MIN_UNLESS_CHARS} characters)")
    return ProhibitedSpec(reason.strip(), unless)
