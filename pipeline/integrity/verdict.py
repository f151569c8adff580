"""The integrity verdict: one `integrity` object per record from the layers that were checked.

Each layer says what it found, what that proves and what it cannot (schema.IntegrityLayer):
custody (pipeline.integrity.custody), format against the archive's population
(pipeline.integrity.population), the waveform splice detectors (the record's
`splices`), and in the package only, duration against the call-detail record. The
verdict is the worst of them: `modified_after_capture` (custody saw other bytes
first), `suspect` (a format outlier or a waveform splice), `intact_as_far_as_checked`
(no layer found anything: a statement about these layers, never proof the
recording is unedited), `not_checked` (no layer could look).

Anything suspect other than a waveform splice (those stay `splice` flags with a
time) becomes a flag with problem `integrity`. Plain functions over plain data:
nothing here reads files or the ledger.
"""

from __future__ import annotations

from pipeline.core import schema

VERDICT_LABELS = {"intact_as_far_as_checked": "未见篡改（仅限已查各层）", "suspect": "疑似篡改",
                  "modified_after_capture": "首次扫描后被修改", "not_checked": "未检查"}
LAYER_LABELS = {"custody": "保管链", "format": "格式", "waveform": "波形", "duration": "时长对账"}

PROVES = {  # what a result shows, per layer: when it passes, and when it finds something
    "custody": {"pass": "the bytes are those a scan first saw (ledger entry first_seen_entry, hash-chained)",
                "modified": "the file was changed after a scan first saw it (both fingerprints and dates)"},
    "format": {"pass": "the file's format matches the signature its siblings from the same source share",
               "suspect": "the file was written differently from its siblings: another tool or other settings"},
    "waveform": {"pass": "no splice point found by the G.711-grid, pause-step and ENF detectors",
                 "suspect": "a discontinuity in the signal at the times given: listen there"},
    "duration": {"pass": "the recording lasts as long as the call-detail record says the call did",
                 "suspect": "the recording is shorter or longer than the call: something was cut or added"},
}
CANNOT = {
    "custody": "anything about the file before it was first seen: an edit made before the first scan passes",
    "format": "an edit re-encoded by the call system's own encoder with its own settings looks like its siblings",
    "waveform": "cuts in lossy audio (MP3, GSM, AMR, Opus) are mostly invisible to it: 0 of 27 hard cuts "
                "found in real speech; a pass proves little",
    "duration": "a cut shorter than the tolerance, or an edit that keeps the length (an insert with a cut)",
}


def _layer(name: str, result: str, evidence: dict) -> schema.IntegrityLayer:
    return {"layer": name, "result": result, "proves": PROVES[name].get(result, ""),
            "cannot": CANNOT[name], "evidence": evidence}


def custody_layer(evidence: dict) -> schema.IntegrityLayer:
    """From custody.evidence(): modified when the bytes differ from those first seen."""
    if not evidence.get("checked"):
        return _layer("custody", "not_checked", {})
    modified = evidence.get("modified_after_capture")
    facts = {"first_seen_entry": evidence["first_seen_entry"]}
    if modified:
        facts.update(first_seen_at=modified["first"]["seen_at"], modified_entries=modified["entries"])
    return _layer("custody", "modified" if modified else "pass", facts)


def format_layer(signature: dict | None, differences: list[dict] | None) -> schema.IntegrityLayer:
    """`differences`: the population's outlier fields for this recording (None: too few siblings to have a norm)."""
    if not signature:
        return _layer("format", "not_checked", {})
    if differences is None:
        return _layer("format", "not_checked", {"reason": "fewer than 6 recordings from this source and period: "
                                                          "no norm to compare with"})
    return _layer("format", "suspect" if differences else "pass", {"differences": differences})


def waveform_layer(record: dict) -> schema.IntegrityLayer:
    """The splice detectors ran on every decoded recording; their finds are the record's `splices`."""
    if record.get("status") != "ok":
        return _layer("waveform", "not_checked", {})
    found = [{"time": s["time"], "score": s["score"], "detectors": s["detectors"]} for s in record.get("splices", [])]
    return _layer("waveform", "suspect" if found else "pass", {"splices": found})


def duration_layer(mismatches: list[str] | None) -> schema.IntegrityLayer:
    """Package only: the duration_mismatch messages of this recording (None: it has no CDR row)."""
    if mismatches is None:
        return _layer("duration", "not_checked", {})
    return _layer("duration", "suspect" if mismatches else "pass", {"mismatches": mismatches})


