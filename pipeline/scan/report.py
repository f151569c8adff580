"""Archive report: report.jsonl, report.csv and one self-contained report.html.

All three are regenerated from the catalog (pipeline.core.catalog) at the end of every
scan and by `callaudit report DIR`. The HTML page has no external resource (inline
CSS, JS and SVG; system CJK fonts): summary counts by flag problem and by rule, then
for each flagged call a waveform (min/max peak envelope of the decoded recording,
per channel) with the located statements and flagged regions marked, a player for
each clip, and the transcript. Clip players use relative `clips/...` paths, so the
folder can be moved or zipped as a whole.

Review decisions made in `callaudit serve` (pipeline.core.review_store) show as each
flag's state; a flag whose dismissal is in effect is no longer counted as a problem.
It formats records from the catalog; it never re-runs a check.
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from pathlib import Path

import numpy as np

from pipeline.core import fileio, review_store
from pipeline.core.errors import InputError
from pipeline.core.html_style import CSS, escape
from pipeline.integrity import custody, verdict
from pipeline.scan import decode, outputs

PEAK_POINTS = 800
PEAK_RATE = 8_000
WAVE_COLOUR = "#2563eb"
CSV_COLUMNS = ("file", "call_id", "status", "error", "type", "industry", "duration_s", "statements", "flags",
               "integrity",
               "agent_talk_s", "customer_talk_s", "agent_talk_ratio", "longest_silence_s", "total_silence_s",
               "overtalk_count", "overtalk_s", "agent_interruptions", "open_flags", "review")
STATE_LABELS = {"open": "待处理", "confirmed": "已确认", "second_look": "需复听", "dismiss_pending": "排除待审批",
                "dismissed": "已排除"}


# -- peaks ---------------------------------------------------------------------------
def peak_envelope(samples: np.ndarray, points: int = PEAK_POINTS) -> list[list[list[float]]]:
    """Per channel, `points` [min, max] pairs over equal slices of the signal."""
    samples = np.atleast_2d(samples)
    n = samples.shape[1]
    out = []
    for channel in samples:
        if n == 0:
            out.append([[0.0, 0.0]] * points)
            continue
        edges = np.linspace(0, n, points + 1).astype(int)
        edges[1:] = np.maximum(edges[1:], edges[:-1] + 1)
        edges = np.minimum(edges, n)
        pairs = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            piece = channel[lo:max(hi, lo + 1)] if lo < n else channel[n - 1:]
            pairs.append([round(float(piece.min()), 4), round(float(piece.max()), 4)])
        out.append(pairs)
    return out


def recording_peaks(path: str, points: int = PEAK_POINTS) -> list | None:
    """The peak envelope of a recording on disk, None when it cannot be decoded."""
    try:
        audio = decode.decode(path, sample_rate=PEAK_RATE)
    except (InputError, OSError):
        return None
    return peak_envelope(audio.samples, points)


# -- CSV -----------------------------------------------------------------------------
def conversation_columns(metrics: dict | None) -> dict:
    """The call's conversation metrics as CSV cells; empty when not measured (errors, mono overtalk)."""
    metrics = metrics or {}
    talk = metrics.get("talk_s") or {}
    cells = {"agent_talk_s": talk.get("agent"), "customer_talk_s": talk.get("customer")}
    cells.update({key: metrics.get(key) for key in ("agent_talk_ratio", "longest_silence_s", "total_silence_s",
                                                     "overtalk_count", "overtalk_s", "agent_interruptions")})
    return {key: "" if value is None else value for key, value in cells.items()}


def flag_state(record: dict, flag: dict, states: dict[str, str] | None) -> str:
    """A flag's review state (review_store.STATES); `open` without decisions."""
    return (states or {}).get(review_store.flag_id(record["call_id"], flag), "open")


def csv_rows(records: list[dict], states: dict[str, str] | None = None) -> list[dict]:
    """One row per call; `states` (flag_id -> review state) fills open_flags and review."""
    rows = []
    for r in records:
        call = r.get("call") or {}
        labels = []
        for a in r.get("annotations", []):
            label = a.get("label") or a.get("rule")
            if a.get("credited", True) and label not in labels:
                labels.append(label)
        rows.append({
            "file": r["file"], "call_id": r["call_id"], "status": r["status"],
            "error": (r.get("error") or {}).get("code", ""),
            "type": call.get("type") or "", "industry": call.get("industry") or "",
            "duration_s": (r.get("recording") or {}).get("duration_s", ""),
            "statements": ";".join(labels),
            "flags": ";".join(f"{f['problem']}:{f.get('rule') or '-'}" for f in r.get("flags", [])),
            "integrity": verdict.summary(r.get("integrity")),
            **conversation_columns(r.get("conversation")),
            "open_flags": sum(review_store.is_open(flag_state(r, f, states)) for f in r.get("flags", [])),
            "review": ";".join(f"{f['problem']}:{f.get('rule') or '-'}={flag_state(r, f, states)}"
                               for f in r.get("flags", [])),
        })
    return rows


