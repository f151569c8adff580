"""Transcribe stage: offline Mandarin ASR of the VAD segments with faster-whisper.

Only speech segments are decoded, each as its own short clip, with word
timestamps so later stages can place a statement to a fraction of a second.
Whisper base often writes Mandarin in Traditional characters; everything is
converted to Simplified here so phrase catalogs need only one script.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import opencc
from faster_whisper import WhisperModel

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


def transcribe_segments(model: WhisperModel, samples: np.ndarray, sample_rate: int,
                        segments: list[SpeechSegment], language: str = "zh",
                        beam_size: int = 5) -> list[dict]:
    """Transcribe each speech segment; return output-contract segment dicts in recording time.

    Each VAD segment is decoded independently (`condition_on_previous_text=False`) so
    one misheard segment cannot drag the next into a hallucination loop.
    """
    results = []
    for seg in segments:
        clip = samples[seg.channel, int(seg.start * sample_rate): int(seg.end * sample_rate)]
        pieces, _ = model.transcribe(
            np.ascontiguousarray(clip, dtype=np.float32), language=language, beam_size=beam_size,
            word_timestamps=True, vad_filter=False, condition_on_previous_text=False,
        )
        for piece in pieces:
            words = [
                {
                    "start": round(seg.start + w.start, 3),
                    "end": round(min(seg.start + w.end, seg.end), 3),
                    "word": to_simplified(w.word.strip()),
                    "probability": round(w.probability, 3),
                }
                for w in piece.words or []
                if w.word.strip()
            ]
            text = "".join(w["word"] for w in words) if words else to_simplified(piece.text.strip())
            if not text:
                continue
            results.append({
                "start": round(seg.start + piece.start, 3),
                "end": round(min(seg.start + piece.end, seg.end), 3),
                "channel": seg.channel,
                "text": text,
                "words": words,
            })
    return results
