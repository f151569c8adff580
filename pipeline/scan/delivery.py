"""Delivery stage: was each located statement audible, and said at a normal pace?

A disclosure read "like a burst of gunfire", or mumbled far below the rest of the
call, was ruled not given. For each annotation this stage measures

- `speech_rate_cps`: characters (= Mandarin syllables) of the aligned text per second;
- `acoustic_rate_sps`: syllable nuclei per second counted on the signal's loudness
  envelope (after de Jong & Wempe's intensity-peak method), independent of the ASR
  text, so a statement the ASR garbled still gets a rate;
- `level_dbfs`, `snr_db` (against the channel's noise floor) and
  `relative_level_db` (against the call's typical speech level on the same channel);

and raises `too_fast` / `inaudible` flags from the rule's `delivery` limits.

It also finds speech whose syllable rate is abnormally high (`fast_speech`), which
the matcher searches again with a looser threshold; what stays unintelligible is
pointed out in the `missing` flag so a reviewer knows where to listen. (Speech far
below its channel's level is raised before transcription: pipeline.scan.recovery.)
Every flag carries the `channel` of the statement it is about.
It measures located statements; it never locates one (match does).
"""

from __future__ import annotations

import re

import numpy as np

from pipeline.scan import vad
from pipeline.scan.levels import ChannelLevels, dbfs
from pipeline.scan.outputs import clock
from pipeline.scan.recovery import RecoveryOptions
from pipeline.scan.rules import Catalog

FRAME_S = 0.010  # loudness envelope hop: 10 ms resolves syllables up to ~15/s
SYLLABLE_CHARS = re.compile(r"[\u3400-\u9fff0-9A-Za-z]")


def syllable_count(text: str) -> int:
    """Spoken syllables in a Mandarin transcript: one per Han character, digit or letter."""
    return len(SYLLABLE_CHARS.findall(text))


def loudness_envelope(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """dB envelope of the 300-3400 Hz band (where vowel energy is), 10 ms hop, ~50 ms smoothing."""
    hop = int(FRAME_S * sample_rate)
    win = 4 * hop
    if x.size < win:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), win)[::hop] * np.hanning(win)
    spectrum = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(win, 1 / sample_rate)
    band = spectrum[:, (freqs >= 300) & (freqs <= 3400)].sum(axis=1)
    envelope = 10 * np.log10(band + 1e-12)
    kernel = np.hanning(5) / np.hanning(5).sum()
    return np.convolve(envelope, kernel, mode="same")


def acoustic_syllable_rate(x: np.ndarray, sample_rate: int, min_dip_db: float = 2.0,
                           floor_db: float = 25.0) -> float:
    """Syllable nuclei per second, from loudness peaks (no ASR involved).

    A peak counts when it is within `floor_db` of the loudest frame and separated from
    the previous counted peak by a dip of at least `min_dip_db`; that merges the ripples
    inside one vowel and ignores breaths and noise. The rate is over the stretch from
    the first to the last frame within `floor_db` of the loudest, so padding around a
    VAD segment does not dilute it.
    """
    env = loudness_envelope(x, sample_rate)
    if env.size < 3:
        return 0.0
    active = np.flatnonzero(env > env.max() - floor_db)
    env = env[active[0]: active[-1] + 1]  # the voiced stretch, without padding or pauses at the ends
    if env.size < 3:
        return 0.0
    is_peak = (env[1:-1] > env[:-2]) & (env[1:-1] >= env[2:]) & (env[1:-1] > env.max() - floor_db)
    count, last_peak, lowest_since = 0, None, np.inf
    for i in range(1, env.size - 1):
        lowest_since = min(lowest_since, env[i])
        if not is_peak[i - 1]:
            continue
        if last_peak is None or min(env[last_peak], env[i]) - lowest_since >= min_dip_db:
            count, last_peak, lowest_since = count + 1, i, env[i]
        elif env[i] > env[last_peak]:
            last_peak, lowest_since = i, env[i]
    return round(float(count / (env.size * FRAME_S)), 2)


def measure(annotation: dict, samples: np.ndarray, sample_rate: int,
            levels: dict[int, ChannelLevels]) -> dict:
    """The delivery measurements of one located statement (added to its annotation)."""
    channel = annotation["channel"]
    span = samples[channel, int(annotation["start"] * sample_rate): int(annotation["end"] * sample_rate)]
    duration = max(annotation["end"] - annotation["start"], 1e-3)
    level = dbfs(span)
    ref = levels[channel]
    return {
        "speech_rate_cps": round(float(syllable_count(annotation["text"]) / duration), 2),
        "acoustic_rate_sps": acoustic_syllable_rate(span, sample_rate),
        "level_dbfs": level,
        "snr_db": round(float(level - ref.noise_dbfs), 2),
        "relative_level_db": round(float(level - ref.speech_dbfs), 2),
    }


