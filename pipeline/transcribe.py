"""Transcribe stage: offline Mandarin ASR of the VAD segments with faster-whisper.

Only speech is decoded (VAD segments packed into 30 s windows, batched), with
word timestamps so later stages can place a statement to a fraction of a second.
Whisper base often writes Mandarin in Traditional characters; everything is
converted to Simplified here so phrase catalogs need only one script.

Two of Whisper's habits would otherwise cost a compliance scanner dearly:

* It may end a window early: one end-of-text token after the first sentence and
  the batched pipeline never looks at the rest of the window (on the quiet
  fixture, 23 s of a 26 s call vanished under some CPUs' int8 rounding). So the
  transcript's coverage of the VAD speech is checked, and every uncovered stretch
  longer than `TranscribeOptions.min_hole_s` is decoded again in a window of its
  own, which starts where the transcript stopped. What still yields nothing is
  returned as `unrecognised_speech`, so a reviewer knows where the holes are.
* On line noise it writes its stock hallucinations (subtitle credits, repetition
  loops, text of a window it judges to hold no speech); `hallucination` names why
  a piece is dropped.
"""

from __future__ import annotations

import functools
import math
import os
import re
import zlib
from dataclasses import dataclass, field

import numpy as np
import opencc
from faster_whisper import BatchedInferencePipeline, WhisperModel

from pipeline.models import resolve_model
from pipeline.vad import SpeechSegment

# Whisper's training subtitles end in credits that it writes on silence and noise.
# A segment is dropped when one of these matches it (Simplified, after t2s).
# Only credit wording is listed: a call may well say 订阅 or 转发, never 字幕 or Amara.
SUBTITLE_CREDITS = re.compile(
    r"字幕|amara|明镜|点点栏目|独播剧场|television|请不吝|点赞.{0,6}订阅|订阅.{0,6}点赞|"
    r"(谢谢|感谢)(观看|收看)", re.IGNORECASE)


@dataclass
class TranscribeOptions:
    """How the ASR stage decodes and what it trusts; travels with the scan options.

    `min_hole_s`: VAD speech uncovered by any transcript segment for longer than
    this is decoded again (1 s: shorter leftovers are the VAD's 0.2 s padding and
    breaths at segment edges). `max_redecode_rounds`: each round starts a window at
    the first untranscribed speech; Whisper rarely needs a second one.
    The hallucination limits are Whisper's own (`no_speech_threshold` 0.6 with
    `log_prob_threshold` -1.0, `compression_ratio_threshold` 2.4), applied to what
    the batched pipeline returns, which unlike sequential decoding has no fallback.
    A piece with a word timed longer than `max_word_s` is a collapsed window (one
    segment over 23 s of speech with a dozen characters on a speech-dense call): it
    is dropped and its span decoded again. Holes are decoded in windows of at most
    `max_redecode_window_s`, so a longer window that failed is not decoded as it was.
    """

    language: str = "zh"
    beam_size: int = 5
    batch_size: int = 2
    max_window_s: float = 30.0
    min_hole_s: float = 1.0
    max_redecode_rounds: int = 2
    no_speech_prob: float = 0.6
    min_avg_logprob: float = -1.0
    max_compression_ratio: float = 2.4
    max_repeats: int = 4
    max_word_s: float = 3.0
    max_redecode_window_s: float = 15.0


@dataclass
class Transcript:
    """The ASR stage's result: output-contract segment dicts and the speech it could not read."""

    segments: list[dict] = field(default_factory=list)
    unrecognised_speech: list[dict] = field(default_factory=list)  # [{start, end, channel}]


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


def clean_spans(segments: list[SpeechSegment], duration_s: float) -> list[SpeechSegment]:
    """Speech segments clipped to the audio and merged where they overlap, per channel.

    faster-whisper's batched pipeline asserts that the audio outside its clips is
    not negative: windows that overlap, or whose rounded end lies past the last
    sample (continuous speech to the end of a file), crashed it on real recordings.
    Segments that only touch stay apart: the VAD cuts continuous speech into
    touching pieces of <= 25 s, and merged again they made windows longer than
    Whisper's 30 s, whose rest only the coverage re-decode recovered.
    """
    limit = math.floor(duration_s * 1000) / 1000
    merged: list[SpeechSegment] = []
    for seg in sorted(segments, key=lambda s: (s.channel, s.start)):
        start, end = max(0.0, seg.start), min(limit, seg.end)
        if end <= start:
            continue
        last = merged[-1] if merged else None
        if last and last.channel == seg.channel and start < last.end:
            last.end = max(last.end, end)
        else:
            merged.append(SpeechSegment(start, end, seg.channel))
    return merged


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


