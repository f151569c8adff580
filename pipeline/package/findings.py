"""The one list of flags a package reports, each in its regulator's categories, with its review state.

Every finding passes through `package_findings` on its way into the package (indexes,
readiness.html, findings.json); reviewers' decisions apply here and `counted` leaves
out the dismissed ones. Plain data in, plain data out: nothing here reads inputs or
writes files.
"""

from __future__ import annotations

from pipeline.core import review_store
from pipeline.core.schema_package import PackageFlag
from pipeline.package.config import PackageConfig
from pipeline.package.join import Joined
from pipeline.package.link import ABNORMAL, COMPLAINTS, CONSENT, SENSITIVE, flag

DISCLOSURE_RULES = ("marketing_disclosure",)


def _scan_categories(record: dict, problem: str, rule: str | None, complaint: bool, config: PackageConfig) -> list[str]:
    if problem in ("splice", "integrity"):
        return [COMPLAINTS, ABNORMAL] if complaint else [ABNORMAL]
    if problem == "long_silence":
        return [ABNORMAL]
    if rule in DISCLOSURE_RULES:
        return [CONSENT]
    sensitive = ((record.get("call") or {}).get("industry")) in config.sensitive_industries
    return [SENSITIVE] if sensitive else [CONSENT]


def package_findings(joined: Joined, config: PackageConfig,
                     decided: dict[str, review_store.Decision]) -> list[PackageFlag]:
    """Every flag the package reports: the scan's flags of each recording and the package's own checks.

    The single place every finding passes through on its way into the package (its
    indexes, readiness.html, findings.json). Reviewers' decisions (`callaudit serve`) apply
    here: a scan flag carries its review state, and `counted` leaves out the dismissed ones.
    A duration mismatch of a complaint call counts against the complaint recording too,
    as splice evidence. Sorted, so the package is the same for the same inputs.
    """
    complaint_ids = {c["call_id"] for c in joined.complaint_calls if c["call_id"]}
    found: list[PackageFlag] = []
    for call_id, record in joined.records.items():
        row = joined.linked.row_of(call_id)
        cdr = {"file": row["file"], "row": row["row"]} if row else None
        for f in record.get("flags", []):
            entry = flag("scan", _scan_categories(record, f["problem"], f["rule"], call_id in complaint_ids, config),
                         f["message"], f["rule"] or f["problem"], call_id, cdr)
            state = review_store.effective_state(decided.get(review_store.flag_id(call_id, f)))
            found.append({**entry, "problem": f["problem"], "rule": f["rule"], "start": f["start"], "review": state})
    for f in joined.own_flags:
        if f["check"] == "duration_mismatch" and f["call_id"] in complaint_ids:
            f = {**f, "categories": [*f["categories"], COMPLAINTS]}
        found.append(f)
    return sorted(found, key=lambda f: (f["check"], f["call_id"] or "", (f["cdr"] or {}).get("file", ""),
                                        (f["cdr"] or {}).get("row", 0), f["subject"], f["message"]))


def counted(flags: list[PackageFlag]) -> list[PackageFlag]:
    """The flags that make an item fail: all but those a reviewer dismissed (with approval where needed)."""
    return [f for f in flags if review_store.is_open(f.get("review", "open"))]