def combine(layers: list[schema.IntegrityLayer], modified: dict | None) -> schema.Integrity:
    """The verdict is the worst layer's; `intact_as_far_as_checked` only names the layers that looked."""
    results = {layer["result"] for layer in layers}
    checked = [layer["layer"] for layer in layers if layer["result"] != "not_checked"]
    verdict = ("modified_after_capture" if "modified" in results else "suspect" if "suspect" in results
               else "intact_as_far_as_checked" if checked else "not_checked")
    return {"verdict": verdict, "layers_checked": checked, "layers": layers, "modified_after_capture": modified}


def integrity(record: dict, custody_evidence: dict, differences: list[dict] | None) -> schema.Integrity:
    """The record's verdict from custody, format and waveform (duration is added by the package)."""
    layers = [custody_layer(custody_evidence), format_layer(record.get("format"), differences),
              waveform_layer(record)]
    return combine(layers, custody_evidence.get("modified_after_capture"))


def flags(found: schema.Integrity) -> list[schema.Flag]:
    """The `integrity` flags of a verdict: one for a modification after capture, one for a format outlier."""
    out: list[schema.Flag] = []
    modified = found["modified_after_capture"]
    if modified:
        what = "音频内容已变" if modified["audio_changed"] else \
            "仅文件头/标签变化，音频相同" if modified["audio_changed"] is False else "音频是否变化未知"
        out.append({"problem": "integrity", "rule": "modified_after_capture", "start": None, "end": None,
                    "channel": None, "message": f"首次扫描（{modified['first']['seen_at']}）后文件被修改：sha256 "
                                                f"{modified['first']['sha256'][:12]}… → {modified['current']['sha256'][:12]}…，"
                                                f"{what}"})
    for layer in found["layers"]:
        if layer["layer"] == "format" and layer["result"] == "suspect":
            out.append({"problem": "integrity", "rule": "format_outlier", "start": None, "end": None, "channel": None,
                        "message": "格式与同源录音不同：" + "；".join(describe(d) for d in layer["evidence"]["differences"])})
    return out


def describe(difference: dict) -> str:
    """One outlier field as people read it: field value (norm: N of M siblings)."""
    share = difference.get("siblings_sharing")
    of = difference.get("siblings")
    tail = f"，{share}/{of} 同源录音为此" if share is not None and of is not None else ""
    return f"{difference.get('field')}={difference.get('value')!r}（常见 {difference.get('norm')!r}{tail}）"


def apply(record: dict, found: schema.Integrity) -> bool:
    """Put the verdict and its flags on the record (replacing earlier ones); True when the record changed."""
    kept = [f for f in record.get("flags", []) if f["problem"] != "integrity"]
    new_flags = kept + flags(found)
    if record.get("integrity") == found and record.get("flags") == new_flags:
        return False
    record["integrity"] = found
    record["flags"] = new_flags
    return True


def summary(found: schema.Integrity | None) -> str:
    """One line for a table cell: the verdict's label, the layers checked and what was suspect."""
    if not found:
        return VERDICT_LABELS["not_checked"]
    checked = "、".join(LAYER_LABELS[n] for n in found["layers_checked"]) or "无"
    suspect = [f"{LAYER_LABELS[layer['layer']]}: " + _evidence_text(layer) for layer in found["layers"]
               if layer["result"] in ("suspect", "modified")]
    return f"{VERDICT_LABELS[found['verdict']]}（已查：{checked}）" + ("；" + "；".join(suspect) if suspect else "")


def _evidence_text(layer: schema.IntegrityLayer) -> str:
    evidence = layer["evidence"]
    if layer["layer"] == "custody":
        return f"首次所见 {evidence.get('first_seen_at')} 之后被修改"
    if layer["layer"] == "format":
        return "；".join(describe(d) for d in evidence.get("differences", []))
    if layer["layer"] == "waveform":
        return "、".join(f"{s['time']:.1f}s" for s in evidence.get("splices", [])) + " 处疑似拼接"
    return "；".join(evidence.get("mismatches", []))


def package_verdict(record: dict | None, duration_mismatches: list[str] | None) -> tuple[str, schema.Integrity | None]:
    """The complaint index's 完整性判定: the scan's verdict with the duration layer added, and its text."""
    if record is None:
        return "无录音", None
    stored = record.get("integrity") or combine([waveform_layer(record)], None)
    layers = [layer for layer in stored["layers"] if layer["layer"] != "duration"] + [duration_layer(duration_mismatches)]
    found = combine(layers, stored.get("modified_after_capture"))
    return summary(found), found