def format_csv(records: list[dict], states: dict[str, str] | None = None) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(csv_rows(records, states))
    return buf.getvalue()


def write_csv(out_dir: Path, records: list[dict], states: dict[str, str] | None = None) -> Path:
    """report.csv, UTF-8 with BOM so spreadsheet programs show the Chinese."""
    path = out_dir / "report.csv"
    fileio.write_atomic(path, "\ufeff" + format_csv(records, states))
    return path


# -- HTML ----------------------------------------------------------------------------
JS = """
document.addEventListener('click', function (ev) {
  var el = ev.target.closest('[data-clip]');
  if (!el) return;
  var audio = document.getElementById(el.getAttribute('data-clip'));
  if (!audio) return;
  document.querySelectorAll('.clip.playing').forEach(function (c) { c.classList.remove('playing'); });
  audio.parentElement.classList.add('playing');
  audio.scrollIntoView({block: 'nearest'});
  var p = audio.play(); if (p && p.catch) p.catch(function () {});
});
var filter = document.getElementById('filter');
if (filter) filter.addEventListener('input', function () {
  var q = filter.value.toLowerCase();
  document.querySelectorAll('#calls tbody tr').forEach(function (tr) {
    tr.style.display = tr.textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
  });
});
"""


def _span(start, end) -> str:
    if start is None:
        return ""
    if end is None or end == start:
        return outputs.clock(start)
    return f"{outputs.clock(start)}–{outputs.clock(end, round_up=True)}"  # the range covers the span


