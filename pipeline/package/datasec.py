"""The package's sixth category, 数据安全存储记录, and the handling of abnormal findings (异常通话监控记录).

数据安全存储记录 shows how the center keeps recordings safe: its storage and
encryption statement (phrases/package.yaml `storage`, missing fields listed,
never filled in), the workbench's access log from the period's first day on,
every backup verification (`callaudit verify --backup`), every destruction record
and the verification of the custody ledger they are in, and the retention plan
as of the package's day. Flags (this category): a statement field left empty; no
backup verified since the period began, or the latest verification not clean;
a recording past retention and not destroyed; a recording gone without a
destruction record, or an interrupted destruction; a destruction without a
witness distinct from its operator; a playback without an approver where the
statement says every playback needs one; a ledger that does not verify.

For 异常通话监控记录 each abnormal finding gets its handling (pipeline.core.
abnormal_store) and an unhandled finding is an `abnormal_unhandled` flag.

Plain data: `gather` reads, the package writes the sheets it returns.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pipeline.core import abnormal_store, review_store
from pipeline.core.catalog import Catalog
from pipeline.core.schema_datasec import RetentionItem
from pipeline.core.schema_package import PackageFlag
from pipeline.integrity import backups, ledger
from pipeline.integrity import verify as custody_verify
from pipeline.package.config import PackageConfig
from pipeline.package.link import ABNORMAL, DATASEC, Linked, flag
from pipeline.package.storage import FIELDS, missing
from pipeline.retention.destroy import KIND as DESTROYED
from pipeline.retention.plan import complaints_by_call, plan
from pipeline.retention.policy import DEFAULT_POLICY, load_policy

__all__ = ["DEFAULT_POLICY", "Security", "gather", "sheets", "with_handling", "abnormal_flags", "abnormal_sheets"]

CHECK_NAMES = {
    "storage_statement_missing": "存储与加密声明缺项", "no_backup_verified": "期间内无备份核验",
    "backup_not_clean": "最近一次备份核验有差异", "past_retention": "超过保存期限未销毁",
    "recording_missing": "录音缺失且无销毁记录", "destruction_interrupted": "销毁中断未完成",
    "destruction_unwitnessed": "销毁无监销人", "playback_unapproved": "收听无审批人",
    "ledger_broken": "保管台账校验失败", "abnormal_unhandled": "异常通话未处理（无核查/处理/整改记录）",
}


@dataclass
class Security:
    """What the data-security category shows, and the flags it raises."""

    statement: dict                 # field -> text / bool / None (pipeline.package.storage)
    access: list[dict]              # access-log rows from the period's first day on
    verifications: list[dict]       # backup verifications, oldest first
    destructions: list[dict]        # ledger entries of kind `destroyed`
    ledger: dict                    # {"path", "entries", "signed", "breaks": [messages]}
    plan: list[RetentionItem]
    since: date                     # the period's first day (the earliest accepted call-detail row)
    as_of: date
    flags: list[PackageFlag]
    custody: dict = field(default_factory=dict)   # pipeline.integrity.verify's result (findings.json `custody`)


def _ledger(scan_dir: Path) -> tuple[list[dict], dict, dict]:
    """(the `destroyed` entries, a summary for the sheet, the verification of `callaudit verify`)."""
    path = Path(scan_dir) / ledger.FILENAME
    contents = ledger.read(path)
    verified = custody_verify.verify(scan_dir)
    summary = {"path": str(path), "present": path.exists(), "entries": len(contents.entries),
               "signed": contents.signed, "breaks": [b["message"] for b in verified["breaks"]]}
    return [e for e in contents.entries if e.get("kind") == DESTROYED], summary, verified


def _flags(sec: Security) -> list[PackageFlag]:
    out = [flag("storage_statement_missing", [DATASEC], f"the storage statement (phrases/package.yaml storage.{key}) "
                f"is empty: {FIELDS[key]}", key) for key in missing(sec.statement)]
    recent = [v for v in sec.verifications if v["time"][:10] >= sec.since.isoformat()]
    if not recent:
        out.append(flag("no_backup_verified", [DATASEC], f"no backup verified since {sec.since} "
                        "(`callaudit verify OUT --backup DIR...`)", "backup"))
    elif not recent[-1]["clean"] or recent[-1].get("unreadable"):
        last = recent[-1]
        out.append(flag("backup_not_clean", [DATASEC], f"backup verification {last['time']}: "
                        f"{len(last['missing'])} missing, {len(last['differing'])} differing, "
                        f"{len(last['extra'])} extra copies" + (f"; {last['unreadable']}" if last.get("unreadable")
                                                               else ""), "backup"))
    checks = {"due": "past_retention", "missing": "recording_missing", "interrupted": "destruction_interrupted"}
    out += [flag(checks[i["status"]], [DATASEC], f"{i['file']}: {i['reason']}", i["file"], i["call_id"])
            for i in sec.plan if i["status"] in checks]
    out += [flag("destruction_unwitnessed", [DATASEC], f"destruction of {d.get('path')} at {d.get('time')}: "
                 f"operator {d.get('operator') or '-'}, witness {d.get('witness') or '-'}", str(d.get("path")),
                 d.get("call_id"))
            for d in sec.destructions if not d.get("witness") or d.get("witness") == d.get("operator")]
    if sec.statement.get("approval_required"):
        out += [flag("playback_unapproved", [DATASEC], f"{a['user']} {a['kind']} {a['media']} at {a['started_at']} "
                     "without an approver (the account has no 审批人)", f"{a['user']} {a['started_at']}",
                     a["call_id"]) for a in sec.access if not a["approver"]]
    out += [flag("ledger_broken", [DATASEC], message, "ledger") for message in sec.ledger["breaks"]]
    return out


def gather(scan_dir: Path, records: list[dict], linked: Linked, rows: list[dict], complaint_calls: list[dict] | None,
           config: PackageConfig, policy_path: Path, as_of: date | None) -> Security:
    """Everything the category shows; `complaint_calls` is None when no complaint records were given."""
    today = as_of or date.today()
    since = min(r["start"] for r in rows).date()
    with Catalog(scan_dir, create=False) as catalog:
        sources = catalog.sources()
        access = [a for a in review_store.access_rows(catalog.db) if a["started_at"][:10] >= since.isoformat()]
    destroyed, summary, verified = _ledger(scan_dir)
    items = plan(records, sources, linked, None if complaint_calls is None else complaints_by_call(complaint_calls),
                 load_policy(policy_path), config, today, {d["call_id"]: d for d in destroyed})
    sec = Security(config.storage, access, backups.verifications(scan_dir), destroyed, summary, items, since, today,
                   [], verified)
    sec.flags = _flags(sec)
    return sec


def copy_evidence(scan_dir: Path, folder: Path, sec: Security, redacted: bool) -> None:
    """The ledger and every backup verification's JSON file, copied into the category (the manifest covers them).

    Not in a redacted package: they name recordings by paths that hold phone numbers, and masking the
    ledger would break its hash chain.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if redacted:
        return
    if sec.ledger["present"]:
        shutil.copyfile(sec.ledger["path"], folder / ledger.FILENAME)
    for v in sec.verifications:
        source = Path(scan_dir) / v["report"]
        if source.is_file():
            (folder / backups.FOLDER).mkdir(exist_ok=True)
            shutil.copyfile(source, folder / backups.FOLDER / source.name)


