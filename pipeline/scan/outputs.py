"""Output stage: write call records and their per-format files to disk.

Every file goes through `core.fileio.write_atomic`: a crash or kill -9 leaves either
the old file or the new one, never half of one. Writers format; they never decide.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from pipeline.core import fileio


def to_json(record: dict) -> str:
    """One compact JSON line; Chinese kept readable rather than \\u-escaped."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def write_call(out_dir: Path, record: dict) -> Path:
    """Write `calls/<call_id>.json` (pretty-printed for people who open one call)."""
    path = out_dir / "calls" / f"{record['call_id']}.json"
    fileio.write_atomic(path, json.dumps(record, ensure_ascii=False, indent=2) + "\n")
    return path


def write_report(out_dir: Path, records: list[dict]) -> Path:
    """Write `report.jsonl`, one record per line, sorted by file for stable diffs."""
    path = out_dir / "report.jsonl"
    lines = (to_json(r) + "\n" for r in sorted(records, key=lambda r: r["file"]))
    fileio.write_atomic(path, "".join(lines))
    return path


# -- per-call annotation files -------------------------------------------------------
# One small writer per format, each turning a record into the text of one file
# next to calls/<call_id>.json. `write_call_files` writes them all.

SPEAKERS_STEREO = {0: "坐席", 1: "客户"}
SPEAKER_MONO = "通话"
ROLE_NAMES = {"agent": "坐席", "customer": "客户"}
NOT_CREDITED_NAMES = {"agent": "坐席所说", "customer": "客户所说", "question": "问句", "negated": "否定",
                      "quoted": "引述", "excepted": "有例外说明"}
PROBLEM_LABELS = {"missing": "缺失", "late": "过晚", "too_fast": "语速过快", "inaudible": "听不清", "splice": "疑似拼接",
                  "needs_review": "待复核", "long_silence": "长时间静音", "integrity": "疑似篡改",
                  "prohibited": "违规话术"}


def clock(seconds: float, millis: bool = False, round_up: bool = False) -> str:
    """00:01:15, or 00:01:15.200 with `millis`: the times people read on sheets and in players.

    Whole seconds round down, or up with `round_up`, so a sheet's `start-end`
    range always covers the statement.
    """
    if millis:
        ms = max(0, int(round(float(seconds) * 1000)))
        h, rest = divmod(ms, 3_600_000)
        m, rest = divmod(rest, 60_000)
        return f"{h:02d}:{m:02d}:{rest // 1000:02d}.{rest % 1000:03d}"
    whole = max(0, math.ceil(seconds) if round_up else math.floor(seconds))
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def annotation_sheet(annotations: list[dict]) -> str:
    """The plain annotation sheet: one `00:01:15-00:01:20 风险告知` line per statement, in time order."""
    ordered = sorted(annotations, key=lambda a: (a["start"], a["end"]))
    return "".join(f"{clock(a['start'])}-{clock(a['end'], round_up=True)} {annotation_label(a)}\n" for a in ordered)


def annotation_label(annotation: dict) -> str:
    """The statement's label; one that is not credited says so and why (风险告知（未计入：客户所说、问句）).

    Sheets, label tracks and the report show every annotation, so a customer's
    question must not read like the disclosure itself.
    """
    label = annotation.get("label") or annotation.get("rule") or ""
    if annotation.get("credited", True):
        return label
    why = "、".join(NOT_CREDITED_NAMES.get(r, r) for r in annotation.get("not_credited", []))
    return f"{label}（未计入：{why}）"


def rule_labels(record: dict) -> dict[str, str]:
    """rule id -> Chinese label, as far as the record's annotations tell."""
    return {a["rule"]: a.get("label") or a["rule"] for a in record.get("annotations", []) if a.get("rule")}


def speaker(record: dict, channel: int | None, role: str | None = None) -> str:
    """Who speaks: stereo by channel (the roles stage's agent channel decides; left is the agent without
    it); mono by the segment's `role` from the split (通话 where it stayed unknown)."""
    channels = ((record.get("recording") or {}).get("channels")) or 1
    agent = (record.get("roles") or {}).get("agent_channel")
    if channels >= 2 and agent is not None:
        return ROLE_NAMES["agent" if channel == agent else "customer"]
    if channels >= 2:
        return SPEAKERS_STEREO.get(channel, f"声道{channel}")
    return ROLE_NAMES.get(role, SPEAKER_MONO)


