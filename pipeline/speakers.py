"""Roles stage: which speech is the agent's and which the customer's.

A mandatory statement counts only when the agent says it, so every segment gets
`speaker: agent|customer|unknown`, and the conversation metrics need each
party's talk on its own.

Stereo recordings keep the parties on separate channels; only which channel is
the agent's must be known: from the metadata (`agent_channel`), from
`--agent-channel`, or inferred from who talks like an agent (`AGENT_WORDS`:
您好, 请问, 为您...), ties going to whoever spoke first. The evidence is kept in
`record["roles"]`.

Mono recordings are split without training and without downloads: the speech is
cut into windows of a few seconds, each described by its median pitch and its spectral
shape, the windows are clustered into two speakers (k-means), the labels are
smoothed, and each run of equal labels becomes a turn. Pitch is the strongest
cue: it separates the fixture voices (the customer is the agent pitch-shifted by
-300 cents) and most male/female pairs, but two speakers of similar pitch and
timbre are not told apart, and overlapping speech gets one label.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from pipeline import vad

AGENT, CUSTOMER, UNKNOWN = "agent", "customer", "unknown"
# Words an agent says and a customer rarely does: the polite 您 of service talk,
# greetings and service formulas. Counted per speaker to decide who the agent is.
AGENT_WORDS = ("您", "请问", "我是", "这里是", "为您", "帮您", "感谢", "稍等", "客服", "欢迎")


@dataclass(frozen=True)
class SpeakerOptions:
    """How speech is split into turns and turns into roles.

    `agent_channel` forces the agent's channel of a stereo call (`--agent-channel`;
    a metadata row's `agent_channel` wins over it). The VAD settings are those of
    turn boundaries, not of ASR: no padding, so that two parties' turns only
    overlap where they really talk at once. Windows are up to 3 s: Mandarin's
    tones swing one speaker's pitch by more than the fixture voices differ, so
    only a median over several syllables tells them apart (0.5 s windows confused
    31 % of the fixtures' speech, 3 s ones 15 %); the price is that a change of
    speaker without a pause is found up to 3 s late. Labels are smoothed over
    `smooth_windows` windows. Pitch outweighs the spectral shape tenfold: the
    shape follows the vowels said more than the voice.
    """

    agent_channel: int | None = None
    vad_aggressiveness: int = 2
    merge_gap_s: float = 0.3
    min_speech_s: float = 0.25
    window_s: float = 3.0
    smooth_windows: int = 3
    pitch_weight: float = 10.0
    # The mono split's error on the fixtures (README, Figures) is too high to deny a
    # statement its credit on it: by default a mono segment's `speaker` stays unknown
    # and the split's guess is kept in `split_speaker` (and drives the metrics).
    trust_mono_split: bool = False


# --- pitch and spectral features ----------------------------------------------------------

def pitch(x: np.ndarray, rate: int, frame_s: float = 0.04, hop_s: float = 0.01,
          fmin: float = 70.0, fmax: float = 400.0, min_clarity: float = 0.45) -> np.ndarray:
    """F0 in Hz of each voiced frame of `x` (autocorrelation peak; unvoiced frames are left out).

    A frame is voiced when its normalised autocorrelation peaks above
    `min_clarity` between the lags of `fmax` and `fmin` (the range of adult voices).
    """
    n, hop = int(frame_s * rate), int(hop_s * rate)
    if x.size < n:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), n)[::hop]
    frames = frames - frames.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(frames, 2 * n, axis=1)
    ac = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :n]
    energy = ac[:, 0]
    lo, hi = int(rate / fmax), min(int(rate / fmin), n - 1)
    lags = lo + np.argmax(ac[:, lo:hi], axis=1)
    clarity = ac[np.arange(len(ac)), lags] / np.maximum(energy, 1e-12)
    voiced = (clarity > min_clarity) & (energy > 1e-6 * n)
    return rate / lags[voiced]


def spectral_shape(x: np.ndarray, rate: int, bands: int = 8) -> np.ndarray:
    """Log energy of `bands` equal-width bands from 100 Hz to 3.4 kHz (the phone band), mean removed.

    The mean is removed so the level of the line does not decide the speaker,
    only the shape of the voice's spectrum.
    """
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    edges = np.linspace(100, 3400, bands + 1)
    energy = np.array([spectrum[(freqs >= a) & (freqs < b)].sum() for a, b in zip(edges, edges[1:])])
    logs = np.log10(np.maximum(energy, 1e-12))
    return logs - logs.mean()


def windows(spans: list[tuple[float, float]], window_s: float) -> list[tuple[float, float]]:
    """Speech spans cut into consecutive windows; a last piece under half a window joins the one before."""
    out = []
    for start, end in spans:
        cuts = list(np.arange(start, end, window_s)) + [end]
        pieces = list(zip(cuts, cuts[1:]))
        if len(pieces) > 1 and pieces[-1][1] - pieces[-1][0] < window_s / 2:
            pieces[-2:] = [(pieces[-2][0], pieces[-1][1])]
        out += [(float(a), float(b)) for a, b in pieces]
    return out


def window_features(x: np.ndarray, rate: int, spans: list[tuple[float, float]]) -> np.ndarray:
    """One row per window: log2 of the median pitch (NaN when unvoiced), then the spectral shape."""
    rows = []
    for start, end in spans:
        piece = x[int(start * rate): int(end * rate)]
        f0 = pitch(piece, rate)
        rows.append([np.log2(np.median(f0)) if f0.size >= 3 else np.nan, *spectral_shape(piece, rate)])
    return np.array(rows)


# --- clustering ---------------------------------------------------------------------------

def two_clusters(features: np.ndarray, pitch_weight: float, iterations: int = 50) -> np.ndarray:
    """Label each row 0 or 1 by k-means with two centres; 0 is the higher-pitched cluster.

    Features are standardised (a missing pitch takes the median pitch, so an
    unvoiced window is placed by its spectrum alone); the centres start at the
    highest- and lowest-pitched windows, which makes the result deterministic.
    """
    data = features.copy()
    data[:, 0] = np.where(np.isnan(data[:, 0]), np.nanmedian(data[:, 0]) if np.isfinite(data[:, 0]).any() else 0,
                          data[:, 0])
    data = (data - data.mean(axis=0)) / np.maximum(data.std(axis=0), 1e-9)
    data[:, 0] *= pitch_weight
    centres = data[[int(np.argmax(data[:, 0])), int(np.argmin(data[:, 0]))]]
    labels = np.full(len(data), -1)
    for _ in range(iterations):
        distances = ((data[:, None, :] - centres[None]) ** 2).sum(axis=2)
        new = np.argmin(distances, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        centres = np.array([data[labels == k].mean(axis=0) if (labels == k).any() else centres[k] for k in (0, 1)])
    return labels if centres[0, 0] >= centres[1, 0] else 1 - labels


def smooth(labels: np.ndarray, spans: list[tuple[float, float]], width: int) -> np.ndarray:
    """Majority label over `width` neighbouring windows, never across a pause between windows.

    A single window voted the other way inside a turn is usually a syllable
    whose pitch was mistracked, not a change of speaker.
    """
    out = labels.copy()
    half = width // 2
    for i in range(len(labels)):
        lo, hi = i, i
        while lo > 0 and i - lo < half and spans[lo - 1][1] == spans[lo][0]:
            lo -= 1
        while hi < len(labels) - 1 and hi - i < half and spans[hi][1] == spans[hi + 1][0]:
            hi += 1
        votes = labels[lo:hi + 1]
        if hi - lo + 1 >= 3:
            out[i] = int(round(votes.mean()))
    return out


def join_turns(spans: list[tuple[float, float]], labels: np.ndarray, channel: int) -> list[dict]:
    """Consecutive windows of the same label, with no pause between them, as one turn."""
    turns: list[dict] = []
    for (start, end), label in zip(spans, labels):
        if turns and turns[-1]["cluster"] == int(label) and turns[-1]["end"] == start:
            turns[-1]["end"] = end
        else:
            turns.append({"start": start, "end": end, "channel": channel, "cluster": int(label)})
    return turns


def diarize(x: np.ndarray, rate: int, spans: list[tuple[float, float]], options: SpeakerOptions) -> list[dict]:
    """Turns of a mono recording, each with `cluster` 0 (higher pitch) or 1."""
    pieces = windows(spans, options.window_s)
    if len(pieces) < 2:
        return join_turns(pieces, np.zeros(len(pieces), int), 0)
    labels = two_clusters(window_features(x, rate, pieces), options.pitch_weight)
    return join_turns(pieces, smooth(labels, pieces, options.smooth_windows), 0)


# --- roles --------------------------------------------------------------------------------

def speech_spans(channel: np.ndarray, rate: int, options: SpeakerOptions) -> list[tuple[float, float]]:
    """Unpadded VAD speech of one channel: turn boundaries where the voice really starts and stops."""
    frames = vad.speech_frames(channel, rate, options.vad_aggressiveness)
    spans = vad.frames_to_spans(frames, vad.FRAME_MS / 1000, options.merge_gap_s, options.min_speech_s)
    return [(round(float(s), 3), round(float(e), 3)) for s, e in spans]


def overlap(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    return max(0.0, min(a_end, b_end) - max(a_start, b_start))


def dominant(turns: list[dict], key: str, start: float, end: float, channel: int | None = None) -> object | None:
    """The `key` value of the turns covering most of [start, end] (on `channel` when given), or None."""
    time: Counter = Counter()
    for turn in turns:
        if channel is None or turn["channel"] == channel:
            time[turn[key]] += overlap(start, end, turn["start"], turn["end"])
    best = time.most_common(1)
    return best[0][0] if best and best[0][1] > 0 else None


def agent_word_counts(segments: list[dict], key_of) -> Counter:
    """How often each speaker key (`key_of(segment)`) says one of AGENT_WORDS."""
    counts: Counter = Counter()
    for segment in segments:
        key = key_of(segment)
        if key is not None:
            counts[key] += sum((segment.get("text") or "").count(word) for word in AGENT_WORDS)
    return counts


def infer_agent(keys: list, first: object, counts: Counter) -> object:
    """The key that says the most agent words; on a tie the one who spoke first."""
    return max(keys, key=lambda k: (counts.get(k, 0), k == first))


def assign_roles(samples: np.ndarray, rate: int, segments: list[dict], meta_row: dict | None,
                 options: SpeakerOptions) -> tuple[dict, list[dict]]:
    """Label every segment's `speaker` in place; return the roles evidence and the speaker turns.

    Turns are `{start, end, channel, speaker}`, unpadded, in time order; they are
    what the conversation metrics are measured on. The evidence says how the agent
    was found: `method` metadata/option/inferred, the agent's channel (stereo) or
    the split's clusters (mono), who spoke first and the agent words per candidate.
    """
    stereo = samples.shape[0] > 1
    if stereo:
        turns = [{"start": s, "end": e, "channel": ch, "cluster": ch}
                 for ch in range(samples.shape[0]) for s, e in speech_spans(samples[ch], rate, options)]
    else:
        turns = diarize(samples[0], rate, speech_spans(samples[0], rate, options), options)
    turns.sort(key=lambda t: (t["start"], t["channel"]))
    keys = list(range(samples.shape[0])) if stereo else sorted({t["cluster"] for t in turns})
    for segment in segments:
        channel = segment.get("channel", 0)
        segment["_cluster"] = (channel if stereo
                               else dominant(turns, "cluster", segment["start"], segment["end"], channel))
    counts = agent_word_counts(segments, lambda s: s["_cluster"])
    first = turns[0]["cluster"] if turns else None
    given = (meta_row or {}).get("agent_channel")
    roles = {"method": "inferred", "channels": int(samples.shape[0]), "first_speaker": first,
             "agent_words": {str(k): counts.get(k, 0) for k in keys}}
    if stereo and given not in (None, ""):
        agent, roles["method"] = int(given), "metadata"
    elif stereo and options.agent_channel is not None:
        agent, roles["method"] = options.agent_channel, "option"
    else:
        agent = infer_agent(keys, first, counts) if keys else None
    roles["agent_channel" if stereo else "agent_cluster"] = agent
    role_of = {k: AGENT if k == agent else CUSTOMER for k in keys}
    if len(keys) == 1 and not stereo:
        role_of = {keys[0]: UNKNOWN}   # one voice only: nothing says whose it is
    for turn in turns:
        turn["speaker"] = role_of[turn.pop("cluster")]
    for segment in segments:
        role = role_of.get(segment.pop("_cluster"), UNKNOWN)
        if not stereo:
            segment["split_speaker"] = role
        segment["speaker"] = role if stereo or options.trust_mono_split else UNKNOWN
    return roles, turns