def waveform_svg(record: dict, peaks: list | None, clip_ids: dict[int, str], width: int = 1000) -> str:
    """Inline SVG: one lane per channel, envelope plus statement/flag/splice marks with labels."""
    info = record.get("recording") or {}
    duration = float(info.get("duration_s") or 0.0) or 1.0
    channels = max(1, len(peaks) if peaks else int(info.get("channels") or 1))
    lane, top, band, axis = 90, 30, 28, 18   # statement labels above the lanes, flag labels below
    height = top + lane * channels + band + axis

    def x(t: float) -> float:
        return round(min(max(t, 0.0), duration) / duration * width, 1)

    def lane_y(ch) -> tuple[float, float]:
        c = 0 if ch is None or channels == 1 else min(int(ch), channels - 1)
        return top + c * lane, lane

    parts = [f'<svg class="wave" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="waveform {escape(record["file"])}" xmlns="http://www.w3.org/2000/svg">']
    for c in range(channels):
        y0 = top + c * lane
        parts.append(f'<line x1="0" x2="{width}" y1="{y0 + lane / 2}" y2="{y0 + lane / 2}" stroke="#d0d7de"/>')
        if channels > 1:
            parts.append(f'<text class="ax" x="4" y="{y0 + 12}">{escape(outputs.speaker(record, c))}</text>')
    if peaks:
        for c, pairs in enumerate(peaks):
            y0, mid, half = top + c * lane, top + c * lane + lane / 2, lane / 2 - 4
            n = len(pairs)
            upper = [f"{i * width / max(n - 1, 1):.1f},{mid - max(p[1], 0.004) * half:.1f}" for i, p in enumerate(pairs)]
            lower = [f"{i * width / max(n - 1, 1):.1f},{mid - min(p[0], -0.004) * half:.1f}"
                     for i, p in reversed(list(enumerate(pairs)))]
            parts.append(f'<polygon points="{" ".join(upper + lower)}" fill="{WAVE_COLOUR}" stroke="none"/>')
    else:
        parts.append(f'<text class="ax" x="{width / 2}" y="{top + lane / 2}" text-anchor="middle">'
                     '波形不可用（找不到录音）/ waveform unavailable</text>')
    labels = outputs.rule_labels(record)
    row = 0
    for i, a in enumerate(record.get("annotations", [])):
        y0, h = lane_y(a.get("channel"))
        clip = clip_ids.get(i)
        attr = f' data-clip="{clip}"' if clip else ""
        parts.append(f'<rect class="stmt" x="{x(a["start"])}" y="{y0 + 1}" width="{max(x(a["end"]) - x(a["start"]), 2)}" '
                     f'height="{h - 2}"{attr}><title>{escape(a.get("label"))} {_span(a["start"], a["end"])} '
                     f'{escape(a.get("text"))}</title></rect>')
        parts.append(f'<text class="lt" x="{x(a["start"]) + 2}" y="{11 + 12 * (row % 2)}"{attr}>{escape(a.get("label"))}</text>')
        row += 1
    row = 0
    for f in record.get("flags", []):
        if f.get("start") is None or f.get("problem") == "splice":
            continue
        end = f.get("end") if f.get("end") is not None else f["start"]
        y0, h = lane_y(f.get("channel"))
        what = f"{outputs.PROBLEM_LABELS.get(f['problem'], f['problem'])} {labels.get(f.get('rule'), f.get('rule') or '')}"
        parts.append(f'<rect class="flag" x="{x(f["start"])}" y="{y0 + 1}" width="{max(x(end) - x(f["start"]), 2)}" '
                     f'height="{h - 2}"><title>{escape(what)} {escape(f.get("message"))}</title></rect>')
        parts.append(f'<text class="lf" x="{x(f["start"]) + 2}" y="{top + lane * channels + 11 + 12 * (row % 2)}">'
                     f'{escape(what)}</text>')
        row += 1
    for s in record.get("splices", []):
        parts.append(f'<line x1="{x(s["time"])}" x2="{x(s["time"])}" y1="{top}" y2="{top + lane * channels}" '
                     f'stroke="#cf222e" stroke-width="2" stroke-dasharray="5 3"/>')
        parts.append(f'<text class="lf" x="{x(s["time"]) + 3}" y="{top + 12}">疑似拼接 {s.get("score", "")}</text>')
    step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200) if duration / s <= 12), 1800)
    t = 0
    while t <= duration:
        parts.append(f'<text class="ax" x="{min(x(t) + 2, width - 40)}" y="{height - 4}">{outputs.clock(t)}</text>')
        parts.append(f'<line x1="{x(t)}" x2="{x(t)}" y1="{height - axis}" y2="{height - axis + 4}" stroke="#8c959f"/>')
        t += step
    parts.append("</svg>")
    return "".join(parts)


def _flag_badges(record: dict, states: dict[str, str] | None) -> str:
    labels = outputs.rule_labels(record)
    out = []
    for f in record.get("flags", []):
        rule = labels.get(f.get("rule"), f.get("rule") or "")
        title = escape(f.get("message"))
        state = flag_state(record, f, states)
        mark = "" if state == "open" else f" · {STATE_LABELS[state]}"
        out.append(f'<span class="badge {state}" title="{title}">{escape(f["problem"])}: {escape(rule)} '
                   f'{_span(f.get("start"), f.get("end"))}{mark}</span>')
    return "".join(out)


def _call_section(record: dict, peaks: list | None, states: dict[str, str] | None) -> str:
    cid = record["call_id"]
    call = record.get("call") or {}
    info = record.get("recording") or {}
    clip_ids, clips_html = {}, []
    for i, a in enumerate(record.get("annotations", [])):
        if a.get("clip"):
            clip_ids[i] = f"clip-{cid}-a{i}"
            clips_html.append(f'<div class="clip"><span>{escape(outputs.annotation_label(a))} {_span(a["start"], a["end"])}</span>'
                              f'<audio id="{clip_ids[i]}" controls preload="none" src="{escape(a["clip"])}"></audio></div>')
    for j, s in enumerate(record.get("splices", [])):
        if s.get("clip"):
            clips_html.append(f'<div class="clip"><span>疑似拼接 {_span(s["time"], None)}</span>'
                              f'<audio id="clip-{cid}-s{j}" controls preload="none" src="{escape(s["clip"])}"></audio></div>')
    rows = []
    for seg in sorted(record.get("segments", []), key=lambda s: (s["start"], s.get("channel") or 0)):
        hit = [outputs.annotation_label(a) for a in record.get("annotations", [])
               if a["start"] < seg["end"] and a["end"] > seg["start"] and a.get("channel") in (None, seg.get("channel"))]
        cls = ' class="hit"' if hit else ""
        rows.append(f'<tr{cls}><td>{_span(seg["start"], seg["end"])}</td><td>{escape(outputs.speaker(record, seg.get("channel"), seg.get("speaker")))}'
                    f'</td><td>{escape(seg.get("text"))}</td><td>{escape("、".join(dict.fromkeys(hit)))}</td></tr>')
    return (f'<article class="call" id="call-{escape(cid)}"><h2>{escape(record["file"])}</h2>'
            f'<div class="muted">call_id {escape(cid)} · {escape(call.get("type"))} / {escape(call.get("industry"))} '
            f'({escape(call.get("source"))}) · {escape(info.get("duration_s"))} s · {escape(info.get("codec"))} '
            f'{escape(info.get("sample_rate"))} Hz × {escape(info.get("channels"))}</div>'
            f'<div>{_flag_badges(record, states)}</div>{waveform_svg(record, peaks, clip_ids)}'
            + (f'<h3>片段 / clips</h3><div class="clips">{"".join(clips_html)}</div>' if clips_html else "")
            + '<h3>转写 / transcript</h3><table class="transcript"><thead><tr><th>时间</th><th>说话人</th>'
              f'<th>内容</th><th>话术</th></tr></thead><tbody>{"".join(rows)}</tbody></table></article>')


