"""Hand-made output-contract records for the deliverables tests (no ASR, no match stage)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
from conftest import SR, voiced, write_audio

from pipeline.scan import decode


def make_recording(path: Path, duration_s: float = 12.0, channels: int = 1, *codec_args: str) -> Path:
    """A speech-like recording of `duration_s` seconds (channel 1 at another pitch)."""
    lanes = [voiced(duration_s, 150.0 + 60 * c) for c in range(channels)]
    return write_audio(path, np.stack(lanes), SR, *codec_args)


def make_record(path: Path, relative: str | None = None, channels: int = 1, call_id: str = "call-1") -> dict:
    """A flagged ok record for the recording at `path`, as the analysis stages would return it."""
    info = decode.probe(str(path))
    record = {
        "file": relative or path.name, "call_id": call_id, "status": "ok", "error": None,
        "recording": {"duration_s": info.duration_s, "sample_rate": info.sample_rate, "channels": info.channels,
                      "codec": info.codec, "container": info.container, "sha256": info.sha256},
        "call": {"type": "marketing", "industry": "finance", "source": "inferred", "evidence": ["理财"]},
        "segments": [
            {"start": 0.5, "end": 2.8, "channel": 0, "text": "您好，本电话为营销电话。", "words": []},
            {"start": 3.2, "end": 6.1, "channel": 0, "text": "投资有风险，入市需谨慎。", "words": []},
            {"start": 6.5, "end": 8.0, "channel": channels - 1, "text": "好的<知道>了 & 谢谢", "words": []},
        ],
        "annotations": [
            {"rule": "marketing_disclosure", "label": "营销电话标识", "start": 0.5, "end": 2.8, "channel": 0,
             "text": "您好，本电话为营销电话。", "matched_phrase": "本电话为营销电话", "score": 100.0, "fields": {}},
            {"rule": "risk_warning", "label": "风险告知", "start": 3.2, "end": 6.1, "channel": 0,
             "text": "投资有风险，入市需谨慎。", "matched_phrase": "投资有风险入市需谨慎", "score": 95.0, "fields": {}},
            {"rule": "risk_warning", "label": "风险告知", "start": 9.25, "end": 11.9, "channel": 0,
             "text": "投资有风险", "matched_phrase": "投资有风险", "score": 88.0, "fields": {}},
        ],
        "splices": [{"time": 7.2, "score": 0.91, "detectors": ["phase"], "evidence": {}}],
        "flags": [
            {"problem": "too_fast", "rule": "risk_warning", "start": 3.2, "end": 6.1, "message": "7.1 字/秒"},
            {"problem": "missing", "rule": "qualification", "start": None, "end": None, "message": "未找到"},
            {"problem": "splice", "rule": None, "start": 7.2, "end": 7.2, "message": "疑似拼接"},
        ],
    }
    return copy.deepcopy(record)