def judge(measured: dict, limits: dict) -> dict:
    """`audible` / `rate_ok` verdicts from a rule's delivery limits.

    The rate verdict uses the aligned text's rate: on the fixtures the acoustic
    estimate undercounts fast speech (6.3 syllables/s measured for 7.9 said), so it
    only serves to find fast stretches the ASR could not read (`fast_speech`).
    """
    max_rate = limits.get("max_rate_cps")
    rate_ok = max_rate is None or measured["speech_rate_cps"] <= max_rate
    audible = (measured["relative_level_db"] >= limits.get("min_relative_level_db", -np.inf)
               and measured["snr_db"] >= limits.get("min_snr_db", -np.inf))
    return {"audible": bool(audible), "rate_ok": bool(rate_ok)}


def fast_speech(samples: np.ndarray, sample_rate: int, speech: list[vad.SpeechSegment],
                segments: list[dict], min_rate: float = RecoveryOptions.fast_min_rate) -> list[dict]:
    """Stretches of abnormally fast speech: `{start, end, channel, rate}`.

    A VAD segment counts when its acoustic syllable rate, or the text rate of an ASR
    segment inside it, reaches `min_rate` (RecoveryOptions.fast_min_rate).
    """
    found = []
    for seg in speech:
        clip = samples[seg.channel, int(seg.start * sample_rate): int(seg.end * sample_rate)]
        text_rates = [syllable_count(s["text"]) / max(s["end"] - s["start"], 1e-3) for s in segments
                      if s["channel"] == seg.channel and seg.start <= s["start"] < seg.end]
        rate = max([acoustic_syllable_rate(clip, sample_rate)] + text_rates)
        if rate >= min_rate:
            found.append({"start": seg.start, "end": seg.end, "channel": seg.channel, "rate": round(rate, 1)})
    return found


def segments_inside(spans: list[dict], segments: list[dict]) -> list[dict]:
    """The ASR segments that start inside one of `spans` on the same channel."""
    return [s for s in segments if any(
        f["channel"] == s["channel"] and f["start"] <= s["start"] < f["end"] for f in spans)]


def assess(annotations: list[dict], flags: list[dict], catalog: Catalog, samples: np.ndarray,
           sample_rate: int, levels: dict[int, ChannelLevels],
           fast: list[dict]) -> tuple[list[dict], list[dict]]:
    """Add delivery measurements and verdicts to every annotation, and the flags they call for.

    A required statement still missing while abnormally fast speech was heard where
    it was due keeps its `missing` flag, with that stretch's place and rate in the message.
    Statements that are not credited (pipeline.credit) are measured but never flagged:
    a customer's fast question is not a disclosure said too fast.
    """
    new_flags = []
    for annotation in annotations:
        rule = catalog.rule(annotation["rule"])
        annotation.update(measure(annotation, samples, sample_rate, levels))
        annotation.update(judge(annotation, rule.delivery))
        base = {"rule": rule.id, "start": annotation["start"], "end": annotation["end"],
                "channel": annotation["channel"]}
        if not annotation.get("credited", True):
            continue
        if not annotation["rate_ok"]:
            new_flags.append({"problem": "too_fast", **base, "message": (
                f"{rule.label} ({rule.id}) said at {annotation['speech_rate_cps']} characters/s, "
                f"over the limit of {rule.delivery['max_rate_cps']}/s.")})
        if not annotation["audible"]:
            new_flags.append({"problem": "inaudible", **base, "message": (
                f"{rule.label} ({rule.id}) is {annotation['relative_level_db']} dB against the call's "
                f"speech and {annotation['snr_db']} dB above its noise floor.")})
    for flag in flags:
        if flag["problem"] != "missing":
            continue
        position = catalog.rule(flag["rule"]).position
        due = [f for f in fast if position is None or position.within_first_s is None
               or f["start"] <= position.within_first_s]
        if due:
            flag["message"] += " Abnormally fast speech where it was due: " + "; ".join(
                f"{clock(f['start'])}-{clock(f['end'])} channel {f['channel']} ({f['rate']} syllables/s)"
                for f in due) + ": listen there."
    return annotations, flags + new_flags