def format_html(records: list[dict], peaks: dict[str, list | None], title: str = "callaudit 合规报告",
                records_page: bool = False, states: dict[str, str] | None = None,
                removed: list[dict] | None = None) -> str:
    """The whole report page; `peaks` maps call_id to its envelope (flagged calls).

    `records_page`: the folder also holds `callaudit records` output, linked from the header.
    `states`: review states by flag_id; problems count only flags not dismissed.
    `removed`: recordings the custody ledger says vanished (custody.removed_recordings).
    """
    flagged = [r for r in records if r.get("flags")]
    errors = [r for r in records if r["status"] == "error"]
    open_flags = {r["call_id"]: [f for f in r.get("flags", []) if review_store.is_open(flag_state(r, f, states))]
                  for r in records}
    by_problem = Counter(f["problem"] for r in records for f in open_flags[r["call_id"]])
    dismissed = Counter(f["problem"] for r in records for f in r.get("flags", []) if f not in open_flags[r["call_id"]])
    calls_by_problem = Counter(p for r in records for p in {f["problem"] for f in open_flags[r["call_id"]]})
    open_calls = sum(1 for r in records if open_flags[r["call_id"]])
    found = Counter(a.get("rule") for r in records for a in r.get("annotations", []))
    flagged_rule = Counter(f.get("rule") or "-" for r in records for f in r.get("flags", []))
    labels: dict[str, str] = {}
    for r in records:
        labels.update(outputs.rule_labels(r))
    problem_rows = "".join(f'<tr><td>{escape(p)} {escape(outputs.PROBLEM_LABELS.get(p, ""))}</td>'
                           f'<td class="num">{by_problem[p]}</td><td class="num">{calls_by_problem[p]}</td>'
                           f'<td class="num">{dismissed[p]}</td></tr>' for p in sorted(by_problem | dismissed))
    labels.setdefault("-", "（无规则：拼接等）")
    rule_rows = "".join(f'<tr><td>{escape(rule)}</td><td>{escape(labels.get(rule, ""))}</td><td class="num">{found.get(rule, 0)}</td>'
                        f'<td class="num">{flagged_rule.get(rule, 0)}</td></tr>'
                        for rule in sorted(set(found) | set(flagged_rule), key=str))
    call_rows = []
    for row, r in zip(csv_rows(records, states), records):
        name = (f'<a href="#call-{escape(r["call_id"])}">{escape(r["file"])}</a>' if r.get("flags") else escape(r["file"]))
        call_rows.append(f'<tr><td>{name}</td><td>{escape(r["status"])} {escape(row["error"])}</td><td>{escape(row["type"])}</td>'
                         f'<td>{escape(row["industry"])}</td><td class="num">{escape(row["duration_s"])}</td>'
                         f'<td>{escape(row["statements"])}</td><td>{escape(row["review"])}</td>'
                         f'<td>{escape(row["integrity"])}</td></tr>')
    error_items = "".join(f'<li>{escape(r["file"])}: {escape((r.get("error") or {}).get("code"))} — '
                          f'{escape((r.get("error") or {}).get("message"))}</li>' for r in errors)
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<title>{escape(title)}</title><style>{CSS}</style></head><body>'
        f'<h1>{escape(title)}</h1><div class="muted">生成于 {generated} · {len(records)} 通录音 · '
        f'{open_calls} 通有问题 · {len(errors)} 通无法处理</div>'
        + ('<p><a href="records/records.html">基础通话记录检查 / call-detail record check →</a></p>'
           if records_page else "")
        + '<div class="summary"><div class="card"><h3>按问题 / by problem</h3><table><thead><tr><th>问题</th>'
        '<th>次数</th><th>通话</th><th>已排除</th></tr></thead>'
        f'<tbody>{problem_rows or "<tr><td colspan=4>无 / none</td></tr>"}'
        '</tbody></table></div><div class="card"><h3>按规则 / by rule</h3><table><thead><tr><th>规则</th><th>名称</th>'
        f'<th>找到</th><th>标记</th></tr></thead><tbody>{rule_rows or "<tr><td colspan=4>无 / none</td></tr>"}</tbody>'
        '</table></div></div>'
        f'<section><h2>有问题的通话 / flagged calls ({len(flagged)})</h2>'
        + "".join(_call_section(r, peaks.get(r["call_id"]), states) for r in flagged)
        + '</section><section><h2>全部通话 / all calls</h2>'
        '<input type="search" id="filter" placeholder="筛选 / filter"><table id="calls"><thead><tr><th>文件</th>'
        '<th>状态</th><th>类型</th><th>行业</th><th>时长 s</th><th>话术</th><th>问题</th><th>完整性</th></tr></thead>'
        f'<tbody>{"".join(call_rows)}</tbody></table></section>'
        + (f'<section><h2>无法处理 / errors</h2><ul>{error_items}</ul></section>' if errors else "")
        + (f'<section><h2>已删除的录音 / recordings removed since first seen ({len(removed)})</h2><ul>'
           + "".join(f'<li>{escape(r["path"])} · call_id {escape(r["call_id"])} · sha256 {escape(r["sha256"])} · '
                     f'自 {escape(r["missing_since"])} 起缺失（保管链第 {escape(r["entry"])} 条）</li>' for r in removed)
           + '</ul></section>' if removed else "")
        + f'<script>{JS}</script></body></html>\n'
    )


