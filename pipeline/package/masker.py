"""`--redact` for the package: personal numbers masked in every text and file name it writes.

One callable applied to every value on its way out; with --redact off it returns
values unchanged. It must not touch identifiers (a call id such as CC0506090000) and
never reads or writes files itself.
"""

from __future__ import annotations

import re

from pipeline.core import redact
from pipeline.scan import clips


class Masker:
    """Masks personal numbers in every text and file name of the package when --redact is given.

    pipeline.redact masks numbers in prose (spaced or dashed ones too); file names and call ids
    hold numbers joined to other digits by _ or -, so every digit run that is a personal number
    on its own is masked as well. A run glued to a letter (a call id such as CC0506090000) is an
    identifier, not a phone number, and stays.
    """

    RUN = re.compile(r"(?<![A-Za-z0-9])\d+")
    GLUED = re.compile(r"([A-Za-z]\d+)")

    def __init__(self, on: bool):
        self.on = on

    def _runs(self, text: str, fill: str) -> str:
        keep = redact.KEEP_LAST
        return self.RUN.sub(lambda m: fill * (len(m[0]) - keep) + m[0][-keep:]
                            if redact.is_personal_number(m[0]) else m[0], text)

    def __call__(self, value):
        if isinstance(value, str):
            if not self.on:
                return value
            pieces = self.GLUED.split(value)     # odd pieces: identifiers, left as they are
            return "".join(p if i % 2 else self._runs(redact.mask_text(p), "*") for i, p in enumerate(pieces))
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        return value

    def name(self, call_id: str) -> str:
        """A call's folder name in the package (masked digits become x: * is no file-name character)."""
        return clips.safe_name(self._runs(call_id, "x") if self.on else call_id, 80)

