"""Every input of a package read and every check run: the scan's records joined to the exports.

The call-detail exports go through the `records` stage (read, check, abnormal), the
side inputs through `inputs`; recordings are linked to rows (`link`) and consent,
complaints and qualifications checked (`consent`, `complaints`, `agents`). The result
is one plain `Joined`; nothing here writes the package or decides a flag's category.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pipeline.core.catalog import Catalog
from pipeline.core.errors import UsageError
from pipeline.core.schema_package import InputProblem, PackageFlag
from pipeline.package import datasec
from pipeline.package.agents import check_qualifications, load_register
from pipeline.package.complaints import check_complaints, load_handling
from pipeline.package.config import DEFAULT_CONFIG, PackageConfig
from pipeline.package.consent import check_consent, load_consents
from pipeline.package.inputs import read_input
from pipeline.package.link import Linked, link_recordings
from pipeline.records.abnormal import find_abnormal
from pipeline.records.check import check_rows
from pipeline.records.config import DEFAULT_CONFIG as RECORDS_CONFIG
from pipeline.records.config import load_records_config
from pipeline.records.read import discover, read_all

# CDR fields the package's checks can do without: a bad value is listed as a data problem and the row is
# still linked and checked (an unexpected call type must not hide a call's other findings).
TOLERATED_CDR_FIELDS = ("call_type", "result", "agent", "line", "call_id", "recording")


@dataclass(frozen=True)
class PackageOptions:
    """What `callaudit package` is asked to do."""

    records: list[str]                              # CDR files or folders
    consent: Path | None = None
    complaints: Path | None = None
    agents: Path | None = None
    config_path: Path = DEFAULT_CONFIG              # phrases/package.yaml
    records_config: Path = RECORDS_CONFIG           # phrases/records.yaml
    column_map: dict[str, str] = field(default_factory=dict)
    redact: bool = False                            # mask personal numbers in every text of the package
    retention: Path = datasec.DEFAULT_POLICY        # phrases/retention.yaml
    as_of: date | None = None                       # the day retention is judged on (None: today)


@dataclass
class Joined:
    """Everything the checks found, before it is written."""

    records: dict[str, dict]                         # call_id -> scan record
    rows: list[dict]                                 # accepted CDR rows
    linked: Linked
    consent_calls: list[dict]
    complaint_calls: list[dict]
    statements: list[dict]
    own_flags: list[PackageFlag]                     # link, consent, complaint, qualification flags
    problems: list[InputProblem]
    abnormal: list[dict]                             # the records stage's abnormal findings, with their rows
    checked: dict[str, bool]                         # which side inputs were given
    security: datasec.Security | None = None         # the data-security category (pipeline.package.datasec)


# -- reading ---------------------------------------------------------------------------
def read_cdr(paths: list[str], options: PackageOptions) -> tuple[list[dict], list[InputProblem], list[dict]]:
    """(accepted CDR rows, rejected rows and unreadable files, abnormal findings with their rows) via `records`."""
    config = load_records_config(options.records_config)
    table, sources = read_all(discover(paths), config, options.column_map)
    checked = check_rows(table, config, None, TOLERATED_CDR_FIELDS)
    abnormal = find_abnormal(checked.clean, config, None)
    rows_of = {}
    for finding_id, file, row in abnormal.rows.select("id", "file", "row").iter_rows():
        rows_of.setdefault(finding_id, []).append(f"{file}:{row}")
    findings = [{**f, "rows": rows_of.get(f["id"], [])} for f in abnormal.findings]
    problems: list[InputProblem] = [{"source": "records", "file": s.name, "row": None, "field": None, "value": None,
                                     "reason": reason} for s in sources
                                    for reason in ([s.error] if s.error else [s.header_note] if s.header_note else [])]
    problems += [{"source": "records", "file": f, "row": r, "field": name, "value": value, "reason": reason}
                 for f, r, name, value, reason in checked.issues.iter_rows()]
    rows = [{**r, "file": str(r["file"]), "call_type": str(r["call_type"]), "result": str(r["result"]),
             "agent": str(r["agent"]) if r["agent"] is not None else None} for r in checked.clean.iter_rows(named=True)]
    return rows, problems, findings


def _side(path: Path | None, kind: str, config: PackageConfig) -> tuple[list[dict], list[InputProblem]]:
    return read_input(path, kind, config) if path else ([], [])


def join(scan_dir: Path, options: PackageOptions, config: PackageConfig) -> Joined:
    """Read every input and run every check."""
    with Catalog(scan_dir, create=False) as catalog:
        scanned = catalog.records()
    records = {r["call_id"]: r for r in scanned}
    problems: list[InputProblem] = [{"source": "scan", "file": r["file"], "row": None, "field": None, "value": None,
                                     "reason": f"{r['error']['code']}: {r['error']['message']}"}
                                    for r in scanned if r["status"] == "error"]
    rows, cdr_problems, abnormal = read_cdr(options.records, options)
    if not rows:
        raise UsageError("no call-detail row could be read from " + " ".join(options.records))
    abnormal = datasec.with_handling(abnormal, scan_dir)
    linked = link_recordings(scanned, rows, config)
    consent_rows, p1 = _side(options.consent, "consent", config)
    handling_rows, p2 = _side(options.complaints, "complaints", config)
    register_rows, p3 = _side(options.agents, "agents", config)
    consents, p4 = load_consents(consent_rows)
    handling, p5 = load_handling(handling_rows)
    register, p6 = load_register(register_rows)
    flags = list(linked.flags)
    consent_calls, complaint_calls, statements = [], [], []
    if options.consent:
        consent_calls, found = check_consent(rows, records, linked, consents, config)
        flags += found
    if options.complaints:
        complaint_calls, found = check_complaints(rows, records, linked, handling, config)
        flags += found
    if options.agents:
        statements, found = check_qualifications(records, linked, register, config)
        flags += found
    security = datasec.gather(scan_dir, scanned, linked, rows, complaint_calls if options.complaints else None,
                              config, options.retention, options.as_of)
    flags += security.flags + datasec.abnormal_flags(abnormal)
    return Joined(records, rows, linked, consent_calls, complaint_calls, statements, flags,
                  problems + cdr_problems + p1 + p2 + p3 + p4 + p5 + p6, abnormal,
                  {"consent": bool(options.consent), "complaints": bool(options.complaints),
                   "agents": bool(options.agents)}, security)

