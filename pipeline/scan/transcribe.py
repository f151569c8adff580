"""Transcribe stage: offline Mandarin ASR of the VAD segments with faster-whisper.

Only speech is decoded (VAD segments packed into 30 s windows, batched), with
word timestamps so later stages can place a statement to a fraction of a second.
On speech-dense calls that alone saves little, so the windows are filled to near
30 s and decoded with a narrow beam first; the full beam is spent only on windows
the first pass read doubtfully (TranscribeOptions).
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
It never reads the phrase catalog: transcripts are cached apart from the checks.
"""

from __future__ import annotations

import bisect
import functools
import math
import os
import re
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import opencc
from faster_whisper import BatchedInferencePipeline, WhisperModel

from pipeline.core.models import resolve_model
from pipeline.scan.vad import SpeechSegment

# Whisper's training subtitles end in credits that it writes on silence and noise.
# A segment is dropped when one of these matches it (Simplified, after t2s).
# Only credit wording is listed: a call may well say 订阅 or 转发, never 字幕 or Amara.
SUBTITLE_CREDITS = re.compile(
    r"字幕|amara|明镜|点点栏目|独播剧场|television|请不吝|点赞.{0,6}订阅|订阅.{0,6}点赞|"
    r"(谢谢|感谢)(观看|收看)", re.IGNORECASE)


FRAMES_PER_S = 100  # Whisper's mel frames per second, the unit of a decoded piece's `seek`


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

    Windows are decoded first with a narrow beam (`first_pass_beam`) and again with
    the full `beam_size` only where it matters (`beam_windows`): windows whose first
    decode has a mean token log-probability under `beam_below_logprob`, and every
    re-decoded hole. -0.5 lies halfway between clean speech (-0.23 to -0.41 on every
    other window of the speech-dense bench) and Whisper's own failure mark (-1.0,
    where it falls back to sampling); with greedy decoding the raised quiet speech
    fell under it (-0.70: 21 characters, the full beam 136), with a beam of 2 no
    window of the bench did (the raised one: -0.36), so only its holes got the full
    beam; the rule is the net for windows the narrow beam fails. A beam of 2
    rather than greedy decoding: greedy misheard the fast disclosure fixture's
    本电话为营销电话 (本天皇宴消电话) at an unremarkable log-probability and raised the
    fixtures' character error rate from 0.139 to 0.148 (beam 2: 0.142); on the
    speech-dense bench greedy cost about 5 % less. A `beam_size` of `first_pass_beam`
    or less (`--beam-size 1` or 2) decodes everything once with that beam.
    `fill_search_s`: windows are filled towards `max_window_s` by cutting the next
    VAD piece at its quietest point within this many seconds before the window's
    end (`pack_windows`).
    """

    language: str = "zh"
    beam_size: int = 5
    first_pass_beam: int = 2
    beam_below_logprob: float = -0.5
    batch_size: int = 2
    max_window_s: float = 30.0
    fill_search_s: float = 6.0
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


@dataclass
class WindowText:
    """One decoded window: its kept segments and the decoder's mean token log-probability (None: nothing decoded)."""

    window: SpeechSegment
    segments: list[dict]
    avg_logprob: float | None


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


QuietestPoint = Callable[[int, float, float], float]  # (channel, earliest, latest) -> a time between


def pack_windows(segments: list[SpeechSegment], max_s: float = 30.0, quietest: QuietestPoint | None = None,
                 fill_search_s: float = 6.0, min_piece_s: float = 2.0) -> list[SpeechSegment]:
    """Group consecutive speech segments of a channel into windows of at most `max_s`.

    Whisper's encoder always reads a 30 s window, so decoding each short utterance
    alone pays for 30 s of audio every time; a window running from the first to the
    last of several neighbouring utterances costs one pass. Long silences between
    windows are still skipped. With `quietest`, a segment that does not fit whole is
    cut so that the window is filled: at the quietest point of the last
    `fill_search_s` the window has room for (a pause between words), leaving at least
    `min_piece_s` on either side. Without it, speech-dense calls (VAD pieces of up to
    25 s back to back) filled their windows to 22 s on average (the speech-dense bench:
    23 windows where 21 suffice).
    """
    windows: list[SpeechSegment] = []
    for seg in sorted(segments, key=lambda s: (s.channel, s.start)):
        last = windows[-1] if windows and windows[-1].channel == seg.channel else None
        if last and seg.end - last.start <= max_s:
            last.end = seg.end
            continue
        if last and quietest:
            room_end = last.start + max_s
            earliest = max(seg.start + min_piece_s, room_end - fill_search_s)
            latest = min(room_end, seg.end - min_piece_s)
            if earliest < latest:
                cut = quietest(seg.channel, earliest, latest)
                last.end = cut
                seg = SpeechSegment(cut, seg.end, seg.channel)
        windows.append(SpeechSegment(seg.start, seg.end, seg.channel))
    return windows