def uncovered(speech: list[SpeechSegment], segments: list[dict], min_s: float) -> list[SpeechSegment]:
    """Stretches of VAD speech that no transcript segment overlaps, longer than `min_s`."""
    holes = []
    for span in speech:
        cursor = span.start
        covering = sorted((s["start"], s["end"]) for s in segments
                          if s["channel"] == span.channel and s["start"] < span.end and s["end"] > span.start)
        for start, end in covering + [(span.end, span.end)]:
            if start - cursor > min_s:
                holes.append(SpeechSegment(round(cursor, 3), round(start, 3), span.channel))
            cursor = max(cursor, end)
    return holes


def transcribe(model: WhisperModel, samples: np.ndarray, sample_rate: int, speech: list[SpeechSegment],
               options: TranscribeOptions | None = None) -> Transcript:
    """Transcribe the speech segments of `samples` (channels, n) into a Transcript in recording time.

    Segments are packed into <= 30 s windows (`pack_windows`) and decoded in batches
    of `batch_size` by faster-whisper's batched pipeline: on the fixtures 2.5x faster
    than one call per utterance at the same character error rate (the gain is the
    packing: batches of 8 were 3% faster than 2 on one thread but took 220 MB more
    per worker). Uncovered speech is then decoded again on its own (module docstring).
    """
    options = options or TranscribeOptions()
    speech = clean_spans(speech, samples.shape[1] / sample_rate)
    pipeline = BatchedInferencePipeline(model)
    segments = _decode_windows(pipeline, samples, pack_windows(speech, options.max_window_s), options)
    holes = uncovered(speech, segments, options.min_hole_s)
    for _ in range(options.max_redecode_rounds):
        if not holes:
            break
        segments += _decode_windows(pipeline, samples, _split(holes, options.max_redecode_window_s), options)
        holes = uncovered(speech, segments, options.min_hole_s)
    unread = [{"start": h.start, "end": h.end, "channel": h.channel} for h in holes]
    return Transcript(sorted(segments, key=lambda s: (s["start"], s["channel"])), unread)


def _split(windows: list[SpeechSegment], max_s: float) -> list[SpeechSegment]:
    """Cut windows longer than `max_s` into equal parts (a hole can be a whole 30 s window)."""
    out = []
    for w in windows:
        parts = max(1, math.ceil((w.end - w.start) / max_s))
        step = (w.end - w.start) / parts
        out += [SpeechSegment(round(w.start + i * step, 3), round(w.start + (i + 1) * step, 3), w.channel)
                for i in range(parts)]
    return out


def _decode_windows(pipeline: BatchedInferencePipeline, samples: np.ndarray, windows: list[SpeechSegment],
                    options: TranscribeOptions) -> list[dict]:
    """One batched pass over `windows`; hallucinations dropped, the rest as output-contract dicts."""
    results = []
    for channel in sorted({w.channel for w in windows}):
        clips = [{"start": w.start, "end": w.end} for w in windows if w.channel == channel]
        pieces, _ = pipeline.transcribe(
            np.ascontiguousarray(samples[channel], dtype=np.float32), language=options.language,
            beam_size=options.beam_size, word_timestamps=True, without_timestamps=False,
            batch_size=options.batch_size, clip_timestamps=clips,
        )
        for piece in pieces:
            segment = _segment(piece, channel)
            if segment and not hallucination(piece, segment["text"], options):
                results.append(segment)
    return results


def hallucination(piece, text: str, options: TranscribeOptions) -> str | None:
    """Why a decoded piece is one of Whisper's stock hallucinations, or None to keep it."""
    if piece.no_speech_prob > options.no_speech_prob and piece.avg_logprob < options.min_avg_logprob:
        return "no_speech"
    if SUBTITLE_CREDITS.search(text):
        return "subtitle_credit"
    if repetition_loop(text, options.max_repeats) or _compression_ratio(text) > options.max_compression_ratio:
        return "repetition"
    if any(w.end - w.start > options.max_word_s for w in piece.words or []):
        return "stretched"
    return None


def repetition_loop(text: str, max_repeats: int = 4, min_run_chars: int = 10) -> bool:
    """True when a unit of 1-8 characters repeats back to back more than `max_repeats` times
    over at least `min_run_chars` characters.

    A decoder stuck in a loop writes "好的好的好的好的好的…"; people repeat a word two
    or three times ("喂喂喂", "对对对对"), rarely five, and a sum like 100000 is no loop.
    """
    chars = re.sub(r"[\W_]+", "", text)
    return any(len(m.group(0)) >= min_run_chars for m in re.finditer(r"(.{1,8}?)\1{%d,}" % max_repeats, chars))


def _compression_ratio(text: str) -> float:
    """Whisper's own loop measure: text bytes over their zlib-compressed size."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if len(data) > 40 else 0.0


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
