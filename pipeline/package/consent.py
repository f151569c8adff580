"""Consent: every marketing call needs a consent record for exactly its callee, given before the call.

"号码不匹配的通话记录全部作废": a consent for another number, even one digit off,
does not count. A call is marketing by its CDR call type
(`consent.marketing_call_types`) or, for a linked recording, by the scan's
classification. Numbers are compared normalised (spaces, dashes, +86 do not
matter). Flags: `no_consent` (no record for that number; the nearest numbers
within `candidate_max_edits` digits are named), `consent_after_call`,
`consent_withdrawn` (withdrawn before the call).
Plain data in and out: it reads no file and writes none.
"""

from __future__ import annotations

import re

from rapidfuzz.distance import Levenshtein

from pipeline.core.schema_package import InputProblem, PackageFlag
from pipeline.package.config import PackageConfig
from pipeline.package.inputs import normalise_number, parse_time, row_problem
from pipeline.package.link import CONSENT, Linked, flag, ref
from pipeline.records.check import LANDLINE, MOBILE

CATEGORY = CONSENT
_NUMBER = rf"^(?:{MOBILE}|{LANDLINE})$"


def load_consents(rows: list[dict]) -> tuple[dict[str, list[dict]], list[InputProblem]]:
    """Usable consent rows by normalised number (number, consented_at, withdrawn_at parsed); bad rows listed."""
    by_number: dict[str, list[dict]] = {}
    problems: list[InputProblem] = []
    for row in rows:
        number = normalise_number(row.get("number"))
        given, withdrawn = parse_time(row.get("consented_at")), parse_time(row.get("withdrawn_at"))
        bad = []
        if not re.match(_NUMBER, number):
            bad.append(("number", "missing" if not row.get("number") else
                        "not a mobile number (11 digits) or a landline with its area code"))
        if given is None:
            bad.append(("consented_at", "missing" if not row.get("consented_at") else
                        "not a date and time (e.g. 2025-05-01 14:00:00)"))
        if row.get("withdrawn_at") and withdrawn is None:
            bad.append(("withdrawn_at", "not a date and time (e.g. 2025-05-01 14:00:00)"))
        if bad:
            problems += [row_problem("consent", row, name, reason) for name, reason in bad]
            continue
        by_number.setdefault(number, []).append({**row, "number": number, "given": given, "withdrawn": withdrawn})
    return by_number, problems


def is_marketing(row: dict, record: dict | None, config: PackageConfig) -> bool:
    """Marketing by the CDR call type, or by the linked recording's classification."""
    inferred = ((record or {}).get("call") or {}).get("type")
    return str(row.get("call_type")) in config.marketing_call_types or inferred == "marketing"


def nearest(number: str, known: list[str], max_edits: int) -> str | None:
    """The known number fewest digits away from `number` (at most `max_edits`), ties by value."""
    scored = sorted((Levenshtein.distance(number, k), k) for k in known if k != number)
    return scored[0][1] if scored and scored[0][0] <= max_edits else None


def check_consent(cdr_rows: list[dict], records_by_id: dict[str, dict], linked: Linked,
                  consents: dict[str, list[dict]], config: PackageConfig) -> tuple[list[dict], list[PackageFlag]]:
    """(per marketing call: its CDR row, recording and consent verdict; the flags)."""
    calls, flags = [], []
    for row in cdr_rows:
        call_id = linked.call_of(row)
        if not is_marketing(row, records_by_id.get(call_id), config):
            continue
        callee, start = str(row["callee"]), row["start"]
        entries = consents.get(callee, [])
        valid = [e for e in entries if e["given"] <= start and (e["withdrawn"] is None or e["withdrawn"] > start)]
        verdict: dict = {"cdr": ref(row), "call_id": call_id, "callee": callee, "start": start, "consent": None}
        if valid:
            verdict["consent"] = min(valid, key=lambda e: e["given"])
            calls.append(verdict)
            continue
        if not entries:
            candidate = nearest(callee, list(consents), config.candidate_max_edits)
            hint = f"; nearest consent number {candidate} (one digit off is another person)" if candidate else ""
            found = flag("no_consent", [CATEGORY], f"marketing call to {callee} at {start:%Y-%m-%d %H:%M:%S}: "
                         f"no consent record for this number{hint}", callee, call_id, ref(row), candidate=candidate)
        elif all(e["given"] > start for e in entries):
            first = min(entries, key=lambda e: e["given"])
            found = flag("consent_after_call", [CATEGORY], f"marketing call to {callee} at {start:%Y-%m-%d %H:%M:%S}"
                         f": consent given only at {first['given']:%Y-%m-%d %H:%M:%S}", callee, call_id, ref(row),
                         {"file": first["_file"], "row": first["_row"]})
        else:
            last = max((e for e in entries if e["given"] <= start), key=lambda e: e["given"])
            found = flag("consent_withdrawn", [CATEGORY], f"marketing call to {callee} at {start:%Y-%m-%d %H:%M:%S}"
                         f": consent withdrawn at {last['withdrawn']:%Y-%m-%d %H:%M:%S}", callee, call_id,
                         ref(row), {"file": last["_file"], "row": last["_row"]})
        flags.append(found)
        calls.append(verdict)
    return calls, flags
