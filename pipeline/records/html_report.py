"""records.html: a self-contained page of the call-record check (inline CSS and SVG, no script).

Charts: monthly volume with the connect rate, the share of short calls per
month against its threshold, and an hour-of-day by weekday heat map; then the
files read, the coverage gaps, the ratio findings and the daily abnormal-call
report (异常通话日报). It reuses the scan report's stylesheet and links back to
`../report.html` when the folder holds a scan's report.
It draws what the stats and abnormal stages found; it decides no finding.
"""

from __future__ import annotations

import time

from pipeline.core.html_style import CSS, escape

WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日")
BAR, LINE, WARN = "#2563eb", "#cf222e", "#bf8700"
MAX_REPORT_ROWS = 500                 # findings listed on the page; issues.csv has them all
EXTRA_CSS = ".chart{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:8px;margin:8px 0}" \
            ".chart svg{width:100%;height:auto}.chart text{font-size:11px;fill:#656d76}"


def _axis_label(x: float, y: float, text: str, anchor: str = "middle") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'


def bar_chart(labels: list[str], values: list[float], title: str, rate: list[float | None] | None = None,
              limit: float | None = None, percent: bool = False, width: int = 900, height: int = 240) -> str:
    """Bars of `values`; optionally a rate line (0-100 %, right axis) and a dashed threshold line."""
    left, right, top, bottom = 50, 50, 24, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([v for v in values if v is not None] + [limit or 0, 1e-9])
    step = plot_w / max(len(values), 1)
    parts = [f'<svg viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" role="img" '
             f'aria-label="{escape(title)}">', _axis_label(left, 14, title, "start"),
             f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#d0d7de"/>']

    def y(value: float, scale: float) -> float:
        return top + plot_h - value / scale * plot_h

    for i, (label, value) in enumerate(zip(labels, values)):
        x = left + i * step
        v = value or 0
        shown = f"{v:.0%}" if percent else f"{v:,.0f}"
        parts.append(f'<rect x="{x + step * 0.15:.1f}" y="{y(v, peak):.1f}" width="{step * 0.7:.1f}" '
                     f'height="{plot_h - (y(v, peak) - top):.1f}" fill="{BAR}"><title>{escape(label)}: {shown}</title></rect>')
        parts.append(_axis_label(x + step / 2, height - 10, label))
    parts.append(_axis_label(left - 4, top + 8, f"{peak:.0%}" if percent else f"{peak:,.0f}", "end"))
    if limit is not None:
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(limit, peak):.1f}" y2="{y(limit, peak):.1f}" '
                     f'stroke="{WARN}" stroke-dasharray="5 4"><title>threshold {limit:.0%}</title></line>')
    if rate is not None:
        points = " ".join(f"{left + (i + 0.5) * step:.1f},{y(r, 1.0):.1f}" for i, r in enumerate(rate) if r is not None)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{LINE}" stroke-width="2"/>')
        parts.append(_axis_label(left + plot_w + 4, top + 8, "100%", "start"))
        parts.append(_axis_label(left + plot_w + 4, top + plot_h, "0%", "start"))
    parts.append("</svg>")
    return '<div class="chart">' + "".join(parts) + "</div>"


def heat_map(counts: list[list[int]], title: str, width: int = 900) -> str:
    """Weekday (rows, Monday first) by hour of day (columns) call counts, darker = more calls."""
    left, top, cell_w, cell_h = 30, 24, (width - 40) / 24, 22
    height = top + 7 * cell_h + 20
    peak = max(max(row) for row in counts) or 1
    parts = [f'<svg viewBox="0 0 {width} {height:.0f}" xmlns="http://www.w3.org/2000/svg" role="img" '
             f'aria-label="{escape(title)}">', _axis_label(left, 14, title, "start")]
    for d, row in enumerate(counts):
        parts.append(_axis_label(left - 6, top + d * cell_h + 15, f"周{WEEKDAYS[d]}", "end"))
        for h, n in enumerate(row):
            parts.append(f'<rect x="{left + h * cell_w:.1f}" y="{top + d * cell_h:.1f}" width="{cell_w - 1:.1f}" '
                         f'height="{cell_h - 1}" fill="{BAR}" fill-opacity="{0.04 + 0.96 * n / peak:.3f}">'
                         f'<title>周{WEEKDAYS[d]} {h:02d}:00 {n:,}</title></rect>')
    for h in range(0, 24, 2):
        parts.append(_axis_label(left + (h + 0.5) * cell_w, height - 4, f"{h:02d}"))
    parts.append("</svg>")
    return '<div class="chart">' + "".join(parts) + "</div>"


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body or '<tr><td colspan=9>无 / none</td></tr>'}</tbody></table>"


