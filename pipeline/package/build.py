"""`callaudit package`: the inspection package, recordings joined to their call, consent, complaint and agent records.

Stages, one module each: read the call-detail exports with the `records` stage
(records_read, records_check, records_abnormal) and the side inputs
(package_inputs); link recordings to rows (package_link); check consent
(package_consent), complaints (package_complaints) and qualifications
(package_agents); gather every flag in `package_findings`; write the folder in
the regulator's categories, each with an XLSX index, `readiness.html`
(package_html) and `MANIFEST.sha256`.

The package is built in a temporary folder beside PKG and renamed into place,
so a package on disk is always whole, and its manifest covers exactly its files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from pipeline.core import fileio, redact, review_store, xlsx_writer
from pipeline.core.catalog import Catalog
from pipeline.core.errors import UsageError
from pipeline.core.fileio import file_sha256
from pipeline.core.schema import InputProblem, PackageFlag
from pipeline.integrity import verdict as integrity
from pipeline.package import datasec, readiness
from pipeline.package.agents import check_qualifications, load_register
from pipeline.package.complaints import check_complaints, load_handling
from pipeline.package.config import DEFAULT_CONFIG, PackageConfig, load_package_config
from pipeline.package.consent import check_consent, load_consents
from pipeline.package.inputs import read_input
from pipeline.package.link import (
    ABNORMAL,
    BASE,
    COMPLAINTS,
    CONSENT,
    DATASEC,
    SENSITIVE,
    Linked,
    flag,
    link_recordings,
)
from pipeline.records.abnormal import find_abnormal
from pipeline.records.check import check_rows
from pipeline.records.config import DEFAULT_CONFIG as RECORDS_CONFIG
from pipeline.records.config import load_records_config
from pipeline.records.read import discover, read_all
from pipeline.scan import clips, outputs

CATEGORIES = (BASE, CONSENT, COMPLAINTS, SENSITIVE, DATASEC, ABNORMAL)
INDEX = "index.xlsx"
MANIFEST = "MANIFEST.sha256"
DISCLOSURE_RULES = ("marketing_disclosure",)


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
    checked = check_rows(table, config, None)
    abnormal = find_abnormal(checked.clean, config, None)
    rows_of = {}
    for finding_id, file, row in abnormal.rows.select("id", "file", "row").iter_rows():
        rows_of.setdefault(finding_id, []).append(f"{file}:{row}")
    findings = [{**f, "rows": rows_of.get(f["id"], [])} for f in abnormal.findings]
    problems: list[InputProblem] = [{"source": "records", "file": s.name, "row": None, "field": None, "value": None,
                                     "reason": s.error} for s in sources if s.error]
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


# -- the one list of flags ---------------------------------------------------------------
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


# -- writing -----------------------------------------------------------------------------
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


def _table(rows: list[dict], columns: dict[str, str], mask: Masker) -> pl.DataFrame:
    """An index sheet: `columns` maps each key of the rows to its header; every cell as text, row numbers as ints."""
    data = {header: [mask(_text(r.get(key))) if key != "行号" else r.get(key) for r in rows]
            for key, header in columns.items()}
    schema = {header: pl.Int64 if key == "行号" else pl.String for key, header in columns.items()}
    return pl.DataFrame(data, schema=schema)


def _text(value) -> str | None:
    if value is None:
        return None
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "hour") else value.isoformat()
    return str(value)


FLAG_COLUMNS = {"check": "检查", "call_id": "录音", "cdr": "通话记录行", "row": "相关记录行", "subject": "对象",
                "message": "说明", "candidate": "最近候选", "review": "复核"}
PROBLEM_COLUMNS = {"source": "来源", "file": "文件", "行号": "行号", "field": "字段", "value": "值", "reason": "原因"}


def _ref_text(ref: dict | None) -> str | None:
    return f"{ref['file']}:{ref['row']}" if ref else None


def _flag_rows(flags: list[PackageFlag]) -> list[dict]:
    return [{**f, "cdr": _ref_text(f["cdr"]), "row": _ref_text(f["row"])} for f in flags]


def _problem_rows(problems: list[InputProblem]) -> list[dict]:
    return [{**p, "行号": p["row"]} for p in problems]


def _in(category: str, flags: list[PackageFlag]) -> list[PackageFlag]:
    return [f for f in flags if category in f["categories"]]


def _cut(source: str | None, target: Path, start: float, end: float, record: dict, padding: float) -> str | None:
    """A key-segment clip (WAV) of [start - padding, end + padding]; an error message instead of a crash."""
    if not source or not Path(source).is_file():
        return "the recording is no longer where it was scanned"
    info = record.get("recording") or {}
    length = float(info.get("duration_s") or end + padding)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        clips.cut(source, target, max(0.0, start - padding), min(length, end + padding), "wav", info)
    except Exception as exc:  # ffmpeg failures come as InputError; any other must not stop the package
        return f"clip not cut: {exc}"
    return None


def segment_name(annotation: dict) -> str:
    """00-01-15_00-01-20_风险告知.wav: the statement's time range and label (no ':' for Windows)."""
    span = f"{outputs.clock(annotation['start'])}_{outputs.clock(annotation['end'], round_up=True)}".replace(":", "-")
    return f"{span}_{clips.safe_name(outputs.annotation_label(annotation))}.wav"