def write_html(out_dir: Path, records: list[dict], peaks: dict[str, list | None],
               states: dict[str, str] | None = None) -> Path:
    path = out_dir / "report.html"
    fileio.write_atomic(path, format_html(records, peaks, states=states,
                                           records_page=(out_dir / "records" / "records.html").is_file(),
                                           removed=custody.removed_recordings(out_dir)))
    return path


def write_reports(out_dir: Path, catalog, points: int = PEAK_POINTS) -> list[dict]:
    """Regenerate report.jsonl, report.csv and report.html from the catalog; returns the records."""
    records = catalog.records()
    sources = catalog.sources()
    peaks = {r["call_id"]: call_peaks(catalog, r, sources.get(r["call_id"]), points)
             for r in records if r.get("flags") and r["status"] == "ok"}
    states = review_store.flag_states(records, review_store.current_decisions(catalog.db))
    outputs.write_report(out_dir, records)
    write_csv(out_dir, records, states)
    write_html(out_dir, records, peaks, states)
    return records


def call_peaks(catalog, record: dict, source: str | None, points: int = PEAK_POINTS) -> list | None:
    """A call's waveform envelope: from the catalog's cache, else decoded (and cached); None when
    the recording is gone or has changed since its scan (its waveform would not match)."""
    sha = (record.get("recording") or {}).get("sha256")
    cached = catalog.get_peaks(sha, points)
    if cached is None and source and Path(source).exists():
        if sha and fileio.file_sha256(source) != sha:
            return None
        cached = recording_peaks(source, points)
        if cached is not None:
            catalog.put_peaks(sha, points, cached)
    return cached


def flagged_lines(records: list[dict], problem: str | None = None, rule: str | None = None) -> list[str]:
    """`callaudit flags`: one line per flag: file, call_id, problem, rule, time range (tab-separated)."""
    lines = []
    for r in records:
        for f in r.get("flags", []):
            if (problem and f["problem"] != problem) or (rule and f.get("rule") != rule):
                continue
            span = "-" if f.get("start") is None else \
                f"{outputs.clock(f['start'])}-{outputs.clock(f['end'] if f.get('end') is not None else f['start'], round_up=True)}"
            lines.append("\t".join([r["file"], r["call_id"], f["problem"], f.get("rule") or "-", span]))
    return lines