def speaker_confidence(record: dict) -> str:
    """The roles' confidence for a reader: "说话人置信度 0.86 (单声道分离 mono split)", or "" without one."""
    roles = record.get("roles") or {}
    if roles.get("confidence") is None:
        return ""
    how = {"metadata": "元数据 metadata", "option": "参数 option", "inferred": "按声道 by channel",
           "split+cues": "单声道分离 mono split"}.get(roles.get("method"), roles.get("method"))
    return f"说话人置信度 speaker confidence {roles['confidence']:.2f} ({how})"


class Writer:
    """Turns a record into the text of calls/<call_id><suffix>."""

    suffix = ""

    def format(self, record: dict) -> str:
        raise NotImplementedError

    def path(self, out_dir: Path, record: dict) -> Path:
        return out_dir / "calls" / f"{record['call_id']}{self.suffix}"

    def write(self, out_dir: Path, record: dict) -> Path:
        path = self.path(out_dir, record)
        fileio.write_atomic(path, self.format(record))
        return path


class LabelTrackWriter(Writer):
    """Audacity label track: `start<TAB>end<TAB>label`, seconds with 6 decimals.

    Located statements carry their label as is; flags with a time range and
    splices (point labels) are prefixed with `[问题]` so they stand apart.
    """

    suffix = ".labels.txt"

    def format(self, record: dict) -> str:
        rows = [(a["start"], a["end"], annotation_label(a)) for a in record.get("annotations", [])]
        labels = rule_labels(record)
        for f in record.get("flags", []):
            if f.get("start") is None or f.get("end") is None or f.get("problem") == "splice":
                continue
            what = PROBLEM_LABELS.get(f["problem"], f["problem"])
            rows.append((f["start"], f["end"], f"[问题] {what} {labels.get(f.get('rule'), f.get('rule') or '')}".strip()))
        for s in record.get("splices", []):
            rows.append((s["time"], s["time"], f"[问题] {PROBLEM_LABELS['splice']}"))
        rows.sort(key=lambda r: (r[0], r[1]))
        return "".join(f"{s:.6f}\t{e:.6f}\t{_one_line(text)}\n" for s, e, text in rows)


def parse_label_track(text: str) -> list[tuple[float, float, str]]:
    """Read an Audacity label track back (frequency lines starting with '\\' are skipped)."""
    rows = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("\\"):
            continue
        start, end, *label = line.split("\t")
        rows.append((float(start), float(end), label[0] if label else ""))
    return rows


class VttWriter(Writer):
    """WebVTT transcript, one cue per segment with its speaker: <v 坐席>/<v 客户>, mono <v 通话>."""

    suffix = ".vtt"

    def format(self, record: dict) -> str:
        cues = ["WEBVTT", ""]
        segments = sorted(record.get("segments", []), key=lambda s: (s["start"], s.get("channel") or 0))
        for n, seg in enumerate(segments, 1):
            end = max(seg["end"], seg["start"] + 0.001)
            text = _vtt_escape(_one_line(seg.get("text", "")))
            cues += [str(n), f"{clock(seg['start'], True)} --> {clock(end, True)}",
                     f"<v {speaker(record, seg.get('channel'), seg.get('speaker'))}>{text}", ""]
        return "\n".join(cues)


class SheetWriter(Writer):
    """The plain annotation sheet regulators ask for."""

    suffix = ".sheet.txt"

    def format(self, record: dict) -> str:
        return annotation_sheet(record.get("annotations", []))


CALL_WRITERS: tuple[Writer, ...] = (LabelTrackWriter(), VttWriter(), SheetWriter())


def write_call_files(out_dir: Path, record: dict) -> list[Path]:
    """calls/<call_id>.json plus its label track, WebVTT and annotation sheet.

    The JSON is written last: a call whose JSON is there has all its files.
    """
    paths = [w.write(out_dir, record) for w in CALL_WRITERS]
    paths.append(write_call(out_dir, record))
    return paths


def remove_call_files(out_dir: Path, call_id: str) -> None:
    """Delete a call's files (a call that left the archive)."""
    for suffix in [".json"] + [w.suffix for w in CALL_WRITERS]:
        (out_dir / "calls" / f"{call_id}{suffix}").unlink(missing_ok=True)


def remove_stale_temp(out_dir: Path) -> int:
    """Remove temporary files a killed run left behind (`.name.XXXX.tmp`, `.clip.XXXX.tmp.wav`)."""
    count = 0
    if out_dir.exists():
        for path in out_dir.rglob(".*.tmp*"):
            if path.is_file() and ".tmp" in path.name:
                path.unlink(missing_ok=True)
                count += 1
    return count


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("-->", "--&gt;")