def write_base(folder: Path, joined: Joined, flags: list[PackageFlag], mask: Masker) -> None:
    problems_of: dict[tuple, list[str]] = {}
    for f in _in(BASE, flags):
        if f["cdr"]:
            problems_of.setdefault((f["cdr"]["file"], f["cdr"]["row"]), []).append(f["check"])
    linked = joined.linked
    rows = [{**r, "行号": r["row"], "call": linked.call_of(r),
             "method": linked.links[linked.call_of(r)]["method"] if linked.call_of(r) else None,
             "problems": ", ".join(problems_of.get((r["file"], r["row"]), [])) or None} for r in joined.rows]
    xlsx_writer.write_workbook(folder / INDEX, [
        ("通话记录", _table(rows, {"file": "文件", "行号": "行号", "call_id": "通话编号", "caller": "主叫号码",
                               "callee": "被叫号码", "start": "通话起始时间", "duration": "通话时长(秒)",
                               "call_type": "通话类型", "result": "通话结果", "agent": "坐席", "call": "录音",
                               "method": "关联方式", "problems": "问题"}, mask)),
        ("问题", _table(_flag_rows(_in(BASE, flags)), FLAG_COLUMNS, mask)),
        ("数据问题", _table(_problem_rows([p for p in joined.problems if readiness.SOURCE_CATEGORY[p["source"]] == BASE]),
                        PROBLEM_COLUMNS, mask)),
    ])


def _disclosure(record: dict | None) -> dict | None:
    return next((a for a in (record or {}).get("annotations", []) if a["rule"] in DISCLOSURE_RULES and a["credited"]),
                None)


def write_consent(folder: Path, joined: Joined, flags: list[PackageFlag], sources: dict[str, str],
                  mask: Masker, config: PackageConfig) -> None:
    rows = []
    for call in joined.consent_calls:
        record = joined.records.get(call["call_id"]) if call["call_id"] else None
        statement = _disclosure(record)
        clip = None
        if statement:
            target = folder / mask.name(call["call_id"]) / segment_name(statement)
            error = _cut(sources.get(call["call_id"]), target, statement["start"], statement["end"], record,
                         config.clip_padding_s)
            clip = error or target.relative_to(folder).as_posix()
        consent = call["consent"]
        rows.append({"cdr": _ref_text(call["cdr"]), "call": call["call_id"], "callee": call["callee"],
                     "start": call["start"], "consent": f"{consent['_file']}:{consent['_row']}" if consent else None,
                     "given": consent["given"] if consent else None,
                     "disclosure": (f"{outputs.clock(statement['start'])}-{outputs.clock(statement['end'], round_up=True)}"
                                    if statement else None), "clip": clip,
                     "problem": ", ".join(f["check"] for f in _in(CONSENT, flags) if f["cdr"] == call["cdr"]) or None})
    xlsx_writer.write_workbook(folder / INDEX, [
        ("营销通话", _table(rows, {"cdr": "通话记录行", "call": "录音", "callee": "被叫号码", "start": "通话起始时间",
                               "consent": "同意记录行", "given": "同意时间", "disclosure": "营销标识时间",
                               "clip": "片段", "problem": "问题"}, mask)),
        ("问题", _table(_flag_rows(_in(CONSENT, flags)), FLAG_COLUMNS, mask)),
        ("数据问题", _table(_problem_rows([p for p in joined.problems if p["source"] == "consent"]),
                        PROBLEM_COLUMNS, mask)),
    ])


def integrity_verdict(record: dict | None, flags: list[PackageFlag], call_id: str | None) -> tuple[str, dict | None]:
    """完整性判定: the scan's integrity verdict plus the duration-vs-CDR layer (pipeline.integrity.verdict)."""
    mismatches = [f["message"] for f in flags if f["call_id"] == call_id and f["check"] == "duration_mismatch"]
    return integrity.package_verdict(record, mismatches)


