"""The package's category folders: each one's index.xlsx, its key-segment clips and copies.

One writer per regulator category (base CDR, consent, complaints, sensitive business,
abnormal calls), all over the same `Joined` and the counted flags, every text passed
through the `Masker`. A clip ffmpeg cannot cut becomes a message in the index, never
a crash. Writers only lay out what the checks found: they decide no flag.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl

from pipeline.core import fileio, xlsx_writer
from pipeline.core.schema_package import InputProblem, PackageFlag
from pipeline.integrity import verdict as integrity
from pipeline.package import datasec, readiness
from pipeline.package.config import PackageConfig
from pipeline.package.findings import DISCLOSURE_RULES
from pipeline.package.join import Joined
from pipeline.package.link import (
    ABNORMAL,
    BASE,
    COMPLAINTS,
    CONSENT,
    DATASEC,
    SENSITIVE,
)
from pipeline.package.masker import Masker
from pipeline.scan import clips, outputs

INDEX = "index.xlsx"


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