def quietest_point(samples: np.ndarray, sample_rate: int, frame_s: float = 0.03) -> QuietestPoint:
    """(channel, earliest, latest) -> the middle of the lowest-energy `frame_s` frame between the two times."""
    step = max(1, int(frame_s * sample_rate))

    def cut(channel: int, earliest: float, latest: float) -> float:
        first = int(earliest * sample_rate)
        count = max(1, (int(latest * sample_rate) - first) // step)
        frames = samples[channel, first:first + count * step]
        energy = np.square(frames[: frames.size // step * step].reshape(-1, step)).mean(axis=1)
        return round(earliest + (int(np.argmin(energy)) + 0.5) * frame_s, 3) if energy.size else latest

    return cut


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

    Segments are packed into <= 30 s windows, filled by cutting at pauses
    (`pack_windows`), and decoded in batches of `batch_size` by faster-whisper's
    batched pipeline: on the fixtures 2.5x faster than one call per utterance at the
    same character error rate (the gain is the packing: batches of 8 were 3% faster
    than 2 on one thread but took 220 MB more per worker). The first pass uses a
    narrow beam; doubtful windows are decoded again with the full beam
    (`beam_windows`), then uncovered speech on its own (module docstring).
    """
    options = options or TranscribeOptions()
    speech = clean_spans(speech, samples.shape[1] / sample_rate)
    pipeline = BatchedInferencePipeline(model)
    windows = pack_windows(speech, options.max_window_s, quietest_point(samples, sample_rate), options.fill_search_s)
    decoded = _decode_windows(pipeline, samples, windows, options, min(options.first_pass_beam, options.beam_size))
    again = beam_windows(decoded, options)
    if again:
        decoded = [d for d in decoded if d.window not in again] + _decode_windows(
            pipeline, samples, again, options, options.beam_size)
    segments = [s for d in decoded for s in d.segments]
    holes = uncovered(speech, segments, options.min_hole_s)
    for _ in range(options.max_redecode_rounds):
        if not holes:
            break
        segments += [s for d in _decode_windows(pipeline, samples, _split(holes, options.max_redecode_window_s),
                                                options, options.beam_size) for s in d.segments]
        holes = uncovered(speech, segments, options.min_hole_s)
    unread = [{"start": h.start, "end": h.end, "channel": h.channel} for h in holes]
    return Transcript(sorted(segments, key=lambda s: (s["start"], s["channel"])), unread)


def beam_windows(decoded: list[WindowText], options: TranscribeOptions) -> list[SpeechSegment]:
    """The windows the narrow first pass read doubtfully (`beam_below_logprob`), to decode again with the full beam.

    A window without text is left to the hole re-decoding, which uses the full beam too.
    """
    if options.first_pass_beam >= options.beam_size:
        return []
    return [d.window for d in decoded if d.avg_logprob is not None and d.avg_logprob < options.beam_below_logprob]


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
                    options: TranscribeOptions, beam_size: int) -> list[WindowText]:
    """One batched pass over `windows`; hallucinations dropped, the rest as output-contract dicts, per window.

    The batched pipeline gives every piece of a window the window's avg_logprob and
    its start as `seek` (in 10 ms frames, rounded down), which is how pieces find their window.
    """
    results = []
    for channel in sorted({w.channel for w in windows}):
        mine = [WindowText(w, [], None) for w in sorted(windows, key=lambda w: w.start) if w.channel == channel]
        starts = [round(w.window.start * FRAMES_PER_S) for w in mine]
        pieces, _ = pipeline.transcribe(
            np.ascontiguousarray(samples[channel], dtype=np.float32), language=options.language,
            beam_size=beam_size, word_timestamps=True, without_timestamps=False, batch_size=options.batch_size,
            clip_timestamps=[{"start": w.window.start, "end": w.window.end} for w in mine],
        )
        for piece in pieces:
            window = mine[max(0, bisect.bisect_right(starts, piece.seek + 1) - 1)]
            window.avg_logprob = piece.avg_logprob
            segment = _segment(piece, channel)
            if segment and not hallucination(piece, segment["text"], options):
                window.segments.append(segment)
        results += mine
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