def write_complaints(folder: Path, joined: Joined, flags: list[PackageFlag], sources: dict[str, str],
                     mask: Masker) -> None:
    rows = []
    for call in joined.complaint_calls:
        record = joined.records.get(call["call_id"]) if call["call_id"] else None
        h = call["handling"] or {}
        verdict, found = integrity_verdict(record, flags, call["call_id"])
        copy = None
        if record and sources.get(call["call_id"]) and Path(sources[call["call_id"]]).is_file():
            source = Path(sources[call["call_id"]])
            target = folder / mask.name(call["call_id"]) / f"录音{source.suffix.lower()}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copy = target.relative_to(folder).as_posix()
            fileio.write_atomic(target.parent / "处理记录.json", json.dumps(mask({
                "call_detail_row": call["cdr"], "handling_record": {k: v for k, v in h.items()
                                                                    if not k.startswith("_") and isinstance(v, str)},
                "handling_row": {"file": h["_file"], "row": h["_row"]} if h else None,
                "promises": [{"heard": w, "deadline": d.isoformat(sep=" ")} for w, d in call["promises"]],
                "integrity_verdict": verdict, "integrity": found}), ensure_ascii=False, indent=1) + "\n")
        problems = [f["check"] for f in _in(COMPLAINTS, flags) if f["cdr"] == call["cdr"]]
        rows.append({"cdr": _ref_text(call["cdr"]), "call": call["call_id"], "copy": copy,
                     "handling": f"{h['_file']}:{h['_row']}" if h else None, "category": h.get("category"),
                     "received": h.get("received_at"), "agent": h.get("agent"), "plan": h.get("plan"),
                     "result": h.get("result"), "satisfaction": h.get("satisfaction"), "resolved": h.get("resolved_at"),
                     "promise": "; ".join(f"{w} → {d:%Y-%m-%d %H:%M}" for w, d in call["promises"]) or None,
                     "integrity": verdict, "problems": ", ".join(problems) or None})
    xlsx_writer.write_workbook(folder / INDEX, [
        ("投诉通话", _table(rows, {"cdr": "通话记录行", "call": "录音", "copy": "录音文件", "handling": "处理记录行",
                               "category": "投诉类别", "received": "受理时间", "agent": "受理坐席", "plan": "处理方案",
                               "result": "处理结果", "satisfaction": "满意度", "resolved": "办结时间",
                               "promise": "录音中的承诺", "integrity": "完整性判定", "problems": "问题"}, mask)),
        ("问题", _table(_flag_rows(_in(COMPLAINTS, flags)), FLAG_COLUMNS, mask)),
        ("数据问题", _table(_problem_rows([p for p in joined.problems if p["source"] == "complaints"]),
                        PROBLEM_COLUMNS, mask)),
    ])


def write_sensitive(folder: Path, joined: Joined, flags: list[PackageFlag], sources: dict[str, str],
                    mask: Masker, config: PackageConfig) -> None:
    segments = []
    for call_id, record in sorted(joined.records.items()):
        if ((record.get("call") or {}).get("industry")) not in config.sensitive_industries:
            continue
        statements = [a for a in record.get("annotations", []) if a.get("credited", True)]
        if not statements:
            continue
        calls = folder / mask.name(call_id)
        fileio.write_atomic(calls / "标注.txt", mask(outputs.annotation_sheet(statements)))
        for a in sorted(statements, key=lambda a: (a["start"], a["end"])):
            target = calls / segment_name(a)
            error = _cut(sources.get(call_id), target, a["start"], a["end"], record, config.clip_padding_s)
            segments.append({"call": call_id, "range": f"{outputs.clock(a['start'])}-"
                             f"{outputs.clock(a['end'], round_up=True)}", "label": outputs.annotation_label(a),
                             "clip": error or target.relative_to(folder).as_posix(), "text": a["text"],
                             "certificate": (a.get("fields") or {}).get("certificate_no")})
    statements = [{"call": s["call_id"], "cdr": _ref_text(s["cdr"]), "agent": s["agent"], "heard": s["heard"],
                   "entry": f"{s['entry']['_file']}:{s['entry']['_row']}" if s["entry"] else None,
                   "number": s["entry"]["certificate_no"] if s["entry"] else None,
                   "holder": s["entry"]["agent"] if s["entry"] else None,
                   "type": s["entry"].get("certificate_type") if s["entry"] else None,
                   "valid": f"{s['entry']['from'] or '…'} – {s['entry']['to'] or '…'}" if s["entry"] else None,
                   "problems": ", ".join(f["check"] for f in _in(SENSITIVE, flags) if f["call_id"] == s["call_id"]
                                         and f["check"].startswith("certificate_")) or None} for s in joined.statements]
    xlsx_writer.write_workbook(folder / INDEX, [
        ("关键片段", _table(segments, {"call": "录音", "range": "时间范围", "label": "标签", "clip": "片段",
                                   "text": "识别文本", "certificate": "证书编号"}, mask)),
        ("资质核验", _table(statements, {"call": "录音", "cdr": "通话记录行", "agent": "坐席", "heard": "识别证书号",
                                     "entry": "登记行", "number": "登记证书号", "holder": "持证坐席",
                                     "type": "证书类型", "valid": "有效期", "problems": "问题"}, mask)),
        ("问题", _table(_flag_rows(_in(SENSITIVE, flags)), FLAG_COLUMNS, mask)),
        ("数据问题", _table(_problem_rows([p for p in joined.problems if p["source"] == "agents"]),
                        PROBLEM_COLUMNS, mask)),
    ])