def sheets(sec: Security) -> list[tuple[str, list[dict], dict[str, str]]]:
    """(sheet name, rows, key -> header) of the category's index.xlsx, before its 问题 sheet."""
    statement = [{"field": FIELDS[k], "value": ("是" if v else "否") if isinstance(v, bool) else v or "（缺失 missing）"}
                 for k, v in sec.statement.items()]
    backups_rows = [{"time": v["time"], "locations": "; ".join(v["locations"]), "recordings": v["recordings"],
                     "matched": v["matched"], "missing": len(v["missing"]), "differing": len(v["differing"]),
                     "extra": len(v["extra"]), "clean": "一致" if v["clean"] else "有差异",
                     "report": v["report"] + (f" ({v['unreadable']})" if v.get("unreadable") else "")}
                    for v in sec.verifications]
    differences = [{"time": v["time"], "what": what, "location": d["location"], "file": d["file"],
                    "detail": d.get("sha256") and f"{d['sha256']} ≠ {d['expected']}" or
                    ("已销毁录音的副本 / copy of a destroyed recording" if d.get("destroyed") else None)}
                   for v in sec.verifications for what, key in (("缺失", "missing"), ("不一致", "differing"),
                                                               ("多余", "extra")) for d in v[key]]
    ledger_rows = [{"item": "台账文件 ledger", "value": sec.ledger["path"] if sec.ledger["present"] else "无 / none"},
                   {"item": "条目 entries", "value": sec.ledger["entries"]},
                   {"item": "已签名 signed", "value": sec.ledger["signed"]},
                   {"item": "校验 verification", "value": "通过 / verifies" if not sec.ledger["breaks"] else
                    "失败 / fails: " + "; ".join(sec.ledger["breaks"])}]
    return [
        ("存储与加密", statement, {"field": "项目", "value": "声明"}),
        ("访问记录", sec.access, {k: review_store.ACCESS_HEADERS[k] for k in review_store.ACCESS_COLUMNS}),
        ("备份核验", backups_rows, {"time": "核验时间", "locations": "备份位置", "recordings": "录音数",
                                "matched": "一致副本", "missing": "缺失", "differing": "不一致", "extra": "多余",
                                "clean": "结论", "report": "核验文件"}),
        ("备份差异", differences, {"time": "核验时间", "what": "差异", "location": "备份位置", "file": "文件",
                               "detail": "说明"}),
        ("销毁记录", sec.destructions, {"call_id": "录音编号", "path": "文件", "size": "大小(字节)",
                                    "sha256": "SHA-256", "time": "销毁时间", "method": "销毁方式",
                                    "operator": "销毁人", "witness": "监销人", "seq": "台账序号", "hash": "台账哈希"}),
        ("保存期限", sec.plan, {"call_id": "录音编号", "file": "文件", "call_type": "通话类型", "call_day": "通话日期",
                             "due_on": "可销毁日期", "status": "状态", "reason": "说明"}),
        ("台账核验", ledger_rows, {"item": "项目", "value": "结果"}),
    ]