def format_page(summary: dict, months: list[dict], heat: list[list[int]], findings: list[dict],
                scan_report: bool) -> str:
    """The whole page (see the module docstring)."""
    t = summary["thresholds"]
    labels = [m["month"] for m in months]
    charts = (bar_chart(labels, [m["calls"] for m in months], "月度通话量（柱）与接通率（线）/ calls per month, "
                        "connect rate", rate=[m["connect_rate"] for m in months])
              + bar_chart(labels, [m["short_share"] for m in months], f"短时通话占比（接通且 < {t['short_call_s']:g} 秒）"
                          " / short-call share", limit=t["max_short_share"], percent=True)
              + heat_map(heat, "时段分布（星期 × 小时）/ calls by weekday and hour"))
    files = [[s["name"], s["format"], s.get("encoding") or "", s.get("header_row") or "", s["rows"], s["blank_rows"],
              s.get("error") or "; ".join(s.get("notes") or [])] for s in summary["files"]]
    gaps = [[f["check"], f["subject"], f["message"]] for f in findings if f["kind"] == "coverage"]
    ratios = [[f["check"], f["subject"], f["message"]] for f in findings if f["kind"] == "ratio"]
    daily = [[f["day"], f["id"], f["check"], f["subject"], f["message"]] for f in findings if f["kind"] == "abnormal"]
    more = f"<p class=muted>前 {MAX_REPORT_ROWS} 条；全部见 issues.csv / first {MAX_REPORT_ROWS}, all in issues.csv</p>" \
        if len(daily) > MAX_REPORT_ROWS else ""
    back = '<p><a href="../report.html">← 录音检查报告 / recording scan report</a></p>' if scan_report else ""
    counts = summary["counts"]
    cards = "".join(f'<div class="card"><div class="muted">{escape(k)}</div><b>{escape(v)}</b></div>' for k, v in (
        ("期间 period", f"{summary['period'][0]} .. {summary['period'][1]}"), ("记录 rows", f"{counts['rows']:,}"),
        ("不合格 rejected", f"{counts['rejected_rows']:,}"), ("覆盖缺口 gaps", counts["coverage"]),
        ("指标问题 ratio findings", counts["ratio"]), ("异常 abnormal", counts["abnormal"])))
    return ('<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1"><title>基础通话记录检查</title>'
            f'<style>{CSS}{EXTRA_CSS}</style></head><body>{back}<h1>基础通话记录检查 / call-detail records</h1>'
            f'<div class="muted">生成于 {time.strftime("%Y-%m-%d %H:%M:%S")}</div><div class="summary">{cards}</div>'
            f'{charts}<h2>文件 / files</h2>'
            + _table(["文件", "格式", "编码", "表头行", "行数", "空行", "说明"], files)
            + "<h2>覆盖缺口 / coverage gaps</h2>" + _table(["检查", "范围", "说明"], gaps)
            + "<h2>指标问题 / ratio findings</h2>" + _table(["检查", "对象", "说明"], ratios)
            + "<h2>异常通话日报 / daily abnormal-call report</h2>" + more
            + _table(["日期", "编号", "检查", "对象", "说明"], daily[:MAX_REPORT_ROWS])
            + "</body></html>\n")