def write_abnormal(folder: Path, joined: Joined, flags: list[PackageFlag], mask: Masker) -> None:
    daily = [{**f, "rows": ", ".join(f["rows"])} for f in joined.abnormal]
    xlsx_writer.write_workbook(folder / INDEX, [
        ("异常通话日报", _table(daily, {"day": "日期", "id": "编号", "check": "检查", "subject": "对象", "value": "数值",
                                    "message": "说明", "rows": "记录行"}, mask)),
        *((name, _table(rows, columns, mask)) for name, rows, columns in datasec.abnormal_sheets(joined.abnormal)),
        ("问题", _table(_flag_rows(_in(ABNORMAL, flags)), FLAG_COLUMNS, mask)),
    ])


def write_datasec(folder: Path, scan_dir: Path, joined: Joined, flags: list[PackageFlag], mask: Masker) -> None:
    datasec.copy_evidence(scan_dir, folder, joined.security, mask.on)
    xlsx_writer.write_workbook(folder / INDEX, [
        *((name, _table(rows, columns, mask)) for name, rows, columns in datasec.sheets(joined.security)),
        ("问题", _table(_flag_rows(_in(DATASEC, flags)), FLAG_COLUMNS, mask)),
    ])


def write_manifest(folder: Path) -> Path:
    """MANIFEST.sha256: `<sha256>  <relative path>` for every file, sorted by path (sha256sum -c reads it)."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        lines.append(f"{file_sha256(str(path))}  {path.relative_to(folder).as_posix()}\n")
    target = folder / MANIFEST
    fileio.write_atomic(target, "".join(sorted(lines, key=lambda line: line.split("  ", 1)[1])))
    return target


def _replace_folder(built: Path, out: Path) -> None:
    """Put the finished package at `out`; an earlier package there is removed only after the new one is whole."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(built, out)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def custody_result(result: dict, mask: Masker) -> dict:
    """The custody ledger's verification result (`callaudit verify`, run once by datasec.gather), paths masked
    with --redact, hashes kept."""
    return {**mask(result), "head": result["head"]}


def build_package(scan_dir: Path, out: Path, options: PackageOptions) -> dict:
    """Run every check on the scan in `scan_dir` and the exports, write the package to `out`; returns a summary."""
    scan_dir, out = Path(scan_dir), Path(out)
    if not (scan_dir / "catalog.sqlite").is_file():
        raise UsageError(f"{scan_dir} holds no scan (catalog.sqlite): run `callaudit scan ... --out {scan_dir}` first")
    config = load_package_config(options.config_path)
    joined = join(scan_dir, options, config)
    every_flag = package_findings(joined, config, review_store.decisions(scan_dir))
    flags = counted(every_flag)
    mask = Masker(options.redact)
    with Catalog(scan_dir, create=False) as catalog:
        sources = catalog.sources()
    out.parent.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_base(built / BASE, joined, flags, mask)
        write_consent(built / CONSENT, joined, flags, sources, mask, config)
        write_complaints(built / COMPLAINTS, joined, flags, sources, mask)
        write_sensitive(built / SENSITIVE, joined, flags, sources, mask, config)
        write_datasec(built / DATASEC, scan_dir, joined, flags, mask)
        write_abnormal(built / ABNORMAL, joined, flags, mask)
        summary = {"categories": mask(readiness.readiness(joined, flags)), "flags": mask(flags),
                   "dismissed": mask([f for f in every_flag if not review_store.is_open(f.get("review", "open"))]),
                   "input_problems": mask(joined.problems), "links": mask(list(joined.linked.links.values())),
                   "checked": joined.checked, "recordings": len(joined.records), "cdr_rows": len(joined.rows),
                   "custody": custody_result(joined.security.custody, mask)}
        fileio.write_atomic(built / "findings.json", json.dumps(summary, ensure_ascii=False, indent=1,
                                                                 default=str) + "\n")
        fileio.write_atomic(built / "readiness.html", readiness.format_page(summary, mask))
        write_manifest(built)
        os.chmod(built, 0o700)
        _replace_folder(built, out)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    return summary