# -- abnormal calling: the 发现-处理-整改 loop ------------------------------------------------
def with_handling(findings: list[dict], scan_dir: Path) -> list[dict]:
    """Each abnormal finding with its `key` and current `handling` (None: not handled)."""
    done = abnormal_store.handled(scan_dir)
    return [{**f, "key": abnormal_store.finding_key(f), "handling": done.get(abnormal_store.finding_key(f))}
            for f in findings]


def abnormal_flags(findings: list[dict]) -> list[PackageFlag]:
    """An `abnormal_unhandled` flag per finding nobody has handled in the workbench."""
    return [flag("abnormal_unhandled", [ABNORMAL], f"{f['day']} {f['check']} {f['message']}: no 核查过程, 处理结果, "
                 "整改措施 recorded (`callaudit serve`, 异常通话)", f"{f['id']} {f['check']} {f['subject']} {f['day']}")
            for f in findings if f["handling"] is None]


def abnormal_sheets(findings: list[dict]) -> list[tuple[str, list[dict], dict[str, str]]]:
    """The 已处理 and 未处理 sheets of 异常通话监控记录."""
    handled = [{**f, **f["handling"], "rows": ", ".join(f["rows"])} for f in findings if f["handling"]]
    open_ = [{**f, "rows": ", ".join(f["rows"])} for f in findings if not f["handling"]]
    base = {"day": "发现日期", "id": "编号", "check": "检查", "subject": "对象", "message": "说明", "rows": "记录行"}
    return [("已处理", handled, {**base, "checked": "核查过程", "result": "处理结果", "measures": "整改措施",
                              "handler": "处理人", "handled_at": "处理时间"}),
            ("未处理", open_, base)]


def notes(sec: Security) -> list[str]:
    """The category's summary lines in readiness.html."""
    counts: dict[str, int] = {}
    for item in sec.plan:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    latest = sec.verifications[-1] if sec.verifications else None
    return [f"保存期限（截至 {sec.as_of}）/ retention as of {sec.as_of}: "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
            f"销毁记录 {len(sec.destructions)} 条 / destruction records; 访问记录（自 {sec.since}）{len(sec.access)} 条 / "
            "accesses since the period began",
            "备份核验：" + (f"最近 {latest['time']}，{'一致' if latest['clean'] else '有差异'} / latest backup verification"
                       if latest else "无 / none"),
            "保管台账：" + (f"{sec.ledger['entries']} 条，" + ("校验通过" if not sec.ledger["breaks"] else "校验失败")
                       if sec.ledger["present"] else "无台账文件 / no custody ledger")]
