"""Qualifications: the certificate number an agent states must be that agent's, of the right type, valid that day.

The number comes from the scan: the `fields.certificate_no` captured from a
credited qualification statement (资质声明). Whisper base drops or changes a
digit or two in long numbers, so a captured number is resolved against the
register: the exact number; else the call's own agent's certificate at most
`qualifications.max_edits` edits away; else anyone's at most that far (the
nearest). Flags: `certificate_unknown` (nothing resolves), `certificate_other_agent`
(the certificate is registered to someone else than the call's CDR agent),
`certificate_type` (not a type accepted for the call's industry),
`certificate_not_valid` (the call's date is before valid_from or after valid_to).
Plain data in and out: it reads no file and writes none.
"""

from __future__ import annotations

from datetime import date

from rapidfuzz.distance import Levenshtein

from pipeline.core.schema_package import InputProblem, PackageFlag
from pipeline.package.config import PackageConfig
from pipeline.package.inputs import parse_date, row_problem
from pipeline.package.link import SENSITIVE, Linked, flag

CATEGORY = SENSITIVE


def load_register(rows: list[dict]) -> tuple[list[dict], list[InputProblem]]:
    """Register rows with parsed validity dates; a row with an unreadable date is listed and left out."""
    register, problems = [], []
    for row in rows:
        bad = [row_problem("agents", row, name, "missing") for name in ("agent", "certificate_no") if not row.get(name)]
        dates = {}
        for name in ("valid_from", "valid_to"):
            dates[name] = parse_date(row.get(name))
            if row.get(name) and dates[name] is None:
                bad.append(row_problem("agents", row, name, "not a date (e.g. 2026-12-31): the row is left out"))
        if bad:
            problems += bad
            continue
        number = "".join(c for c in row["certificate_no"] if c.isalnum()).upper()
        register.append({**row, "certificate_no": number, "from": dates["valid_from"], "to": dates["valid_to"]})
    return register, problems


def resolve(number: str, agent: str | None, register: list[dict], max_edits: int) -> dict | None:
    """The register entry a captured number stands for (see the module docstring), or None."""
    exact = [e for e in register if e["certificate_no"] == number]
    if exact:
        return next((e for e in exact if e["agent"] == agent), exact[0])
    for pool in ([e for e in register if e["agent"] == agent], register):
        scored = sorted((Levenshtein.distance(number, e["certificate_no"]), e["_row"], i)
                        for i, e in enumerate(pool))
        if scored and scored[0][0] <= max_edits:
            return pool[scored[0][2]]
    return None


def captured_numbers(record: dict) -> list[tuple[dict, str]]:
    """(annotation, certificate number) of each credited qualification statement that captured one."""
    return [(a, str(a["fields"]["certificate_no"]).upper()) for a in record.get("annotations", [])
            if a.get("rule") == "qualification" and a.get("credited", True) and (a.get("fields") or {}).get(
                "certificate_no")]


def _problems(entry: dict, agent: str | None, industry: str | None, day: date, config: PackageConfig) -> list[tuple]:
    found = []
    if agent and entry["agent"] != agent:
        found.append(("certificate_other_agent", f"registered to {entry['agent']} {entry.get('name') or ''}".strip()
                      + f", not to the call's agent {agent}"))
    accepted = config.certificate_types.get(industry or "")
    if accepted and entry.get("certificate_type") not in accepted:
        found.append(("certificate_type", f"type {entry.get('certificate_type') or '(none)'} is not accepted for "
                      f"{industry} ({' / '.join(accepted)})"))
    if (entry["from"] and day < entry["from"]) or (entry["to"] and day > entry["to"]):
        found.append(("certificate_not_valid", f"valid {entry['from'] or '…'} to {entry['to'] or '…'}, the call was "
                      f"on {day}"))
    return found


def check_qualifications(records_by_id: dict[str, dict], linked: Linked, register: list[dict],
                         config: PackageConfig) -> tuple[list[dict], list[PackageFlag]]:
    """(per stated certificate: call, number heard, register entry; the flags)."""
    statements, flags = [], []
    for call_id, record in sorted(records_by_id.items()):
        row = linked.row_of(call_id)
        if row is None:
            continue
        agent = str(row["agent"]) if row.get("agent") else None
        industry = (record.get("call") or {}).get("industry")
        for annotation, number in captured_numbers(record):
            entry = resolve(number, agent, register, config.certificate_max_edits)
            statement = {"call_id": call_id, "cdr": {"file": row["file"], "row": row["row"]}, "agent": agent,
                         "heard": number, "entry": entry, "annotation": annotation}
            statements.append(statement)
            cdr = statement["cdr"]
            if entry is None:
                own = sorted(e["certificate_no"] for e in register if e["agent"] == agent)
                hint = f" (registered for {agent}: {', '.join(own)})" if own else f" ({agent} is not in the register)"
                flags.append(flag("certificate_unknown", [CATEGORY], f"agent {agent} stated certificate {number}: "
                                  f"not in the register{hint}", number, call_id, cdr, candidate=own[0] if own else None))
                continue
            where = {"file": entry["_file"], "row": entry["_row"]}
            heard = "" if entry["certificate_no"] == number else f" (heard as {number})"
            for check, why in _problems(entry, agent, industry, row["start"].date(), config):
                flags.append(flag(check, [CATEGORY], f"certificate {entry['certificate_no']}{heard} stated by "
                                  f"{agent}: {why}", entry["certificate_no"], call_id, cdr, where))
    return statements, flags
