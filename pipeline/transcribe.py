"""Transcribe stage: offline Mandarin ASR of the VAD segments with faster-whisper.

Only speech is decoded (VAD segments packed into 30 s windows, batched), with
word timestamps so later stages can place a statement to a fraction of a second.
Whisper base often writes Mandarin in Traditional characters; everything is
converted to Simplified here so phrase catalogs need only one script.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import opencc
from faster_whisper import BatchedInferencePipeline, WhisperModel

from pipeline.models import resolve_model
from pipeline.vad import SpeechSegment


@functools.lru_cache(maxsize=1)
def _to_simplified() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    return _to_simplified().convert(text)


def load_model(model: str | None = None, cpu_threads: int = 0, compute_type: str = "int8") -> WhisperModel:
    """Load the ASR model once per process; `cpu_threads=0` lets CTranslate2 use every core."""
    threads = cpu_threads or os.cpu_count() or 1
    return WhisperModel(resolve_model(model), device="cpu", compute_type=compute_type,
                        cpu_threads=threads, local_files_only=True)


def pack_windows(segments: list[SpeechSegment], max_s: float = 30.0) -> list[SpeechSegment]:
    """Group consecutive speech segments of a channel into windows of at most `max_s`.

    Whisper's encoder always reads a 30 s window, so decoding each short utterance
    alone pays for 30 s of audio every time; a window running from the first to the
    last of several neighbouring utterances costs one pass. Long silences between
    windows are still skipped.
    """
    windows: list[SpeechSegment] = []
    for seg in sorted(segments, key=lambda s: (s.channel, s.start)):
        last = windows[-1] if windows else None
        if last and last.channel == seg.channel and seg.end - last.start <= max_s:
            last.end = seg.end
        else:
            windows.append(SpeechSegment(seg.start, seg.end, seg.channel))
    return windows


def transcribe_segments(model: WhisperModel, samples: np.ndarray, sample_rate: int,
                        segments: list[SpeechSegment], language: str = "zh",
                        beam_size: int = 5, batch_size: int = 2) -> list[dict]:
    """Transcribe the speech segments; return output-contract segment dicts in recording time.

    Segments are packed into <= 30 s windows (`pack_windows`) and the windows of a
    channel are decoded in batches of `batch_size` by faster-whisper's batched
    pipeline: on the fixtures this is 2.5x faster than one call per utterance at the
    same character error rate. The gain is the packing, not the batch: on one CPU
    thread batches of 8 were 3% faster than batches of 2 but took 220 MB more memory
    per worker (attention activations), with identical transcripts.
    """
    pipeline = BatchedInferencePipeline(model)
    results = []
    for channel in sorted({s.channel for s in segments}):
        windows = [w for w in pack_windows(segments) if w.channel == channel]
        pieces, _ = pipeline.transcribe(
            np.ascontiguousarray(samples[channel], dtype=np.float32), language=language,
            beam_size=beam_size, word_timestamps=True, without_timestamps=False, batch_size=batch_size,
            clip_timestamps=[{"start": w.start, "end": w.end} for w in windows],
        )
        for piece in pieces:
            segment = _segment(piece, channel)
            if segment:
                results.append(segment)
    return sorted(results, key=lambda s: (s["start"], s["channel"]))


def _segment(piece, channel: int) -> dict | None:
    """One faster-whisper segment as an output-contract dict, in Simplified characters."""
    words = [
        {"start": round(float(w.start), 3), "end": round(float(w.end), 3), "word": to_simplified(w.word.strip()),
         "probability": round(float(w.probability), 3)}
        for w in piece.words or [] if w.word.strip()
    ]
    text = "".join(w["word"] for w in words) if words else to_simplified(piece.text.strip())
    if not text:
        return None
    return {"start": round(float(piece.start), 3), "end": round(float(piece.end), 3), "channel": channel,
            "text": text, "words": words}
