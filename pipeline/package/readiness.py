"""`readiness.html`: category by category, what the regulator will reject in this package and why.

Self-contained (inline CSS, no script), opened from the package folder. Every
reason comes from the one list of flags (pipeline.package.findings.package_findings) and
the input problems; nothing is decided here.
"""

from __future__ import annotations

from collections import Counter
from html import escape

from pipeline.package.link import ABNORMAL, BASE, COMPLAINTS, CONSENT, SENSITIVE
from pipeline.scan.outputs import PROBLEM_LABELS

CHECK_NAMES = {
    "unlinked": "录音无对应通话记录", "no_recording": "接通通话无录音", "duration_mismatch": "录音时长与通话时长不符",
    "no_consent": "无该号码的同意记录", "consent_after_call": "同意晚于通话", "consent_withdrawn": "同意已撤回",
    "no_handling_record": "无投诉处理记录", "handling_fields_missing": "处理记录字段缺失",
    "promise_broken": "承诺时限未兑现", "recurring_category": "同类投诉连续高发（须整改报告）",
    "certificate_unknown": "证书号不在登记表", "certificate_other_agent": "证书属于他人",
    "certificate_type": "证书类型不符", "certificate_not_valid": "证书不在有效期内",
}
CHECKED_BY = {CONSENT: ("consent", "未提供同意记录（--consent），营销通话的同意未核对"),
              COMPLAINTS: ("complaints", "未提供投诉处理记录（--complaints），投诉未核对"),
              SENSITIVE: ("agents", "未提供坐席资质登记表（--agents），证书未核对")}
SOURCE_CATEGORY = {"records": BASE, "scan": BASE, "consent": CONSENT,
                   "complaints": COMPLAINTS, "agents": SENSITIVE}
ITEMS = {BASE: "通话记录", CONSENT: "营销通话", COMPLAINTS: "投诉通话",
         SENSITIVE: "资质声明", ABNORMAL: "异常发现"}
CSS = """body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px;color:#1f2937}
h1{font-size:22px}h2{font-size:18px;margin-top:28px}.ok{color:#15803d}.bad{color:#b91c1c}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #d1d5db;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f3f4f6}.note{color:#92400e}"""


def _label(flag: dict) -> str:
    if flag["check"] == "scan":
        problem = flag.get("problem")
        return f"扫描：{PROBLEM_LABELS.get(problem, problem)} {flag.get('rule') or ''}".strip()
    return CHECK_NAMES.get(flag["check"], flag["check"])


def readiness(joined, flags: list[dict]) -> list[dict]:
    """Per category: items, the items that will be rejected, reasons with counts, input problems, notes."""
    items = {BASE: len(joined.rows), CONSENT: len(joined.consent_calls),
             COMPLAINTS: len(joined.complaint_calls), SENSITIVE: len(joined.statements),
             ABNORMAL: len(joined.abnormal)}
    out = []
    for category, count in items.items():
        mine = [f for f in flags if category in f["categories"]]
        problems = [p for p in joined.problems if SOURCE_CATEGORY[p["source"]] == category]
        rejected = {(f["call_id"], (f["cdr"] or {}).get("file"), (f["cdr"] or {}).get("row"), f["subject"])
                    for f in mine}
        notes = []
        if category in CHECKED_BY and not joined.checked[CHECKED_BY[category][0]]:
            notes.append(CHECKED_BY[category][1])
        if category == ABNORMAL and joined.abnormal:
            notes.append(f"{len(joined.abnormal)} 条异常通话须附处置说明 / abnormal findings need the center's account")
        out.append({"category": category, "items": count, "item_name": ITEMS[category],
                    "rejected": len(rejected) + len(problems),
                    "reasons": dict(sorted(Counter(_label(f) for f in mine).items())),
                    "flags": [{"label": _label(f), "message": f["message"],
                               "where": ", ".join(x for x in (f["call_id"], _ref(f["cdr"]), _ref(f["row"])) if x)}
                              for f in mine],
                    "problems": [{"where": f"{p['file']}" + (f":{p['row']}" if p["row"] else ""),
                                  "field": p["field"], "value": p["value"], "reason": p["reason"]} for p in problems],
                    "notes": notes,
                    "abnormal": joined.abnormal if category == ABNORMAL else []})
    return out


def _ref(ref: dict | None) -> str:
    return f"{ref['file']}:{ref['row']}" if ref else ""


def _rows(cells: list[list]) -> str:
    return "".join("<tr>" + "".join(f"<td>{escape(str(c) if c is not None else '')}</td>" for c in row) + "</tr>"
                   for row in cells)


def format_page(summary: dict, mask=lambda v: v) -> str:
    """The page; `mask` masks personal numbers when the package is redacted."""
    parts = [f"<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>提交前检查 readiness</title>"
             f"<style>{CSS}</style></head><body><h1>检查材料包：提交前检查 / readiness</h1>"
             f"<p>{summary['recordings']} 段录音，{summary['cdr_rows']} 条合格通话记录。"
             "以下各类材料中会被退回的条目及原因。</p><table><tr><th>类别</th><th>条目</th><th>将被退回</th>"
             "<th>原因</th></tr>"]
    for c in summary["categories"]:
        state = (f'<span class="bad">{c["rejected"]}</span>' if c["rejected"] else '<span class="ok">0</span>')
        reasons = "；".join(f"{escape(k)} ×{v}" for k, v in c["reasons"].items())
        if c["problems"]:
            reasons += ("；" if reasons else "") + f"数据问题 ×{len(c['problems'])}"
        parts.append(f'<tr><td><a href="#{escape(c["category"])}">{escape(c["category"])}</a></td>'
                     f'<td>{c["items"]} {escape(c["item_name"])}</td><td>{state}</td><td>{reasons or "—"}</td></tr>')
    parts.append("</table>")
    if summary["dismissed"]:
        parts.append(f'<p class="note">{len(summary["dismissed"])} 项扫描发现已由复核人员驳回（需复核的经第二人批准），'
                     "不计入退回；见 findings.json 的 dismissed / dismissed by reviewers, not counted.</p>")
    for c in summary["categories"]:
        parts.append(f'<h2 id="{escape(c["category"])}">{escape(c["category"])}</h2>')
        parts += [f'<p class="note">{escape(n)}</p>' for n in c["notes"]]
        if c["abnormal"]:
            parts.append("<table><tr><th>异常通话日报：日期</th><th>检查</th><th>对象</th><th>说明</th><th>记录行</th></tr>"
                         + _rows([[a["day"], a["check"], mask(a["subject"]), mask(a["message"]), ", ".join(a["rows"])]
                                  for a in c["abnormal"]]) + "</table>")
        if not c["flags"] and not c["problems"]:
            parts.append('<p class="ok">未发现会被退回的条目。</p>')
        if c["flags"]:
            parts.append("<table><tr><th>原因</th><th>位置</th><th>说明</th></tr>"
                         + _rows([[f["label"], mask(f["where"]), mask(f["message"])] for f in c["flags"]]) + "</table>")
        if c["problems"]:
            parts.append("<table><tr><th>数据问题：文件:行</th><th>字段</th><th>值</th><th>原因</th></tr>"
                         + _rows([[p["where"], p["field"], mask(p["value"]), p["reason"]] for p in c["problems"]])
                         + "</table>")
    parts.append("<p>MANIFEST.sha256 列出本材料包每个文件的 SHA-256（sha256sum -c MANIFEST.sha256 可复核）。</p>"
                 "</body></html>\n")
    return "".join(parts)
